"""The melody channel's representation: contours and key-invariant, tempo-tolerant segment vectors.

- A *contour* is the melody's pitch (MIDI number, float, NaN where no melody is heard) at
  CONTOUR_FPS frames per second. Songs store theirs; a hum's is computed at query time.
- A *segment vector* describes SEGMENT_S seconds of a contour, resampled to SEGMENT_POINTS points.
  Each point's pitch p becomes the unit complex number exp(2πi·p/12) (pitch class on a circle, so
  octave errors of the melody extractor cost nothing), the whole window is rotated by its circular
  mean (so the vector does not depend on the key), and the real and imaginary parts are stacked
  and scaled to unit norm. The cosine of two such vectors is the mean cosine of their pitch-class
  differences: 1 for the same tune in any key.
- Tempo: a song segment covers SEGMENT_S seconds of *song* time; the query is cut into windows of
  SEGMENT_S / tempo seconds for a grid of tempo ratios (QUERY_TEMPI), so one of them lines up with
  the song whether the hum is slower or faster.

Matching positions and the final ranking come from the alignment re-rank (``align.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..types import MelodyFeatures
from . import pitch

CONTOUR_FPS = 25.0  # contour frames per second (40 ms)
_DECIMATE = int(round(pitch.FRAME_RATE / CONTOUR_FPS))  # tracker frames per contour frame
GAP_FILL_S = 0.2  # unvoiced gaps up to this long are bridged by holding the previous pitch
SEGMENT_S = 5.0  # song time covered by one segment vector
SEGMENT_POINTS = 40  # contour points per segment vector
MELODY_DIM = 2 * SEGMENT_POINTS  # (cos, sin) per point
SEGMENT_HOP_S = 0.4  # song segments start every SEGMENT_HOP_S seconds
MAX_UNVOICED = 0.3  # windows with a larger share of unvoiced frames are not used
QUERY_HOP_S = 0.2  # query windows start every QUERY_HOP_S seconds (hum time)
# Windows per query = kNN searches per hum (one batch; one _msearch on Elasticsearch): at most 32,
# at 9 tempo ratios from 0.6 to 1.5x (steps of 12 %: a hum is at most 6 % off the nearest; fewer
# offsets each). They find the candidates; the FINE windows (11 ratios, every 0.2 s, at most 200)
# then score only those candidates' segments (search/candidates.py). The fine windows alone as kNN searches gave dev
# medium MRR 0.973; the coarse ones alone 0.938 (benchmarks/window_plans.py). 8 ratios instead of 6,
# with melody model v2's songs, 150 dev medium hums: MRR at +1,000 / +10,000 / +100,000 songs
# 0.959 / 0.926 / 0.831 -> 0.963 / 0.936 / 0.849; on 300 songs (two passes forced) dev and wide the
# same; search + re-rank time the same (with v1's songs 8 ratios had lost 0.007-0.020 at +1,000).
# 0.6-1.5x instead of 0.7-1.4x (people hum from about 0.6x; the fine and outer windows reach that far,
# but at scale only songs the coarse windows find get there), the same 32 searches, dev / wide MRR:
# +1,000 0.970 / 0.846 -> 0.977 / 0.870, +10,000 0.949 / 0.735 -> 0.962 / 0.747 (26 hum-size pairs
# better, 15 worse); 0.6-1.5x in 10 ratios 0.967 / 0.869 and 0.944 / 0.766; 0.6-1.6x in 9: 0.973 /
# 0.860 and 0.933 / 0.735; 300 songs (one exact pass of the fine windows) unchanged.
MAX_QUERY_WINDOWS = 32
QUERY_TEMPI = tuple(float(t) for t in np.geomspace(0.6, 1.5, 9))  # hum tempo / song tempo
FINE_MAX_WINDOWS = 200
FINE_TEMPI = tuple(float(t) for t in np.geomspace(0.7, 1.4, 11))
# The fine grid continued two steps either side (0.61, 0.65 and 1.50, 1.61): people hum from about
# 0.6x to 1.6x of a song's tempo. These windows are voted apart from the fine ones and only bring
# new candidates (search/candidates.py OUTER_SONGS): in the fine grid itself they made other hums'
# lucky hits at extreme tempi outvote their songs (wide medium MRR 0.916 -> 0.904, dev 0.983 -> 0.977).
_FINE_STEP = FINE_TEMPI[1] / FINE_TEMPI[0]
OUTER_TEMPI = tuple(float(t) for t in (0.7 / _FINE_STEP**2, 0.7 / _FINE_STEP, 1.4 * _FINE_STEP, 1.4 * _FINE_STEP**2))
# At most this many outer windows, half of them on each side of the fine grid (``outer_windows``).
OUTER_MAX_WINDOWS = 20
PARTIAL_MIN_SHARE = 0.6  # a hum covering at least this share of a window's span gets a partial window
# A partial window is compared with stored segments, each turned (key-normalized) by the circular
# mean of its whole SEGMENT_S, while the hum covers only the first part of it: the two means differ
# by what the song plays after the hummed part, and a turn of θ between two otherwise equal vectors
# scales their cosine by about cos θ (a semitone: 0.87). So partial windows also go out turned by
# PARTIAL_TURNS semitones (``query_windows(turns=...)``, search/candidates.py), the vote taking the
# best turn: those the hum covers less than PARTIAL_TURN_MAX_SHARE of, and all of them for a hum
# shorter than SEGMENT_S (whose windows at the song's own tempo are partial). Development benchmark,
# medium instance (300 songs), 150 hums per profile and generator seed, MRR seed 0 / seed 1: wide
# 0.941 / 0.938 -> 0.948 / 0.944 (top-10 0.967 / 0.953 -> 0.973 / 0.960: q0103, 5.8 s at 0.87x, and
# q0075, 6.1 s at 0.66x, from outside the candidates to first; the mean of four contour phases 0.929
# / 0.940 -> 0.935 / 0.946), dev unchanged; the same hums cut to their first 4.5 s: dev 0.875 /
# 0.889 -> 0.887 / 0.920, wide 0.691 / 0.664 -> 0.736 / 0.694. At +1,000 songs the cut hums (seed
# 0) dev 0.749 -> 0.767, wide 0.563 -> 0.602; at +10,000 dev 0.946 and its cut hums 0.608 -> 0.634,
# wide 0.791 -> 0.788 (one hum first -> second), its cut hums 0.459 -> 0.438. Every partial window
# turned, whatever the hum's share: 300 songs wide 0.944 / 0.944, +10,000 wide 0.778 (two more 6.5 s
# hums at ordinary tempo lost: lucky hits among the coarse songs, the key hardly off). Turns of +-2
# semitones in half steps: no rank in the top 10 changed.
PARTIAL_TURNS = (-1.0, -0.5, 0.5, 1.0)  # semitones
PARTIAL_TURN_MAX_SHARE = 0.9  # a hum covering this share of a window or more: its key is hardly off
MIN_VOICED_S = 2.0  # a hum needs at least this much voiced sound
MIN_SPREAD = 0.1  # windows whose pitch hardly moves (RMS of the centred vector) are not used


def params() -> dict:
    """Everything that changes the meaning of stored melody features (recorded in the IndexSpec)."""
    return {
        "contour_fps": CONTOUR_FPS, "gap_fill_s": GAP_FILL_S, "segment_s": SEGMENT_S,
        "segment_points": SEGMENT_POINTS, "segment_hop_s": SEGMENT_HOP_S, "max_unvoiced": MAX_UNVOICED,
        "min_spread": MIN_SPREAD,
        "tracker": {"sr": pitch.SAMPLE_RATE, "hop": pitch.HOP, "window": pitch.WINDOW, "n_fft": pitch.N_FFT,
                    "song": pitch.SONG.__dict__},
    }


# --- contours ---------------------------------------------------------------------------------------
def contour_from_f0(f0_midi: np.ndarray) -> np.ndarray:
    """Tracker output (pitch.FRAME_RATE) -> contour at CONTOUR_FPS: the median of each group of
    frames, NaN unless at least half of them are voiced; short gaps are then bridged."""
    n = len(f0_midi) // _DECIMATE
    groups = np.asarray(f0_midi[: n * _DECIMATE], np.float32).reshape(n, _DECIMATE)
    voiced = np.sum(~np.isnan(groups), axis=1)
    out = np.full(n, np.nan, np.float32)
    ok = voiced * 2 >= _DECIMATE
    if ok.any():
        out[ok] = np.nanmedian(groups[ok], axis=1)
    return fill_gaps(out, int(round(GAP_FILL_S * CONTOUR_FPS)))


def fill_gaps(c: np.ndarray, max_frames: int) -> np.ndarray:
    """Hold the previous pitch across unvoiced runs of at most ``max_frames`` between voiced frames."""
    c = np.array(c, np.float32)
    nan = np.isnan(c)
    if not nan.any() or nan.all():
        return c
    edges = np.diff(np.concatenate([[0], nan.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for s, e in zip(starts, ends):
        if s > 0 and e < len(c) and e - s <= max_frames:
            c[s:e] = c[s - 1]
    return c


def voiced_seconds(contour: np.ndarray) -> float:
    return float(np.sum(~np.isnan(contour)) / CONTOUR_FPS)


def trim(contour: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop leading and trailing unvoiced frames. Returns (trimmed, index of its first frame)."""
    v = np.nonzero(~np.isnan(contour))[0]
    if len(v) == 0:
        return contour[:0], 0
    return contour[v[0]: v[-1] + 1], int(v[0])


# --- segment vectors --------------------------------------------------------------------------------
def window_vectors(contour: np.ndarray, starts: np.ndarray, length: float,
                   partial: bool = False, turn: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment vectors of the windows [start, start + length) (in contour frames, fractional).

    Each window is divided into SEGMENT_POINTS equal bins; a bin's value is the mean of
    exp(2πi·pitch/12) over its voiced frames (0 when it has none, and shorter than 1 when the pitch
    moves inside it). The window is rotated by the angle of its overall mean, then (real, imag) are
    stacked (less the mean of the real parts) and scaled to unit norm. Returns (vectors (n, MELODY_DIM), circular mean pitch (n,)
    in semitones mod 12, ok mask (n,): fully inside the contour and voiced enough).

    ``partial``: a window may run past the end of the contour (its last bins stay 0; voicing is
    measured on the part inside; see ``query_windows``). ``turn``: semitones added to the rotation
    (``PARTIAL_TURNS``); the mean pitch returned is less them, so that a song segment's mean less it
    is still the key between the two."""
    starts = np.asarray(starts, np.float64)
    n = len(contour)
    voiced = ~np.isnan(contour)
    z = np.where(voiced, np.exp(1j * (2 * np.pi / 12) * np.nan_to_num(contour)), 0)
    cz = np.concatenate([[0], np.cumsum(z)])  # cumulative sums, interpolated at fractional edges
    cv = np.concatenate([[0], np.cumsum(voiced)]).astype(np.float64)
    edges = starts[:, None] + np.linspace(0.0, length, SEGMENT_POINTS + 1)[None, :]
    e = np.clip(edges, 0, n)
    grid = np.arange(n + 1)
    sz = np.interp(e, grid, cz.real) + 1j * np.interp(e, grid, cz.imag)
    sv = np.interp(e, grid, cv)
    bins_z = np.diff(sz, axis=1)
    bins_v = np.diff(sv, axis=1)
    bins = bins_z / np.maximum(bins_v, 1e-9)
    bins[bins_v < 0.5] = 0
    inside = np.minimum(starts + length, n) - starts if partial else np.full(len(starts), length)
    voiced_share = (sv[:, -1] - sv[:, 0]) / np.maximum(inside, 1e-9)
    ok = (starts >= 0) & ((starts + length <= n + 1e-6) | partial) & (voiced_share >= 1 - MAX_UNVOICED)
    total = bins.sum(axis=1, keepdims=True)
    rot = np.conj(total / np.maximum(np.abs(total), 1e-9)) * np.exp(1j * (2 * np.pi / 12) * turn)
    r = bins * rot
    # without the mean of the real parts, a window of one held note is ~0 and is dropped (it would
    # match every held note); what remains is how the pitch moves around the window's centre
    real = np.where(bins_v >= 0.5, r.real - r.real.mean(axis=1, keepdims=True), 0.0)
    vec = np.concatenate([real, r.imag], axis=1)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    ok &= norm[:, 0] / np.sqrt(SEGMENT_POINTS) >= MIN_SPREAD
    vec /= np.maximum(norm, 1e-9)
    mean_pitch = (np.angle(total[:, 0]) * 12 / (2 * np.pi) - turn) % 12
    return vec.astype(np.float32), mean_pitch.astype(np.float32), ok


def song_segments(contour: np.ndarray) -> MelodyFeatures:
    """Segment vectors every SEGMENT_HOP_S seconds of a song contour."""
    length = SEGMENT_S * CONTOUR_FPS
    hop = SEGMENT_HOP_S * CONTOUR_FPS
    starts = np.arange(0.0, max(len(contour) - length + 1, 0), hop)
    vec, _, ok = window_vectors(contour, starts, length)
    t0 = (starts[ok] / CONTOUR_FPS).astype(np.float32)
    return MelodyFeatures(contour=contour.astype(np.float32), fps=CONTOUR_FPS, vectors=vec[ok],
                          seg_start_s=t0, seg_end_s=(t0 + SEGMENT_S).astype(np.float32))


@dataclass
class QueryWindows:
    vectors: np.ndarray  # (n, MELODY_DIM)
    tempo: np.ndarray  # (n,) hum tempo / song tempo assumed by each window
    offset_s: np.ndarray  # (n,) start of each window in the (trimmed) query, seconds
    mean_pitch: np.ndarray  # (n,) circular mean pitch of each window (semitones, mod 12)


def joined(a: QueryWindows, b: QueryWindows) -> QueryWindows:
    """The windows of ``a`` then those of ``b`` (one batch of searches for both)."""
    fields = ("vectors", "tempo", "offset_s", "mean_pitch")
    return QueryWindows(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in fields))


def outer_windows(contour: np.ndarray) -> QueryWindows:
    """The windows at the outer tempi (``OUTER_TEMPI``): half of OUTER_MAX_WINDOWS for the slow side
    (0.61, 0.65x), half for the fast side (1.50, 1.61x), each side's offsets spaced on its own. A
    hop shared by all four tempi gave the slow side, whose windows span 7.7-8.2 s of hum, three or
    four windows of a 9 s hum against the fast side's eighteen, so a slow hum's song, first in both of
    its slow windows, was outvoted by the fast windows' lucky hits (a hum is slow or fast, not
    both). Development benchmark, medium instance (300 songs), 150 hums per profile and generator
    seed, MRR seed 0 / seed 1: wide 0.941 / 0.948 -> 0.938 / 0.954 (top-10 0.967 / 0.960 -> 0.967
    / 0.967: seed 1's q0292, 8.7 s hummed at 0.59x of its song, from outside the candidates to
    first; seed 0's q0103, 5.8 s at 6 dB and unconfident either way, from first to second by a
    score of 0.014 against 0.011), dev 0.987 / 0.993 unchanged; the same number of windows. Five
    windows per tempo: wide 0.934 / 0.954."""
    sides = [tuple(t for t in OUTER_TEMPI if t < 1.0), tuple(t for t in OUTER_TEMPI if t > 1.0)]
    slow, fast = (query_windows(contour, side, max_windows=OUTER_MAX_WINDOWS // 2, strict_cap=False,
                                turns=PARTIAL_TURNS) for side in sides)
    return joined(slow, fast)


def query_windows(contour: np.ndarray, tempi=None, hop_s: float | None = None,
                  max_windows: int | None = None, *, strict_cap: bool = True,
                  turns: tuple[float, ...] = ()) -> QueryWindows:
    """Windows of a trimmed query contour for every tempo ratio in ``tempi`` (a window at tempo τ
    spans SEGMENT_S / τ seconds of hum). Where the hum covers at least PARTIAL_MIN_SHARE of a
    window but not all of it (a short, slow hum: 6 s hummed at 0.75x cover 4.5 s of song), the whole
    hum is the first part of one window, the rest 0 (``window_vectors(partial=True)``): its cosine
    with the segment that starts where the hum does counts the part hummed. A query too short for
    any window gives one window of its whole length, with the tempo ratio that makes it span one
    segment. ``strict_cap``: never more than ``max_windows`` (each window is a paid kNN search);
    else about that many, at the spacing of the previous release (the fine windows, which search a
    small exact store or score songs). ``turns``: partial windows also turned by these semitones
    (``PARTIAL_TURNS``: the part hummed and the whole segment have different means; which windows:
    PARTIAL_TURN_MAX_SHARE), on top of ``max_windows`` (so only where the cap is not strict)."""
    if turns and strict_cap:
        raise ValueError("turned partial windows would break a strict cap on the number of windows")
    tempi = QUERY_TEMPI if tempi is None else tempi
    max_windows = MAX_QUERY_WINDOWS if max_windows is None else max_windows
    n = len(contour)
    plans = [(tau, SEGMENT_S / tau * CONTOUR_FPS) for tau in tempi]
    short = [(tau, length) for tau, length in plans if PARTIAL_MIN_SHARE * length <= n < length]
    short = short[len(short) - max_windows // 2:]  # (the fastest: the most of them inside the hum)
    plans = [(tau, length) for tau, length in plans if n >= length]
    if not plans and not short and n >= 4:
        plans = [(SEGMENT_S * CONTOUR_FPS / n, float(n))]
    max_windows -= len(short)
    if hop_s is None:  # the hop that keeps the windows of all tempi within max_windows
        span_s = n / CONTOUR_FPS
        room = sum(max(span_s - SEGMENT_S / t, 0.0) for t in tempi)  # offsets available, seconds
        if strict_cap:
            slots = max_windows - sum(1 for t in tempi if span_s >= SEGMENT_S / t)  # first windows are free
            hop_s = max(QUERY_HOP_S, room / max(slots, 1) + 1e-6)
        else:
            hop_s = max(QUERY_HOP_S, room / max_windows)
    vecs, tempo, offset, means = [], [], [], []
    for (tau, length), turn in itertools.product(short, (0.0, *turns)):
        if turn and n >= PARTIAL_TURN_MAX_SHARE * length and n >= SEGMENT_S * CONTOUR_FPS:
            continue
        v, m, ok = window_vectors(contour, np.zeros(1), length, partial=True, turn=turn)
        vecs.append(v[ok])
        means.append(m[ok])
        tempo.append(np.full(int(ok.sum()), tau, np.float32))
        offset.append(np.zeros(int(ok.sum()), np.float32))
    for tau, length in plans:
        starts = np.arange(0.0, n - length + 1, hop_s * CONTOUR_FPS)
        v, m, ok = window_vectors(contour, starts, length)
        if not ok.any():
            continue
        vecs.append(v[ok])
        means.append(m[ok])
        tempo.append(np.full(int(ok.sum()), tau, np.float32))
        offset.append((starts[ok] / CONTOUR_FPS).astype(np.float32))
    if not vecs:
        return QueryWindows(np.zeros((0, MELODY_DIM), np.float32), np.zeros(0, np.float32),
                            np.zeros(0, np.float32), np.zeros(0, np.float32))
    return QueryWindows(np.concatenate(vecs), np.concatenate(tempo), np.concatenate(offset), np.concatenate(means))
