"""Alignment re-rank: subsequence DTW of the query contour against candidate song regions.

The query (a whole hum) is aligned to the best-matching stretch of each region, allowing local
tempo changes between 1/2x and 2x (steps (1,1), (1,2) and (2,1), each query frame counted once), so
tempo drift, held or rushed notes, skipped and repeated notes cost little. The local cost is the
pitch-class distance in semitones (octave errors are free), capped so that one wrong note or an
accompaniment note picked up by the song's melody extractor costs at most ``COST_CAP``. The result is
the mean cost per query frame (0 = the same tune) and where in the region the match starts and ends.

All regions are aligned at once: the dynamic programme runs over query frames, vectorized across
(regions x song frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COST_CAP = 2.0  # semitones: the most one frame can cost
UNVOICED_COST = 1.0  # cost of aligning a query frame to a song frame without melody
PAD_COST = COST_CAP  # cost of a padding frame (regions have different lengths)
DOWNSAMPLE = 2  # align at CONTOUR_FPS / DOWNSAMPLE (12.5 frames per second)
STEP_PENALTY = 0.5  # added for each non-diagonal step (a local tempo change): rhythm counts


@dataclass
class Alignment:
    cost: np.ndarray  # (n_regions,) mean cost per query frame
    start: np.ndarray  # (n_regions,) first region frame of the match
    end: np.ndarray  # (n_regions,) last region frame of the match (inclusive)


def pitch_class_distance(a: np.ndarray) -> np.ndarray:
    """|a| folded to the nearest octave: distance in semitones between pitch classes, in [0, 6].
    (Written with rint: numpy's float modulo is over ten times slower.)"""
    return np.abs(a - 12.0 * np.rint(a * (1.0 / 12.0)))


def align(query: np.ndarray, regions: np.ndarray) -> Alignment:
    """Subsequence DTW of ``query`` (n,) without NaN against every row of ``regions`` (B, m), whose
    values are already transposed to the query's key; NaN = no melody, +inf = padding."""
    q = np.asarray(query, np.float32)
    regions = np.asarray(regions, np.float32)
    n = len(q)
    b, m = regions.shape
    if n == 0 or m == 0 or b == 0:
        return Alignment(np.full(b, np.inf, np.float32), np.zeros(b, np.int64), np.zeros(b, np.int64))
    pad = np.isinf(regions)
    nan = np.isnan(regions)
    values = np.where(pad | nan, 0.0, regions).astype(np.float32)
    fixed = np.where(pad, PAD_COST, UNVOICED_COST).astype(np.float32)
    special = pad | nan

    def cost(i: int) -> np.ndarray:
        d = np.minimum(pitch_class_distance(q[i] - values), COST_CAP)
        return np.where(special, fixed, d)

    big = np.float32(1e9)
    c_prev = cost(0)
    d_prev = c_prev.copy()  # subsequence: a match may start at any song frame
    s_prev = np.broadcast_to(np.arange(m, dtype=np.int32), (b, m)).copy()  # start column of each cell's path
    d_prev2 = np.full((b, m), big, np.float32)
    s_prev2 = s_prev.copy()
    diag, skip, hold = (np.full((b, m), big, np.float32) for _ in range(3))
    s_diag, s_skip, s_hold = (np.zeros((b, m), np.int32) for _ in range(3))
    for i in range(1, n):
        c = cost(i)
        # (1,1): from (i-1, j-1); (1,2): from (i-1, j-2); (2,1): from (i-2, j-1) via (i-1, j)
        diag[:, 1:] = d_prev[:, :-1]
        np.add(d_prev[:, :-2], STEP_PENALTY, out=skip[:, 2:])
        np.add(d_prev2[:, :-1], c_prev[:, 1:], out=hold[:, 1:])
        hold[:, 1:] += STEP_PENALTY
        s_diag[:, 1:] = s_prev[:, :-1]
        s_skip[:, 2:] = s_prev[:, :-2]
        s_hold[:, 1:] = s_prev2[:, :-1]
        best = np.minimum(diag, skip)
        start = np.where(skip < diag, s_skip, s_diag)
        take_hold = hold < best
        np.minimum(best, hold, out=best)
        start = np.where(take_hold, s_hold, start)
        d_prev2, s_prev2 = d_prev, s_prev
        d_prev, s_prev, c_prev = c + best, start, c
    end = np.argmin(d_prev, axis=1)
    rows = np.arange(b)
    return Alignment(cost=d_prev[rows, end] / n, start=s_prev[rows, end].astype(np.int64), end=end.astype(np.int64))


def alignment_path(query: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full warping path (query frame, region frame) of the best subsequence match of one region,
    for plotting. Same steps and costs as ``align``."""
    q = np.asarray(query, np.float32)
    r = np.asarray(region, np.float32)
    n, m = len(q), len(r)
    nan = np.isnan(r)
    c = np.minimum(pitch_class_distance(q[:, None] - np.where(nan, 0, r)[None, :]), COST_CAP)
    c = np.where(nan[None, :], UNVOICED_COST, c).astype(np.float32)
    big = np.float32(1e9)
    d = np.full((n, m), big, np.float32)
    step = np.zeros((n, m), np.int8)  # 0 start, 1 diag, 2 skip, 3 hold
    d[0] = c[0]
    for i in range(1, n):
        diag = np.full(m, big, np.float32)
        diag[1:] = d[i - 1, :-1]
        skip = np.full(m, big, np.float32)
        skip[2:] = d[i - 1, :-2] + STEP_PENALTY
        hold = np.full(m, big, np.float32)
        if i >= 2:
            hold[1:] = d[i - 2, :-1] + c[i - 1, 1:] + STEP_PENALTY
        best = np.minimum(np.minimum(diag, skip), hold)
        step[i] = np.where(best == diag, 1, np.where(best == skip, 2, 3))
        d[i] = c[i] + best
    i, j = n - 1, int(np.argmin(d[-1]))
    qi, rj = [i], [j]
    while i > 0:
        s = step[i, j]
        if s == 1:
            i, j = i - 1, j - 1
        elif s == 2:
            i, j = i - 1, j - 2
        else:
            qi.append(i - 1)
            rj.append(j)
            i, j = i - 2, j - 1
        qi.append(i)
        rj.append(j)
    return np.array(qi[::-1]), np.array(rj[::-1])
