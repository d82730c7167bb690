"""Query pipeline: decode -> features -> first stage -> alignment re-rank -> ranked, scored results.

Hum mode (the melody channel), one file per role:
1. ``features.extract``: the hum's contour and its query windows (a few tempo ratios x offsets).
2. ``candidates.py``: one batch of kNN searches (one per window) and a vote -> candidate songs.
3. ``rerank.py``: the candidates aligned with the hum (``align.py``), scored and ranked by score.
4. ``scoring.py``: a calibrated score per result and the confidence flag; ``explain.py``: the plot
   of why a result matched.

Sound mode ("sounds like"): the PANNs embedding of the recording, cosine kNN over songs.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import weakref
from typing import Sequence

from ..errors import HumSearchError, ModelUnavailableError
from ..features.audio import AudioSource, describe
from ..features.extract import analyze_query, analyze_sound_query
from ..store.base import Store
from . import candidates, explain, rerank
from .results import MatchPlot, Result, SearchResponse
from .scoring import confidence

log = logging.getLogger(__name__)

MODES = ("hum", "sound")
# numpy's OpenBLAS (a pthreads build) keeps its threads spinning for a while after each matrix
# product; on a 2-core machine they took the cores from faiss's OpenMP threads and the alignment's
# threads that run right after. One BLAS thread in a searching process, 10,300-song store, 150 hums
# (benchmarks/scale.py): first stage p50 148 -> 113 ms, re-rank 56 -> 45 ms, total p95 328 -> 286 ms;
# the fine pass's one large product (200 windows x ~36,000 segments) lost about 3 ms. A user's
# OPENBLAS_NUM_THREADS is left as it is.
BLAS_THREADS = 1
_blas_once = threading.Lock()
_blas_done = False
# A full collection of Python's cyclic garbage collector walks every container object the process
# holds: 133,000 once a 10,300-song store is open (nearly all of them the imported libraries'
# functions, types and dicts, not the store, whose data are arrays), 35 ms on the 2-core machine.
# A search allocates thousands of objects that live a while (kNN hits, candidates, results), so
# every few searches one of them set such a collection off: at 10,300 songs the first stage's p95
# was 187 ms against a p50 of 119 (vote p95 68 ms against 13). So a searcher that is searched more
# than once (a CLI or eval loop, the web app) moves everything alive at its second search out of
# the collector's sight (``gc.freeze``; ``settle_heap``), once per process, and hands it back when
# it is closed (``gc.unfreeze``: a closed store's cycles are collected again). 150 hums per profile
# at 10,300 songs (benchmarks/scale.py, medium instance seed 0), before -> after: first stage p95
# dev 174 -> 140 ms, wide 179 -> 144; total p95 dev 299 -> 269, wide 317 -> 301; over the hums of
# at most 10 s (the latency target's) dev 263 -> 241, wide 263 -> 232; accuracy the same. A
# searcher searched once (most tests) pays nothing.
_heap_lock = threading.Lock()
_heap_settled_by: "weakref.ref[Searcher] | None" = None


class Searcher:
    """Holds the store and (optionally) the sound model; load once, search many times."""

    def __init__(self, store: Store, *, sound_embedder=None, sound_off: HumSearchError | None = None):
        self.store = store
        self.sound_embedder = sound_embedder
        self.sound_off = sound_off  # why there is no sound embedder (cause and fix)
        self._searches = 0
        limit_blas_threads()

    def search(self, source: AudioSource, *, top: int = 10, genres: Sequence[str] | None = None,
               mode: str = "hum", query_name: str | None = None) -> SearchResponse:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        name = query_name or describe(source)
        self._searches += 1
        if self._searches == 2:
            settle_heap(self)
        t0 = time.perf_counter()
        if mode == "sound":
            return self._search_sound(source, name, top, genres, t0)
        qa = analyze_query(source)
        t1 = time.perf_counter()
        cands = candidates.candidates(self.store, qa, genres)
        t2 = time.perf_counter()
        results = rerank.rerank(self.store, qa, cands)[: max(top, 0)]
        t3 = time.perf_counter()
        confident = confidence(results)
        timing = {"decode": qa.timing_ms["decode"], "features": qa.timing_ms["features"],
                  "search": 1e3 * (t2 - t1), "rerank": 1e3 * (t3 - t2), "total": 1e3 * (t3 - t0)}
        return SearchResponse(name, mode, results, confident, timing, analysis=qa)

    def close(self) -> None:
        """Give back what ``settle_heap`` froze for this searcher (the store is closed by its owner)."""
        unsettle_heap(self)

    def explain(self, response: SearchResponse, result: Result) -> MatchPlot | None:
        """The picture of why ``result`` matched (see explain.py)."""
        return explain.explain(self.store, response, result)

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


def limit_blas_threads() -> None:
    """Once per process: a pthreads BLAS (numpy's OpenBLAS) on BLAS_THREADS threads (see above).
    OpenMP builds (faiss's own OpenBLAS, whose threads are faiss's) are left alone."""
    global _blas_done
    with _blas_once:
        if _blas_done:
            return
        _blas_done = True
        if os.environ.get("OPENBLAS_NUM_THREADS"):
            return
        try:
            from threadpoolctl import ThreadpoolController

            ThreadpoolController().select(threading_layer="pthreads").limit(limits=BLAS_THREADS)
        except Exception as e:  # an optimisation only
            log.debug("could not limit the BLAS threads (%s)", e)


def settle_heap(owner: Searcher) -> None:
    """Once per process: collect, then freeze every object alive now so that later collections
    skip them (see ``_heap_lock`` above). ``owner`` is remembered (weakly) for ``unsettle_heap``;
    where it was dropped without being closed, the next searcher settles the heap afresh."""
    global _heap_settled_by
    with _heap_lock:
        if _heap_settled_by is not None and _heap_settled_by() is not None:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _heap_settled_by = weakref.ref(owner)
        log.debug("heap settled: %d objects frozen", gc.get_freeze_count())


def unsettle_heap(owner: Searcher) -> None:
    """Undo ``settle_heap`` if ``owner`` did it: the frozen objects are collectable again."""
    global _heap_settled_by
    with _heap_lock:
        if _heap_settled_by is not None and _heap_settled_by() is owner:
            gc.unfreeze()
            _heap_settled_by = None
