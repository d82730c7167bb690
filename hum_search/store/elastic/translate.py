"""Exceptions of the Elasticsearch client turned into one-line store errors (cause. Fix: fix).

Every error made here carries two attributes for the code that has to tell errors apart:
``status`` (the HTTP status, None for connection errors) and ``es_type`` (Elasticsearch's error
type, e.g. ``resource_already_exists_exception``), read with ``es_type(err)`` and ``status(err)``
instead of searching the message. Every text passes through ``urls.redact``.

Two answers get a message of their own because the client's would mislead:

* 403: the message names the privilege Elasticsearch says would allow the action (its reason
  ends "this action is granted by the cluster privileges [monitor,manage,all]") and the set
  hum-search needs, from docs/elasticsearch.md "Configuration";
* 400 ``media_type_header_exception``: the 9.x client asks for ``compatible-with=9``, which an
  8.x server refuses ("Accept version must be either version 8 or 7, but found 9") on the first
  request, before any version check could run. That means "this server is too old".
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import BackendUnavailableError, StoreError, one_line
from .urls import redact, safe_url

MIN_SERVER_VERSION = (9, 2)  # index.mapping.exclude_source_vectors; nested kNN filters on nested metadata
RETRY_STATUSES = (429, 502, 503, 504)
MEDIA_TYPE_ERROR = "media_type_header_exception"
NEEDED_PRIVILEGES = ("the index privileges read, write and manage on the store's indices (HUM_SEARCH_ES_INDEX "
                     "followed by *, e.g. hum-songs*); hum-search reindex also needs the cluster privilege "
                     "monitor (docs/elasticsearch.md, Configuration)")
UPGRADE_FIX = "upgrade the cluster, or start the bundled one with docker compose up -d --wait"


def min_version_text() -> str:
    return f"{MIN_SERVER_VERSION[0]}.{MIN_SERVER_VERSION[1]}"


def short(text: object, limit: int = 240) -> str:
    """One line, redacted, at most ``limit`` characters."""
    s = redact(one_line(text))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def es_type(err: BaseException) -> str | None:
    """Elasticsearch's error type of a translated error (None when there was no answer)."""
    return getattr(err, "es_type", None)


def status(err: BaseException) -> int | None:
    return getattr(err, "status", None)


def _innermost(e: BaseException) -> BaseException:
    """The root cause of a transport error (errors[0], then __cause__ chains)."""
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        errs = getattr(e, "errors", None)
        nxt = errs[0] if errs else e.__cause__
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
    return short(text, 160)


def _error_object(e: Any) -> dict[str, Any]:
    body = getattr(e, "body", None)
    return body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}


def error_type_of(e: Any) -> str | None:
    """The error type of a client ApiError's body (the root cause's, else the top one's)."""
    err = _error_object(e)
    root = (err.get("root_cause") or [err])[0]
    return root.get("type") or err.get("type")


def _api_reason(e: Any) -> str:
    err = _error_object(e)
    if err:
        root = (err.get("root_cause") or [err])[0]
        return short(f"{root.get('type', 'error')}: {root.get('reason', '')}", 200)
    body = getattr(e, "body", None)
    if isinstance(body, dict) and "error" in body:
        return short(body["error"], 200)
    return short(getattr(e, "message", "") or e, 200)


def _all_reasons(e: Any) -> str:
    """The reasons of the error, its root causes and its caused_by chain, as one text."""
    err, parts = _error_object(e), []
    stack = [err]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        parts.append(str(node.get("reason", "")))
        stack.extend(node.get("root_cause") or [])
        stack.append(node.get("caused_by"))
    return " ".join(parts)


def granted_by(e: Any) -> tuple[str, list[str]] | None:
    """("cluster" or "index", privileges) from a 403 reason "... this action is granted by the
    cluster privileges [monitor,manage,all]"."""
    m = re.search(r"granted by the (cluster|index) privileges \[([^\]]*)\]", _all_reasons(e))
    return (m.group(1), [p.strip() for p in m.group(2).split(",") if p.strip()]) if m else None


def refused_major(e: Any) -> str | None:
    """For a ``media_type_header_exception``: the newest major version the server accepts, from
    "Accept version must be either version 8 or 7, but found 9" ("8"), else "older than 9"."""
    if MEDIA_TYPE_ERROR not in (error_type_of(e), _error_object(e).get("type")):
        return None
    versions = [int(v) for v in re.findall(r"version (\d+)", _all_reasons(e).split("but found")[0])]
    return str(max(versions)) if versions else "older than 9"


def _tag(err: StoreError, status_code: int | None, type_: str | None) -> StoreError:
    err.status = status_code  # type: ignore[attr-defined]
    err.es_type = type_  # type: ignore[attr-defined]
    return err


def _api_error(e: Any, where: str, action: str) -> StoreError:
    """A one-line error for an answer with an HTTP status."""
    from elasticsearch import AuthenticationException, AuthorizationException

    code = getattr(e, "status_code", None) or getattr(getattr(e, "meta", None), "status", None)
    major = refused_major(e)
    if major is not None:
        return StoreError(
            f"Elasticsearch at {where} is version {major}.x: it refused the compatible-with=9 headers of "
            f"hum-search's Elasticsearch 9 client ({code}, {MEDIA_TYPE_ERROR}); hum-search needs Elasticsearch "
            f"{min_version_text()} or newer", UPGRADE_FIX)
    if "exclude_source_vectors" in _all_reasons(e):
        return StoreError(f"Elasticsearch at {where} does not know the index setting "
                          f"index.mapping.exclude_source_vectors: it is older than {min_version_text()}, which "
                          "hum-search needs", UPGRADE_FIX)
    if isinstance(e, AuthenticationException):
        return BackendUnavailableError(
            f"Elasticsearch at {where} rejected the credentials (401, {_api_reason(e)})",
            "set HUM_SEARCH_ES_API_KEY, or HUM_SEARCH_ES_USER=elastic and HUM_SEARCH_ES_PASSWORD to "
            "ELASTIC_PASSWORD from .env")
    if isinstance(e, AuthorizationException):
        granted = granted_by(e)
        first = (f"give the user or API key the {granted[0]} privilege {granted[1][0]} (Elasticsearch grants this "
                 f"action with any of: {', '.join(granted[1])}); in all, " if granted and granted[1] else "")
        return BackendUnavailableError(f"Elasticsearch at {where} refused to {action} (403, {_api_reason(e)})",
                                       first + "hum-search needs " + NEEDED_PRIVILEGES)
    cls = BackendUnavailableError if code in RETRY_STATUSES else StoreError
    return cls(f"Elasticsearch at {where} failed to {action} ({code}, {_api_reason(e)})",
               "see the Elasticsearch log (docker compose logs elasticsearch); retry once the cluster is green")


def translate_error(e: BaseException, url: str, action: str) -> StoreError:
    """A one-line, redacted HumSearchError (cause. Fix: fix) for any client exception."""
    import elastic_transport
    from elasticsearch import ApiError

    where = safe_url(url)
    if isinstance(e, ApiError):
        code = getattr(e, "status_code", None) or getattr(getattr(e, "meta", None), "status", None)
        return _tag(_api_error(e, where, action), code, error_type_of(e))
    if isinstance(e, elastic_transport.TlsError):
        err = BackendUnavailableError(
            f"TLS with Elasticsearch at {where} failed while trying to {action} ({_cause_text(e)})",
            "set HUM_SEARCH_ES_CA_CERTS to the cluster's CA certificate file, or use the http:// URL of a "
            "cluster without TLS (the bundled docker-compose.yml serves http://localhost:9200)")
    elif isinstance(e, elastic_transport.ConnectionTimeout):
        err = BackendUnavailableError(
            f"Elasticsearch at {where} did not answer in time while trying to {action} ({_cause_text(e)})",
            f"check that the cluster is healthy (docker compose ps; curl -u elastic {where}/_cluster/health) and "
            "not overloaded")
    elif isinstance(e, elastic_transport.ConnectionError):
        err = BackendUnavailableError(
            f"cannot reach Elasticsearch at {where} ({_cause_text(e)}) to {action}",
            "start it (docker compose up -d --wait), and check the URL and port in --store or HUM_SEARCH_ES_URL, "
            "and any proxy or firewall in between")
    elif isinstance(e, elastic_transport.TransportError):
        err = BackendUnavailableError(
            f"talking to Elasticsearch at {where} failed while trying to {action} ({_cause_text(e)})",
            "check the URL in --store or HUM_SEARCH_ES_URL and that it is an Elasticsearch 9 server")
    else:
        err = StoreError(f"Elasticsearch at {where}: {action} failed ({short(repr(e), 200)})",
                         "see the log with hum-search -vv")
    return _tag(err, None, None)


def client_errors() -> tuple[type[BaseException], ...]:
    """The exception types that translate_error handles."""
    import elastic_transport
    from elasticsearch import ApiError, UnsupportedProductError

    return (elastic_transport.TransportError, ApiError, UnsupportedProductError)
