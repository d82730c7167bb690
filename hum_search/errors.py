"""One exception hierarchy for the whole project.

Every message states the cause and a fix, in one line, so that the CLI and the web app can show it
to a person without a traceback.
"""

from __future__ import annotations

import logging
import re

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)\S*@")  # to the last @ of the word: a password may hold '@'
_HIDDEN = "***"
_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_AUTH_VALUE = re.compile(r"\b(ApiKey|Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{4,}", re.IGNORECASE)  # header values
REPORT_FIX = "run again with HUM_SEARCH_LOG_LEVEL=DEBUG and report the log"  # for what nobody foresaw


class HumSearchError(Exception):
    """Base class. ``str(err)`` is a complete one-line message: cause, then what to do."""

    def __init__(self, cause: str, fix: str | None = None):
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause}. Fix: {fix}" if fix else cause)


def one_line(text: object) -> str:
    """A message squeezed onto one line (white space, newlines included, folded to single spaces)."""
    return " ".join(str(text).split())


def redact_url(text: str) -> str:
    """``text`` with the user:password of every URL in it replaced by ``***`` (also in URLs too
    malformed to parse: everything between ``://`` and the word's last ``@`` goes)."""
    return _URL_USERINFO.sub(lambda m: m.group(1) + _HIDDEN + "@", str(text))


def redact(text: object, secrets: "list[str] | tuple[str, ...]" = ()) -> str:
    """``text`` with URL credentials, Authorization header values (``ApiKey …``, ``Basic …``) and
    each of the known ``secrets`` (longest first) replaced by ``***``: for every message and log line
    that reaches a person."""
    out = _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {_HIDDEN}", redact_url(str(text)))
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            out = out.replace(secret, _HIDDEN)
    return out


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # the CLI's and the web server's log lines


class RedactingFormatter(logging.Formatter):
    """Log lines (tracebacks included) without URL credentials and without the known secrets:
    the one formatter of every log handler the project installs."""

    def __init__(self, secrets: "list[str] | tuple[str, ...]" = (), fmt: str = LOG_FORMAT):
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def safe_url(url: str) -> str:
    """A URL for messages and display: without user:password (however malformed the URL), without a
    ?query or #fragment (where a mistyped password character would leave the rest of it) and
    without a trailing slash. Never raises."""
    url = url.strip()
    m = _SCHEME.match(url)
    if m and "@" in url[m.end():]:
        url = url[: m.end()] + url.rsplit("@", 1)[1]
    url = url.split("#", 1)[0].split("?", 1)[0]
    return one_line(redact(url)).rstrip("/")


# --- settings and arguments -------------------------------------------------------------------------
class ConfigError(HumSearchError):
    """A setting (environment variable) has a value that cannot be used."""


class UsageError(HumSearchError):
    """The command line is wrong (unknown option, missing or bad argument)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: raised by the command line's handler, so that whatever cleans up after Ctrl-C (the
    indexer writes the songs analysed so far) does the same for a polite kill."""


# --- input audio --------------------------------------------------------------------------------
class AudioError(HumSearchError):
    """The audio could not be used (file problems, decoding, content)."""


class AudioFileError(AudioError):
    """The file is missing, unreadable or empty."""


class DecodeError(AudioError):
    """The bytes are not audio we can decode (corrupt, truncated, not audio at all)."""


class SilentAudioError(AudioError):
    """Zero-length or silent audio."""


class AudioTooLongError(AudioError):
    """The audio is longer than the configured limit."""


class NoMelodyError(AudioError):
    """A query in which too little voiced (pitched) sound was heard."""


class AudioEncodeError(AudioError):
    """Audio could not be written (encoder missing or failing, unsupported format)."""


class SynthError(AudioError):
    """A renderer failed (fluidsynth missing or failing, bad notation)."""


# --- models ---------------------------------------------------------------------------------------
class ModelError(HumSearchError):
    """A model could not be loaded or is not available."""


class ModelUnavailableError(ModelError):
    """The model's weights are not present (e.g. offline without a checkpoint)."""


class ChecksumError(ModelError):
    """A downloaded or provided weights file does not have the expected SHA-256."""


# --- stores ---------------------------------------------------------------------------------------
class StoreError(HumSearchError):
    """The index store failed."""


class StoreFormatError(StoreError):
    """The store was written by another format version or with other models/parameters."""


class StoreFeaturesError(StoreFormatError):
    """The store's features were computed by another melody or sound model, or with other
    parameters: every file must be analysed again (``hum-search index DIR --force`` rebuilds an
    embedded store in place)."""


class StoreNotFoundError(StoreError):
    """No index exists at the given location."""


class StoreDamagedError(StoreError):
    """The index's files are inconsistent: a database missing or empty next to its ``store.json``,
    or the other way round. Never treated as an empty index."""


class StoreCorruptError(StoreDamagedError):
    """The index database is not a readable SQLite database (garbage bytes, truncated, malformed)."""


class EmptyIndexError(StoreError):
    """The index holds no songs, so a search cannot find anything."""


class BackendUnavailableError(StoreError):
    """A store server (Elasticsearch) could not be reached or refused the request."""


# --- devices ----------------------------------------------------------------------------------------
class DeviceError(HumSearchError):
    """A hardware device (microphone, CUDA) is not available."""
