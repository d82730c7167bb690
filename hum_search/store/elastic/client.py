"""The Elasticsearch client: construction from settings, one-line errors, and bulk with retries.

The official client (``elasticsearch`` 9.x) is imported lazily, inside the functions, so that
``import hum_search.store`` works without it.

Retries, each with exponential backoff, and each layer responsible for one kind of failure:

* the transport (elastic_transport) retries a request whose connection failed or timed out,
  ``max_retries`` times, sleeping with equal jitter up to ``retry_backoff_cap`` between attempts.
  Its own retries on HTTP statuses are switched off, because it retries those at once, without
  any pause, which is what an overloaded cluster answering 429 does not need;
* ``call`` retries a request answered 429 (too many requests), 502, 503 or 504, sleeping
  ``min(cap, base * 2**attempt)`` between attempts;
* ``bulk_write`` (``elasticsearch.helpers.streaming_bulk``) retries a bulk request answered 429 or
  503, and the single documents that Elasticsearch rejected with 429 or 503 inside a 200 response,
  sleeping ``initial_backoff * 2**attempt`` (capped); every other failed document is reported.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from ...config import Settings
from ...errors import BackendUnavailableError, StoreError

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = (9, 2)  # index.mapping.exclude_source_vectors; nested kNN filters on nested metadata
RETRY_STATUSES = (429, 502, 503, 504)
BULK_RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class ClientOptions:
    request_timeout: float = 30.0
    max_retries: int = 3  # per request, for connection errors/timeouts and for 429/502/503/504
    retry_backoff_base: float = 0.5  # seconds
    retry_backoff_cap: float = 10.0
    bulk_chunk_size: int = 50  # songs per bulk request (a song with melody + sound is ~100-200 KB of JSON)
    bulk_max_chunk_bytes: int = 16 * 1024 * 1024
    bulk_max_retries: int = 5
    bulk_initial_backoff: float = 1.0
    bulk_max_backoff: float = 30.0


def safe_url(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts).rstrip("/")


def make_client(url: str, settings: Settings, options: ClientOptions | None = None, **extra: Any):
    """An Elasticsearch client for ``url`` with credentials and TLS settings from ``settings``:
    an API key when HUM_SEARCH_ES_API_KEY is set, else basic auth from HUM_SEARCH_ES_USER and
    HUM_SEARCH_ES_PASSWORD; HUM_SEARCH_ES_CA_CERTS for a cluster whose certificate is not signed
    by a public CA. ``extra`` goes to the client (tests pass ``node_class``)."""
    from elasticsearch import Elasticsearch

    opts = options or ClientOptions()
    kwargs: dict[str, Any] = {
        "request_timeout": opts.request_timeout,
        "max_retries": opts.max_retries,
        "retry_on_status": (),  # statuses are retried with backoff by call() and bulk_write()
        "retry_on_timeout": True,
        "retry_backoff_base": opts.retry_backoff_base,
        "retry_backoff_cap": opts.retry_backoff_cap,
    }
    if settings.es_api_key:
        kwargs["api_key"] = settings.es_api_key
    elif settings.es_user:
        kwargs["basic_auth"] = (settings.es_user, settings.es_password or "")
    if settings.es_ca_certs:
        kwargs["ca_certs"] = settings.es_ca_certs
    kwargs.update(extra)
    quiet_transport_logs()
    return Elasticsearch(url, **kwargs)


# --- errors ------------------------------------------------------------------------------------------
def _one_line(s: str, limit: int = 240) -> str:
    s = re.sub(r"\s+", " ", str(s)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _innermost(e: BaseException) -> BaseException:
    """The root cause of a transport error (errors[0], then __cause__ chains)."""
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        nxt = None
        errs = getattr(e, "errors", None)
        if errs:
            nxt = errs[0]
        elif e.__cause__ is not None:
            nxt = e.__cause__
        if nxt is None or not isinstance(nxt, BaseException):
            break
        e = nxt
    return e


def _cause_text(e: BaseException) -> str:
    root = _innermost(e)
    text = str(root) or root.__class__.__name__
    m = re.search(r"\[Errno -?\d+\] ([^)\]]+)", text)
    if m:
        return m.group(1).strip().lower()
    # urllib3 messages start with the connection object's repr: keep what follows it
    text = re.sub(r"^<[^>]*>:\s*", "", text)
    text = re.sub(r"^\w*Connection\([^)]*\):\s*", "", text)
    return _one_line(text, 160)


def _api_reason(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        root = (err.get("root_cause") or [err])[0]
        return _one_line(f"{root.get('type', 'error')}: {root.get('reason', '')}", 200)
    if isinstance(body, dict) and "error" in body:
        return _one_line(str(body["error"]), 200)
    return _one_line(getattr(e, "message", "") or str(e), 200)


def translate_error(e: BaseException, url: str, action: str) -> StoreError:
    """A one-line HumSearchError (cause. Fix: fix) for any client exception."""
    import elastic_transport
    from elasticsearch import ApiError, AuthenticationException, AuthorizationException

    where = safe_url(url)
    if isinstance(e, elastic_transport.TlsError):
        return BackendUnavailableError(
            f"TLS with Elasticsearch at {where} failed while trying to {action} ({_cause_text(e)})",
            "set HUM_SEARCH_ES_CA_CERTS to the cluster's CA certificate file, or use the http:// URL of a "
            "cluster without TLS (the bundled docker-compose.yml serves http://localhost:9200)",
        )
    if isinstance(e, elastic_transport.ConnectionTimeout):
        return BackendUnavailableError(
            f"Elasticsearch at {where} did not answer in time while trying to {action} ({_cause_text(e)})",
            "check that the cluster is healthy (docker compose ps; curl -u elastic "
            f"{where}/_cluster/health) and not overloaded",
        )
    if isinstance(e, elastic_transport.ConnectionError):
        return BackendUnavailableError(
            f"cannot reach Elasticsearch at {where} ({_cause_text(e)}) to {action}",
            "start it (docker compose up -d --wait), and check the URL and port in --store or "
            "HUM_SEARCH_ES_URL, and any proxy or firewall in between",
        )
    if isinstance(e, AuthenticationException):
        return BackendUnavailableError(
            f"Elasticsearch at {where} rejected the credentials (401, {_api_reason(e)})",
            "set HUM_SEARCH_ES_API_KEY, or HUM_SEARCH_ES_USER=elastic and HUM_SEARCH_ES_PASSWORD to "
            "ELASTIC_PASSWORD from .env",
        )
    if isinstance(e, AuthorizationException):
        return BackendUnavailableError(
            f"Elasticsearch at {where} refused to {action} (403, {_api_reason(e)})",
            "give the user or API key the read, write, create_index, manage and view_index_metadata "
            "privileges on the hum-search indices (see docs/elasticsearch.md)",
        )
    if isinstance(e, ApiError):
        status = getattr(e, "status_code", None) or getattr(getattr(e, "meta", None), "status", "?")
        cls = BackendUnavailableError if status in RETRY_STATUSES else StoreError
        return cls(
            f"Elasticsearch at {where} failed to {action} ({status}, {_api_reason(e)})",
            "see the Elasticsearch log (docker compose logs elasticsearch); retry once the cluster is green",
        )
    if isinstance(e, elastic_transport.TransportError):
        return BackendUnavailableError(
            f"talking to Elasticsearch at {where} failed while trying to {action} ({_cause_text(e)})",
            "check the URL in --store or HUM_SEARCH_ES_URL and that it is an Elasticsearch 9 server",
        )
    return StoreError(f"Elasticsearch at {where}: {action} failed ({_one_line(repr(e), 200)})",
                      "see the log with hum-search -vv")


def client_errors() -> tuple[type[BaseException], ...]:
    """The exception types that translate_error handles."""
    import elastic_transport
    from elasticsearch import ApiError, UnsupportedProductError

    return (elastic_transport.TransportError, ApiError, UnsupportedProductError)


def _sleep(seconds: float) -> None:  # tests replace this to observe the backoff
    time.sleep(seconds)


def backoff_delays(options: ClientOptions | None = None) -> list[float]:
    """The pauses before each retry of a request answered 429/502/503/504."""
    o = options or ClientOptions()
    return [min(o.retry_backoff_cap, o.retry_backoff_base * 2 ** i) for i in range(o.max_retries)]


def call(url: str, action: str, fn: Callable[..., Any], *args: Any, _options: ClientOptions | None = None,
         **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, retried with backoff when Elasticsearch answers 429, 502, 503 or
    504, with client exceptions translated to one-line store errors."""
    from elasticsearch import ApiError

    delays = backoff_delays(_options)
    for attempt in range(len(delays) + 1):
        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            status = getattr(e, "status_code", None)
            if status in RETRY_STATUSES and attempt < len(delays):
                log.info("Elasticsearch answered %s to %s; retrying in %.1f s", status, action, delays[attempt])
                _sleep(delays[attempt])
                continue
            raise translate_error(e, url, action) from None
        except client_errors() as e:
            raise translate_error(e, url, action) from None
    raise AssertionError("unreachable")


def check_server(client, url: str) -> str:
    """The server's version, after checking it is Elasticsearch >= 9.2 (one fast request, no
    retries, so a dead URL fails at once with one message)."""
    info = call(url, "open the store", client.options(max_retries=0).info)
    body = getattr(info, "body", info)
    version = str((body.get("version") or {}).get("number", "0"))
    nums = tuple(int(x) for x in re.findall(r"\d+", version)[:2]) or (0,)
    if nums < MIN_SERVER_VERSION:
        raise StoreError(
            f"Elasticsearch at {safe_url(url)} is version {version}; hum-search needs "
            f"{MIN_SERVER_VERSION[0]}.{MIN_SERVER_VERSION[1]} or newer",
            "upgrade the cluster, or start the bundled one with docker compose up -d --wait",
        )
    return version


# --- logging -----------------------------------------------------------------------------------------
class _TransportLogFilter(logging.Filter):
    """elastic_transport logs every retry at WARNING with a full traceback. The store turns the
    final failure into one clear message, so these are only shown with -v (without traceback) or
    -vv (unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        root = logging.getLogger()
        if root.isEnabledFor(logging.DEBUG):
            return True
        if root.isEnabledFor(logging.INFO):
            record.exc_info = None
            record.exc_text = None
            return True
        return record.levelno >= logging.ERROR


_FILTER = _TransportLogFilter()


def quiet_transport_logs() -> None:
    for name in ("elastic_transport.transport", "elastic_transport.node_pool", "elastic_transport.node"):
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)


# --- bulk ----------------------------------------------------------------------------------------------
@dataclass
class BulkResult:
    ok: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"op", "index", "id", "status", "reason"}


def bulk_write(client, actions: Iterable[dict[str, Any]], url: str, options: ClientOptions | None = None, *,
               ignore_status: tuple[int, ...] = ()) -> BulkResult:
    """Send ``actions`` (bulk helper action dicts, from a generator) in chunks with
    ``streaming_bulk``; retry documents rejected with 429/503 with exponential backoff; collect
    every other failed document. Does not refresh. Connection and whole-request errors (after the
    transport's own retries) raise a one-line store error."""
    from elasticsearch import helpers

    opts = options or ClientOptions()
    result = BulkResult()
    kwargs: dict[str, Any] = dict(
        chunk_size=opts.bulk_chunk_size,
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
    stream = helpers.streaming_bulk(client, actions, **kwargs)
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
        return _one_line(reason, 300)
    if err:
        return _one_line(str(err), 300)
    return f"status {info.get('status')}"
