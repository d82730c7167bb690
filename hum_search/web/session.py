"""What one page session does with the engine: open it once per process (with a warm-up query),
search a recording or an upload, and turn every failure into one line with its cause and a fix.

The engine is opened only through ``hum_search.engine`` (``open_engine``; the sound channel under
its one policy, ``load_sound(settings, "auto")``), so the app, the CLI and the indexer treat the
same settings the same way: a missing checkpoint turns "Sounds like" off with its reason, and an
explicitly requested device that is missing (``HUM_SEARCH_DEVICE=cuda`` without CUDA) raises
DeviceError, which the page shows as its one-line error like any HumSearchError.

Failures never show a traceback: a HumSearchError is its own message; anything else (a bug) is
``unexpected``: one line naming the exception type, logged as one warning line, with the
traceback in the log only at DEBUG. Every line is redacted (``format.message``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from ..config import Settings
from ..engine import Engine, SoundChannel, load_sound, open_engine
from ..errors import HumSearchError, RedactingFormatter
from .format import message
from .warmup import warm_up_searcher

if TYPE_CHECKING:  # pragma: no cover
    from ..search.results import MatchPlot, Result, SearchResponse
    from ..search.searcher import Searcher
    from ..store.base import Store

log = logging.getLogger(__name__)

# st.audio_input's sample rate: 32 kHz. Measured in Chromium (docs/app.md, "Recording sample rate"):
# the widget asks getUserMedia for {sampleRate: {ideal: N}}. With N = 48000 Chrome keeps its voice
# processing (auto gain, noise suppression, echo cancellation), which pumps a sustained hum (clipped
# peaks in 11 of 13 clean hums, 0.6 s less melody heard) and lost one of 26 test hums; with any N
# below the device's rate (16000, 32000) it captures the raw microphone where the device allows and
# found 26 of 26. 32 kHz over 16 kHz: the same accuracy, and "Sounds like" (PANNs, trained at
# 32 kHz) keeps the band above 8 kHz; the pitch tracker resamples to 16 kHz itself (soxr, ~1 ms).
RECORD_SAMPLE_RATE = 32_000
UPLOAD_TYPES = ["wav", "mp3", "flac", "ogg", "m4a", "webm"]
# A hum needs seconds, not minutes. The browser refuses larger files first; the server refuses any
# request over server.maxUploadSize (.streamlit/config.toml, 25 MB) with a one-line 413 (web/server.py).
MAX_UPLOAD_MB = 20
MIN_QUERY_HINT = "hum or sing the tune for 5–15 seconds"
DEFAULT_TOP = 5
MAX_TOP = 20
SOUND_WARMUP_SAMPLES = 32_000  # one second at PANNs' rate: loads the weights onto the device


# --- the engine, once per process -------------------------------------------------------------------
def settings_key(settings: Settings) -> tuple:
    """What identifies the resources of a configuration (the cache key in web/page.py)."""
    return (settings.store, settings.es_index, settings.music_root, settings.panns_checkpoint,
            str(settings.cache_dir), settings.device)


def load_sound_model(settings: Settings) -> SoundChannel:
    """The sound channel under the engine's one policy ("auto"), warmed up when it is on.
    DeviceError (a device asked for and missing) propagates."""
    channel = load_sound(settings, "auto")
    if channel.embedder is not None:
        try:
            import numpy as np

            channel.embedder.embed(np.zeros(SOUND_WARMUP_SAMPLES, np.float32))
        except Exception:
            log.debug("sound warm-up failed", exc_info=True)
    return channel


@dataclass
class AppEngine:
    """The engine the app searches with, and how its warm-up query went."""

    engine: Engine
    warmup_ms: float | None = None
    warmup_error: str | None = None

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def store(self) -> "Store":
        return self.engine.store

    @property
    def searcher(self) -> "Searcher":
        return self.engine.searcher

    @property
    def sound(self) -> SoundChannel:
        return self.engine.sound


def load_engine(settings: Settings, sound: SoundChannel | None = None, *, warm_up: bool = True) -> AppEngine:
    """Open the engine (StoreNotFoundError, BackendUnavailableError, DeviceError ... propagate as
    HumSearchError), then warm it up with one synthetic query."""
    app = AppEngine(open_engine(settings, sound=sound if sound is not None else load_sound_model(settings)))
    if warm_up:
        app.warmup_ms, app.warmup_error = warm_up_searcher(app.searcher, RECORD_SAMPLE_RATE)
    return app


# --- the server log ------------------------------------------------------------------------------------
def configure_logging(settings: Settings) -> None:
    """Send the library's log lines to the server's stderr at HUM_SEARCH_LOG_LEVEL (default WARNING:
    one line per failure; DEBUG adds the tracebacks). Does nothing when logging is configured
    already (the root logger has handlers, as under pytest) or was done before."""
    logger = logging.getLogger("hum_search")
    if logging.getLogger().handlers or any(getattr(h, "_hum_search_app", False) for h in logger.handlers):
        return
    level = logging.getLevelName(settings.log_level)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter([s for s in (settings.es_password, settings.es_api_key) if s]))
    handler._hum_search_app = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level if isinstance(level, int) else logging.WARNING)


# --- failures ------------------------------------------------------------------------------------------
def unexpected(e: BaseException, action: str, fix: str, settings: Settings | None = None) -> str:
    """One line for a failure that is not a HumSearchError (a bug, a broken install): logged as one
    warning line, the traceback only at DEBUG. ``action``: "searching", "loading the index" ..."""
    line = message(f"{action} failed ({type(e).__name__}: {message(e, settings)[:200]}). Fix: {fix}", settings)
    log.warning("%s", line)
    log.debug("%s failed", action, exc_info=True)
    return line


def failure_line(e: BaseException, action: str, fix: str, settings: Settings | None = None) -> str:
    """The page's line for any failure: a HumSearchError's own message, else ``unexpected``."""
    if isinstance(e, HumSearchError):
        return message(e, settings)
    return unexpected(e, action, fix, settings)


# --- searching -------------------------------------------------------------------------------------------
@dataclass
class Query:
    """One recording or upload to search."""

    data: bytes
    name: str
    source: str  # "recording" or "upload"

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.data).hexdigest()


class NamedBytes(io.BytesIO):
    """Bytes with a ``name``, so that decoding errors name the recording or the uploaded file."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name


@dataclass
class Outcome:
    response: "SearchResponse | None" = None
    error: str | None = None  # one line: cause. Fix: fix (not yet escaped for Markdown)
    seconds: float = 0.0
    key: tuple = field(default_factory=tuple)


def upload_too_large(size: int, name: str, max_mb: float = MAX_UPLOAD_MB) -> str | None:
    if size > max_mb * 1024 * 1024:
        return (f"{name} is {size / 2**20:.1f} MB, over the {max_mb:.0f} MB limit for uploads. "
                f"Fix: upload a shorter clip; {MIN_QUERY_HINT} is enough")
    return None


def run_search(searcher: "Searcher", query: Query, *, mode: str = "hum", genres: Sequence[str] | None = None,
               top: int = DEFAULT_TOP) -> Outcome:
    """Search ``query`` through Searcher.search (which decodes it with ``load_audio``). Every failure
    becomes ``Outcome.error``: the library's one-line message, or ``unexpected`` for a bug."""
    t0 = time.perf_counter()
    too_large = upload_too_large(len(query.data), query.name)
    if too_large:
        return Outcome(error=too_large)
    try:
        resp = searcher.search(NamedBytes(query.data, query.name), top=top, genres=list(genres) if genres else None,
                               mode=mode, query_name=query.name)
    except MemoryError:
        return Outcome(error="the recording is too large to analyse. Fix: " + MIN_QUERY_HINT)
    except Exception as e:
        return Outcome(error=failure_line(e, f"searching {query.name}", "try again; if it keeps failing, "
                                          "report it with the server log"), seconds=time.perf_counter() - t0)
    return Outcome(response=resp, seconds=time.perf_counter() - t0)


def explain_safely(searcher: "Searcher", response: "SearchResponse", result: "Result") -> "MatchPlot | None":
    try:
        return searcher.explain(response, result)
    except Exception as e:
        unexpected(e, f"the pitch plot for {result.song.song_id}", "none needed; the card shows no plot")
        return None
