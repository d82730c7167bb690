"""First stage of a hum search: query windows -> kNN -> a vote -> candidate songs.

A store that searches exactly and cheaply (an embedded store below the approximate index's size,
``Store.searches_exactly``) gets the fine windows (step 2 below) as kNN searches over the whole
catalogue, in one pass: the search of the previous release, the most accurate, at a cost that
grows with the catalogue. Every other store (a large one, Elasticsearch) gets two passes:

1. Coarse pass: the hum's query windows (``melody.query_windows``: 9 tempo ratios x offsets, at
   most ``melody.MAX_QUERY_WINDOWS`` = 32) go to the store as ONE batch of kNN searches (one
   ``_msearch`` on Elasticsearch; the approximate index on a large embedded store), each asking for
   its COARSE_K nearest songs (best segment each). A vote (below) keeps COARSE_SONGS songs.
   Nearly every miss at scale is a target the coarse pass never hands on (the exact kNN loses the
   same ones as the approximate index: the windows, not the index). 150 dev medium hums, MRR at
   +1,000 / +10,000 distractors, first stage + re-rank p95 at +10,000 (2 cores, warm):
   COARSE_K 60 / COARSE_SONGS 150: 0.927 / 0.839, 438 ms; 120 / 300: 0.933 / 0.872, 780 ms;
   200 / 400: 0.933 / 0.872, 1,396 ms. (Those figures are from 6 tempo ratios and melody model v1;
   with v2's songs 8 ratios gained at every size, and 9 over 0.6-1.5x again: ``melody.QUERY_TEMPI``.)
   Middle pass (``middle_pass``), where the store can read stretches of thousands of songs in
   milliseconds (``Store.region_vectors``: the embedded store's approximate index, from its
   quantized codes): the coarse vote ranks MIDDLE_FROM_SONGS songs, and of those after the first
   COARSE_SONGS the MIDDLE_SONGS whose stretch around their best coarse hit (±MIDDLE_MARGIN_S)
   every MIDDLE_WINDOW_STEP-th fine window finds best join them. Why: a 5 s window finds its song
   only within about ±5 % of the right tempo and ±0.1 s of the song's segment grid, so for some
   hums only 1-2 of the 32 coarse windows have the song among their nearest, and the coarse vote
   ranks it 700th-1,800th among 10,000 similar tunes, where the fine windows (every 0.2 s, 11
   tempi) still find it. 150 dev medium hums at +10,000 songs: MRR 0.942 -> 0.956 (the exact
   one-pass search: 0.963), first stage + re-rank p50 +5 ms (the fine pass then reads its songs'
   stretches the same way instead of their records: ``fine_hits_from_store``); 1,500 songs or
   every 6th or 8th window: 0.949; margin 3 s: the same, slower.
2. Fine pass: the fine windows (11 tempo ratios, every 0.2 s, up to 200) are scored exactly
   against the segments of those songs only (read with ``Store.region_vectors`` where the store can,
   else with ``store.get``, as the re-rank does), and the
   same vote over their K_PER_WINDOW best songs keeps the ``rerank_songs`` candidates for the
   alignment re-rank (``rerank.py``). Windows at the outer tempi (``melody.outer_windows``) go with
   them, are voted apart and add up to OUTER_SONGS songs (``with_outer``).
   Only the song time around each song's FINE_REGIONS best coarse hits is scored (``hit_regions``:
   the hum's span at the hit's tempo, FINE_MARGIN_S either side), not the whole song. 150 dev
   medium hums against the scale benchmark's stores (benchmarks/window_plans.py --mode auto
   --plans 6:32 --fine-regions 0,3,2,1; two passes forced on 300 songs), MRR at 300 / 1,300 /
   10,300 songs: whole songs 0.973 / 0.933 / 0.877 (first stage + re-rank p50/p95 at 10,300:
   292/361 ms); 3 regions 0.973 / 0.933 / 0.887 (207/253 ms); 2 regions 0.922 at 1,300; 1 region
   0.862 at 10,300. The vote sees fewer unrelated stretches of the same songs: cheaper, a little
   better. But it keeps a different tail of the candidate list than the exact search: on the dev
   medium instance (300 songs, two passes forced) 91.3 % of the exact search's 50 candidates were
   kept (and the hummed song every time). Where the coarse songs hold at most FINE_WHOLE_MAX_SEGMENTS
   segments (a small catalogue; on Elasticsearch, which always takes two passes) whole songs are
   scored: 100.0 % kept, first stage p50 86 -> 98 ms on those 300 songs (52,000 segments); 200
   fine windows x 60,000 segments is about 15 ms of products on one core.
   This is the search of the previous release (200 kNN searches over the whole catalogue)
   restricted to the coarse pass's songs: 32 coarse windows alone lost dev medium MRR 0.973 ->
   0.938; with the fine pass it is back (benchmarks/window_plans.py, docs/benchmark-history.md).

3. Whole-line pass (``lines.py``), where the store searches exactly and the catalogue is small
   (at most ``lines.LINE_MAX_MUSIC_S`` seconds of song lines): the hum aligned by subsequence DTW
   with every song's whole line, without the windows' fixed rhythm; its ``lines.LINE_SONGS`` best
   songs are handed on with the place each matched at (``Candidate.places``), appended where the
   vote lacks them (``with_line_places``). `wide` top-10 on four seeds of the development
   benchmark 0.960 / 0.967 / 0.960 / 0.967 -> 0.960 / 0.993 / 0.980 / 0.973, for about 80 ms per
   hum at 300 songs (``lines.py``). Where the lines are too long to align whole, and on every
   store that takes two passes, the same alignment runs over a stretch of each of the vote's
   STRETCH_SONGS best songs, around its best hit (``stretch_line_places``): at 10,300 songs `wide`
   MRR 0.784 -> 0.812 for about 20 ms (``lines.py``).

The fine pass's baseline: it ranks only the coarse songs, the few hundred of the catalogue most
like the hum, so a window's 20th best among them sits far below the catalogue's 20th best, and the
coarse songs' near misses counted as evidence against the hummed song (which the exact search over
the whole catalogue ranked 33rd fell out of the 50 re-ranked). Its windows' baseline is therefore
their FINE_BASE_RANK-th best coarse song. 150 dev medium hums, MRR at +1,000 / +10,000 songs (the
scale benchmark's stores): 20th 0.963 / 0.936, 5th 0.970 / 0.942 (3rd-8th the same at +10,000).
Where the fine pass scores whole songs (a small catalogue, whose coarse songs are most of it) the
baseline stays the 20th, so that the candidates stay the exact search's (with the 5th there, on
the 300 songs with two passes forced: MRR the same, 0.983, but 0.789 of the exact search's
candidates instead of 1.000).

The vote: a song's best single window is a poor ranking (over many windows x thousands of
segments some wrong song always has one lucky window). So each hit votes for a start of the hum
in the song (segment start - window offset x tempo), and a song's score is the largest sum, over
distinct window offsets, of how much each hit beats that window's k-th (last) best song,
within a VOTE_BIN_S bin of start times (each hit also counts for the next bin). Consistent
evidence from many windows wins; one lucky window does not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..features import melody
from ..features.extract import QueryAnalysis
from ..store.base import Store, cosine_score
from ..types import SegmentHit, SongRecord
from . import lines

K_PER_WINDOW = 20  # songs the kNN returns for each query window
RERANK_SONGS = 50  # candidates re-ranked by alignment, for a hum of RERANK_REF_S or longer...
RERANK_REF_S = 10.0  # ...a shorter one gets more (``rerank_songs``)...
RERANK_MAX_SONGS = 100  # ...up to this many
COARSE_K = 120  # songs the kNN returns for each coarse window
COARSE_SONGS = 300  # songs the coarse pass hands to the fine pass
VOTE_BIN_S = 1.0  # width of a bin of estimated hum starts (song seconds)
FINE_REGIONS = 3  # coarse hit regions per song scored by the fine pass (0: the whole song)
FINE_MARGIN_S = 3.0  # song seconds either side of a region
FINE_WHOLE_MAX_SEGMENTS = 60_000  # ...but coarse songs holding at most this many segments are scored whole
MIDDLE_FROM_SONGS = 2000  # songs the coarse vote ranks for the middle pass...
MIDDLE_SONGS = 30  # ...which hands this many of those after the first COARSE_SONGS on
MIDDLE_WINDOW_STEP = 4  # the middle pass scores every 4th fine window...
MIDDLE_MARGIN_S = 1.5  # ...around each song's best coarse hit, this many song seconds either side
FINE_BASE_RANK = 5  # the fine pass's baseline: each window's 5th best coarse song (module docstring)
NO_BASE_SCORE = 0.5  # a window's baseline when the store returned fewer than K_PER_WINDOW songs
OUTER_SONGS = 5  # candidates added from the outer-tempo windows' own vote (``with_outer``)
STRETCH_SONGS = 150  # the vote's best songs whose stretch the whole-line pass aligns where whole lines are not


@dataclass
class Candidate:
    song_id: str
    best: float  # the song's vote (see the module docstring)
    hits: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    # (score, estimated hum start in the song, tempo, query window mean pitch, song segment start)
    record: SongRecord | None = None  # the song with its melody, when the first stage read it already
    places: list[lines.Place] = field(default_factory=list)  # (start, tempo, key) from the whole-line pass


def candidates(store: Store, qa: QueryAnalysis, genres: Sequence[str] | None) -> list[Candidate]:
    """The ``rerank_songs`` best candidate songs for the hum ``qa``, best first, then up to
    OUTER_SONGS more found only at the outer tempi (``melody.OUTER_TEMPI``)."""
    w = qa.windows
    if len(w.vectors) == 0:
        return []
    keep = rerank_songs(len(qa.contour) / melody.CONTOUR_FPS)
    fine = melody.query_windows(qa.contour, melody.FINE_TEMPI, max_windows=melody.FINE_MAX_WINDOWS, strict_cap=False,
                                turns=melody.PARTIAL_TURNS)
    outer = melody.outer_windows(qa.contour)
    both, n_fine = melody.joined(fine, outer), len(fine.vectors)
    span_s = len(qa.contour) / melody.CONTOUR_FPS
    if n_fine and store.searches_exactly():  # a small catalogue: one exact pass over all of it
        hits = store.melody_knn(both.vectors, k=K_PER_WINDOW, genres=genres, per_song=1)
        voted = vote(fine, hits[:n_fine], K_PER_WINDOW, keep=max(keep, STRETCH_SONGS))
        found = with_outer(voted[:keep], outer, hits[n_fine:], None)
        places = lines.line_places(store, qa, genres)
        if places is None:  # (too long to align whole)
            places = stretch_line_places(qa, voted, span_s, with_lines(store, found, voted))
        return with_line_places(found, places)
    ranked = vote(w, store.melody_knn(w.vectors, k=COARSE_K, genres=genres, per_song=1), COARSE_K,
                  keep=MIDDLE_FROM_SONGS)
    coarse = ranked[:COARSE_SONGS]
    if n_fine == 0 or not coarse:
        return coarse[:keep]  # (a hum too short for the fine windows)
    coarse += middle_pass(store, ranked[COARSE_SONGS:], fine, span_s)
    fast = fine_hits_from_store(store, coarse, both, span_s)
    if fast is not None:
        out = vote(fine, fast[:n_fine], K_PER_WINDOW, keep=keep, base_rank=FINE_BASE_RANK)
        out = with_outer(out, outer, fast[n_fine:], FINE_BASE_RANK)
        return with_line_places(out, stretch_line_places(qa, coarse, span_s, with_lines(store, out, coarse)))
    records = store.get([c.song_id for c in coarse], melody=True, sound=False)
    regions = fine_regions(coarse, records, qa)
    hits = local_knn(records, both.vectors, K_PER_WINDOW, regions)
    base_rank = None if regions is None else FINE_BASE_RANK
    out = with_outer(vote(fine, hits[:n_fine], K_PER_WINDOW, keep=keep, base_rank=base_rank),
                     outer, hits[n_fine:], base_rank)
    for c in out:  # the re-rank needs the same records: not read twice
        c.record = records.get(c.song_id)
    return with_line_places(out, stretch_line_places(qa, coarse, span_s, records))


def stretch_line_places(qa: QueryAnalysis, voted: list[Candidate], span_s: float,
                        records: dict[str, SongRecord]) -> list[tuple[SongRecord, lines.Place]]:
    """The whole-line pass where the catalogue is too long to align whole: the STRETCH_SONGS best of
    ``voted`` (a vote's ranking) whose lines ``records`` holds, each aligned around its best hit
    (``hit_regions``' first: the hum's span at the hit's tempo, FINE_MARGIN_S either side;
    ``lines.stretch_places``)."""
    return lines.stretch_places(qa, [(records[c.song_id], lo, hi) for c in voted[:STRETCH_SONGS]
                                     if c.hits and c.song_id in records for lo, hi in hit_regions(c, span_s)[:1]])


def with_lines(store: Store, found: list[Candidate], voted: list[Candidate]) -> dict[str, SongRecord]:
    """The lines (contours, no segments) of the STRETCH_SONGS best of ``voted``, read at once; the
    candidates in ``found`` among them keep theirs for the re-rank, which then reads only the others."""
    records = store.get([c.song_id for c in voted[:STRETCH_SONGS]], melody=True, sound=False, segments=False)
    for c in found:
        c.record = c.record or records.get(c.song_id)
    return records


def with_outer(found: list[Candidate], outer: melody.QueryWindows, hits: list[list[SegmentHit]],
               base_rank: int | None) -> list[Candidate]:
    """``found`` and after it the OUTER_SONGS best songs of the outer-tempo windows' own vote that it
    lacks. Voted apart so that the fine windows' vote stays as it was for hums at ordinary tempi;
    the re-rank's alignment cost then decides. 150 wide medium hums (300 songs), MRR 0.916 -> 0.930
    (top-10 0.953 -> 0.967; hums under 0.75x 0.714 -> 0.857), dev 0.983 unchanged; 5, 10 or 20
    songs and 20-80 windows: wide 0.925-0.930; search + re-rank p50 +10 ms."""
    if not hits or OUTER_SONGS <= 0:
        return found
    have = {c.song_id for c in found}
    new = [c for c in vote(outer, hits, K_PER_WINDOW, base_rank=base_rank) if c.song_id not in have]
    return found + new[:OUTER_SONGS]


def with_line_places(found: list[Candidate], places: list[tuple[SongRecord, lines.Place]]) -> list[Candidate]:
    """``found`` with the whole-line pass's places (``lines.py``) added to its songs, and the songs
    it lacks appended in the pass's order, each with its one place and no hits."""
    by_id = {c.song_id: c for c in found}
    out = list(found)
    for record, place in places:
        c = by_id.get(record.meta.song_id)
        if c is None:
            c = by_id[record.meta.song_id] = Candidate(record.meta.song_id, 0.0, [], record=record)
            out.append(c)
        elif c.record is None:
            c.record = record
        c.places.append(place)
    return out


def middle_pass(store: Store, ranked: list[Candidate], fine: melody.QueryWindows, span_s: float) -> list[Candidate]:
    """Of the songs the coarse vote ranked after the first COARSE_SONGS, the MIDDLE_SONGS that every
    MIDDLE_WINDOW_STEP-th fine window finds best around each song's best coarse hit (the hum's span
    at the hit's tempo, MIDDLE_MARGIN_S either side), read from a store that gives such stretches in
    milliseconds (``Store.region_vectors``; elsewhere none). A song's score: the sum over those
    windows of how far its best segment beats the window's FINE_BASE_RANK-th best song."""
    if not ranked or MIDDLE_SONGS <= 0:
        return []
    best = [max(c.hits, key=lambda h: h[0]) for c in ranked]
    start = np.array([h[1] for h in best])
    end = start + span_s * np.array([h[2] for h in best])
    got = store.region_vectors([c.song_id for c in ranked], start - MIDDLE_MARGIN_S, end + MIDDLE_MARGIN_S)
    if got is None or not got[1].any():
        return []
    vectors, counts = got[:2]
    held = np.flatnonzero(counts)
    sims = fine.vectors[::MIDDLE_WINDOW_STEP].astype(np.float32) @ vectors.T
    per_song = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(counts[held])[:-1]]), axis=1)
    at = min(FINE_BASE_RANK, per_song.shape[1]) - 1
    base = -np.partition(-per_song, at, axis=1)[:, at:at + 1]
    score = np.maximum(per_song - base, 0.0).sum(axis=0)
    return [ranked[i] for i in held[np.argsort(-score, kind="stable")[:MIDDLE_SONGS]].tolist()]


def rerank_songs(span_s: float) -> int:
    """How many candidates a hum spanning ``span_s`` seconds hands to the re-rank. An alignment
    costs about the square of the hum's length, so a 5 s hum aligns 4 times the candidates of a 10 s
    one in the same time; and a short hum has few windows, so its vote ranks its song lower. 150
    dev / 150 wide medium hums (300 songs) and 150 dev hums at +10,000 songs, MRR: 0.980 / 0.850 /
    0.883 with 50 for every hum; 0.987 / 0.856 / 0.890 with this, capped at 100 or at 150 (100 for
    every hum: 0.987 / 0.858 / -, first stage + re-rank p50 +45 ms). The cap bounds what does not
    shrink with the hum (region cutting, keys, per-candidate bookkeeping). Scale benchmark at
    +10,000 songs, total p95 of the recordings up to 10 s: 215 ms with 50 for every hum, 236 with
    a cap of 150, 215 with a cap of 100 and the re-rank's cheaper key measurement
    (``rerank._segment_means``)."""
    scaled = RERANK_SONGS * (RERANK_REF_S / max(span_s, 1e-3)) ** 2
    return int(min(RERANK_MAX_SONGS, max(RERANK_SONGS, scaled)))


def fine_regions(coarse: list[Candidate], records: dict[str, SongRecord],
                 qa: QueryAnalysis) -> dict[str, list[tuple[float, float]]] | None:
    """The song time the fine pass scores: whole songs (None) when the coarse songs hold at most
    FINE_WHOLE_MAX_SEGMENTS segments (a small catalogue, as on Elasticsearch: the exact search's
    candidates, for little time), else each song's ``hit_regions``."""
    n_segments = sum(len(r.melody.vectors) for r in records.values() if r.melody is not None)
    if not FINE_REGIONS or n_segments <= FINE_WHOLE_MAX_SEGMENTS:
        return None
    span_s = len(qa.contour) / melody.CONTOUR_FPS
    return {c.song_id: hit_regions(c, span_s) for c in coarse}


def hit_regions(c: Candidate, span_s: float) -> list[tuple[float, float]]:
    """The song time around a candidate's FINE_REGIONS best coarse hits (distinct estimated starts):
    [start - FINE_MARGIN_S, start + the hum's span at the hit's tempo + FINE_MARGIN_S]."""
    chosen: list[tuple[float, float]] = []
    for _, start, tempo, _, _ in sorted(c.hits, key=lambda h: -h[0]):
        if all(abs(start - s) >= FINE_MARGIN_S for s, _ in chosen):
            chosen.append((start, tempo))
            if len(chosen) >= FINE_REGIONS:
                break
    return [(s - FINE_MARGIN_S, s + span_s * t + FINE_MARGIN_S) for s, t in chosen]


def local_knn(records: dict[str, SongRecord], vectors: np.ndarray, k: int,
              regions: dict[str, list[tuple[float, float]]] | None = None) -> list[list[SegmentHit]]:
    """Exact kNN of each vector over the segments of ``records`` only (songs read with their
    melody; with ``regions``, only the segments starting inside a song's regions, in song seconds):
    the best k songs, best segment each (as ``Store.melody_knn`` with per_song=1). The segments are
    gathered as row ranges and only each window's k best songs are searched for their best
    segment: 10,300-song store, 150 dev hums, p50/p95 38/60 -> 34/42 ms."""
    ids, parts, counts = [], [], []
    for r in records.values():
        m = r.melody
        if m is None or len(m.vectors) == 0:
            continue
        spans = [(0, len(m.vectors))] if regions is None else _row_spans(m.seg_start_s, regions.get(r.meta.song_id, []))
        if spans:
            ids.append(r.meta.song_id)
            counts.append(sum(b - a for a, b in spans))
            parts.extend((m.vectors[a:b], m.seg_start_s[a:b], m.seg_end_s[a:b]) for a, b in spans)
    if not ids or k <= 0 or len(vectors) == 0:
        return [[] for _ in range(len(vectors))]
    seg = np.concatenate([p[0] for p in parts]).astype(np.float32)
    starts, ends = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    return knn_over(ids, np.array(counts), seg, starts, ends, vectors, k)


def knn_over(ids: list[str], n_seg: np.ndarray, seg: np.ndarray, starts: np.ndarray, ends: np.ndarray,
             vectors: np.ndarray, k: int) -> list[list[SegmentHit]]:
    """``local_knn`` over segments gathered already: ``seg`` holds song ``ids[i]``'s ``n_seg[i]``
    segments (starting at ``starts``, ending at ``ends``) one song after the other."""
    if not ids or k <= 0 or len(vectors) == 0:
        return [[] for _ in range(len(vectors))]
    bounds = np.concatenate([[0], np.cumsum(n_seg)])
    sims = vectors.astype(np.float32) @ seg.T  # (windows, segments)
    best = np.maximum.reduceat(sims, bounds[:-1], axis=1)  # (windows, songs)
    kk = min(k, len(ids))
    top = np.argsort(-best, axis=1, kind="stable")[:, :kk]
    # each (window, top song)'s best segment: its rows, padded with the song's last row
    lo, n = bounds[top.reshape(-1)], n_seg[top.reshape(-1)]
    rows = lo[:, None] + np.minimum(np.arange(int(n.max()))[None, :], n[:, None] - 1)
    window = np.repeat(np.arange(len(vectors)), kk)[:, None]
    seg_rows = (lo + np.argmax(sims[window, rows], axis=1)).reshape(len(vectors), kk)
    scores = cosine_score(np.take_along_axis(best, top, axis=1)).tolist()
    names = np.asarray(ids, dtype=object)[top].tolist()
    st, en = starts[seg_rows].tolist(), ends[seg_rows].tolist()
    return [list(map(SegmentHit, *window)) for window in zip(names, st, en, scores)]


def fine_hits_from_store(store: Store, coarse: list[Candidate], fine: melody.QueryWindows,
                         span_s: float) -> list[list[SegmentHit]] | None:
    """The fine pass over each coarse song's ``hit_regions``, read with ``Store.region_vectors``
    (no song records: the re-rank reads its own candidates' only); None where the store cannot, or
    where the coarse songs hold at most FINE_WHOLE_MAX_SEGMENTS segments (``fine_regions``)."""
    counts = store.segment_counts([c.song_id for c in coarse]) if FINE_REGIONS else None
    if counts is None or counts.sum() <= FINE_WHOLE_MAX_SEGMENTS:
        return None  # (whole songs from their records: the exact search's candidates)
    entries = [(c.song_id, lo, hi) for c in coarse for lo, hi in hit_regions(c, span_s)]
    got = store.region_vectors([e[0] for e in entries], np.array([e[1] for e in entries]),
                               np.array([e[2] for e in entries]))
    if got is None:
        return None
    seg, counts, starts, ends = got
    names = np.array([e[0] for e in entries], object)
    held = counts > 0
    # one song's regions are adjacent entries (overlaps only repeat a segment: the maximum is the same)
    song_of = names[held]
    first = np.flatnonzero(np.concatenate([[True], song_of[1:] != song_of[:-1]]))
    n_seg = np.add.reduceat(counts[held], first) if len(first) else np.zeros(0, np.int64)
    return knn_over(song_of[first].tolist(), n_seg, seg, starts, ends, fine.vectors, K_PER_WINDOW)


def _row_spans(starts: np.ndarray, regions: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """The merged [a, b) row ranges of the segments whose start (sorted ``starts``) lies in a region."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(regions):
        a, b = int(np.searchsorted(starts, lo)), int(np.searchsorted(starts, hi, side="right"))
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def vote(w: melody.QueryWindows, per_window: list[list[SegmentHit]], k: int, keep: int | None = None,
         base_rank: int | None = None) -> list[Candidate]:
    """Candidates from each window's hits, ranked by their vote (see the module docstring); the
    ``keep`` best (all by default). A window's baseline is its ``base_rank``-th best song (default:
    its k-th, the last). Ties keep the order in which the songs were first hit."""
    counts = [len(hits) for hits in per_window]
    total = sum(counts)
    if total == 0:
        return []
    names, starts, _, scores = zip(*itertools.chain.from_iterable(per_window))  # (SegmentHit: a named tuple)
    qi = np.repeat(np.arange(len(per_window)), counts)
    song_index = {s: i for i, s in enumerate(dict.fromkeys(names))}  # in the order first hit
    song = np.fromiter(map(song_index.__getitem__, names), np.int64, total)
    seg_start, score = np.array(starts, np.float64), np.array(scores, np.float64)
    at = min(base_rank or k, k) - 1
    base = np.array([hits[at].score if len(hits) >= k else NO_BASE_SCORE for hits in per_window], np.float64)
    tempo = w.tempo.astype(np.float64)[qi]
    start = seg_start - w.offset_s.astype(np.float64)[qi] * tempo
    offsets, offset_idx = np.unique(w.offset_s, return_inverse=True)
    votes = _votes(song, offset_idx[qi], start, score - base[qi], len(song_index), len(offsets))
    by_song = np.argsort(song, kind="stable")  # each song's hits, in the order they came
    bounds = np.searchsorted(song[by_song], np.arange(len(song_index) + 1)).tolist()
    rows = list(zip(score[by_song].tolist(), start[by_song].tolist(), tempo[by_song].tolist(),
                    w.mean_pitch.astype(np.float64)[qi[by_song]].tolist(), seg_start[by_song].tolist()))
    ids, best = list(song_index), votes.tolist()
    return [Candidate(ids[j], best[j], rows[bounds[j]:bounds[j + 1]])
            for j in np.argsort(-votes, kind="stable")[:keep].tolist()]


def _votes(song: np.ndarray, off: np.ndarray, start: np.ndarray, evidence: np.ndarray, n_songs: int,
           n_off: int) -> np.ndarray:
    """Each song's vote from its hits (song index, offset index, estimated start, evidence): the
    best evidence per (song, start bin, offset), summed over offsets, best bin (a hit also counts
    for the next bin). Sparse: only the cells that hold a hit are touched."""
    ev = np.maximum(evidence, 0.0)
    b = np.floor(start / VOTE_BIN_S).astype(np.int64)
    b -= b.min()
    n_bins = int(b.max()) + 2
    keys = np.concatenate([(song * n_bins + b) * n_off + off, (song * n_bins + b + 1) * n_off + off])
    evs = np.concatenate([ev, ev])
    order = np.lexsort((-evs, keys))  # by cell, best evidence first
    cells, first = np.unique(keys[order], return_index=True)
    song_bin, which = np.unique(cells // n_off, return_inverse=True)
    sums = np.bincount(which, weights=evs[order][first])  # over the offsets of each (song, bin)
    votes = np.zeros(n_songs)
    np.maximum.at(votes, song_bin // n_bins, sums)
    return votes
