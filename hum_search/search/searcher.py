"""Query pipeline: decode -> features -> kNN candidates -> alignment re-rank -> ranked, scored results.

Hum mode (the melody channel):
1. The hum's contour is cut into windows for a grid of tempo ratios (melody.query_windows).
2. The store's kNN returns, for each window, the songs with the most similar segment. A song's
   candidate score is its best window similarity; each hit also says where in the song the hum
   would start (segment start - window offset x tempo).
3. The best RERANK_SONGS candidates are aligned (align.py) around their best few hit positions, in
   the key estimated from the hit (and half a semitone either side). The mean alignment cost ranks
   the songs and the alignment says where the match is.
4. A calibrated score and a confidence flag come from the cost of the best song and its margin over
   the runner-up (see ``confidence``).

Sound mode ("sounds like"): the PANNs embedding of the recording, cosine kNN over songs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import HumSearchError, ModelUnavailableError
from ..features import melody
from ..features.audio import AudioSource, describe
from ..features.extract import QueryAnalysis, analyze_query, analyze_sound_query
from ..store.base import Store
from . import align
from .results import MatchPlot, Result, SearchResponse
from .scoring import confidence, score_results

log = logging.getLogger(__name__)

K_PER_WINDOW = 20  # songs the kNN returns for each query window
RERANK_SONGS = 50  # candidates re-ranked by alignment
REGIONS_PER_SONG = 2  # distinct hit positions aligned per candidate
REGION_GAP_S = 2.0  # hit positions closer than this are the same region
REGION_MARGIN = 0.3  # region = estimated span +- this share of the span (+ 1 s)
FINE_SONGS = 10  # songs whose best region is aligned again at FINE_SHIFTS
FINE_SHIFTS = (-0.5, 0.5)  # semitones either side of the key estimated from the hit
MODES = ("hum", "sound")
VOTE_BIN_S = 1.0


@dataclass
class _Candidate:
    song_id: str
    best: float
    hits: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    # (score, estimated hum start in the song, tempo, query window mean pitch, song segment start)


class Searcher:
    """Holds the store and (optionally) the sound model; load once, search many times."""

    def __init__(self, store: Store, *, sound_embedder=None, sound_off: HumSearchError | None = None):
        self.store = store
        self.sound_embedder = sound_embedder
        self.sound_off = sound_off  # why there is no sound embedder (cause and fix)

    def search(self, source: AudioSource, *, top: int = 10, genres: Sequence[str] | None = None,
               mode: str = "hum", query_name: str | None = None) -> SearchResponse:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        name = query_name or describe(source)
        t0 = time.perf_counter()
        if mode == "sound":
            return self._search_sound(source, name, top, genres, t0)
        qa = analyze_query(source)
        t1 = time.perf_counter()
        cands = self._candidates(qa, genres)
        t2 = time.perf_counter()
        results = self._rerank(qa, cands)[: max(top, 0)]
        t3 = time.perf_counter()
        confident = confidence(results)
        timing = {"decode": qa.timing_ms["decode"], "features": qa.timing_ms["features"],
                  "search": 1e3 * (t2 - t1), "rerank": 1e3 * (t3 - t2), "total": 1e3 * (t3 - t0)}
        return SearchResponse(name, mode, results, confident, timing, analysis=qa)

    # --- hum mode -----------------------------------------------------------------------------------
    def _candidates(self, qa: QueryAnalysis, genres: Sequence[str] | None) -> list[_Candidate]:
        w = qa.windows
        if len(w.vectors) == 0:
            return []
        per_window = self.store.melody_knn(w.vectors, k=K_PER_WINDOW, genres=genres, per_song=1)
        by_song: dict[str, _Candidate] = {}
        rows = []  # (song index, window, offset index, estimated start, evidence)
        song_index: dict[str, int] = {}
        offsets, offset_idx = np.unique(w.offset_s, return_inverse=True)
        for qi, hits in enumerate(per_window):
            if not hits:
                continue
            base = hits[-1].score if len(hits) >= K_PER_WINDOW else 0.5
            for h in hits:
                c = by_song.get(h.song_id)
                if c is None:
                    c = by_song[h.song_id] = _Candidate(h.song_id, h.score)
                    song_index[h.song_id] = len(song_index)
                start = h.start_s - float(w.offset_s[qi]) * float(w.tempo[qi])
                c.hits.append((h.score, start, float(w.tempo[qi]), float(w.mean_pitch[qi]), h.start_s))
                rows.append((song_index[h.song_id], offset_idx[qi], start, h.score - base))
        if rows:  # a song's candidate score: its votes (see docs/melody.md, "Candidates")
            arr = np.array(rows, dtype=np.float64)
            song, off, start, ev = arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2], np.maximum(arr[:, 3], 0)
            n_songs, n_off = len(song_index), len(offsets)
            b = np.floor(start / VOTE_BIN_S).astype(int)
            b -= b.min()
            n_bins = int(b.max()) + 2
            # best evidence per (song, bin, offset), then summed over offsets, then two adjacent bins
            cell = np.zeros((n_songs, n_bins, n_off))
            np.maximum.at(cell, (song, b, off), ev)
            np.maximum.at(cell, (song, b + 1, off), ev)  # each hit also counts for the next bin
            votes = cell.sum(axis=2).max(axis=1)
            ids = list(song_index)
            for sid, v in zip(ids, votes):
                by_song[sid].best = float(v)
        return sorted(by_song.values(), key=lambda c: -c.best)[:RERANK_SONGS]

    def _rerank(self, qa: QueryAnalysis, cands: list[_Candidate]) -> list[Result]:
        if not cands:
            return []
        songs = self.store.get([c.song_id for c in cands], melody=True, sound=False)
        query = qa.contour[~np.isnan(qa.contour)]
        query_len_s = len(qa.contour) / melody.CONTOUR_FPS
        regions: list[_Region] = []
        for c in cands:
            rec = songs.get(c.song_id)
            if rec is None or rec.melody is None or len(rec.melody.contour) == 0:
                continue
            contour = rec.melody.contour
            chosen: list[tuple[float, float, float, float]] = []  # (start, tempo, query mean, segment start)
            for _, start, tempo, q_mean, seg_start in sorted(c.hits, key=lambda h: -h[0]):
                if all(abs(start - u[0]) >= REGION_GAP_S for u in chosen):
                    chosen.append((start, tempo, q_mean, seg_start))
                    if len(chosen) >= REGIONS_PER_SONG:
                        break
            seg_means = _segment_means(contour, [x[3] for x in chosen])
            for (start, tempo, q_mean, _), seg_mean in zip(chosen, seg_means):
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

    def explain(self, response: "SearchResponse", result: Result) -> "MatchPlot | None":
        """The picture of why ``result`` matched: the hum's contour transposed into the song's key and
        warped onto song time along the alignment path, over the song's contour around the match."""
        qa = response.analysis
        if qa is None or result.cost is None or result.match_start_s is None or result.transpose is None:
            return None
        rec = self.store.get([result.song.song_id], melody=True, sound=False).get(result.song.song_id)
        if rec is None or rec.melody is None:
            return None
        fps = melody.CONTOUR_FPS
        query = qa.contour[~np.isnan(qa.contour)]
        a = int(result.match_start_s * fps)
        b = int(np.ceil(result.match_end_s * fps)) + 1
        region = rec.melody.contour[a:b] - result.transpose  # song in the hum's key
        if len(query) == 0 or np.all(np.isnan(region)):
            return None
        qi, rj = align.alignment_path(query, region)
        pad = int(2 * fps)
        lo, hi = max(0, a - pad), min(len(rec.melody.contour), b + pad)
        song_pitch = rec.melody.contour[lo:hi]
        # show the hum in the song's octave: shift by whole octaves to sit on the song's line
        hum = query[qi] + result.transpose
        ref = region[rj] + result.transpose
        ok = ~np.isnan(ref)
        octave = 12.0 * np.round(np.nanmedian(ref[ok] - hum[ok]) / 12.0) if ok.any() else 0.0
        return MatchPlot(song_time_s=np.arange(lo, hi) / fps, song_pitch=song_pitch,
                         hum_time_s=(a + rj) / fps, hum_pitch=hum + octave,
                         match_start_s=result.match_start_s, match_end_s=result.match_end_s)

    # --- sound mode ---------------------------------------------------------------------------------
    def _search_sound(self, source, name, top, genres, t0) -> SearchResponse:
        if self.sound_embedder is None:
            raise self.sound_off or ModelUnavailableError(
                "sound search unavailable: no PANNs checkpoint",
                "set HUM_SEARCH_PANNS_CHECKPOINT or run hum-search download-models, then re-index",
            )
        qa = analyze_sound_query(source)
        t1 = time.perf_counter()
        vec = self.sound_embedder.embed(qa.audio_32k)
        t2 = time.perf_counter()
        hits = self.store.sound_knn(vec, k=top, genres=genres)
        songs = self.store.get([h.song_id for h in hits], melody=False, sound=False)
        t3 = time.perf_counter()
        results = [Result(rank=i, song=songs[h.song_id].meta, score=h.score)
                   for i, h in enumerate((h for h in hits if h.song_id in songs), 1)]
        timing = {"decode": qa.timing_ms["decode"], "features": qa.timing_ms["features"] + 1e3 * (t2 - t1),
                  "search": 1e3 * (t3 - t2), "rerank": 0.0, "total": 1e3 * (t3 - t0)}
        return SearchResponse(name, "sound", results, bool(results), timing, analysis=qa)


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


def _segment_means(contour: np.ndarray, starts_s: list[float]) -> np.ndarray:
    """Circular mean pitch of the song windows starting at ``starts_s`` (as in melody.song_segments)."""
    if not starts_s:
        return np.zeros(0, np.float32)
    length = melody.SEGMENT_S * melody.CONTOUR_FPS
    starts = np.clip(np.asarray(starts_s) * melody.CONTOUR_FPS, 0, max(len(contour) - length, 0))
    lo = int(starts.min())  # work on the stretch that holds the windows, not the whole song
    hi = int(np.ceil(starts.max() + length)) + 1
    return melody.window_vectors(contour[lo:hi], starts - lo, length)[1]
