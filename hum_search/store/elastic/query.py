"""Request bodies and response parsing for the Elasticsearch store. Pure functions, no client.

Keeping them apart from the client makes every request testable field by field offline, and every
parser testable on responses shaped like the ones in the Elasticsearch documentation.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ...types import SegmentHit, SongHit
from ..base import normalize_rows
from .mapping import (
    F_DURATION,
    F_GENRE,
    F_HAS_SOUND,
    F_HASH,
    F_N_SEGMENTS,
    F_PATH,
    F_SEG_END,
    F_SEG_START,
    F_SEG_VECTOR,
    F_SOUND,
    MELODY_CONTOUR_FIELDS,
    MELODY_SOURCE_FIELDS,
    META_FIELDS,
    SEGMENTS,
)

MAX_K = 10_000  # Elasticsearch's limit for k and num_candidates
MAX_INNER_HITS = 100  # index.max_inner_result_window default
INNER_HITS_NAME = "segments"


def num_candidates(k: int, factor: float = 10.0, floor: int = 200) -> int:
    """Candidates each shard explores in HNSW: ``factor * k``, at least ``floor`` (small k needs a
    wider beam for good recall), never below k, and at most Elasticsearch's limit of 10,000.
    docs/elasticsearch.md ("num_candidates versus recall") shows how recall grows with it: 200
    candidates gave a recall@10 of 0.996 (melody) and 0.998 (sound) in our HNSW measurement."""
    k = max(1, min(int(k), MAX_K))
    return int(min(MAX_K, max(k, int(np.ceil(k * factor)), floor)))


def genre_filter(genres: Sequence[str] | None) -> list[dict[str, Any]]:
    """A pre-filter on the parent (song) document, for use inside the ``knn`` clause."""
    if not genres:
        return []
    return [{"terms": {F_GENRE: list(dict.fromkeys(genres))}}]


def _vector(v: np.ndarray) -> list[float]:
    return normalize_rows(np.asarray(v, np.float32).ravel()).tolist()


def knn_body(field: str, vector: np.ndarray, k: int, genres: Sequence[str] | None, *,
             candidates_factor: float = 10.0, **extra: Any) -> dict[str, Any]:
    """One kNN search over ``field``, the best k documents, ``_source`` off. The genre filter sits
    inside the knn clause, so HNSW only visits songs of those genres (a pre-filter, not a
    post-filter of a global top k). ``extra`` goes into the knn clause (e.g. ``inner_hits``)."""
    k = max(1, min(int(k), MAX_K))
    knn: dict[str, Any] = {"field": field, "query_vector": _vector(vector), "k": k,
                           "num_candidates": num_candidates(k, candidates_factor), **extra}
    flt = genre_filter(genres)
    if flt:
        knn["filter"] = flt
    return {"size": k, "_source": False, "track_total_hits": False, "knn": knn}


def melody_knn_body(vector: np.ndarray, k: int, genres: Sequence[str] | None, per_song: int, *,
                    candidates_factor: float = 10.0) -> dict[str, Any]:
    """One nested kNN search: the best k songs by their nearest segment, each with its best
    ``per_song`` segments as inner hits."""
    inner = {"name": INNER_HITS_NAME, "size": max(1, min(int(per_song), MAX_INNER_HITS)), "_source": False,
             "fields": [F_SEG_START, F_SEG_END]}
    return knn_body(F_SEG_VECTOR, vector, k, genres, candidates_factor=candidates_factor, inner_hits=inner)


def msearch_lines(index: str, bodies: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The header/body pairs of a multi-search, all against ``index``."""
    lines: list[dict[str, Any]] = []
    for body in bodies:
        lines.append({"index": index})
        lines.append(body)
    return lines


def sound_knn_body(vector: np.ndarray, k: int, genres: Sequence[str] | None, *,
                   candidates_factor: float = 10.0) -> dict[str, Any]:
    """One kNN search over the songs' sound embeddings."""
    return knn_body(F_SOUND, vector, k, genres, candidates_factor=candidates_factor)


def _inner_value(ih: dict[str, Any], name: str) -> float | None:
    """start_s/end_s of a nested inner hit, from ``fields`` (as requested) or ``_source``."""
    fields = ih.get("fields") or {}
    nested = fields.get(SEGMENTS)
    if isinstance(nested, list) and nested:
        val = nested[0].get(name)
        if isinstance(val, list) and val:
            return float(val[0])
        if isinstance(val, (int, float)):
            return float(val)
    full = fields.get(f"{SEGMENTS}.{name}")
    if isinstance(full, list) and full:
        return float(full[0])
    src = ih.get("_source") or {}
    if name in src:
        return float(src[name])
    return None


def parse_melody_response(resp: dict[str, Any], k: int, per_song: int) -> list[SegmentHit]:
    """SegmentHits of one nested kNN search response: songs ordered by their best segment, at most
    k songs with at most per_song segments each. Scores are those of the inner hits, i.e. of the
    segments themselves ((1 + cos) / 2)."""
    by_song: dict[str, list[SegmentHit]] = {}
    for hit in (resp.get("hits") or {}).get("hits") or []:
        sid = hit["_id"]
        inner = (((hit.get("inner_hits") or {}).get(INNER_HITS_NAME) or {}).get("hits") or {}).get("hits") or []
        segs = []
        for ih in inner:
            start, end = _inner_value(ih, "start_s"), _inner_value(ih, "end_s")
            if start is None or end is None or ih.get("_score") is None:
                continue
            segs.append(SegmentHit(sid, start, end, _score(ih["_score"])))
        if segs:
            segs.sort(key=lambda h: -h.score)
            by_song[sid] = segs[:per_song]
    songs = sorted(by_song.values(), key=lambda lst: -lst[0].score)[:k]
    return [h for lst in songs for h in lst]


def parse_sound_response(resp: dict[str, Any], k: int) -> list[SongHit]:
    hits = [SongHit(h["_id"], _score(h["_score"])) for h in (resp.get("hits") or {}).get("hits") or []
            if h.get("_score") is not None]
    hits.sort(key=lambda h: -h.score)
    return hits[:k]


def _score(s: float) -> float:
    return float(min(1.0, max(0.0, float(s))))


def get_body(ids: Sequence[str], *, melody: bool, sound: bool = True, segments: bool = True) -> dict[str, Any]:
    """Songs by id: metadata (and, with ``melody``, the compact melody copy; without ``segments``
    only its contour) from _source; with ``sound``, the sound embedding through the ``fields``
    option (2,048 floats, ~40 KB of JSON a song: left out unless asked). Vector fields are never
    in the _source of a response."""
    mel = MELODY_SOURCE_FIELDS if segments else MELODY_CONTOUR_FIELDS
    includes = list(META_FIELDS) + (list(mel) if melody else [])
    body: dict[str, Any] = {
        "query": {"ids": {"values": list(ids)}},
        "size": len(ids),
        "_source": {"includes": includes},
        "track_total_hits": False,
    }
    if sound:
        body["fields"] = [F_SOUND]
    return body


def hash_body(content_hash: str) -> dict[str, Any]:
    return {"query": {"term": {F_HASH: content_hash}}, "size": 1, "_source": {"includes": list(META_FIELDS)},
            "track_total_hits": False}


def id_or_path_query(key: str, absolute: str) -> dict[str, Any]:
    should: list[dict[str, Any]] = [{"ids": {"values": [key]}}, {"term": {F_PATH: key}}]
    if absolute != key:
        should.append({"term": {F_PATH: absolute}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def other_songs_at_path_query(path: str, song_id: str) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {F_PATH: path}}], "must_not": [{"ids": {"values": [song_id]}}]}}


def paths_query(paths: Sequence[str]) -> dict[str, Any]:
    return {"terms": {F_PATH: list(paths)}}


FILE_STATE_FIELDS = ("path", "song_id", "file_size", "file_mtime")


def pit_page(pit_id: str, size: int, search_after: list[Any] | None, source: Sequence[str],
             keep_alive: str = "2m") -> dict[str, Any]:
    """One page of a point-in-time walk over all documents of an index, in index order
    (``_shard_doc``), with the ``source`` fields of each."""
    body: dict[str, Any] = {
        "size": size,
        "_source": {"includes": list(source)},
        "pit": {"id": pit_id, "keep_alive": keep_alive},
        "sort": [{"_shard_doc": "asc"}],
        "track_total_hits": False,
    }
    if search_after is not None:
        body["search_after"] = search_after
    return body


def genres_body() -> dict[str, Any]:
    return {"size": 0, "track_total_hits": False,
            "aggs": {"genres": {"terms": {"field": F_GENRE, "size": 10_000, "order": {"_key": "asc"}}}}}


def parse_genres(resp: dict[str, Any]) -> dict[str, int]:
    buckets = (((resp.get("aggregations") or {}).get("genres") or {}).get("buckets")) or []
    return {b["key"]: int(b["doc_count"]) for b in buckets}


def stats_body() -> dict[str, Any]:
    body = genres_body()
    body["track_total_hits"] = True
    body["aggs"].update({
        "segments": {"sum": {"field": F_N_SEGMENTS}},
        "with_sound": {"filter": {"term": {F_HAS_SOUND: True}}},
        "duration": {"sum": {"field": F_DURATION}},
    })
    return body


def parse_stats(resp: dict[str, Any]) -> dict[str, Any]:
    aggs = resp.get("aggregations") or {}
    total = (resp.get("hits") or {}).get("total") or {}
    return {
        "songs": int(total.get("value", 0)),
        "segments": int(round((aggs.get("segments") or {}).get("value") or 0)),
        "with_sound": int((aggs.get("with_sound") or {}).get("doc_count", 0)),
        "total_duration_s": float((aggs.get("duration") or {}).get("value") or 0.0),
        "genres": parse_genres(resp),
    }


def hit_ids(resp: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in (resp.get("hits") or {}).get("hits") or []]


def reindex_request(source: str, dest: str) -> dict[str, Any]:
    """The arguments of ``POST _reindex`` that copies every song of ``source`` into ``dest``, as
    a task (``wait_for_completion: false``: the answer is the task id at once, and the copy is
    followed with the task API, so no HTTP timeout can make the client send it again), in
    parallel slices, refreshing ``dest`` at the end."""
    return {"source": {"index": source}, "dest": {"index": dest}, "slices": "auto", "refresh": True,
            "wait_for_completion": False}
