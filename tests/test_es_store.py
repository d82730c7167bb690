"""The Elasticsearch store's requests, offline: the real client and store run against a fake node
that answers each HTTP request from a routing table (method, path) with bodies shaped like the
Elasticsearch 9 documentation's, and records every request. No server.

Each test is one defect of the review against the Elasticsearch 9.5 documentation (issue 10, item
5): failures refreshed after add(), GET / without the monitor privilege, an 8.x server, the
re-index task, two processes creating the index, one refresh per indexing run, no sound vectors
for the re-rank.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pytest
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse

from hum_search.config import Settings
from hum_search.errors import BackendUnavailableError, StoreError, StoreFormatError
from hum_search.store.elastic import client as es_client
from hum_search.store.elastic import mapping as es_mapping
from hum_search.store.elastic.client import ClientOptions, make_client
from hum_search.store.elastic.store import ElasticsearchStore, _failure_id
from hum_search.types import MelodyFeatures

from .store_contract import SPEC, make_record

URL = "http://es.invalid:9200"
ALIAS = "hum-songs"
INDEX = "hum-songs-000001"
FAILURES = "hum-songs-failures"
VERSION_9 = {"name": "es01", "cluster_name": "hum-search", "version": {"number": "9.5.6"},
             "tagline": "You Know, for Search"}
ACK = {"acknowledged": True, "shards_acknowledged": True}
NO_HITS = {"took": 1, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}


def es_error(status: int, type_: str, reason: str, caused_by: dict | None = None) -> tuple[int, dict]:
    err: dict[str, Any] = {"root_cause": [{"type": type_, "reason": reason}], "type": type_, "reason": reason}
    if caused_by:
        err["caused_by"] = caused_by
    return status, {"error": err, "status": status}


def bulk_answer(body: bytes) -> tuple[int, dict]:
    """Every action succeeds (a delete of a missing document is a 404 item, as Elasticsearch answers)."""
    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    items, i = [], 0
    while i < len(lines):
        op, meta = next(iter(lines[i].items()))
        if op == "delete":
            items.append({"delete": {"_index": meta["_index"], "_id": meta["_id"], "status": 404, "result": "not_found"}})
            i += 1
        else:
            items.append({op: {"_index": meta["_index"], "_id": meta["_id"], "status": 201, "result": "created"}})
            i += 2
    return 200, {"took": 3, "errors": False, "items": items}


class FakeCluster:
    """Routes (method, path regex) -> answer; an answer is (status, body), a list of them (served in
    order, the last one repeating) or a function of the request body. Unrouted requests fail the test."""

    def __init__(self, routes: list[tuple[str, str, Any]]):
        self.routes = [(m, re.compile(p), a) for m, p, a in routes]
        self.calls: list[dict[str, Any]] = []

    def answer(self, method: str, target: str, body: bytes | None) -> tuple[int, Any]:
        path = unquote(urlsplit(target).path)
        for m, rx, a in self.routes:
            if m == method and rx.fullmatch(path):
                if callable(a):
                    return a(body)
                if isinstance(a, list):
                    return a.pop(0) if len(a) > 1 else a[0]
                return a
        raise AssertionError(f"unexpected request {method} {target}")

    def node_class(self) -> type[BaseNode]:
        cluster = self

        class Node(BaseNode):
            def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
                q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                cluster.calls.append({"method": method, "path": unquote(urlsplit(target).path), "query": q, "body": body,
                                      "headers": dict(headers or {})})
                status, payload = cluster.answer(method, target, body)
                hdrs = HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"})
                meta = ApiResponseMeta(status=status, http_version="1.1", headers=hdrs, duration=0.0, node=self.config)
                return NodeApiResponse(meta, b"" if method == "HEAD" else json.dumps(payload).encode())

        return Node

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.calls if (method is None or c["method"] == method)
                and (path is None or re.fullmatch(path, c["path"]))]


def open_routes(version: tuple[int, Any] = (200, VERSION_9)) -> list[tuple[str, str, Any]]:
    """An existing store: the alias points to hum-songs-000001, built with SPEC."""
    mapping = es_mapping.songs_index_body(SPEC)["mappings"]
    return [
        ("GET", "/", version),
        ("HEAD", f"/_alias/{ALIAS}", (200, None)),
        ("GET", f"/_alias/{ALIAS}", (200, {INDEX: {"aliases": {ALIAS: {}}}})),
        ("GET", f"/{INDEX}/_mapping", (200, {INDEX: {"mappings": mapping}})),
        ("HEAD", f"/{FAILURES}", (200, None)),
    ]


def write_routes() -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"/{ALIAS}/_search", (200, NO_HITS)),
        ("PUT", "/_bulk", bulk_answer),
        ("POST", "/_bulk", bulk_answer),
        ("POST", r"/[^/]+/_refresh", (200, {"_shards": {"total": 2, "successful": 2, "failed": 0}})),
    ]


def open_store(cluster: FakeCluster, *, create: bool = False, settings: Settings | None = None,
               options: ClientOptions | None = None) -> ElasticsearchStore:
    settings = settings or Settings(es_index=ALIAS)
    client = make_client(URL, settings, options, node_class=cluster.node_class())
    return ElasticsearchStore(URL, SPEC, create=create, settings=settings, client=client, options=options)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(es_client, "_sleep", slept.append)
    return slept


# --- (1) add() deletes failures: both indices are refreshed -------------------------------------------
def test_add_refreshes_the_failures_index_it_cleared():
    cluster = FakeCluster(open_routes() + write_routes())
    store = open_store(cluster)
    assert store.add([make_record(1)]) == []
    bulk = [json.loads(x) for x in cluster.requests(path="/_bulk")[0]["body"].decode().splitlines()]
    assert {"delete": {"_id": _failure_id("/music/folk/s1.mp3"), "_index": FAILURES}} in bulk  # the file's failure
    refreshes = cluster.requests("POST", r"/[^/]+/_refresh")
    assert [r["path"] for r in refreshes] == [f"/{ALIAS},{FAILURES}/_refresh"]  # one request, both indices
    assert refreshes[0]["query"]["ignore_unavailable"] == "true"


# --- (6) one refresh per indexing run, not per batch ----------------------------------------------------
def test_a_batch_refreshes_once_at_its_end():
    cluster = FakeCluster(open_routes() + write_routes())
    store = open_store(cluster)
    with store.batch():
        store.add([make_record(1)])
        store.add([make_record(2)])
        store.record_failures([("/music/bad.mp3", "not audio")])
        with store.batch():  # nested: still one refresh, at the outer end
            store.add([make_record(3)])
        assert cluster.requests("POST", r"/[^/]+/_refresh") == []
    assert [r["path"] for r in cluster.requests("POST", r"/[^/]+/_refresh")] == [f"/{ALIAS},{FAILURES}/_refresh"]
    assert len(cluster.requests(path="/_bulk")) == 4  # every write was sent at once: only visibility waits


def test_a_batch_left_by_an_error_still_refreshes_and_keeps_the_error():
    cluster = FakeCluster(open_routes() + write_routes())
    store = open_store(cluster)
    with pytest.raises(KeyboardInterrupt):
        with store.batch():
            store.add([make_record(1)])
            raise KeyboardInterrupt
    assert len(cluster.requests("POST", r"/[^/]+/_refresh")) == 1


def test_bulk_requests_of_real_songs_stay_under_the_byte_cap():
    # production dims: 4-minute songs (588 segments of 80 floats, a 2048-float sound vector), ~1.25 MB each
    spec = dataclasses.replace(SPEC, melody_dim=80, sound_dim=2048)
    rng = np.random.default_rng(0)
    recs = []
    for i in range(6):
        rec = make_record(i)
        v = rng.standard_normal((588, 80)).astype(np.float32)
        t = np.arange(588, dtype=np.float32) * 0.4
        rec.melody = MelodyFeatures(np.full(6000, 60.0, np.float32), 25.0, v, t, t + 5.0)
        rec.sound = rng.random(2048).astype(np.float32)
        recs.append(rec)
    cluster = FakeCluster(open_routes() + write_routes())
    cap = 3 * es_client.MiB
    store = open_store(cluster, options=ClientOptions(bulk_max_chunk_bytes=cap))
    store.spec = spec
    assert store.add(recs) == []
    sizes = [len(r["body"]) for r in cluster.requests(path="/_bulk")]
    assert all(s <= cap for s in sizes) and sum(sizes) > 6 * 1_000_000
    assert len(sizes) == 3  # two songs (~2.5 MB) per 3 MiB request: bytes decide, not the action count


# --- (7) the re-rank does not fetch sound vectors ---------------------------------------------------------
def test_get_without_sound_asks_for_no_vector_fields():
    cluster = FakeCluster(open_routes() + write_routes())
    store = open_store(cluster)
    store.get(["song0001", "song0002"], melody=True, sound=False)
    store.get(["song0001"], melody=False)
    first, second = (json.loads(r["body"]) for r in cluster.requests("POST", f"/{ALIAS}/_search"))
    assert "fields" not in first and first["query"] == {"ids": {"values": ["song0001", "song0002"]}}
    assert second["fields"] == ["sound_embedding"]  # asked for (the default), e.g. to copy a record


# --- (2) GET / needs the cluster monitor privilege ----------------------------------------------------------
MONITOR_403 = es_error(403, "security_exception", "action [cluster:monitor/main] is unauthorized for API key id "
                       "[k1] of user [hum], this action is granted by the cluster privileges [monitor,manage,all]")


def test_a_key_without_monitor_opens_the_store():
    cluster = FakeCluster(open_routes(version=MONITOR_403) + write_routes())
    store = open_store(cluster, settings=Settings(es_index=ALIAS, es_api_key="aGVsbG86c2VjcmV0a2V5"))
    assert store.server_version is None
    assert store.spec == SPEC and store.index == INDEX
    assert len(cluster.requests("GET", "/")) == 1  # asked once, not retried


def test_a_403_names_the_privilege_that_would_allow_it():
    denied = es_error(403, "security_exception", "action [indices:admin/refresh] is unauthorized for user [hum] "
                      "with effective roles [reader] on indices [hum-songs-000001], this action is granted by the "
                      "index privileges [maintenance,manage,all]")
    cluster = FakeCluster(open_routes() + [("POST", f"/{ALIAS}/_search", (200, NO_HITS)),
                                           ("PUT", "/_bulk", bulk_answer), ("POST", r"/[^/]+/_refresh", denied)])
    store = open_store(cluster)
    with pytest.raises(BackendUnavailableError) as e:
        store.add([make_record(1)])
    msg = str(e.value)
    assert "(403, security_exception:" in msg and "\n" not in msg
    assert "Fix: give the user or API key the index privilege maintenance" in msg
    assert "read, write and manage" in msg and "cluster privilege monitor" in msg


# --- (3) an 8.x server refuses the 9.x client's compatibility headers -------------------------------------------
def test_an_8x_server_is_named_as_too_old():
    refused = es_error(400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
                       {"type": "status_exception", "reason": "Accept version must be either version 8 or 7, but found 9. "
                        "Accept=application/vnd.elasticsearch+json; compatible-with=9"})
    cluster = FakeCluster([("GET", "/", refused)])
    with pytest.raises(StoreError) as e:
        open_store(cluster)
    msg = str(e.value)
    assert msg.startswith("Elasticsearch at http://es.invalid:9200 is version 8.x: it refused the compatible-with=9")
    assert "hum-search needs Elasticsearch 9.2 or newer. Fix: upgrade the cluster" in msg
    assert "compatible-with=9" in cluster.calls[0]["headers"]["accept"]  # what the 9.x client sends


def test_a_9_0_server_refuses_the_mapping_setting_with_a_clear_message():
    unknown = es_error(400, "illegal_argument_exception", "unknown setting [index.mapping.exclude_source_vectors] "
                       "please check that any required plugins are installed")
    cluster = FakeCluster([("GET", "/", MONITOR_403), ("HEAD", f"/_alias/{ALIAS}", (404, None)),
                           ("HEAD", f"/{ALIAS}", (404, None)), ("PUT", f"/{INDEX}", unknown)])
    with pytest.raises(StoreError, match=r"does not know the index setting index.mapping.exclude_source_vectors: it "
                                         r"is older than 9.2"):
        open_store(cluster, create=True)


# --- (5) two processes create the index at once -------------------------------------------------------------------
def test_losing_the_race_to_create_the_index_opens_the_winners():
    exists = es_error(400, "resource_already_exists_exception", f"index [{INDEX}/abc] already exists")
    mapping = es_mapping.songs_index_body(SPEC)["mappings"]
    cluster = FakeCluster([
        ("GET", "/", (200, VERSION_9)),
        ("HEAD", f"/_alias/{ALIAS}", [(404, None), (200, None)]),  # absent, then created by the other process
        ("HEAD", f"/{ALIAS}", (404, None)),
        ("PUT", f"/{INDEX}", exists),
        ("GET", f"/_alias/{ALIAS}", (200, {INDEX: {"aliases": {ALIAS: {}}}})),
        ("GET", f"/{INDEX}/_mapping", (200, {INDEX: {"mappings": mapping}})),
        ("HEAD", f"/{FAILURES}", (404, None)),
        ("PUT", f"/{FAILURES}", es_error(400, "resource_already_exists_exception", "already exists")),
    ])
    store = open_store(cluster, create=True)
    assert store.index == INDEX and store.spec == SPEC
    assert len(cluster.requests("PUT", f"/{INDEX}")) == 1


def test_the_winners_index_with_another_spec_is_still_refused():
    exists = es_error(400, "resource_already_exists_exception", f"index [{INDEX}/abc] already exists")
    other = es_mapping.songs_index_body(dataclasses.replace(SPEC, melody_params={"fps": 50.0}))["mappings"]
    cluster = FakeCluster([
        ("GET", "/", (200, VERSION_9)),
        ("HEAD", f"/_alias/{ALIAS}", [(404, None), (200, None)]),
        ("HEAD", f"/{ALIAS}", (404, None)),
        ("PUT", f"/{INDEX}", exists),
        ("GET", f"/_alias/{ALIAS}", (200, {INDEX: {"aliases": {ALIAS: {}}}})),
        ("GET", f"/{INDEX}/_mapping", (200, {INDEX: {"mappings": other}})),
    ])
    with pytest.raises(StoreFormatError, match="melody_params.fps"):
        open_store(cluster, create=True)


# --- (4) reindex starts a task once and follows it ------------------------------------------------------------------
NEW = "hum-songs-000002"
TASK = "oTUltX4IQMOUUVeiohTt8A:12345"


def reindex_routes(start: Any, polls: list[tuple[int, dict]]) -> list[tuple[str, str, Any]]:
    return open_routes() + [
        ("HEAD", f"/{NEW}", (404, None)),
        ("PUT", f"/{NEW}", (200, ACK)),
        ("POST", "/_reindex", start),
        ("GET", f"/_tasks/{TASK}", polls),
        ("POST", f"/{INDEX}/_count", (200, {"count": 6})),
        ("POST", f"/{NEW}/_count", (200, {"count": 6})),
        ("POST", "/_aliases", (200, {"acknowledged": True})),
    ]


def task_running(created: int) -> tuple[int, dict]:
    return 200, {"completed": False, "task": {"node": "oTUltX4IQMOUUVeiohTt8A", "id": 12345, "action":
                                              "indices:data/write/reindex",
                                              "status": {"total": 6, "created": created, "updated": 0}}}


DONE = (200, {"completed": True, "task": {"id": 12345, "status": {"total": 6, "created": 6}},
              "response": {"took": 120, "timed_out": False, "total": 6, "created": 6, "updated": 0, "failures": []}})


def test_reindex_starts_one_task_and_polls_it(sleeps):
    cluster = FakeCluster(reindex_routes((200, {"task": TASK}), [task_running(0), task_running(3), DONE]))
    store = open_store(cluster)
    res = store.reindex()
    (start,) = cluster.requests("POST", "/_reindex")
    assert start["query"] == {"wait_for_completion": "false", "refresh": "true", "slices": "auto"}
    assert json.loads(start["body"]) == {"source": {"index": INDEX}, "dest": {"index": NEW}}
    assert len(cluster.requests("GET", f"/_tasks/{TASK}")) == 3 and sleeps == [2.0, 2.0]
    (swap,) = cluster.requests("POST", "/_aliases")
    assert json.loads(swap["body"])["actions"] == [{"remove": {"index": INDEX, "alias": ALIAS}},
                                                   {"add": {"index": NEW, "alias": ALIAS, "is_write_index": True}}]
    assert (res.old_index, res.new_index, res.documents) == (INDEX, NEW, 6) and store.index == NEW


@pytest.mark.parametrize("answer", [(504, {"error": "gateway timeout"}), (503, {"error": "unavailable"})])
def test_starting_the_task_is_never_sent_twice(sleeps, answer):
    # a lost answer may still have started the copy: resending would start a second one
    cluster = FakeCluster(reindex_routes(answer, [DONE]))
    store = open_store(cluster)
    with pytest.raises(StoreError, match="start copying hum-songs-000001 into hum-songs-000002"):
        store.reindex()
    assert len(cluster.requests("POST", "/_reindex")) == 1 and sleeps == []
    assert cluster.requests("POST", "/_aliases") == []


def test_a_failed_task_leaves_the_alias_alone(sleeps):
    failed = (200, {"completed": True, "task": {"id": 12345},
                    "error": {"type": "search_phase_execution_exception", "reason": "all shards failed"}})
    cluster = FakeCluster(reindex_routes((200, {"task": TASK}), [failed]))
    store = open_store(cluster)
    with pytest.raises(StoreError, match=rf"failed in task {TASK} \(search_phase_execution_exception"):
        store.reindex()
    assert cluster.requests("POST", "/_aliases") == [] and store.index == INDEX


def test_a_task_that_cannot_be_followed_is_named(sleeps):
    denied = es_error(403, "security_exception", "action [cluster:monitor/task/get] is unauthorized for user [hum], "
                      "this action is granted by the cluster privileges [monitor,manage,all]")
    cluster = FakeCluster(reindex_routes((200, {"task": TASK}), [denied]))
    store = open_store(cluster)
    with pytest.raises(StoreError) as e:
        store.reindex()
    msg = str(e.value)
    assert f"the copy goes on in Elasticsearch as task {TASK}" in msg
    assert "Fix: give the user or API key the cluster privilege monitor" in msg and "\n" not in msg


def test_following_gives_up_after_the_timeout(monkeypatch, sleeps):
    clock = iter(range(0, 10_000, 30))
    monkeypatch.setattr("hum_search.store.elastic.reindex.time.monotonic", lambda: float(next(clock)))
    cluster = FakeCluster(reindex_routes((200, {"task": TASK}), [task_running(1)]))
    store = open_store(cluster)
    with pytest.raises(StoreError, match=rf"did not finish within 60 s; the copy goes on .* POST _tasks/{TASK}/_cancel"):
        store.reindex(timeout_s=60)
