"""Elasticsearch URLs and the secrets that travel with them.

``parse_es_url`` checks a URL with the project's one strict parser (``config.url_problem``: a port
outside 1-65535, an unclosed ``[``, a space, no host, a ``#``/``?`` that cuts the URL short, often a
password character that should have been percent-encoded) before the official client sees it,
because the client's own errors for a bad URL are tracebacks whose text holds the whole URL,
password included. The message names where the URL came from (``--store``, ``HUM_SEARCH_ES_URL``,
``--kibana-url``).

``redact`` is the one function that every message, log line and exception text of the
Elasticsearch code passes through: the project's ``errors.redact`` (URL user:password,
Authorization values) given the secrets this layer has seen (``remember_secrets``: the password and
API key of the settings a client was made with, the password of the URL itself, raw and
percent-decoded).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote, urlsplit

from ...config import url_problem
from ...errors import StoreError, one_line, safe_url  # noqa: F401  (safe_url: used by the other elastic modules)
from ...errors import redact as redact_secrets

HIDDEN = "***"
MIN_SECRET_CHARS = 4  # shorter strings are not searched for in text (they would blank out common words)
WHERE = "--store, HUM_SEARCH_STORE or HUM_SEARCH_ES_URL"

_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secrets(*values: str | None) -> None:
    """Secrets that ``redact`` hides wherever they appear (passwords, API keys)."""
    with _secrets_lock:
        for v in values:
            if v and len(v) >= MIN_SECRET_CHARS:
                _secrets.add(v)


def redact(text: object) -> str:
    """``text`` without credentials: URL user:password, Authorization values, remembered secrets."""
    with _secrets_lock:
        secrets = tuple(_secrets)
    return redact_secrets(text, secrets)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(the URL without user:password, (user, password) percent-decoded, or None), for clients that
    do not take credentials in the URL (urllib's)."""
    m = _SCHEME.match(url)
    if not m or "@" not in url[m.end():].split("/", 1)[0]:
        return url, None
    netloc, _, rest = url[m.end():].partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return url[: m.end()] + hostport + ("/" + rest if rest else ""), (unquote(user), unquote(password))


def _redact_whole_url(url: str) -> str:
    """A URL (one, possibly malformed) without its userinfo: everything between ``://`` and the
    last ``@`` goes, whatever characters the password holds."""
    m = _SCHEME.match(url)
    if m and "@" in url[m.end():]:
        url = url[: m.end()] + HIDDEN + "@" + url.rsplit("@", 1)[1]
    return one_line(redact(url))


# (what the URL is for, where it was given, an example) for the messages
ES_PLACE = ("Elasticsearch", WHERE, "http://localhost:9200")
KIBANA_PLACE = ("Kibana", "--kibana-url or HUM_SEARCH_KIBANA_URL", "http://localhost:5601")


def _bad(url: str, what: str, fix: str, place: tuple[str, str, str]) -> StoreError:
    return StoreError(f"the {place[0]} URL {_redact_whole_url(url)!r} ({place[1]}) {what}", fix)


def parse_es_url(url: str, place: tuple[str, str, str] = ES_PLACE) -> str:
    """``url`` checked strictly and without a trailing slash, or StoreError saying in one line what
    is wrong with it (and never showing its password). ``place`` names the URL in messages."""
    text = (url or "").strip()
    problem = url_problem(text, place[2])
    if problem is not None:
        raise _bad(text, *problem, place)
    parts = urlsplit(text)
    if parts.password:
        remember_secrets(parts.password, unquote(parts.password))
    return text.rstrip("/")
