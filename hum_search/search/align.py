"""Alignment re-rank: subsequence DTW of the query contour against candidate song regions.

The query (a whole hum, pauses included: ``hum_query``) is aligned to the best-matching stretch of
each region, allowing local tempo changes between 1/2x and 2x (steps (1,1), (1,2) and (2,1), each
query frame counted once), so tempo drift, held or rushed notes, skipped and repeated notes cost
little. The local cost is the pitch-class distance in semitones (octave errors are free) less
``PITCH_TOLERANCE``, capped so that one wrong note or an accompaniment note picked up by the song's
melody extractor costs at most ``COST_CAP``; a hum frame without pitch (a pause) costs nothing.
The result is the mean cost per voiced query frame (0 = the same tune) and where in the region the
match starts and ends, and the share of the hum's voiced frames that it aligns within the tolerance
(``Alignment.matched``: how the cost is spread, for the score).

Why the pauses stay in the query: with the voiced frames laid end to end, every pause (a breath, a
rest, a stretch the tracker lost in noise) shifted the rest of the hum against the song, and the
right song paid a tempo step at each catch-up. Development benchmark, medium instance, four
generator seeds, each hum in the catalogue and with its song taken out of the candidates: at the
same share of false accepts the `wide` hums' true accepts rise on every seed (see docs/melody.md
"The hum's pauses in the alignment").

All regions are aligned in one call to a compiled dynamic programme (``jit.py``: numba, compiled
on the first alignment of a process and cached on disk), split over up to four threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..jit import Compiled

COST_CAP = 2.0  # semitones: the most one frame can cost
# Semitones of pitch difference that cost nothing: people hum a note 20-50 cents off, drift by as
# much over a hum, and the re-rank's key is estimated to a third of a semitone, so a right tune
# sloppily hummed paid on nearly every frame, and a wrong tune whose notes happened to sit nearer
# won. The cost of a frame is its pitch-class distance less this, capped at COST_CAP. Cached
# analyses of the development benchmark's medium instance, two generator seeds (0 / 1), 150 hums
# each, MRR: wide 0.934 / 0.931 -> 0.941 / 0.938 (top-1 0.913 / 0.913 -> 0.927 / 0.927), dev
# 0.987 / 0.993 unchanged; 0.4 the same; 0.5: wide 0.940 / 0.934; 0.15: dev 0.983 / 0.990;
# 0.08: wide 0.941 / 0.930. See docs/melody.md "A pitch tolerance in the alignment".
PITCH_TOLERANCE = 0.3
UNVOICED_COST = 1.0  # cost of aligning a query frame to a song frame without melody
PAD_COST = COST_CAP  # cost of a padding frame (regions have different lengths)
DOWNSAMPLE = 2  # align at CONTOUR_FPS / DOWNSAMPLE (12.5 frames per second)
# Added for each non-diagonal step (a local tempo change): rhythm counts. 0.5 until stop 43; a hum's
# rhythm is evidence that a wrong song matching some of its pitches lacks, and a short hum has little
# else. Development benchmark, medium instance, four seeds, each hum in and out of the catalogue, the
# score refitted for each value and tested on the seed left out (benchmarks/fit_score.py), mean
# `wide` true / false accepts: 0.5 82.7 / 1.5 %, 0.65 84.0 / 1.7 %, 0.8 85.0 / 2.2 %, 1.0 85.2 /
# 2.2 % (seed 3: 4.7 % false), 1.2 83.7 / 1.7 %; `dev` 96.3 / 2.7 % -> 97.0 / 2.2 % at 0.8; rank-1
# share of the `wide` hums, seeds 0-3, 92.0 / 95.3 / 94.7 / 95.3 -> 92.7 / 97.3 / 94.0 / 95.3 %.
STEP_PENALTY = 0.8
MIN_REGIONS_PER_THREAD = 32  # fewer regions than this are aligned on the calling thread
THREADS = min(os.cpu_count() or 1, 4)  # alignment threads (2 on the 2-core machine: 70 -> 47 ms per hum)
_POOL: ThreadPoolExecutor | None = None
_LAZY_LOCK = threading.Lock()


@dataclass
class Alignment:
    cost: np.ndarray  # (n_regions,) mean cost per query frame
    start: np.ndarray  # (n_regions,) first region frame of the match
    end: np.ndarray  # (n_regions,) last region frame of the match (inclusive)
    matched: np.ndarray  # (n_regions,) share of query frames aligned within PITCH_TOLERANCE (cost 0); NaN untracked


def pitch_class_distance(a: np.ndarray) -> np.ndarray:
    """|a| folded to the nearest octave: distance in semitones between pitch classes, in [0, 6].
    (Written with rint: numpy's float modulo is over ten times slower.)"""
    return np.abs(a - 12.0 * np.rint(a * (1.0 / 12.0)))


def local_cost(diff: np.ndarray) -> np.ndarray:
    """What aligning pitches ``diff`` semitones apart costs a frame (both voiced): the pitch-class
    distance less PITCH_TOLERANCE, in [0, COST_CAP]."""
    return np.minimum(np.maximum(pitch_class_distance(diff) - PITCH_TOLERANCE, 0.0), COST_CAP)


def hum_query(contour: np.ndarray) -> np.ndarray:
    """The hum's contour as the re-rank aligns it: from its first to its last voiced frame, its
    pauses (NaN) kept where they are."""
    voiced = np.flatnonzero(~np.isnan(contour))
    return contour[voiced[0]: voiced[-1] + 1] if len(voiced) else contour[:0]


def align(query: np.ndarray, regions: np.ndarray, *, track: bool = False) -> Alignment:
    """Subsequence DTW of ``query`` (n,) against every row of ``regions`` (B, m), whose values are
    already transposed to the query's key; NaN in the query = a pause (costs nothing, and the mean
    cost and ``matched`` are per voiced frame), NaN in a region = no melody, +inf = padding.
    ``track``: also measure ``matched`` (NaN otherwise), at three times the cost: for a few
    regions only."""
    q = np.asarray(query, np.float64)
    regions = np.asarray(regions, np.float64)
    b, m = regions.shape if regions.ndim == 2 else (0, 0)
    if len(q) == 0 or m == 0 or b == 0:
        return Alignment(np.full(b, np.inf, np.float32), np.zeros(b, np.int64), np.zeros(b, np.int64),
                         np.full(b, 0.0 if track else np.nan, np.float32))
    parts = np.array_split(np.arange(b), min(THREADS, max(b // MIN_REGIONS_PER_THREAD, 1)))

    def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return _KERNEL(q, np.ascontiguousarray(regions[rows]), COST_CAP, UNVOICED_COST, PAD_COST, STEP_PENALTY,
                       PITCH_TOLERANCE, track)

    out = in_parallel(run, parts)
    cost, start, end, matched = (np.concatenate(x) for x in zip(*out))
    return Alignment(cost=cost.astype(np.float32), start=start, end=end, matched=matched.astype(np.float32))


def in_parallel(run, parts: list) -> list:
    """``[run(p) for p in parts]``, the parts side by side on the alignment threads (a compiled
    programme that releases the GIL); one part runs on the calling thread."""
    return list(_pool().map(run, parts)) if len(parts) > 1 else [run(parts[0])]


def _pool() -> ThreadPoolExecutor:
    """The threads that align regions side by side (the compiled programme releases the GIL); made
    on first use, shared by every search of the process (thread-safe, unlike numba's own
    ``parallel=True`` with its default thread pool)."""
    global _POOL
    with _LAZY_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="hum-search-align")
        return _POOL


def _after_fork_in_child() -> None:
    """A forked child (indexing workers) inherits the pool object but not its threads: forget it."""
    global _POOL, _LAZY_LOCK
    _POOL, _LAZY_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _dtw(q, regions, cap, unvoiced, pad, penalty, tol, track):  # pragma: no cover - compiled; tested through align()
    """The dynamic programme of ``align``, one region at a time over three rolling rows (compiled:
    3.5x faster than the same programme vectorized in numpy over (regions x song frames), the
    previous implementation, for 100 regions of 260 frames and a 10 s hum). The local cost is the
    pitch-class distance less ``tol``, capped at ``cap`` (``local_cost``); ``unvoiced`` for NaN,
    ``pad`` for +inf. Pitch classes are folded once per query frame and per region frame, and each
    row's local costs are computed before its recursion, which then runs without bounds tests: 3.4
    -> 1.9 ns per cell on 30 hums' alignments at 10,000 songs (the same costs, starts and ends to
    the bit). A query frame without pitch (NaN) costs 0 against every region frame and is left out
    of the mean and of ``matched``. With ``track`` it also counts, along each best path, the query
    frames that cost 0 (``matched``), carried in the same integer as the path's start column
    (``tag``)."""
    b, m = regions.shape
    n = len(q)
    big = 1e9
    tag = 1 << 20  # a path's start column and its count of frames costing 0, in one integer: start * tag + count
    qm = np.empty(n)  # the query's pitch classes, in [0, 12)
    qgap = np.zeros(n, np.bool_)  # a query frame without pitch (a pause): costs nothing, is not counted
    voiced = 0
    for i in range(n):
        if np.isnan(q[i]):
            qgap[i], qm[i] = True, 0.0
        else:
            qm[i] = q[i] - 12.0 * np.floor(q[i] / 12.0)
            voiced += 1
    per = max(voiced, 1)
    vm = np.empty(m)  # a region's pitch classes...
    fixed = np.empty(m)  # ...and the cost of its frames without one (-1: a pitched frame)
    d0, d1, d2 = np.empty(m), np.empty(m), np.empty(m)  # accumulated cost, rows i-2, i-1, i
    s0, s1, s2 = np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m, np.int64)  # start * tag + count
    c_prev, c_cur = np.empty(m), np.empty(m)  # local costs of rows i-1 and i
    z_prev, z_cur = np.zeros(m, np.int64), np.zeros(m, np.int64)  # 1 where that local cost is 0
    cost_out = np.empty(b)
    start_out = np.zeros(b, np.int64)
    end_out = np.zeros(b, np.int64)
    matched_out = np.zeros(b)
    for r in range(b):
        row = regions[r]
        for j in range(m):
            v = row[j]
            if np.isinf(v):
                fixed[j], vm[j] = pad, 0.0
            elif np.isnan(v):
                fixed[j], vm[j] = unvoiced, 0.0
            else:
                fixed[j], vm[j] = -1.0, v - 12.0 * np.floor(v / 12.0)
        for i in range(n):
            a = qm[i]
            if qgap[i]:
                for j in range(m):
                    c_cur[j], z_cur[j] = 0.0, 0
            else:
                for j in range(m):
                    d = abs(a - vm[j])
                    c_cur[j] = min(max(min(d, 12.0 - d) - tol, 0.0), cap) if fixed[j] < 0.0 else fixed[j]
                if track:
                    for j in range(m):
                        z_cur[j] = c_cur[j] == 0.0
            if i == 0:  # subsequence: a match may start at any song frame
                for j in range(m):
                    d1[j], s1[j], d0[j], s0[j] = c_cur[j], j * tag + z_cur[j], big, j * tag
                c_prev, c_cur = c_cur, c_prev
                z_prev, z_cur = z_cur, z_prev
                continue
            d2[0], s2[0] = c_cur[0] + big, 0
            if track:  # the recursion below, also counting frames that cost 0 (3x slower: kept apart)
                for j in range(1, m):
                    best, st = d1[j - 1], s1[j - 1]
                    if j >= 2 and d1[j - 2] + penalty < best:
                        best, st = d1[j - 2] + penalty, s1[j - 2]
                    hold = d0[j - 1] + c_prev[j] + penalty
                    if hold < best:
                        best, st = hold, s0[j - 1] + z_prev[j]
                    d2[j], s2[j] = c_cur[j] + best, st + z_cur[j]
            else:
                for j in range(1, m):
                    best, st = d1[j - 1], s1[j - 1]  # (1,1) from (i-1, j-1)
                    if j >= 2 and d1[j - 2] + penalty < best:  # (1,2) from (i-1, j-2)
                        best, st = d1[j - 2] + penalty, s1[j - 2]
                    hold = d0[j - 1] + c_prev[j] + penalty  # (2,1) from (i-2, j-1) via (i-1, j)
                    if hold < best:
                        best, st = hold, s0[j - 1]
                    d2[j], s2[j] = c_cur[j] + best, st
            d0, d1, d2 = d1, d2, d0
            s0, s1, s2 = s1, s2, s0
            c_prev, c_cur = c_cur, c_prev
            z_prev, z_cur = z_cur, z_prev
        e = 0
        for j in range(1, m):
            if d1[j] < d1[e]:
                e = j
        cost_out[r], start_out[r], end_out[r] = d1[e] / per, s1[e] // tag, e
        matched_out[r] = (s1[e] % tag) / per if track else np.nan
    return cost_out, start_out, end_out, matched_out


_KERNEL = Compiled(_dtw)


def alignment_path(query: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full warping path (query frame, region frame) of the best subsequence match of one region,
    for plotting. Same steps and costs as ``align`` (a pause in the query costs nothing)."""
    q = np.asarray(query, np.float32)
    r = np.asarray(region, np.float32)
    n, m = len(q), len(r)
    nan = np.isnan(r)
    gap = np.isnan(q)
    c = local_cost(np.where(gap, 0, q)[:, None] - np.where(nan, 0, r)[None, :])
    c = np.where(nan[None, :], UNVOICED_COST, c)
    c = np.where(gap[:, None], 0.0, c).astype(np.float32)
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
