"""The Elasticsearch store: one document per song in an index behind an alias.

Layout (see docs/elasticsearch.md for the reasons):

    <alias>              e.g. hum-songs, what every read and write uses
    <alias>-000001       the concrete songs index (mappings/songs.json); ``reindex`` builds
                         <alias>-000002 from the current mapping files and swaps the alias atomically
    <alias>-failures     files that failed to index (mappings/failures.json), for Kibana and stats

Searches are nested kNN over ``melody_segments.vector`` (one hit per song, its best segments as
inner hits) and plain kNN over ``sound_embedding``, with the genre filter inside the knn clause.
The store records its IndexSpec in the mapping's ``_meta`` and refuses an index built with another.

Writes become visible to searches with a refresh of the indices they touched: after each write
call, or, inside ``with store.batch():`` (an indexing run), once when the block ends. Every
refresh covers the failures index too, because ``add()`` deletes the failures of the files it
stores there (without it ``failures()`` would still list them until the next periodic refresh).

This module is thin on purpose: request bodies and response parsing are in ``query``, documents
in ``codec``, the index bodies in ``mapping`` (from mappings/*.json), the client and its retries
in ``client``, bulk writes in ``bulk``, errors in ``translate``, URLs and secrets in ``urls``,
re-indexing in ``reindex``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from typing import Any, Iterator, Sequence

import numpy as np

from ...config import Settings, utc_now
from ...errors import StoreError, StoreFormatError, StoreNotFoundError
from ...types import (
    FileState,
    IndexSpec,
    SegmentHit,
    SongHit,
    SongMeta,
    SongRecord,
    StoreFailure,
    StoreStats,
)
from ..base import Store
from . import codec as es_codec
from . import mapping as es_mapping
from . import query as es_query
from .bulk import bulk_write, song_failures
from .client import ClientOptions, body_of, call, check_server, make_client
from .reindex import ReindexResult, Target, reindex
from .translate import es_type, short, status
from .urls import parse_es_url, safe_url

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
GET_CHUNK = 200

ALREADY_EXISTS = "resource_already_exists_exception"

__all__ = ["ElasticsearchStore", "ReindexResult"]


class ElasticsearchStore(Store):
    kind = "elasticsearch"

    def __init__(self, location: str, spec: IndexSpec | None, *, create: bool = False,
                 settings: Settings | None = None, options: ClientOptions | None = None,
                 client: Any = None, candidates_factor: float = 10.0):
        """Open (or, with ``create``, create) the index behind the alias ``settings.es_index`` at
        the cluster ``location`` (an http(s) URL). ``spec=None`` adopts the stored spec (admin
        commands such as reindex); otherwise a stored spec that differs raises StoreFormatError."""
        self.settings = settings or Settings.from_env()
        self.url = parse_es_url(location)  # one line naming what is wrong, before the client sees it
        self.alias = self.settings.es_index
        self.failures_index = es_mapping.failures_index_name(self.alias)
        self.location = f"{safe_url(self.url)} (index {self.alias})"
        self.options = options or ClientOptions()
        self.candidates_factor = candidates_factor
        self._batch_depth = 0
        self._to_refresh: set[str] = set()
        self.client = client if client is not None else make_client(self.url, self.settings, self.options)
        self.server_version = check_server(self.client, self.url)
        index = self._resolve_alias()
        if index is None:
            if spec is None or not create:
                raise StoreNotFoundError(
                    f"no hum-search index {self.alias!r} at {safe_url(self.url)}",
                    f"index a music folder first: hum-search index DIR --store {safe_url(self.url)}",
                )
            index = self._create(spec)
        else:
            mapping = self._mapping(index)
            if spec is None:
                spec = es_mapping.stored_spec(mapping, self.location)
            es_mapping.check_index(mapping, spec, self.location)
        self.spec = spec
        self.index = index
        if create:
            self._ensure_failures_index()

    # --- opening -------------------------------------------------------------------------------------
    @classmethod
    def attach(cls, location: str, settings: Settings | None = None, **kwargs: Any) -> "ElasticsearchStore":
        """Open an existing index with the spec it was built with (no comparison with the code)."""
        return cls(location, None, create=False, settings=settings, **kwargs)

    def _call(self, action: str, fn, *args, **kwargs):
        return call(self.url, action, fn, *args, _options=self.options, **kwargs)

    def _resolve_alias(self) -> str | None:
        """The concrete index behind the alias, None when neither alias nor index exists."""
        c = self.client
        if self._call(f"look up alias {self.alias}", c.indices.exists_alias, name=self.alias):
            resp = self._call(f"look up alias {self.alias}", c.indices.get_alias, name=self.alias)
            indices = sorted(body_of(resp))
            if len(indices) != 1:
                raise StoreError(
                    f"the alias {self.alias} at {safe_url(self.url)} points to {len(indices)} indices ({', '.join(indices)})",
                    "point it at one index: POST _aliases with remove/add actions (see docs/elasticsearch.md)",
                )
            return indices[0]
        if self._call(f"look up index {self.alias}", c.indices.exists, index=self.alias):
            raise StoreFormatError(
                f"{self.alias} at {safe_url(self.url)} is a plain index, not the alias hum-search uses",
                "set HUM_SEARCH_ES_INDEX to another name, or delete or re-alias that index",
            )
        return None

    def _mapping(self, index: str) -> dict[str, Any]:
        body = body_of(self._call(f"read the mapping of {index}", self.client.indices.get_mapping, index=index))
        return (body.get(index) or next(iter(body.values()), {})).get("mappings", {})

    def _create(self, spec: IndexSpec) -> str:
        """Create the first concrete index with the alias. Another process creating it at the same
        moment makes this one fail with resource_already_exists_exception: then the index is
        there, and is opened (and its spec checked) like any existing one."""
        index = es_mapping.concrete_name(self.alias, 1)
        body = es_mapping.songs_index_body(spec)
        body["aliases"] = {self.alias: {"is_write_index": True}}
        log.info("creating index %s with alias %s", index, self.alias)
        try:
            self._call(f"create index {index}", self.client.indices.create, index=index, **body)
            return index
        except StoreError as e:
            if es_type(e) != ALREADY_EXISTS:
                raise
        log.info("index %s was created by another process meanwhile; opening it", index)
        existing = self._resolve_alias()
        if existing is None:
            raise StoreFormatError(
                f"the index {index} at {safe_url(self.url)} exists, but the alias {self.alias} does not point to it",
                f"point the alias at it (POST _aliases with an add action for {index}), or delete {index}",
            )
        es_mapping.check_index(self._mapping(existing), spec, self.location)
        return existing

    def _ensure_failures_index(self) -> None:
        c = self.client
        if not self._call("look up the failures index", c.indices.exists, index=self.failures_index):
            body = es_mapping.failures_index_body()
            try:
                self._call("create the failures index", c.indices.create, index=self.failures_index, **body)
            except StoreError as e:  # created concurrently by another process
                if es_type(e) != ALREADY_EXISTS:
                    raise

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing must not fail
            pass

    # --- writes --------------------------------------------------------------------------------------
    def add(self, records: Sequence[SongRecord]) -> list[StoreFailure]:
        failures: list[StoreFailure] = []
        docs: dict[str, tuple[SongRecord, dict[str, Any]]] = {}
        by_path: dict[str, str] = {}
        for rec in records:
            try:
                doc = es_codec.to_doc(rec, self.spec)
            except (ValueError, TypeError) as e:
                failures.append(StoreFailure(rec.song_id, rec.meta.path, f"invalid features: {e}"))
                continue
            earlier = by_path.get(rec.meta.path)
            if earlier is not None and earlier != rec.song_id:
                docs.pop(earlier, None)  # two songs for one path in a batch: the later one wins
            by_path[rec.meta.path] = rec.song_id
            docs[rec.song_id] = (rec, doc)
        if not docs:
            return failures
        stale = self._other_songs_at_paths({rec.meta.path: sid for sid, (rec, _) in docs.items()})

        def actions() -> Iterator[dict[str, Any]]:
            for sid in stale:
                yield {"_op_type": "delete", "_index": self.alias, "_id": sid}
            for sid, (_, doc) in docs.items():
                yield {"_op_type": "index", "_index": self.alias, "_id": sid, "_source": doc}
            for sid, (rec, _) in docs.items():
                yield {"_op_type": "delete", "_index": self.failures_index, "_id": _failure_id(rec.meta.path)}

        result = bulk_write(self.client, actions(), self.url, self.options)
        failures.extend(song_failures(result.failed, {sid: rec for sid, (rec, _) in docs.items()}))
        self._written(self.alias, self.failures_index)
        return failures

    def _other_songs_at_paths(self, path_to_id: dict[str, str]) -> list[str]:
        """Songs indexed earlier at one of these paths under another id (they get replaced)."""
        stale: list[str] = []
        paths = list(path_to_id)
        for i in range(0, len(paths), PAGE_SIZE):
            chunk = paths[i:i + PAGE_SIZE]
            resp = self._search("find songs at the same paths", query=es_query.paths_query(chunk),
                                size=10 * len(chunk), _source={"includes": ["path"]}, track_total_hits=False)
            for h in resp["hits"]["hits"]:
                if path_to_id.get(h["_source"]["path"]) != h["_id"]:
                    stale.append(h["_id"])
        return stale

    def remove(self, song_id_or_path: str) -> list[str]:
        query = es_query.id_or_path_query(song_id_or_path, os.path.abspath(song_id_or_path))
        ids = es_query.hit_ids(self._search("find songs to remove", query=query, size=10_000, _source=False,
                                            track_total_hits=False))
        if ids:
            self._delete_ids(ids)
            self._written(self.alias)
        return ids

    def update_location(self, song_id: str, path: str, file_size: int, file_mtime: float) -> None:
        q = es_query.other_songs_at_path_query(path, song_id)
        others = es_query.hit_ids(self._search("find songs at the new path", query=q, size=10_000, _source=False,
                                               track_total_hits=False))
        if others:
            self._delete_ids(others)
        # a partial update: Elasticsearch (>= 9.2) re-creates the excluded vectors from the index
        try:
            self._call(f"update the location of {song_id}", self.client.update, index=self.alias, id=song_id,
                       doc={"path": path, "file_size": int(file_size), "file_mtime": float(file_mtime)})
        except StoreError as e:  # like the embedded store, moving an unknown song changes nothing
            if status(e) != 404:
                raise
            log.info("update_location: no song %s", song_id)
        self.clear_failures([path])
        self._written(self.alias)

    def _delete_ids(self, ids: Sequence[str]) -> None:
        result = bulk_write(self.client, ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in ids),
                            self.url, self.options)
        bad = [f for f in result.failed if f["status"] != 404]
        if bad:
            raise StoreError(f"Elasticsearch could not delete {len(bad)} songs ({bad[0]['reason']})",
                             "retry; see the Elasticsearch log if it persists")

    # --- visibility of writes ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside the block are refreshed once, when it ends (see the module docstring)."""
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                try:
                    self._refresh_pending()
                except StoreError as e:  # the error on its way out says more than this one
                    log.warning("could not refresh after the interrupted writes: %s", e)
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0:
            self._refresh_pending()

    def _written(self, *indices: str) -> None:
        """Writes went to ``indices``: refresh them now, or at the end of the batch."""
        self._to_refresh.update(indices)
        if self._batch_depth == 0:
            self._refresh_pending()

    def _refresh_pending(self) -> None:
        if not self._to_refresh:
            return
        indices, self._to_refresh = sorted(self._to_refresh), set()
        self._call(f"refresh {', '.join(indices)}", self.client.indices.refresh, index=indices,
                   ignore_unavailable=True)

    # --- failures --------------------------------------------------------------------------------------
    def record_failures(self, failures: Sequence[tuple[str, str]]) -> None:
        if not failures:
            return
        self._ensure_failures_index()
        now = utc_now()
        result = bulk_write(self.client, (
            {"_op_type": "index", "_index": self.failures_index, "_id": _failure_id(p),
             "_source": {"path": p, "reason": r, "failed_at": now}} for p, r in failures), self.url, self.options)
        for f in result.failed:
            log.warning("could not record the failure of %s: %s", f["id"], f["reason"])
        self._written(self.failures_index)

    def clear_failures(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        result = bulk_write(self.client, ({"_op_type": "delete", "_index": self.failures_index,
                                           "_id": _failure_id(p)} for p in paths), self.url, self.options)
        for f in result.failed:
            if f["status"] != 404:
                log.warning("could not clear the failure of %s: %s", f["id"], f["reason"])
        self._written(self.failures_index)

    def failures(self) -> list[tuple[str, str, str]]:
        """(path, reason, failed_at) of the files that failed to index, by path."""
        out = []
        for src in self._walk(self.failures_index, ["path", "reason", "failed_at"], missing_ok=True):
            out.append((src["path"], src["reason"], src["failed_at"]))
        return sorted(out)

    # --- reads ---------------------------------------------------------------------------------------
    def _search(self, action: str, **body: Any) -> dict[str, Any]:
        return body_of(self._call(action, self.client.search, index=self.alias, **body))

    def _walk(self, index: str, source: list[str], *, missing_ok: bool = False) -> Iterator[dict[str, Any]]:
        """All documents of an index (their _source fields), with a point in time and search_after."""
        c = self.client
        try:
            pit = self._call(f"open a point in time on {index}", c.open_point_in_time, index=index, keep_alive="2m")
        except StoreError as e:
            if missing_ok and es_type(e) == "index_not_found_exception":
                return
            raise
        pit_id = body_of(pit)["id"]
        after = None
        try:
            while True:
                body = es_query.pit_page(pit_id, PAGE_SIZE, after, source)
                resp = body_of(self._call(f"read {index}", c.search, **body))
                pit_id = resp.get("pit_id", pit_id)
                hits = resp["hits"]["hits"]
                for h in hits:
                    yield {"_id": h["_id"], **(h.get("_source") or {})}
                if len(hits) < PAGE_SIZE:
                    break
                after = hits[-1]["sort"]
        finally:
            try:
                c.close_point_in_time(id=pit_id)
            except Exception:  # noqa: BLE001 - it expires anyway
                pass

    def file_states(self) -> dict[str, FileState]:
        out = {}
        for src in self._walk(self.alias, es_query.FILE_STATE_FIELDS):
            out[src["path"]] = FileState(src.get("song_id", src["_id"]), int(src["file_size"]), float(src["file_mtime"]))
        return out

    def find_by_hash(self, content_hash: str) -> SongMeta | None:
        resp = self._search("find a song by content hash", **es_query.hash_body(content_hash))
        hits = resp["hits"]["hits"]
        return es_codec.meta_from_source(hits[0]["_source"]) if hits else None

    def get(self, song_ids: Sequence[str], *, melody: bool = True, sound: bool = True,
            segments: bool = True) -> dict[str, SongRecord]:
        ids = list(dict.fromkeys(song_ids))
        found: dict[str, SongRecord] = {}
        for i in range(0, len(ids), GET_CHUNK):
            body = es_query.get_body(ids[i:i + GET_CHUNK], melody=melody, sound=sound, segments=segments)
            resp = self._search("read songs", **body)
            for h in resp["hits"]["hits"]:
                rec = es_codec.record_from_hit(h, self.spec.melody_dim, self.spec.sound_dim, melody=melody)
                found[rec.song_id] = rec
        return {i: found[i] for i in ids if i in found}

    def melody_knn(self, vectors: np.ndarray, k: int, genres: Sequence[str] | None = None,
                   per_song: int = 1) -> list[list[SegmentHit]]:
        q = np.atleast_2d(np.asarray(vectors, np.float32))
        if len(q) == 0:
            return []
        if k <= 0:
            return [[] for _ in range(len(q))]
        bodies = [es_query.melody_knn_body(v, k, genres, per_song, candidates_factor=self.candidates_factor)
                  for v in q]
        resp = self._call("search melodies", self.client.msearch,
                          searches=es_query.msearch_lines(self.alias, bodies))
        responses = (resp.body if hasattr(resp, "body") else resp)["responses"]
        out = []
        for r in responses:
            if "error" in r:
                raise _search_error(self.url, r)
            out.append(es_query.parse_melody_response(r, k, per_song))
        return out

    def sound_knn(self, vector: np.ndarray, k: int, genres: Sequence[str] | None = None) -> list[SongHit]:
        if k <= 0:
            return []
        body = es_query.sound_knn_body(vector, k, genres, candidates_factor=self.candidates_factor)
        return es_query.parse_sound_response(self._search("search sounds", **body), k)

    def genres(self) -> dict[str, int]:
        return es_query.parse_genres(self._search("count genres", **es_query.genres_body()))

    def count(self) -> int:
        return self._count_index(self.alias)

    def stats(self) -> StoreStats:
        s = es_query.parse_stats(self._search("read statistics", **es_query.stats_body()))
        n_fail = 0
        if self._call("look up the failures index", self.client.indices.exists, index=self.failures_index):
            n_fail = self._count_index(self.failures_index)
        size = None
        try:
            st = body_of(self._call("read index statistics", self.client.indices.stats, index=self.index,
                                    metric="store"))
            size = int(st["_all"]["primaries"]["store"]["size_in_bytes"])
        except (StoreError, KeyError, TypeError):
            pass
        return StoreStats(kind=self.kind, location=self.location, songs=s["songs"], segments=s["segments"],
                          with_sound=s["with_sound"], genres=s["genres"], spec=self.spec, failures=n_fail,
                          extra={"total_duration_s": s["total_duration_s"], "index": self.index,
                                 "alias": self.alias, "server_version": self.server_version,
                                 "primary_store_bytes": size})

    # --- administration --------------------------------------------------------------------------------
    def reindex(self, *, delete_old: bool = False, timeout_s: float | None = None) -> ReindexResult:
        """Rebuild the index from the current mapping files and move the alias (see ``reindex``)."""
        target = Target(self.client, self.url, self.alias, self.index, self.spec, self.options)
        result = reindex(target, delete_old=delete_old, timeout_s=timeout_s)
        self.index = result.new_index
        return result

    def _count_index(self, index: str) -> int:
        return int(body_of(self._call(f"count {index}", self.client.count, index=index))["count"])

    def drop(self) -> list[str]:
        """Delete every index of this store (songs indices behind the alias, failures index).
        Used by the tests; never by the CLI without the user asking."""
        c = self.client
        names = []
        if self._call("look up the alias", c.indices.exists_alias, name=self.alias):
            names.extend(body_of(self._call("look up the alias", c.indices.get_alias, name=self.alias)))
        if self._call("look up the failures index", c.indices.exists, index=self.failures_index):
            names.append(self.failures_index)
        for name in names:
            self._call(f"delete {name}", c.indices.delete, index=name, ignore_unavailable=True)
        return names


def _failure_id(path: str) -> str:
    # paths can exceed the 512-byte limit of _id, so the id is a digest of the path
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def _search_error(url: str, r: dict[str, Any]) -> StoreError:
    err = r.get("error")
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        reason = f"{root.get('type', 'error')}: {root.get('reason', '')}"
    else:
        reason = str(err)
    return StoreError(f"Elasticsearch at {safe_url(url)} failed a search ({r.get('status', '?')}, {short(reason)})",
                      "see the Elasticsearch log (docker compose logs elasticsearch)")
