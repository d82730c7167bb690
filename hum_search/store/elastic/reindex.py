"""Re-index without downtime: copy every song into a new concrete index built from the current
mapping files, check the counts, then move the alias to it in one atomic ``_aliases`` call.

The copy runs as an Elasticsearch task. ``POST _reindex`` is sent once, with
``wait_for_completion=false``, and answers with the task id at once; the store then polls
``GET _tasks/<id>`` every ``POLL_S`` seconds. Waiting for the whole copy in one HTTP request, as
before, let the request timeout cut it, and the client then sent ``POST _reindex`` again (up to
3 retries): each retry started one more copy task running alongside the first.

Following the task needs the cluster privilege ``monitor`` (docs/elasticsearch.md, Configuration).
When following fails, or the user interrupts, the message gives the task id: the copy goes on in
the cluster, and ``GET _tasks/<id>`` shows it.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ...errors import StoreError
from ...types import IndexSpec
from . import client as es_client
from . import mapping as es_mapping
from . import query as es_query
from .client import ClientOptions, body_of, call, call_once
from .translate import short

log = logging.getLogger(__name__)

POLL_S = 2.0  # seconds between two looks at the copy task


@dataclass
class ReindexResult:
    old_index: str
    new_index: str
    documents: int
    deleted_old: bool


@dataclass
class Target:
    """What a re-index works on: the cluster, the alias, the concrete index behind it and its spec."""

    client: Any
    url: str
    alias: str
    index: str
    spec: IndexSpec
    options: ClientOptions

    def call(self, action: str, fn, **kwargs: Any) -> Any:
        return body_of(call(self.url, action, fn, _options=self.options, **kwargs))

    def count(self, index: str) -> int:
        return int(self.call(f"count {index}", self.client.count, index=index)["count"])


def reindex(t: Target, *, delete_old: bool = False, timeout_s: float | None = None,
            poll_s: float = POLL_S) -> ReindexResult:
    """See the module docstring. Searches keep using the old index until the alias moves; stop
    indexing while this runs (writes to the old index after the copy started would be lost).
    ``timeout_s``: give up following the copy after this long (None: follow it to the end)."""
    c, old, alias = t.client, t.index, t.alias
    new = es_mapping.next_concrete_name(alias, old)
    while t.call(f"look up index {new}", c.indices.exists, index=new):
        new = es_mapping.next_concrete_name(alias, new)
    t.call(f"create index {new}", c.indices.create, index=new, **es_mapping.songs_index_body(t.spec))
    t0 = time.monotonic()
    started = body_of(call_once(c, t.url, f"start copying {old} into {new}", "reindex", t.options,
                                **es_query.reindex_request(old, new)))
    task = started.get("task") if isinstance(started, dict) else None
    if not task:
        raise StoreError(f"Elasticsearch did not start a task to copy {old} into {new} (it answered {started!r:.200})",
                         f"delete {new} and run hum-search reindex again")
    resp = wait_for_task(t, task, f"copying {old} into {new}", timeout_s, poll_s)
    failures = resp.get("failures") or []
    if failures:
        first = failures[0]
        raise StoreError(f"re-indexing {old} into {new} failed for {len(failures)} songs "
                         f"({short(first.get('cause', first), 300)})",
                         f"fix the cause, delete {new} and run hum-search reindex again; {alias} still points to {old}")
    n_old, n_new = t.count(old), t.count(new)
    if n_old != n_new:
        raise StoreError(f"{new} has {n_new} songs after re-indexing, {old} has {n_old}",
                         f"stop indexing while re-indexing; delete {new} and run hum-search reindex again")
    t.call(f"move the alias {alias} to {new}", c.indices.update_aliases, actions=[
        {"remove": {"index": old, "alias": alias}},
        {"add": {"index": new, "alias": alias, "is_write_index": True}},
    ])
    log.info("re-indexed %d songs from %s into %s in %.1f s", n_new, old, new, time.monotonic() - t0)
    if delete_old:
        t.call(f"delete {old}", c.indices.delete, index=old)
    return ReindexResult(old, new, n_new, delete_old)


def wait_for_task(t: Target, task: str, what: str, timeout_s: float | None,
                  poll_s: float = POLL_S) -> dict[str, Any]:
    """The ``response`` of a finished task, polled with ``GET _tasks/<task>``; StoreError when it
    failed, when it is still running after ``timeout_s`` or when it cannot be followed."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    running = f"the copy goes on in Elasticsearch as task {task} (GET _tasks/{task} shows it)"
    try:
        while True:
            try:
                body = _get_task(t, task, what)
            except StoreError as e:
                raise StoreError(f"{e.cause}; {running}", e.fix) from None
            if body.get("completed"):
                return _finished(body, task, what)
            status = (body.get("task") or {}).get("status") or {}
            done = int(status.get("created", 0)) + int(status.get("updated", 0))
            log.info("%s: %d of %s songs", what, done, status.get("total", "?"))
            if deadline is not None and time.monotonic() >= deadline:
                raise StoreError(f"{what} did not finish within {timeout_s:.0f} s; {running}",
                                 f"wait for it, or cancel it with POST _tasks/{task}/_cancel, then delete the new "
                                 "index and run hum-search reindex again")
            es_client._sleep(poll_s)
    except KeyboardInterrupt:
        log.warning("interrupted: %s; cancel it with POST _tasks/%s/_cancel", running, task)
        raise


def _get_task(t: Target, task: str, what: str) -> dict[str, Any]:
    """GET _tasks/<task>. The Python client warns on every call that the task API is a technical
    preview; that note is for developers (a change of the API would fail the offline tests of this
    request), and on the command line it would only be a stray line of output."""
    from elasticsearch.exceptions import GeneralAvailabilityWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeneralAvailabilityWarning)
        return t.call(f"follow the task {task} ({what})", t.client.tasks.get, task_id=task)


def _finished(body: dict[str, Any], task: str, what: str) -> dict[str, Any]:
    err = body.get("error")
    if err:
        reason = f"{err.get('type', 'error')}: {err.get('reason', '')}" if isinstance(err, dict) else str(err)
        raise StoreError(f"{what} failed in task {task} ({short(reason, 300)})",
                         "fix the cause, delete the new index and run hum-search reindex again")
    return body.get("response") or {}
