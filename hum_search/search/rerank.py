"""Second stage of a hum search: the alignment re-rank of the first stage's candidates.

The candidates are aligned (``align.py``) around their REGIONS_PER_SONG best hit positions and
the places the whole-line pass found them at (``lines.py``), each resampled at REGION_SCALES times
the hit's tempo, in the key estimated from the hit and, where it
differs, in a second key estimate (``_second_keys``: the most common pitch difference between the
song and the hum over the frames the region's tempo pairs up). The FINE_SONGS best songs' two best
regions are aligned again FINE_SHIFTS semitones either side (the key estimate from one window is
not exact) and at FINE_TEMPO_SCALES times their tempo; the first stage's OTHER_TEMPO_SONGS best
songs are also aligned at their best hit of a tempo those regions do not cover (``hit_positions``).
The alignment says where the match is, and its mean cost, with the first stage's rank and the
share of the hum matched, makes each song's score (``scoring.py``), which orders the results.

Why the tempo scales and the second key: a slow or uneven hum's windows often match best at the
wrong tempo (a hum at 0.78x whose best windows assume 1.3-1.4x), and a region resampled at that
tempo and transposed by that window's key costs the right song more than a wrong one. On 150
"wide" hums of the development benchmark's medium instance (300 songs), first-stage candidates
fixed, MRR: the hit's tempo and key only 0.797 (dev 0.973); with a second key 0.824 (then from
pitch-class histograms; the paired estimate that replaced it: ``_second_keys``); with the
tempo scales as well 0.852 (dev 0.980; both with the first stage's partial windows, which alone
bring 0.824 -> 0.840). 50 ms per hum against 47 before (the alignment is now compiled and split over
two threads: the same work took 70 ms on one). The cost of an alignment grows with the square of
the hum's length; hums spanning over 10 s are aligned at 8.3 instead of 12.5 frames per second:
p95 -30 % on the same hums, the same MRR (at 100 frames, wide lost 0.016). Measured with the first
stage's candidates fixed (a harness outside the project; the benchmark's CLI figures are in
docs/melody.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..features import melody
from ..features.extract import QueryAnalysis
from ..store.base import Store
from . import align
from .candidates import Candidate
from .results import Result
from .scoring import by_score, score_results

REGIONS_PER_SONG = 2  # distinct hit positions aligned per candidate
REGION_GAP_S = 2.0  # hit positions closer than this are the same region
SUPPORT_S = 1.0  # song seconds: hits starting this close to a hit support it (``hit_positions``)
REGION_MARGIN = 0.3  # region = estimated span +- this share of the span (+ 1 s)
FINE_SONGS = 10  # songs whose best region is aligned again at FINE_SHIFTS
# Semitones either side of a leader's key estimate: the second estimate's bin (1/3 semitone). Against
# half a semitone, development benchmark seeds 0 / 1: wide 0.938 / 0.917 -> 0.940 / 0.922, dev 0.987 /
# 0.985 -> 0.987 / 0.989 (6 hums better, 1 worse); a quarter 0.940 / 0.916; 0.4 0.942 / 0.922; also
# at 2/3 the same as 1/3 alone. The same number of alignments.
FINE_SHIFTS = (-1 / 3, 1 / 3)
REGION_SCALES = (0.8, 1.0, 1.25)  # each hit's region is aligned at these x the hit's tempo
MAX_ALIGN_FRAMES = 125  # hum frames aligned at most: a hum spanning over 10 s at 8.3 fps, over 15 s at 6.25
FINE_REGIONS_PER_SONG = 2  # a leading song's best regions (position or key estimate) aligned again
KEY_BINS = 36  # bins of the second key estimate's histogram of pitch differences (1/3 semitone each)
KEY_SMOOTH = (0.25, 0.5, 1.0, 0.5, 0.25)  # the histogram is smoothed over +-2/3 semitone
MIN_PAIRED_FRAMES = 8  # hum frames (0.32 s) a region must pair up with for a second key estimate
SECOND_KEY_MIN_GAP = 0.5  # semitones: a second key estimate this close to the hit's adds nothing
FINE_TEMPO_SCALES = (0.9, 1.1)  # the FINE_SONGS' best regions are also aligned at these x their tempo
# The first stage's OTHER_TEMPO_SONGS best songs are also aligned at their best hit whose tempo lies
# outside what their chosen regions cover (REGION_SCALES around each): ``hit_positions``.
OTHER_TEMPO_SONGS = 10


def rerank(store: Store, qa: QueryAnalysis, cands: list[Candidate]) -> list[Result]:
    """Align the hum with each candidate around its best hits; results scored from their alignment
    costs and ranked by score (``scoring.by_score``)."""
    if not cands:
        return []
    songs = {c.song_id: c.record for c in cands if c.record is not None}
    missing = [c.song_id for c in cands if c.record is None]
    if missing:
        songs.update(store.get(missing, melody=True, sound=False, segments=False))  # (contours only)
    query = align.hum_query(qa.contour)
    query_len_s = len(qa.contour) / melody.CONTOUR_FPS
    usable = [c for c in cands if (rec := songs.get(c.song_id)) is not None and rec.melody is not None
              and len(rec.melody.contour) > 0]
    # (candidate, its song's contour, chosen hits: (start, tempo, query mean, segment start))
    picked = [(c, songs[c.song_id].melody.contour, chosen) for c, chosen in zip(usable, hit_positions(usable))]
    means = iter(_segment_means([(contour, [x[3] for x in chosen]) for _, contour, chosen in picked]))
    regions: list[_Region] = []
    for c, contour, chosen in picked:
        keyed = [(start, tempo, seg_mean - q_mean) for (start, tempo, q_mean, _), seg_mean in zip(chosen, means)]
        for start, tempo, key in keyed + c.places:  # (the whole-line pass's places come with their key)
            for f in REGION_SCALES:
                r = _region(c.song_id, contour, start, tempo * f, key, query_len_s)
                if r is not None:
                    regions.append(r)
    regions += _second_keys(qa.contour, regions)
    if not regions:
        return []
    # pass 1: every region (hit, tempo scale, key estimate); pass 2: each leading song's best
    # regions again, FINE_SHIFTS either side (a key from one window is not exact) and at
    # FINE_TEMPO_SCALES times their tempo
    ds = max(align.DOWNSAMPLE, int(np.ceil(len(query) / MAX_ALIGN_FRAMES)))  # a long hum: coarser frames
    pass1 = align.align(query[::ds], _matrix(regions, 0.0, ds))
    best = _best_by_song(regions, pass1, 0.0, ds)
    leaders = sorted(best.values(), key=lambda m: m.cost)[:FINE_SONGS]
    order = np.argsort(pass1.cost, kind="stable")
    again = []  # each leader's FINE_REGIONS_PER_SONG best regions
    taken = dict.fromkeys((m.region.song_id for m in leaders), 0)
    for i in order:
        sid = regions[i].song_id
        if sid in taken and taken[sid] < FINE_REGIONS_PER_SONG:
            again.append(regions[i])
            taken[sid] += 1
    scaled = []  # the leaders' best regions at other tempi around the hit's (slow or uneven hums)
    for f in FINE_TEMPO_SCALES:
        for m in leaders:
            r = m.region
            s = _region(r.song_id, songs[r.song_id].melody.contour, r.hit_start, r.tempo * f, r.key, query_len_s)
            scaled += [s] if s is not None else []
    fine = {m.region.song_id: m for m in leaders}
    for dk, fine_regions in [(0.0, scaled)] + [(dk, again + scaled) for dk in FINE_SHIFTS]:
        if not fine_regions:
            continue
        al = align.align(query[::ds], _matrix(fine_regions, dk, ds))
        for sid, m in _best_by_song(fine_regions, al, dk, ds).items():
            if m.cost < fine[sid].cost:
                fine[sid] = m
    rest = sorted((m for sid, m in best.items() if sid not in fine), key=lambda m: m.cost)
    results = []
    ranked = sorted(fine.values(), key=lambda m: m.cost) + rest
    _measure_matched(query[::ds], ranked)
    for rank, m in enumerate(ranked, 1):
        meta = songs[m.region.song_id].meta
        fps = melody.CONTOUR_FPS / m.downsample / m.region.tempo
        start = m.region.start_s + m.start / fps
        end = m.region.start_s + (m.end + 1) / fps
        results.append(Result(rank=rank, song=meta, score=0.0, cost=m.cost,
                              match_start_s=max(0.0, start), match_end_s=min(end, meta.duration_s),
                              transpose=float((m.key + 6) % 12 - 6), matched=m.matched))
    first = {c.song_id: i for i, c in enumerate(cands)}  # the first stage's rank of each song
    return by_score(score_results(results, [first[m.region.song_id] for m in ranked], voiced_s=qa.voiced_s))


def hit_positions(cands: list[Candidate]) -> list[list[tuple[float, float, float, float]]]:
    """For each candidate, the REGIONS_PER_SONG distinct positions (start, tempo, query mean, segment
    start) it is aligned at: its best single hit, then its best-supported hit, then the next best
    single hits. A hit's support is how far the song's hits within SUPPORT_S of its start beat the
    song's median hit: where many windows agree on a start, one lucky window elsewhere does not
    decide (the first stage's vote, per region). Of the 14 wide misses left after the outer tempi,
    7 had their best single hit away from where they were hummed (a repeated phrase, a lucky
    window); 150 wide medium hums MRR 0.930 -> 0.933 (top-1 0.907 -> 0.913: one hum; support
    first: 0.932; 2 s: 0.933; ties broken by start instead of by score: 0.930), dev 0.983
    unchanged; the same number of alignments. All candidates' hits are measured in one pass
    (per candidate it took 6 ms for a hum's 77 candidates, now under 1).

    The first OTHER_TEMPO_SONGS candidates (the first stage's best) also get their best hit at a
    tempo none of those positions' regions covers (REGION_SCALES x its tempo), where they have one.
    A short phrase of a tune that the song repeats matches several places at several tempi: a slow
    `wide` hum (q0230 of seed 2: 9 notes at 0.74x, a melody played three times) was its song's
    first candidate, yet both aligned positions were windows matching at 1.2-1.4x elsewhere, and the
    hit at its own place and tempo (7th best) was never aligned: 11th, at rank 1 with this. 150
    `wide` hums per seed (first stage and re-rank as the CLI runs them), MRR seeds 0-3: 0.935 / 0.967 /
    0.928 / 0.950 -> 0.932 / 0.967 / 0.933 / 0.957 (top-1 +3, -1: 138 / 145 / 137 / 141 -> 137 /
    145 / 138 / 143), `dev` one seed-2 hum 38th -> 6th, one 4th -> 5th; 20 songs: the same ranks;
    a third region for every candidate (the next distinct position, whatever its tempo) instead:
    0.932 / 0.963 / 0.933 / 0.946, for 3-6 times the extra alignments."""
    orders = [sorted(c.hits, key=lambda h: -h[0]) for c in cands]
    for order, j in zip(orders, _best_supported(orders)):
        if j > 0:
            order.insert(1, order[j])
    out = []
    for i, order in enumerate(orders):
        chosen: list[tuple[float, float, float, float]] = []
        for _, start_s, tempo, q_mean, seg_start in order:
            if all(abs(start_s - u[0]) >= REGION_GAP_S for u in chosen):
                chosen.append((start_s, tempo, q_mean, seg_start))
                if len(chosen) >= REGIONS_PER_SONG:
                    break
        if i < OTHER_TEMPO_SONGS:
            other = next((h[1:] for h in order if not any(_covers(u[1], h[2]) for u in chosen)), None)
            chosen += [other] if other is not None else []
        out.append(chosen)
    return out


def _covers(tempo: float, other: float) -> bool:
    """Whether a region aligned at REGION_SCALES x ``tempo`` covers a hit at ``other``."""
    return REGION_SCALES[0] * tempo <= other <= REGION_SCALES[-1] * tempo


def _best_supported(orders: list[list[tuple]]) -> list[int]:
    """For hit lists each sorted by score (best first), the index of each list's best-supported hit
    (``hit_positions``; ties: the better single hit). All lists in one sorted pass."""
    n = np.array([len(o) for o in orders], np.int64)
    if n.sum() == 0:
        return [0] * len(orders)
    owner = np.repeat(np.arange(len(orders)), n)
    score = np.fromiter((h[0] for o in orders for h in o), np.float64, int(n.sum()))
    start = np.fromiter((h[1] for o in orders for h in o), np.float64, int(n.sum()))
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    last = np.minimum(first + np.maximum(n, 1) - 1, len(score) - 1)  # (a list without hits: any index)
    median = 0.5 * (score[np.minimum(first + (n - 1) // 2, last)] + score[np.minimum(first + n // 2, last)])
    evidence = np.maximum(score - median[owner], 0.0)
    key = owner * (start.max() - start.min() + 4 * SUPPORT_S + 1.0) + start  # lists far apart
    by_key = np.argsort(key, kind="stable")
    k = key[by_key]
    cum = np.concatenate([[0.0], np.cumsum(evidence[by_key])])
    support = np.empty(len(k))
    support[by_key] = cum[np.searchsorted(k, k + SUPPORT_S, side="right")] - cum[np.searchsorted(k, k - SUPPORT_S)]
    return [int(np.argmax(support[f:f + m])) if m else 0 for f, m in zip(first.tolist(), n.tolist())]


def _second_keys(contour: np.ndarray, regions: list[_Region]) -> list[_Region]:
    """The regions again in a second key estimate, where it differs from the hit's by more than
    SECOND_KEY_MIN_GAP: the most common difference between the song's pitch and the hum's over the
    frames the region's own tempo pairs up (hum frame t with region value t + where the hit puts the
    hum's start), in KEY_BINS bins smoothed by KEY_SMOOTH. The hit's estimate (circular means of one
    hum window and one song segment) is off when that window matched at the wrong tempo or offset,
    and by a semitone or more when a wrong or drifting note sits in it; the mode over the whole hum
    is not moved by a few wrong notes. Measured against the previous second estimate (the shift
    that best lined up the pitch-class histograms of the whole hum and of the region: no pairing,
    so a short hum's few notes matched many shifts), same number of alignments, MRR of the
    development benchmark's medium instance (first-stage candidates as the CLI makes them) on two
    generator seeds, seed 0 / seed 1: wide 0.933 / 0.900 -> 0.938 / 0.917 (top-10 0.967 / 0.927 ->
    0.973 / 0.940), dev 0.983 / 0.985 -> 0.987 / 0.985: 7 hums better (4 from missing to rank 1-2),
    4 worse by one rank each. A region pairing fewer than MIN_PAIRED_FRAMES voiced frames gets none."""
    if not regions:
        return []
    lengths = np.array([len(r.values) for r in regions])
    values = np.full((len(regions), int(lengths.max())), np.nan, np.float32)
    for i, r in enumerate(regions):
        values[i, : len(r.values)] = r.values
    first = np.array([(r.hit_start - r.start_s) * melody.CONTOUR_FPS / r.tempo for r in regions])
    at = np.rint(first[:, None] + np.arange(len(contour))[None, :]).astype(np.intp)  # (regions, hum frames)
    inside = (at >= 0) & (at < lengths[:, None])
    diff = np.take_along_axis(values, np.clip(at, 0, values.shape[1] - 1), axis=1) - contour[None, :]
    ok = inside & ~np.isnan(diff)
    rows = np.nonzero(ok)[0]
    bins = np.rint(diff[ok] * (KEY_BINS / 12.0)).astype(np.int64) % KEY_BINS
    h = np.bincount(rows * KEY_BINS + bins, minlength=len(regions) * KEY_BINS).reshape(-1, KEY_BINS)
    h = sum(w * np.roll(h, i - len(KEY_SMOOTH) // 2, axis=1) for i, w in enumerate(KEY_SMOOTH))
    keys = np.argmax(h, axis=1) * (12.0 / KEY_BINS)
    paired = ok.sum(axis=1)
    out = []
    for r, k, n in zip(regions, keys.tolist(), paired.tolist()):
        if n >= MIN_PAIRED_FRAMES and abs((k - r.key + 6.0) % 12.0 - 6.0) > SECOND_KEY_MIN_GAP:
            out.append(dataclasses.replace(r, key=k))
    return out


def _region(song_id: str, contour: np.ndarray, start: float, tempo: float, key: float,
            query_len_s: float) -> "_Region | None":
    """The song's contour around a hit at ``start`` (song seconds), resampled to hum time at ``tempo``
    (the hit's, or a scale of it), so that a well-matched hum aligns on the diagonal and every
    non-diagonal step (a local tempo change) costs STEP_PENALTY. None where the song has almost no
    melody there."""
    span = query_len_s * tempo
    lo = max(0.0, start - REGION_MARGIN * span - 1.0)
    hi = start + (1 + REGION_MARGIN) * span + 1.0
    a, b = int(lo * melody.CONTOUR_FPS), int(hi * melody.CONTOUR_FPS)
    seg = contour[a:b]
    if np.count_nonzero(seg == seg) < 4:  # (NaN != NaN: the voiced frames)
        return None
    values = seg[np.minimum(np.arange(0, len(seg), tempo).astype(np.intp), len(seg) - 1)]
    return _Region(song_id, values, a / melody.CONTOUR_FPS, key, tempo, start)


@dataclass
class _Region:
    song_id: str
    values: np.ndarray  # the song's contour around a hit
    start_s: float  # song time of the first value
    key: float  # semitones from the query's key to the song's here (estimated from the kNN hit)
    tempo: float = 1.0  # song seconds per value, times CONTOUR_FPS (the values are resampled to hum time)
    hit_start: float = 0.0  # the hit's estimated start of the hum in the song (seconds)


@dataclass
class _Match:
    region: _Region
    cost: float
    start: int  # in frames at CONTOUR_FPS / downsample
    end: int
    key: float
    downsample: int
    matched: float = 0.0  # share of the hum's frames aligned within align.PITCH_TOLERANCE


def _matrix(regions: list[_Region], shift: float, downsample: int) -> np.ndarray:
    """Regions as one padded matrix (+inf = padding), transposed into the query's key."""
    values = [r.values[::downsample] for r in regions]
    out = np.full((len(regions), max(len(v) for v in values)), np.inf, np.float32)
    for i, (r, v) in enumerate(zip(regions, values)):
        out[i, : len(v)] = v - (r.key + shift)
    return out


def _best_by_song(regions: list[_Region], al: align.Alignment, shift: float, downsample: int) -> dict[str, _Match]:
    best: dict[str, _Match] = {}
    for i, r in enumerate(regions):
        cost = float(al.cost[i])
        if r.song_id not in best or cost < best[r.song_id].cost:
            best[r.song_id] = _Match(r, cost, int(al.start[i]), int(al.end[i]), r.key + shift, downsample)
    return best


def _measure_matched(query: np.ndarray, matches: list[_Match]) -> None:
    """Fill in each match's ``matched``: its region cut to the matched stretch is aligned again,
    counting the hum frames that cost nothing (the same best path, at a fraction of the first
    alignment's cost: one cut region per song, and the counting programme only here)."""
    if not matches:
        return
    rows = [(m.region.values[:: m.downsample] - m.key)[m.start: m.end + 1] for m in matches]
    out = np.full((len(rows), max(len(r) for r in rows)), np.inf, np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    for m, share in zip(matches, align.align(query, out, track=True).matched):
        m.matched = float(share)


def _segment_means(songs: list[tuple[np.ndarray, list[float]]]) -> np.ndarray:
    """Circular mean pitch of the song windows starting at each song's ``starts_s`` (as in
    melody.song_segments), for (contour, starts_s) of many songs in one call: the frames of each
    window are laid end to end and measured at once (a song's two hits may lie minutes apart: one
    stretch from the first to the last made short hums with 100 candidates spend 12 ms here)."""
    length = melody.SEGMENT_S * melody.CONTOUR_FPS
    gap = np.full(int(np.ceil(length)) + 1, np.nan, np.float32)
    pieces, starts = [], []
    at = 0
    for contour, starts_s in songs:
        if not starts_s:
            continue
        st = np.clip(np.asarray(starts_s) * melody.CONTOUR_FPS, 0, max(len(contour) - length, 0))
        for s in st.tolist():
            lo, hi = int(s), int(np.ceil(s + length)) + 1
            piece = contour[lo:hi]
            pieces += [piece, gap]  # (unvoiced between windows: a window never reads the next one)
            starts.append(s - lo + at)
            at += len(piece) + len(gap)
    if not pieces:
        return np.zeros(0, np.float32)
    return melody.window_vectors(np.concatenate(pieces), np.asarray(starts), length)[1]
