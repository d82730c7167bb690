"""The Elasticsearch client: construction from settings, the retry policy of a request, the
server check, and the transport's log lines.

The official client (``elasticsearch`` 9.x) is imported lazily, inside the functions, so that
``import hum_search.store`` works without it.

Retries, each with exponential backoff, and each layer responsible for one kind of failure:

* the transport (elastic_transport) retries a request whose connection failed or timed out,
  ``max_retries`` times, sleeping with equal jitter up to ``retry_backoff_cap`` between attempts.
  Its own retries on HTTP statuses are switched off, because it retries those at once, without
  any pause, which is what an overloaded cluster answering 429 does not need;
* ``call`` retries a request answered 429 (too many requests), 502, 503 or 504, sleeping
  ``min(cap, base * 2**attempt)`` between attempts;
* ``bulk.bulk_write`` retries documents rejected with 429 or 503 (see there).

A request that must not run twice (starting a re-index task) is sent with ``retry=False``: no
transport retry on a timeout and no status retry, since the first attempt may have started it.

The server check (``check_server``) reads the version from ``GET /``, which needs the cluster
privilege ``monitor``. An API key with only the index privileges hum-search needs is answered 403
there; the store then opens without knowing the version (an 8.x server is still recognised, on
its first answer, see ``translate``), instead of refusing a key that can do everything it needs.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from ...config import Settings
from ...errors import StoreError
from .translate import (
    MIN_SERVER_VERSION,
    RETRY_STATUSES,
    UPGRADE_FIX,
    client_errors,
    min_version_text,
    status,
    translate_error,
)
from .urls import parse_es_url, redact, remember_secrets, safe_url

log = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class ClientOptions:
    request_timeout: float = 30.0  # seconds per request
    max_retries: int = 3  # per request, for connection errors/timeouts and for 429/502/503/504
    retry_backoff_base: float = 0.5  # seconds
    retry_backoff_cap: float = 10.0  # seconds
    # Bulk requests are sized by bytes: a 4-minute song is about 1.25 MB of JSON (588 segment
    # vectors of 80 floats: 1.05 MB, the float16 copy 0.15 MB, the sound vector 0.04 MB;
    # measured with codec.to_doc), so 16 MiB carries about 13 such songs, and the indexer's
    # batch of 8 songs goes in one request. Elastic advises staying below a few tens of MB.
    bulk_max_chunk_bytes: int = 16 * MiB
    # ... and the action count only bounds requests of tiny actions (a delete is ~150 bytes)
    bulk_max_chunk_actions: int = 10_000
    bulk_max_retries: int = 5
    bulk_initial_backoff: float = 1.0  # seconds
    bulk_max_backoff: float = 30.0  # seconds


def make_client(url: str, settings: Settings, options: ClientOptions | None = None, **extra: Any):
    """An Elasticsearch client for ``url`` (checked with ``urls.parse_es_url`` first) with
    credentials and TLS settings from ``settings``: an API key when HUM_SEARCH_ES_API_KEY is set,
    else basic auth from HUM_SEARCH_ES_USER and HUM_SEARCH_ES_PASSWORD; HUM_SEARCH_ES_CA_CERTS
    for a cluster whose certificate is not signed by a public CA. ``extra`` goes to the client
    (tests pass ``node_class``)."""
    url = parse_es_url(url)
    remember_secrets(settings.es_password, settings.es_api_key)
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
    try:
        return Elasticsearch(url, **kwargs)
    except (ValueError, TypeError) as e:  # parse_es_url lets nothing through that the client refuses
        raise StoreError(f"the Elasticsearch client refused the URL {safe_url(url)} ({redact(e)})",
                         "correct the URL in --store or HUM_SEARCH_ES_URL, e.g. http://localhost:9200") from None


def _sleep(seconds: float) -> None:  # tests replace this to observe the backoff and the polling
    time.sleep(seconds)


def backoff_delays(options: ClientOptions | None = None) -> list[float]:
    """The pauses before each retry of a request answered 429/502/503/504."""
    o = options or ClientOptions()
    return [min(o.retry_backoff_cap, o.retry_backoff_base * 2 ** i) for i in range(o.max_retries)]


def call(url: str, action: str, fn: Callable[..., Any], *args: Any, _options: ClientOptions | None = None,
         **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, retried with backoff when Elasticsearch answers 429, 502, 503 or
    504, with client exceptions translated to one-line store errors. ``_options`` with
    ``max_retries=0`` sends it once."""
    from elasticsearch import ApiError

    delays = backoff_delays(_options)
    for attempt in range(len(delays) + 1):
        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            code = getattr(e, "status_code", None)
            if code in RETRY_STATUSES and attempt < len(delays):
                log.info("Elasticsearch answered %s to %s; retrying in %.1f s", code, action, delays[attempt])
                _sleep(delays[attempt])
                continue
            raise translate_error(e, url, action) from None
        except client_errors() as e:
            raise translate_error(e, url, action) from None
    raise AssertionError("unreachable")


def call_once(client, url: str, action: str, method: str, options: ClientOptions | None = None,
              **kwargs: Any) -> Any:
    """``client.<method>(**kwargs)`` sent exactly once: no transport retry, no status retry (for a
    request that may have taken effect although its answer was lost)."""
    once = dataclasses.replace(options or ClientOptions(), max_retries=0)
    return call(url, action, getattr(client.options(max_retries=0), method), _options=once, **kwargs)


def body_of(resp: Any) -> Any:
    """The JSON body of a client response (an ObjectApiResponse, or a plain dict from a fake)."""
    return resp.body if hasattr(resp, "body") else resp


def check_server(client, url: str) -> str | None:
    """The server's version, after checking it is Elasticsearch >= 9.2 (one fast request, no
    retries, so a dead URL fails at once with one message). None when the credentials may not
    read it (403: no cluster ``monitor`` privilege, which hum-search does not otherwise need)."""
    try:
        info = call_once(client, url, "open the store", "info")
    except StoreError as e:
        if status(e) == 403:
            log.info("the credentials may not read the server version (GET / needs the cluster privilege "
                     "monitor); going on without checking it")
            return None
        raise
    version = str((body_of(info).get("version") or {}).get("number", "0"))
    nums = tuple(int(x) for x in re.findall(r"\d+", version)[:2]) or (0,)
    if nums < MIN_SERVER_VERSION:
        raise StoreError(f"Elasticsearch at {safe_url(url)} is version {version}; hum-search needs "
                         f"{min_version_text()} or newer", UPGRADE_FIX)
    return version


# --- logging -----------------------------------------------------------------------------------------
class _TransportLogFilter(logging.Filter):
    """elastic_transport logs every retry at WARNING with a full traceback. The store turns the
    final failure into one clear message, so these are only shown with -v (without traceback) or
    -vv (with it). Every line it lets through is redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        root = logging.getLogger()
        if root.isEnabledFor(logging.DEBUG):
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
        elif root.isEnabledFor(logging.INFO):
            record.exc_info = None
            record.exc_text = None
        elif record.levelno < logging.ERROR:
            return False
        record.msg, record.args = redact(record.getMessage()), None
        return True


_FILTER = _TransportLogFilter()
TRANSPORT_LOGGERS = ("elastic_transport.transport", "elastic_transport.node_pool", "elastic_transport.node")


def quiet_transport_logs() -> None:
    for name in TRANSPORT_LOGGERS:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
