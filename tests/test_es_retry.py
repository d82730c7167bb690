"""Retries, backoff and error messages of the Elasticsearch client layer, with the transport stubbed:
a custom elastic_transport node class answers each HTTP request from a script of canned
responses (e.g. 429, then 200). The real client and bulk helper run on top of it. No server."""

from __future__ import annotations

import json
import logging
import socket
import types

import elastic_transport
import pytest
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse

from hum_search.config import Settings
from hum_search.errors import BackendUnavailableError, StoreError
from hum_search.store.elastic import client as es_client
from hum_search.store.elastic import translate as es_translate
from hum_search.store.elastic.bulk import bulk_write
from hum_search.store.elastic.client import ClientOptions, call, make_client
from hum_search.store.elastic.urls import safe_url

URL = "http://es.invalid:9200"


def scripted_node(script):
    """A node class answering requests from ``script``: a list of (status, body) pairs."""
    calls = []

    class ScriptedNode(BaseNode):
        def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
            calls.append({"method": method, "target": target, "body": body})
            if not script:
                raise AssertionError(f"unexpected request {method} {target}")
            status, payload = script.pop(0)
            hdrs = HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"})
            meta = ApiResponseMeta(status=status, http_version="1.1", headers=hdrs, duration=0.0, node=self.config)
            return NodeApiResponse(meta, json.dumps(payload).encode())

    ScriptedNode.calls = calls
    return ScriptedNode


@pytest.fixture
def sleeps(monkeypatch):
    """Record the backoff pauses of call() and of the bulk helper instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr(es_client, "_sleep", slept.append)
    import elasticsearch.helpers.actions as actions

    monkeypatch.setattr(actions, "time", types.SimpleNamespace(sleep=slept.append, time=__import__("time").time))
    return slept


def client_for(script, **settings):
    node = scripted_node(script)
    return make_client(URL, Settings(**settings), node_class=node), node


SEARCH_OK = {"took": 1, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
TOO_MANY = {"error": {"root_cause": [{"type": "es_rejected_execution_exception", "reason": "rejected execution"}],
                      "type": "es_rejected_execution_exception", "reason": "rejected execution"}, "status": 429}
UNAVAILABLE = {"error": {"root_cause": [{"type": "cluster_block_exception", "reason": "blocked"}],
                         "type": "cluster_block_exception", "reason": "blocked"}, "status": 503}


def test_transport_does_not_retry_statuses_itself():
    # elastic_transport would retry 429/503 at once, with no pause; call() and bulk_write() back off
    client, _ = client_for([])
    assert client._retry_on_status == ()
    assert client._max_retries == 3 and client._retry_on_timeout is True


def test_429_then_200_is_retried_with_backoff(sleeps):
    client, node = client_for([(429, TOO_MANY), (200, SEARCH_OK)])
    resp = call(URL, "search", client.search, index="hum-songs", size=0)
    assert resp["hits"]["hits"] == []
    assert [c["target"] for c in node.calls] == ["/hum-songs/_search", "/hum-songs/_search"]
    assert sleeps == [0.5]


def test_backoff_doubles_and_gives_up_with_one_line(sleeps):
    client, node = client_for([(503, UNAVAILABLE)] * 4)
    with pytest.raises(BackendUnavailableError) as e:
        call(URL, "search melodies", client.search, index="hum-songs")
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(node.calls) == 4
    msg = str(e.value)
    assert "\n" not in msg and "es.invalid:9200" in msg and "503" in msg and "cluster_block_exception" in msg
    assert ". Fix: " in msg


def test_backoff_is_capped():
    opts = ClientOptions(max_retries=6, retry_backoff_base=1.0, retry_backoff_cap=5.0)
    assert es_client.backoff_delays(opts) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_other_errors_are_not_retried(sleeps):
    bad = {"error": {"root_cause": [{"type": "parsing_exception", "reason": "unknown field [knnn]"}],
                     "type": "parsing_exception", "reason": "unknown field [knnn]"}, "status": 400}
    client, node = client_for([(400, bad)])
    with pytest.raises(StoreError, match=r"400, parsing_exception: unknown field \[knnn\]") as e:
        call(URL, "search", client.search, index="hum-songs")
    assert not isinstance(e.value, BackendUnavailableError)
    assert sleeps == [] and len(node.calls) == 1


def test_401_names_the_credentials(sleeps):
    denied = {"error": {"root_cause": [{"type": "security_exception", "reason": "unable to authenticate user"}],
                        "type": "security_exception", "reason": "unable to authenticate user"}, "status": 401}
    client, _ = client_for([(401, denied)], es_user="elastic", es_password="wrong")
    with pytest.raises(BackendUnavailableError, match="rejected the credentials .*HUM_SEARCH_ES_PASSWORD"):
        call(URL, "count songs", client.count, index="hum-songs")


def _bulk_item(op, _id, status, error=None):
    item = {"_index": "hum-songs-000001", "_id": _id, "status": status}
    if error:
        item["error"] = error
    else:
        item["result"] = "created"
    return {op: item}


def _actions(ids):
    return ({"_op_type": "index", "_index": "hum-songs", "_id": i, "_source": {"song_id": i}} for i in ids)


def test_bulk_retries_rejected_documents_and_reports_failed_ones(sleeps):
    rejected = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    bad = {"type": "document_parsing_exception", "reason": "[1:30] failed to parse field [duration_s]",
           "caused_by": {"type": "number_format_exception", "reason": "For input string: \"x\""}}
    first = {"took": 3, "errors": True, "items": [
        _bulk_item("index", "a", 201), _bulk_item("index", "b", 429, rejected), _bulk_item("index", "c", 400, bad)]}
    second = {"took": 1, "errors": False, "items": [_bulk_item("index", "b", 201)]}
    client, node = client_for([(200, first), (200, second)])
    result = bulk_write(client, _actions(["a", "b", "c"]), URL, ClientOptions(bulk_initial_backoff=1.0))
    assert result.ok == 2
    assert result.failed == [{"op": "index", "index": "hum-songs-000001", "id": "c", "status": 400,
                              "reason": "document_parsing_exception: [1:30] failed to parse field [duration_s] "
                                        "(number_format_exception: For input string: \"x\")"}]
    assert sleeps == [1.0]
    # the retry carries only the rejected document
    retried = node.calls[1]["body"].decode()
    assert '"_id":"b"' in retried and '"_id":"a"' not in retried and '"_id":"c"' not in retried
    assert [c["target"] for c in node.calls] == ["/_bulk", "/_bulk"]


def test_bulk_request_answered_429_is_retried_whole(sleeps):
    ok = {"took": 1, "errors": False, "items": [_bulk_item("index", "a", 201), _bulk_item("index", "b", 201)]}
    client, node = client_for([(429, TOO_MANY), (429, TOO_MANY), (200, ok)])
    result = bulk_write(client, _actions(["a", "b"]), URL, ClientOptions(bulk_initial_backoff=0.5))
    assert result.ok == 2 and result.failed == []
    assert sleeps == [0.5, 1.0]
    assert len(node.calls) == 3


def test_bulk_gives_up_after_max_retries_with_one_line(sleeps):
    client, _ = client_for([(429, TOO_MANY)] * 3)
    with pytest.raises(BackendUnavailableError, match="429") as e:
        bulk_write(client, _actions(["a"]), URL, ClientOptions(bulk_max_retries=2, bulk_initial_backoff=1.0))
    assert sleeps == [1.0, 2.0] and "\n" not in str(e.value)


def test_bulk_requests_are_sized_by_bytes():
    # each action is ~1 KB of JSON; a 2.5 KB cap puts two in a request (the action count does not bind)
    items = lambda ids: {"took": 1, "errors": False, "items": [_bulk_item("index", i, 201) for i in ids]}  # noqa: E731
    client, node = client_for([(200, items("ab")), (200, items("cd")), (200, items("e"))])
    actions = ({"_op_type": "index", "_index": "hum-songs", "_id": i, "_source": {"pad": "x" * 1000}} for i in "abcde")
    result = bulk_write(client, actions, URL, ClientOptions(bulk_max_chunk_bytes=2500))
    assert result.ok == 5 and len(node.calls) == 3
    assert all(len(c["body"]) <= 2500 for c in node.calls)
    assert ClientOptions().bulk_max_chunk_actions >= 1000  # bytes, not actions, bound a batch of songs


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_one_clear_line(caplog):
    url = f"http://elastic:secret@127.0.0.1:{_closed_port()}"
    client = make_client(url, Settings(), ClientOptions(max_retries=1, retry_backoff_base=0.01,
                                                        retry_backoff_cap=0.01, request_timeout=2))
    with caplog.at_level(logging.WARNING), pytest.raises(BackendUnavailableError) as e:
        es_client.check_server(client, url)
    msg = str(e.value)
    assert msg.startswith(f"cannot reach Elasticsearch at http://127.0.0.1:{url.rsplit(':', 1)[1]} (connection refused)")
    assert "Fix: start it (docker compose up -d --wait)" in msg
    assert "secret" not in msg and "\n" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__
    # the transport's retry warnings carry no traceback at the default log level
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("elastic_transport"))


def test_tls_and_timeout_errors_have_their_own_fix():
    tls = es_translate.translate_error(elastic_transport.TlsError("certificate verify failed"), URL, "search")
    assert "HUM_SEARCH_ES_CA_CERTS" in str(tls) and isinstance(tls, BackendUnavailableError)
    slow = es_translate.translate_error(elastic_transport.ConnectionTimeout("timed out"), URL, "search")
    assert "did not answer in time" in str(slow)


def test_old_server_is_refused():
    client, _ = client_for([(200, {"name": "es01", "cluster_name": "c", "version": {"number": "9.1.3"},
                                   "tagline": "You Know, for Search"})])
    with pytest.raises(StoreError, match="version 9.1.3; hum-search needs 9.2 or newer"):
        es_client.check_server(client, URL)
    client, _ = client_for([(200, {"version": {"number": "9.5.6"}, "tagline": "You Know, for Search"})])
    assert es_client.check_server(client, URL) == "9.5.6"


def test_credentials_from_settings():
    c = make_client(URL, Settings(es_api_key="S2V5"), node_class=scripted_node([]))
    assert c._headers["authorization"] == "ApiKey S2V5"
    c = make_client(URL, Settings(es_user="elastic", es_password="pw"), node_class=scripted_node([]))
    assert c._headers["authorization"].startswith("Basic ")
    assert safe_url("https://u:p@host:9243/") == "https://host:9243"
    assert safe_url("http://elastic:pa#ss@127.0.0.1:9") == "http://127.0.0.1:9"  # even when unparsable
    assert safe_url("http://[::1") == "http://[::1"
