"""Bulk writes: ``elasticsearch.helpers.streaming_bulk`` over a generator of actions, in requests
sized by bytes (``ClientOptions.bulk_max_chunk_bytes``; see there for the measured size of a
song), with the failed documents collected rather than raised.

Retries: a bulk request answered 429 or 503, and the single documents that Elasticsearch rejected
with 429 or 503 inside a 200 response, are retried by the helper, sleeping
``initial_backoff * 2**attempt`` (capped); every other failed document is reported. Nothing here
refreshes: the store decides when its writes become visible to searches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from ...types import SongRecord, StoreFailure
from .client import ClientOptions
from .translate import client_errors, short, translate_error

log = logging.getLogger(__name__)

BULK_RETRY_STATUSES = (429, 503)


@dataclass
class BulkResult:
    ok: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"op", "index", "id", "status", "reason"}


def bulk_write(client, actions: Iterable[dict[str, Any]], url: str, options: ClientOptions | None = None, *,
               ignore_status: tuple[int, ...] = ()) -> BulkResult:
    """Send ``actions`` (bulk helper action dicts, from a generator) in requests of at most
    ``bulk_max_chunk_bytes``; retry documents rejected with 429/503 with exponential backoff;
    collect every other failed document. Connection and whole-request errors (after the
    transport's own retries) raise a one-line store error."""
    from elasticsearch import helpers

    opts = options or ClientOptions()
    result = BulkResult()
    stream = helpers.streaming_bulk(
        client, actions,
        chunk_size=opts.bulk_max_chunk_actions,
        max_chunk_bytes=opts.bulk_max_chunk_bytes,
        raise_on_error=False,
        raise_on_exception=True,
        max_retries=opts.bulk_max_retries,
        initial_backoff=opts.bulk_initial_backoff,
        max_backoff=opts.bulk_max_backoff,
        retry_on_status=BULK_RETRY_STATUSES,
        yield_ok=True,
        ignore_status=ignore_status,
    )
    for ok, item in _guard(stream, url):
        if ok:
            result.ok += 1
            continue
        op, info = next(iter(item.items()))
        result.failed.append({
            "op": op, "index": info.get("_index"), "id": info.get("_id"), "status": info.get("status"),
            "reason": _item_reason(info),
        })
    return result


def _guard(stream: Iterator, url: str) -> Iterator:
    try:
        yield from stream
    except client_errors() as e:
        raise translate_error(e, url, "write songs (bulk)") from None


def _item_reason(info: dict[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        reason = f"{err.get('type', 'error')}: {err.get('reason', '')}"
        cause = err.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            reason += f" ({cause.get('type', '')}: {cause['reason']})"
        return short(reason, 300)
    if err:
        return short(err, 300)
    return f"status {info.get('status')}"


def song_failures(failed: list[dict[str, Any]], records: dict[str, SongRecord]) -> list[StoreFailure]:
    """StoreFailures for the songs whose ``index`` action Elasticsearch rejected (``failed`` as
    collected by bulk_write). A delete that found nothing (404) is no failure; any other failed
    action is logged."""
    out = []
    for f in failed:
        if f["op"] == "delete" and f["status"] == 404:
            continue
        if f["op"] == "index" and f["id"] in records:
            rec = records[f["id"]]
            out.append(StoreFailure(rec.song_id, rec.meta.path, f"Elasticsearch rejected it: {f['reason']}"))
        else:
            log.warning("bulk %s of %s in %s failed: %s", f["op"], f["id"], f["index"], f["reason"])
    return out
