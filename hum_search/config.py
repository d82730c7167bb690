"""Configuration from environment variables, each with a documented default.

| variable                      | default                                   | meaning                                   |
|-------------------------------|-------------------------------------------|-------------------------------------------|
| HUM_SEARCH_STORE              | $XDG_DATA_HOME/hum-search/index           | store: a directory (embedded) or an       |
|                               | (~/.local/share/hum-search/index)         | http(s):// Elasticsearch URL              |
| HUM_SEARCH_ES_URL             | unset                                     | Elasticsearch URL; used when no --store   |
|                               |                                           | and no HUM_SEARCH_STORE is given          |
| HUM_SEARCH_ES_INDEX           | hum-songs                                 | Elasticsearch alias name                  |
| HUM_SEARCH_ES_API_KEY         | unset                                     | Elasticsearch API key (preferred)         |
| HUM_SEARCH_ES_USER / _PASSWORD| unset                                     | Elasticsearch basic auth                  |
| HUM_SEARCH_ES_CA_CERTS        | unset                                     | CA bundle for a TLS cluster               |
| HUM_SEARCH_CACHE_DIR          | $XDG_CACHE_HOME/hum-search                | downloaded model weights                  |
|                               | (~/.cache/hum-search)                     |                                           |
| HUM_SEARCH_PANNS_CHECKPOINT   | unset                                     | explicit path to a Cnn14 checkpoint       |
| HUM_SEARCH_DEVICE             | auto                                      | auto, cpu, cuda or cuda:N (PANNs)         |
| HUM_SEARCH_WORKERS            | number of CPU cores                       | parallel feature-extraction processes     |
| HUM_SEARCH_MAX_DURATION_S     | 3600                                      | longest song indexed, seconds (1-6000)    |
| HUM_SEARCH_MUSIC_ROOT         | unset                                     | web app: folder the UI may index and      |
|                               |                                           | serve audio from                          |
| HUM_SEARCH_LOG_LEVEL          | WARNING                                   | logging level of the library              |
| HUM_SEARCH_KIBANA_URL         | http://localhost:5601                     | Kibana, for `hum-search kibana-setup`     |
| HUM_SEARCH_SOUNDFONT          | Debian's FluidR3_GM.sf2                   | General MIDI soundfont for the demo       |

Every value is checked here, where it is read (``Settings.from_env``), so that a bad one ends any
entry point (CLI, web app, ``python -m indexer``) with one ``ConfigError`` line that names the
variable, the bad value and the allowed values, never with a traceback from deep inside a command.
Secrets (passwords, API keys, a URL's user:password) are never echoed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, one_line, redact_url

IGNORE_MARKER = ".hum-search-ignore"  # a folder holding this file (and its sub-folders) is not indexed
DEFAULT_KIBANA_URL = "http://localhost:5601"
DEFAULT_ES_INDEX = "hum-songs"
DEFAULT_MAX_DURATION_S = 3600
# The embedded store numbers a song's segments in 14 bits (16384 segments, one every 0.4 s = 109 min);
# 100 min keeps every song that may be indexed inside that, with room to spare.
MAX_DURATION_LIMIT_S = 6000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEVICE_CHOICES = ("auto", "cpu", "cuda")  # and "cuda:N" for the N-th GPU
DEVICE_HELP = "auto, cpu, cuda or cuda:N"
SECRET_VARS = ("HUM_SEARCH_ES_PASSWORD", "HUM_SEARCH_ES_API_KEY")
URL_VARS = ("HUM_SEARCH_STORE", "HUM_SEARCH_ES_URL", "HUM_SEARCH_KIBANA_URL")
_MIN_SECRET_CHARS = 4  # shorter values are too likely to occur in ordinary text to be searched for
_SHOWN_VALUE_CHARS = 80  # a bad value is echoed up to this length
_ES_INDEX_FORBIDDEN = set('\\/*?"<>|,# :')  # Elasticsearch's rules for index and alias names


def utc_now() -> str:
    """The current time as ISO 8601 UTC, whole seconds (``indexed_at``, failure records)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or os.path.join(os.path.expanduser("~"), fallback)
    return Path(base)


def default_store_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "hum-search" / "index"


def default_cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "hum-search"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _shown(value: str) -> str:
    """A bad value as it is echoed in a message: one line, cut, any URL credentials removed."""
    text = one_line(redact_url(value))
    return repr(text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS - 1] + "…")


def _bad(name: str, value: str, problem: str, allowed: str) -> ConfigError:
    return ConfigError(f"{name}={_shown(value)} is {problem}", f"set {name} to {allowed}, or unset it for the default")


# --- one checker per kind of value (also used for the command-line options) ---------------------------
def check_whole_number(name: str, value: str, *, lo: int, hi: int | None = None, example: int) -> int:
    """``value`` as an int in [lo, hi]; else ConfigError naming ``name``, the value and the range."""
    allowed = f"a whole number from {lo} to {hi}" if hi is not None else f"a whole number of {lo} or more"
    allowed += f" (e.g. {example})"
    try:
        number = int(value.strip())
    except ValueError:
        raise _bad(name, value, "not a whole number", allowed) from None
    if number < lo or (hi is not None and number > hi):
        raise _bad(name, value, "out of range", allowed)
    return number


def check_device(name: str, value: str) -> str:
    """auto, cpu, cuda or cuda:N, lower-cased."""
    device = value.strip().lower()
    if device in DEVICE_CHOICES or (device.startswith("cuda:") and device[5:].isdigit()):
        return device
    raise _bad(name, value, "not a device", DEVICE_HELP)


def check_log_level(name: str, value: str) -> str:
    level = value.strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level in LOG_LEVELS:
        return level
    raise _bad(name, value, "not a logging level", ", ".join(LOG_LEVELS))


def check_es_index(name: str, value: str) -> str:
    """An Elasticsearch index or alias name: lower case, none of \\ / * ? " < > | , # : or space, not
    starting with - _ +, not . or .., at most 255 bytes."""
    ok = (value == value.lower() and not (_ES_INDEX_FORBIDDEN & set(value)) and value[:1] not in "-_+"
          and value not in (".", "..") and len(value.encode()) <= 255)
    if ok:
        return value
    raise _bad(name, value, "not a valid Elasticsearch alias name",
               'a lower-case name without spaces or \\ / * ? " < > | , # : (e.g. hum-songs)')


def check_http_url(name: str, value: str, example: str = "http://localhost:9200") -> str:
    """A strict http(s)://host[:port][/path] URL; the message says what is wrong with a bad one and
    never shows its user:password."""
    problem = url_problem(value, example)
    if problem is None:
        return value.strip()
    what, fix = problem
    raise ConfigError(f"{name}={_shown(value)} {what}", f"set {name} to a corrected URL ({fix}), or unset it for the default")


# --- URLs: one strict parser for every http(s) URL (Elasticsearch, Kibana) ---------------------------
# Checked here, before any client sees a URL, because the clients' own errors for a bad URL are
# tracebacks whose text holds the whole URL, password included. The answer names what is wrong.
CREDENTIALS_FIX = ("or leave the credentials out of the URL and set HUM_SEARCH_ES_USER and "
                   "HUM_SEARCH_ES_PASSWORD (or HUM_SEARCH_ES_API_KEY)")
_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._~-]*[A-Za-z0-9])?$")


def url_problem(url: str, example: str = "http://localhost:9200") -> tuple[str, str] | None:
    """(what is wrong, the fix) for an http(s) URL, or None when it is usable. ``what`` reads after
    the URL ("has no host name"); neither part quotes the credentials."""
    text = (url or "").strip()
    if not _SCHEME.match(text):
        return "does not start with http:// or https://", f"give the URL of the server, for example {example}"
    if re.search(r"\s", text):
        return "contains a space", f"remove it; a space in a password is written %20, {CREDENTIALS_FIX}"
    for char, code in (("#", "%23"), ("?", "%3F")):
        if char in text:
            return (f"contains '{char}', which ends the address part of a URL",
                    f"write a '{char}' in a user name or password as {code}, {CREDENTIALS_FIX}")
    netloc = text[_SCHEME.match(text).end():].split("/", 1)[0]
    try:
        host = urlsplit(text).hostname
    except ValueError as e:  # e.g. "Invalid IPv6 URL" for http://[::1
        if "[" in netloc and "]" not in netloc:
            return "has an unclosed '['", "close it: an IPv6 host is written http://[::1]:9200"
        if "[" in netloc:
            return ("has a host in brackets that is not an IPv6 address",
                    "correct the URL: an IPv6 host is written http://[::1]:9200")
        return f"cannot be parsed ({one_line(redact_url(str(e)))})", f"correct the URL, for example {example}"
    return _host_problem(netloc.rpartition("@")[2], host, example) or _port_problem(netloc.rpartition("@")[2], example)


def _host_problem(hostport: str, host: str | None, example: str) -> tuple[str, str] | None:
    if not host:
        return "has no host name", f"give the whole URL, for example {example}"
    if hostport.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return (f"has [{host}] as its host, which is not an IPv6 address",
                    "write an IPv6 host in brackets, for example http://[::1]:9200")
    elif not _HOST_NAME.match(host):
        return (f"has {host!r} as its host name, which holds characters a host name cannot",
                f"use a host name (letters, digits, '-' and '.') or an IP address, for example {example}")
    return None


def _port_problem(hostport: str, example: str) -> tuple[str, str] | None:
    after_host = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" not in after_host:
        return None  # no port: the client's default for the scheme
    port = after_host.rpartition(":")[2]
    if port.isdigit() and 1 <= int(port) <= 65535:
        return None
    what = f"has the port {port!r}, which is not a number from 1 to 65535" if port else "has a ':' but no port"
    return what, f"give the port the server listens on, for example {example}"


# --- settings -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    store: str = field(default_factory=lambda: str(default_store_dir()))
    es_index: str = DEFAULT_ES_INDEX
    es_api_key: str | None = None
    es_user: str | None = None
    es_password: str | None = None
    es_ca_certs: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    panns_checkpoint: str | None = None
    device: str = "auto"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_duration_s: int = DEFAULT_MAX_DURATION_S
    music_root: str | None = None
    log_level: str = "WARNING"
    kibana_url: str = DEFAULT_KIBANA_URL

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from the HUM_SEARCH_* variables, every one checked (ConfigError on a bad one)."""
        cores = os.cpu_count() or 1
        return cls(
            store=_store_from_env(),
            es_index=_checked("HUM_SEARCH_ES_INDEX", check_es_index) or DEFAULT_ES_INDEX,
            es_api_key=_env("HUM_SEARCH_ES_API_KEY"),
            es_user=_env("HUM_SEARCH_ES_USER"),
            es_password=_env("HUM_SEARCH_ES_PASSWORD"),
            es_ca_certs=_env("HUM_SEARCH_ES_CA_CERTS"),
            cache_dir=Path(_env("HUM_SEARCH_CACHE_DIR") or default_cache_dir()),
            panns_checkpoint=_env("HUM_SEARCH_PANNS_CHECKPOINT"),
            device=_checked("HUM_SEARCH_DEVICE", check_device) or "auto",
            workers=_checked("HUM_SEARCH_WORKERS", lambda n, v: check_whole_number(n, v, lo=1, example=cores)) or cores,
            max_duration_s=_checked("HUM_SEARCH_MAX_DURATION_S", lambda n, v: check_whole_number(
                n, v, lo=1, hi=MAX_DURATION_LIMIT_S, example=DEFAULT_MAX_DURATION_S)) or DEFAULT_MAX_DURATION_S,
            music_root=_env("HUM_SEARCH_MUSIC_ROOT"),
            log_level=_checked("HUM_SEARCH_LOG_LEVEL", check_log_level) or "WARNING",
            kibana_url=_checked("HUM_SEARCH_KIBANA_URL", lambda n, v: check_http_url(n, v, DEFAULT_KIBANA_URL))
            or DEFAULT_KIBANA_URL,
        )


def _checked(name: str, check):
    value = _env(name)
    return None if value is None else check(name, value)


def _store_from_env() -> str:
    for name in ("HUM_SEARCH_STORE", "HUM_SEARCH_ES_URL"):
        value = _env(name)
        if value is None:
            continue
        if name == "HUM_SEARCH_ES_URL" and not is_es_url(value):
            raise _bad(name, value, "not an Elasticsearch URL",
                       "an http(s)://host:port URL (e.g. http://localhost:9200)")
        return value
    return str(default_store_dir())


def is_es_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def known_secrets(argv: list[str] | None = None, environ: os._Environ | dict | None = None) -> list[str]:
    """The secret values this process may know: the Elasticsearch password and API key, and the
    password of any user:password URL in the environment or on the command line (also
    percent-decoded). Messages and log lines are scrubbed of these before they are shown."""
    environ = os.environ if environ is None else environ
    found = [environ.get(v, "").strip() for v in SECRET_VARS]
    for text in [environ.get(v, "") for v in URL_VARS] + list(argv or []):
        for userinfo in re.findall(r"://(\S*)@", str(text)):
            password = userinfo.partition(":")[2]
            found += [password, unquote(password)]
    return sorted({s for s in found if len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True)
