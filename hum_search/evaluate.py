"""Accuracy evaluation: index a music folder (if needed), run labelled queries, report the figures.

The queries file has one JSON object per line with at least ``query`` (the recording) and ``song``
(the target). Relative ``query`` paths are taken from the queries file's folder, relative ``song``
paths from the music folder: the format of the development benchmark (shared/qbh), so a user can
point it at their own recordings or at a public query-by-humming corpus converted to it. Optional
fields are used for breakdowns: ``profile``, ``snr_db``, the recording's ``noise``, ``voice``,
``syllable``, ``format`` and ``sr`` (BREAKDOWN_FIELDS: the factors of the benchmark scorer's
breakdown), and ``start_s`` and ``song_pass_starts_s`` (match-position accuracy).

Out-of-catalogue behaviour: with ``ooc_fraction`` > 0, that share of the queried songs (a fixed,
hash-based choice) is left out of the index, so their queries have no right answer. The report then
gives the true-accept rate (in-catalogue queries whose top result is right *and* flagged confident)
and the false-accept rate (out-of-catalogue queries flagged confident).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import Settings
from .engine import index_spec, open_engine
from .errors import HumSearchError
from .search.searcher import Searcher

log = logging.getLogger(__name__)

SNR_BUCKETS = ((None, 10, "<10 dB"), (10, 15, "10-15 dB"), (15, 20, "15-20 dB"), (20, 25, "20-25 dB"),
               (25, None, ">=25 dB"))
# query fields broken down by value when a queries file has them: what the recording was (the
# development benchmark scorer's factors besides the SNR bucket)
BREAKDOWN_FIELDS = ("noise", "voice", "syllable", "format", "sr")
POSITION_TOLERANCE_S = 3.0  # a reported match start this close to the truth counts as right
TOP = 10


@dataclass
class QueryOutcome:
    query: str
    song: str
    in_catalogue: bool
    rank: int | None  # 1-based rank of the target among the top results; None if absent
    confident: bool
    top_score: float | None
    position_ok: bool | None
    total_ms: float | None
    timing_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # profile, snr_db, ...


@dataclass
class EvalReport:
    music: str
    queries_file: str
    store: str
    songs_indexed: int
    index_seconds: float | None
    index_songs_per_hour: float | None
    outcomes: list[QueryOutcome]

    def summary(self) -> dict[str, Any]:
        inc = [o for o in self.outcomes if o.in_catalogue]
        ooc = [o for o in self.outcomes if not o.in_catalogue]
        out: dict[str, Any] = {"queries": len(self.outcomes), "in_catalogue": len(inc),
                               "out_of_catalogue": len(ooc), "errors": sum(o.error is not None for o in self.outcomes)}
        out.update(_rank_metrics(inc))
        with_pos = [o for o in inc if o.rank == 1 and o.position_ok is not None]
        out["position_accuracy"] = _share(o.position_ok for o in with_pos) if with_pos else None
        times = [o.total_ms for o in self.outcomes if o.total_ms is not None]
        out["query_ms_p50"] = float(np.percentile(times, 50)) if times else None
        out["query_ms_p95"] = float(np.percentile(times, 95)) if times else None
        out["true_accept_rate"] = _share(o.rank == 1 and o.confident for o in inc) if inc else None
        out["in_catalogue_wrong_but_confident"] = _share(o.confident and o.rank != 1 for o in inc) if inc else None
        out["false_accept_rate"] = _share(o.confident for o in ooc) if ooc else None
        out["index_songs_per_hour"] = self.index_songs_per_hour
        out["songs_indexed"] = self.songs_indexed
        out["by_profile"] = {k: _rank_metrics(v) for k, v in _group(inc, lambda o: o.info.get("profile")).items()}
        by_snr = _group(inc, _snr_bucket)  # in the buckets' order, low SNR first
        out["by_snr"] = {name: _rank_metrics(by_snr[name]) for _, _, name in SNR_BUCKETS if name in by_snr}
        groups = {f: _group(inc, lambda o, f=f: o.info.get(f)) for f in BREAKDOWN_FIELDS}
        out["by_factor"] = {f: {k: _rank_metrics(v) for k, v in g.items()} for f, g in groups.items() if g}
        return out

    def worst(self, n: int = 10) -> list[QueryOutcome]:
        inc = [o for o in self.outcomes if o.in_catalogue]
        return sorted(inc, key=lambda o: (-(o.rank or 10 ** 6), o.top_score or 0))[:n]

    def to_dict(self) -> dict[str, Any]:
        return {"music": self.music, "queries_file": self.queries_file, "store": self.store,
                "index_seconds": self.index_seconds, "summary": self.summary(),
                "worst": [dataclasses.asdict(o) for o in self.worst()]}


def _rank_metrics(outcomes: list[QueryOutcome]) -> dict[str, Any]:
    if not outcomes:
        return {"n": 0}
    ranks = [o.rank for o in outcomes]
    return {
        "n": len(outcomes),
        "top1": _share(r == 1 for r in ranks),
        "top5": _share(r is not None and r <= 5 for r in ranks),
        "top10": _share(r is not None and r <= 10 for r in ranks),
        "mrr": float(np.mean([1.0 / r if r is not None and r <= TOP else 0.0 for r in ranks])),
    }


def _share(flags) -> float:
    flags = list(flags)
    return float(np.mean(flags)) if flags else 0.0


def _group(outcomes: list[QueryOutcome], key: Callable[[QueryOutcome], Any]) -> dict[str, list[QueryOutcome]]:
    groups: dict[str, list[QueryOutcome]] = {}
    for o in outcomes:
        k = key(o)
        if k is not None:
            groups.setdefault(str(k), []).append(o)
    return dict(sorted(groups.items()))


def snr_bucket(snr_db: float) -> str | None:
    """The name of the SNR_BUCKETS bucket that holds ``snr_db`` (those of the benchmark's scorer)."""
    for lo, hi, name in SNR_BUCKETS:
        if (lo is None or snr_db >= lo) and (hi is None or snr_db < hi):
            return name
    return None


def _snr_bucket(o: QueryOutcome) -> str | None:
    snr = o.info.get("snr_db")
    return snr_bucket(snr) if isinstance(snr, (int, float)) else None


# --- running ------------------------------------------------------------------------------------------
def load_queries(path: str | os.PathLike, music: str | os.PathLike) -> list[dict[str, Any]]:
    """Parse the queries file; resolve ``query`` and ``song`` to absolute paths."""
    path, music = Path(path), Path(music)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise HumSearchError(f"cannot read the queries file {path} ({e.strerror})", "check the path") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            qpath, spath = q["query"], q["song"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise HumSearchError(f"{path}:{n} is not a query line ({e})",
                                 'write one JSON object per line with "query" and "song" paths') from None
        q["query_abs"] = str(qpath if os.path.isabs(qpath) else (path.parent / qpath).resolve())
        q["song_abs"] = str(spath if os.path.isabs(spath) else (music / spath).resolve())
        out.append(q)
    if not out:
        raise HumSearchError(f"{path} holds no queries", 'write one JSON object per line with "query" and "song"')
    return out


def held_out(song_paths: set[str], fraction: float) -> set[str]:
    """A fixed, content-independent choice of ``fraction`` of the songs (by a hash of the path)."""
    if fraction <= 0:
        return set()
    ranked = sorted(song_paths, key=lambda p: hashlib.sha256(os.path.basename(p).encode()).hexdigest())
    return set(ranked[: int(round(fraction * len(ranked)))])


def default_store(settings: Settings, music: str, ooc_fraction: float) -> str:
    key = hashlib.sha256(f"{os.path.abspath(music)}|{ooc_fraction}|{json.dumps(index_spec().to_dict(), sort_keys=True)}"
                         .encode()).hexdigest()[:12]
    return str(settings.cache_dir / "eval" / key)


def run_eval(music: str, queries_file: str, *, store_location: str | None = None, ooc_fraction: float = 0.0,
             settings: Settings | None = None, workers: int | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> EvalReport:
    settings = settings or Settings.from_env()
    queries = load_queries(queries_file, music)
    holdout = held_out({q["song_abs"] for q in queries}, ooc_fraction)
    location = store_location or default_store(settings, music, ooc_fraction)
    with open_engine(settings, create=True, sound="off", location=location) as engine:
        index_seconds = songs_per_hour = None
        t0 = time.perf_counter()
        report = engine.index([music], workers=workers or settings.workers,
                              exclude=lambda p: os.path.realpath(p) in holdout,
                              progress=(lambda ev: progress("index", ev.done, ev.total)) if progress else None)
        if report.indexed:
            index_seconds = time.perf_counter() - t0
            songs_per_hour = report.songs_per_hour
        outcomes = _run_queries(engine.searcher, queries, holdout, progress)
        return EvalReport(music=str(music), queries_file=str(queries_file), store=location,
                          songs_indexed=engine.store.count(), index_seconds=index_seconds,
                          index_songs_per_hour=songs_per_hour, outcomes=outcomes)


def _run_queries(searcher: Searcher, queries: list[dict[str, Any]], holdout: set[str],
                 progress: Callable[[str, int, int], None] | None) -> list[QueryOutcome]:
    outcomes = []
    if queries:  # warm caches (store matrices, FFT plans) so timings are of a warm system
        try:
            searcher.search(queries[0]["query_abs"], top=TOP)
        except HumSearchError:
            pass
    for i, q in enumerate(queries):
        if progress:
            progress("query", i, len(queries))
        target = q["song_abs"]
        info = {k: q[k] for k in ("profile", "snr_db", "tempo_factor", "transpose_semitones",
                                  *BREAKDOWN_FIELDS) if k in q}
        try:
            resp = searcher.search(q["query_abs"], top=TOP, query_name=q["query"])
        except HumSearchError as e:
            outcomes.append(QueryOutcome(q["query"], q["song"], target not in holdout, None, False, None, None,
                                         None, error=str(e), info=info))
            continue
        paths = [os.path.realpath(r.song.path) for r in resp.results]
        rank = paths.index(target) + 1 if target in paths else None
        top = resp.results[0] if resp.results else None
        outcomes.append(QueryOutcome(
            query=q["query"], song=q["song"], in_catalogue=target not in holdout, rank=rank,
            confident=resp.confident, top_score=top.score if top else None,
            position_ok=_position_ok(q, top) if rank == 1 else None,
            total_ms=resp.timing_ms.get("total"), timing_ms=resp.timing_ms, info=info))
    return outcomes


def _position_ok(q: dict[str, Any], top) -> bool | None:
    """Whether the reported match start is within POSITION_TOLERANCE_S of where the hummed excerpt
    sounds in the song (in any pass of the melody, when the queries file lists them)."""
    start = q.get("start_s")
    if not isinstance(start, (int, float)) or top is None or top.match_start_s is None:
        return None
    passes = q.get("song_pass_starts_s") or []
    candidates = [start] + [start - passes[0] + p for p in passes[1:]] if passes else [start]
    return any(abs(top.match_start_s - c) <= POSITION_TOLERANCE_S for c in candidates)
