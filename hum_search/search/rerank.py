"""Second stage of a hum search: the alignment re-rank of the first stage's candidates.

The candidates are aligned (``align.py``) around their REGIONS_PER_SONG best hit positions, in the
key estimated from the hit; the FINE_SONGS best are aligned again FINE_SHIFTS semitones either side
(the key estimate from one window is not exact). The mean alignment cost ranks the songs and the
alignment says where the match is; ``scoring.py`` turns costs into scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import melody
from ..features.extract import QueryAnalysis
from ..store.base import Store
from . import align
from .candidates import Candidate
from .results import Result
from .scoring import score_results

REGIONS_PER_SONG = 2  # distinct hit positions aligned per candidate
REGION_GAP_S = 2.0  # hit positions closer than this are the same region
REGION_MARGIN = 0.3  # region = estimated span +- this share of the span (+ 1 s)
FINE_SONGS = 10  # songs whose best region is aligned again at FINE_SHIFTS
FINE_SHIFTS = (-0.5, 0.5)  # semitones either side of the key estimated from the hit


def rerank(store: Store, qa: QueryAnalysis, cands: list[Candidate]) -> list[Result]:
    """Align the hum with each candidate around its best hits; results ranked by alignment cost, scored."""
    if not cands:
        return []
    songs = {c.song_id: c.record for c in cands if c.record is not None}
    missing = [c.song_id for c in cands if c.record is None]
    if missing:
        songs.update(store.get(missing, melody=True, sound=False))
    query = qa.contour[~np.isnan(qa.contour)]
    query_len_s = len(qa.contour) / melody.CONTOUR_FPS
    picked = []  # (candidate, its song's contour, chosen hits: (start, tempo, query mean, segment start))
    for c in cands:
        rec = songs.get(c.song_id)
        if rec is None or rec.melody is None or len(rec.melody.contour) == 0:
            continue
        chosen: list[tuple[float, float, float, float]] = []
        for _, start, tempo, q_mean, seg_start in sorted(c.hits, key=lambda h: -h[0]):
            if all(abs(start - u[0]) >= REGION_GAP_S for u in chosen):
                chosen.append((start, tempo, q_mean, seg_start))
                if len(chosen) >= REGIONS_PER_SONG:
                    break
        picked.append((c, rec.melody.contour, chosen))
    means = iter(_segment_means([(contour, [x[3] for x in chosen]) for _, contour, chosen in picked]))
    regions: list[_Region] = []
    for c, contour, chosen in picked:
        for (start, tempo, q_mean, _), seg_mean in zip(chosen, means):
            span = query_len_s * tempo
            lo = max(0.0, start - REGION_MARGIN * span - 1.0)
            hi = start + (1 + REGION_MARGIN) * span + 1.0
            a, b = int(lo * melody.CONTOUR_FPS), int(hi * melody.CONTOUR_FPS)
            if np.sum(~np.isnan(contour[a:b])) >= 4:
                # resampled to hum time (the hit's tempo), so that a well-matched hum aligns on the
                # diagonal and every non-diagonal step (a local tempo change) costs STEP_PENALTY
                seg = contour[a:b]
                values = seg[np.arange(0, len(seg), tempo).astype(int)]
                regions.append(_Region(c.song_id, values, a / melody.CONTOUR_FPS, seg_mean - q_mean, tempo))
    if not regions:
        return []
    # pass 1: every region in the estimated key; pass 2: the best region of each leading song
    # again, half a semitone either side (the key estimate from one window is not exact)
    ds = align.DOWNSAMPLE
    best = _best_by_song(regions, align.align(query[::ds], _matrix(regions, 0.0, ds)), 0.0, ds)
    leaders = sorted(best.values(), key=lambda m: m.cost)[:FINE_SONGS]
    fine_regions = [m.region for m in leaders]
    fine = {m.region.song_id: m for m in leaders}
    for dk in FINE_SHIFTS:
        al = align.align(query[::ds], _matrix(fine_regions, dk, ds))
        for sid, m in _best_by_song(fine_regions, al, dk, ds).items():
            if m.cost < fine[sid].cost:
                fine[sid] = m
    rest = sorted((m for sid, m in best.items() if sid not in fine), key=lambda m: m.cost)
    results = []
    for rank, m in enumerate(sorted(fine.values(), key=lambda m: m.cost) + rest, 1):
        meta = songs[m.region.song_id].meta
        fps = melody.CONTOUR_FPS / m.downsample / m.region.tempo
        start = m.region.start_s + m.start / fps
        end = m.region.start_s + (m.end + 1) / fps
        results.append(Result(rank=rank, song=meta, score=0.0, cost=m.cost,
                              match_start_s=max(0.0, start), match_end_s=min(end, meta.duration_s),
                              transpose=float((m.key + 6) % 12 - 6)))
    return score_results(results)


@dataclass
class _Region:
    song_id: str
    values: np.ndarray  # the song's contour around a hit
    start_s: float  # song time of the first value
    key: float  # semitones from the query's key to the song's here (estimated from the kNN hit)
    tempo: float = 1.0  # song seconds per value, times CONTOUR_FPS (the values are resampled to hum time)


@dataclass
class _Match:
    region: _Region
    cost: float
    start: int  # in frames at CONTOUR_FPS / downsample
    end: int
    key: float
    downsample: int


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


def _segment_means(songs: list[tuple[np.ndarray, list[float]]]) -> np.ndarray:
    """Circular mean pitch of the song windows starting at each song's ``starts_s`` (as in
    melody.song_segments), for (contour, starts_s) of many songs in one call: the stretches that
    hold each song's windows are laid end to end and measured at once."""
    length = melody.SEGMENT_S * melody.CONTOUR_FPS
    gap = np.full(int(np.ceil(length)) + 1, np.nan, np.float32)
    pieces, starts = [], []
    at = 0
    for contour, starts_s in songs:
        if not starts_s:
            continue
        st = np.clip(np.asarray(starts_s) * melody.CONTOUR_FPS, 0, max(len(contour) - length, 0))
        lo = int(st.min())  # the stretch that holds the windows, not the whole song
        hi = int(np.ceil(st.max() + length)) + 1
        piece = contour[lo:hi]
        pieces += [piece, gap]  # (unvoiced between songs: a window never reads the next one)
        starts.append(st - lo + at)
        at += len(piece) + len(gap)
    if not pieces:
        return np.zeros(0, np.float32)
    return melody.window_vectors(np.concatenate(pieces), np.concatenate(starts), length)[1]
