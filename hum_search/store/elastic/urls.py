"""Elasticsearch URLs and the secrets that travel with them: strict parsing, and ``redact``.

A URL is checked here, before the official client sees it, because the client's own errors for a
bad URL are tracebacks whose text holds the whole URL, password included
(``ValueError: Could not parse URL 'http://elastic:pa#ss@127.0.0.1:9'``). ``parse_es_url`` names
what is wrong in one line instead: a port outside 1-65535, an unclosed ``[`` of an IPv6 host, a
space, no host at all, or a ``#``/``?`` that cuts the URL short (often a password character that
should have been percent-encoded).

``redact`` is the one function that every message, log line and exception text of the
Elasticsearch code passes through. It is the project's ``errors.redact`` (user:password of any
URL, known secrets) given the secrets this layer has seen (``remember_secrets``: the password and
API key of the settings a client was made with, the password of the URL itself, raw and
percent-decoded), and it also hides the value of ``Authorization`` headers (``ApiKey ...``,
``Basic ...``, ``Bearer ...``).
"""

from __future__ import annotations

import ipaddress
import re
import threading
from urllib.parse import unquote, urlsplit

from ...errors import StoreError, one_line
from ...errors import redact as redact_secrets

HIDDEN = "***"
MIN_SECRET_CHARS = 4  # shorter strings are not searched for in text (they would blank out common words)
WHERE = "--store, HUM_SEARCH_STORE or HUM_SEARCH_ES_URL"
CREDENTIALS_FIX = ("or leave the credentials out of the URL and set HUM_SEARCH_ES_USER and HUM_SEARCH_ES_PASSWORD "
                   "(or HUM_SEARCH_ES_API_KEY)")

_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_AUTH_VALUE = re.compile(r"\b(ApiKey|Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{4,}", re.IGNORECASE)
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._~-]*[A-Za-z0-9])?$")

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
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {HIDDEN}", redact_secrets(text, secrets))


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


def safe_url(url: str) -> str:
    """The URL for messages and display: without user:password (however malformed) and without a
    trailing slash. Never raises."""
    url = url.strip()
    m = _SCHEME.match(url)
    if m and "@" in url[m.end():]:
        url = url[: m.end()] + url.rsplit("@", 1)[1]
    return one_line(redact(url)).rstrip("/")


# (what the URL is for, where it was given, an example) for the messages
ES_PLACE = ("Elasticsearch", WHERE, "http://localhost:9200")
KIBANA_PLACE = ("Kibana", "--kibana-url or HUM_SEARCH_KIBANA_URL", "http://localhost:5601")


def _bad(url: str, what: str, fix: str, place: tuple[str, str, str]) -> StoreError:
    return StoreError(f"the {place[0]} URL {_redact_whole_url(url)!r} ({place[1]}) {what}", fix)


def _check_host(url: str, netloc: str, host: str | None, place: tuple[str, str, str]) -> None:
    hostport = netloc.rpartition("@")[2]
    if not host:
        raise _bad(url, "has no host name", "give the whole URL, for example " + place[2], place)
    if hostport.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise _bad(url, f"has [{host}] as its host, which is not an IPv6 address",
                       "write an IPv6 host in brackets, for example http://[::1]:9200", place) from None
    elif not _HOST_NAME.match(host):
        raise _bad(url, f"has {host!r} as its host name, which holds characters a host name cannot",
                   "use a host name (letters, digits, '-' and '.') or an IP address, for example " + place[2],
                   place)


def _check_port(url: str, netloc: str, place: tuple[str, str, str]) -> None:
    hostport = netloc.rpartition("@")[2]
    after_host = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" not in after_host:
        return  # no port: the client's default for the scheme
    port = after_host.rpartition(":")[2]
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        what = f"has the port {port!r}, which is not a number from 1 to 65535" if port else "has a ':' but no port"
        raise _bad(url, what, "give the port the server listens on, for example " + place[2], place)


def _unparsable(text: str, e: ValueError, place: tuple[str, str, str]) -> StoreError:
    netloc = text[_SCHEME.match(text).end():].split("/", 1)[0]
    if "[" in netloc and "]" not in netloc:
        return _bad(text, "has an unclosed '['", "close it: an IPv6 host is written http://[::1]:9200", place)
    if "[" in netloc:
        return _bad(text, "has a host in brackets that is not an IPv6 address",
                    "correct the URL: an IPv6 host is written http://[::1]:9200", place)
    return _bad(text, f"cannot be parsed ({one_line(e)})", "correct the URL, for example " + place[2], place)


def parse_es_url(url: str, place: tuple[str, str, str] = ES_PLACE) -> str:
    """``url`` checked strictly and without a trailing slash, or StoreError saying in one line what
    is wrong with it (and never showing its password). ``place`` names the URL in messages."""
    text = (url or "").strip()
    if not _SCHEME.match(text):
        raise _bad(text, "does not start with http:// or https://",
                   "give the URL of the server, for example " + place[2], place)
    if re.search(r"\s", text):
        raise _bad(text, "contains a space", "remove it; a space in a password is written %20, " + CREDENTIALS_FIX,
                   place)
    for char, code in (("#", "%23"), ("?", "%3F")):
        if char in text:
            raise _bad(text, f"contains '{char}', which ends the address part of a URL",
                       f"write a '{char}' in a user name or password as {code}, {CREDENTIALS_FIX}", place)
    try:
        parts = urlsplit(text)
    except ValueError as e:  # e.g. "Invalid IPv6 URL" for http://[::1
        raise _unparsable(text, e, place) from None
    _check_host(text, parts.netloc, parts.hostname, place)
    _check_port(text, parts.netloc, place)
    if parts.password:
        remember_secrets(parts.password, unquote(parts.password))
    return text.rstrip("/")
