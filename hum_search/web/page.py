"""The web app's logic, kept out of ``app.py`` (a thin Streamlit script) so that it can be tested
without a browser.

What lives here:

- ``Engine`` / ``load_engine``: the store, the Searcher and the sound model, opened once per process
  (``app.py`` wraps them in ``st.cache_resource``), plus a warm-up query on a synthetic hum so that
  the first real query is not slower than later ones.
- ``run_search``: one search, turning every failure into a one-line "cause. Fix: fix" message.
- presentation helpers: song names, scores in words, "matched at 1:23–1:33", the pitch plot.
- ``servable_audio``: which files the app may send to the browser (only files inside the configured
  music root, checked on their real paths, so no ``..`` or symbolic link leads outside it).
- the small-folder indexing helpers for the sidebar (only folders under the music root).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..config import IGNORE_MARKER, Settings, is_es_url
from ..engine import Engine, SoundChannel, load_sound, open_engine
from ..errors import HumSearchError
from ..features.audio import AUDIO_EXTENSIONS

if TYPE_CHECKING:  # pragma: no cover
    from ..search.searcher import MatchPlot, Result, Searcher, SearchResponse
    from ..store.base import Store
    from ..types import SongMeta

log = logging.getLogger(__name__)

# --- input ----------------------------------------------------------------------------------------
# st.audio_input's sample rate: 32 kHz. Measured in Chromium (docs/app.md, "Recording sample rate"):
# the widget asks getUserMedia for {sampleRate: {ideal: N}}. With N = 48000 Chrome keeps its voice
# processing (auto gain, noise suppression, echo cancellation), which pumps a sustained hum (clipped
# peaks in 11 of 13 clean hums, 0.6 s less melody heard) and lost one of 26 test hums; with any N
# below the device's rate (16000, 32000) it captures the raw microphone where the device allows and
# found 26 of 26. 32 kHz over 16 kHz: the same accuracy, and "Sounds like" (PANNs, trained at
# 32 kHz) keeps the band above 8 kHz; the pitch tracker resamples to 16 kHz itself (soxr, ~1 ms).
RECORD_SAMPLE_RATE = 32_000
UPLOAD_TYPES = ["wav", "mp3", "flac", "ogg", "m4a", "webm"]
MAX_UPLOAD_MB = 20  # a hum needs seconds, not minutes; .streamlit/config.toml caps requests at 25 MB
MIN_QUERY_HINT = "hum or sing the tune for 5–15 seconds"

# --- results --------------------------------------------------------------------------------------
DEFAULT_TOP = 5
MAX_TOP = 20
MODE_LABELS = {"hum": "Hum / sing", "sound": "Sounds like"}
SCORE_WORDS = ((0.9, "Strong match"), (0.7, "Good match"), (0.4, "Weak match"), (0.0, "Poor match"))
MAX_PLAY_MB = 100  # larger files get no player (the whole file is held in memory and sent to the browser)
AUDIO_MIME = {
    ".wav": "audio/wav", ".wave": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac",
    ".webm": "audio/webm", ".aif": "audio/aiff", ".aiff": "audio/aiff",
}

# --- indexing from the UI -------------------------------------------------------------------------
UI_INDEX_MAX_FILES = 200  # larger folders: the CLI (it shows progress, resumes, runs without a browser)
FOLDER_DEPTH = 2  # sub-folders of the music root offered for indexing
MAX_FOLDERS = 300


# --------------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------------
def mmss(seconds: float | None) -> str:
    """1:05, or 1:02:05 for an hour or more."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(max(seconds, 0.0))  # floor: the player starts at this second
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def song_title(song: "SongMeta") -> str:
    """The title tag, else the file name (display only; the path is never shown as a link)."""
    if song.title and song.title.strip():
        return song.title.strip()
    return os.path.basename(song.path or "") or "Untitled"


def song_subtitle(song: "SongMeta") -> str:
    parts = [song.artist.strip() if song.artist and song.artist.strip() else "Unknown artist"]
    if song.genre and song.genre.strip():
        parts.append(song.genre.strip())
    if song.duration_s:
        parts.append(mmss(song.duration_s))
    return " · ".join(parts)


def score_words(score: float, mode: str = "hum") -> tuple[str, str]:
    """(words, percent): ("Strong match", "97%"). In sound mode the score is a similarity."""
    pct = f"{round(100 * max(0.0, min(1.0, score)))}%"
    if mode == "sound":
        return "Similarity", pct
    for threshold, words in SCORE_WORDS:
        if score >= threshold:
            return words, pct
    return SCORE_WORDS[-1][1], pct


def score_color(score: float, mode: str = "hum") -> str:
    """A st.badge colour for the score."""
    if mode == "sound":
        return "blue"
    return "green" if score >= 0.9 else "orange" if score >= 0.7 else "gray"


def match_label(result: "Result") -> str | None:
    """'matched at 1:23–1:33', or None when the result has no position (sound mode)."""
    if result.match_start_s is None:
        return None
    end = result.match_end_s if result.match_end_s is not None else result.match_start_s
    return f"matched at {mmss(result.match_start_s)}–{mmss(end)}"


def start_second(result: "Result") -> int:
    """Where the player starts: the matched second (whole seconds, as st.audio takes them)."""
    return int(max(0.0, result.match_start_s or 0.0))


def transpose_words(semitones: float | None) -> str:
    if semitones is None:
        return ""
    st = int(round(semitones))
    if st == 0:
        return "in the song's key"
    return f"shifted {'+' if st > 0 else '−'}{abs(st)} semitone{'s' if abs(st) != 1 else ''} into the song's key"


def safe_url(url: str) -> str:
    """A URL without user name and password, for display."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def backend_description(settings: Settings) -> tuple[str, str]:
    """("Elasticsearch", "http://host:9200 · index hum-songs") or ("Embedded store", "/path")."""
    if is_es_url(settings.store):
        return "Elasticsearch", f"{safe_url(settings.store)} · index {settings.es_index}"
    return "Embedded store", str(Path(settings.store).expanduser())


def genre_options(genres: dict[str, int]) -> list[str]:
    return sorted((g for g in genres if g), key=str.casefold)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>$~:")


def md_escape(text: str) -> str:
    """``text`` safe inside st.markdown (tags can hold *, _, [, $ ...)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in one_line(text))


def html_escape(text: str) -> str:
    import html

    return html.escape(one_line(text))


def sound_off_words(reason: str | None) -> str:
    """Why "Sounds like" is off, for the page: the library's reason, plus re-indexing."""
    reason = (reason or "the sound model is not loaded").removeprefix("sound search unavailable: ")
    if "Fix:" in reason:
        return reason.rstrip(".") + ", then index again with --force"
    return reason


def one_line(text: object) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------------
# serving audio: only files inside the music root
# --------------------------------------------------------------------------------------------------
def allowed_roots(settings: Settings) -> list[Path]:
    """Folders the app may read audio from: the configured music root (its real path), if any."""
    if not settings.music_root:
        return []
    root = Path(settings.music_root).expanduser()
    try:
        real = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    return [real] if real.is_dir() else []


def is_inside(path: Path, root: Path) -> bool:
    """Whether real path ``path`` lies in real folder ``root`` (both already resolved)."""
    try:
        return os.path.commonpath([str(path), str(root)]) == str(root)
    except ValueError:  # different drives
        return False


def servable_audio(path: str | os.PathLike | None, roots: Sequence[Path]) -> Path | None:
    """The real path of ``path`` if the app may send it to the browser, else None: an existing
    regular audio file whose real path (symbolic links and ``..`` resolved) lies inside one of
    ``roots`` (real paths, see ``allowed_roots``)."""
    if not path or not roots:
        return None
    try:
        p = Path(path)
        if not p.is_absolute():
            return None
        real = p.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if real.suffix.lower() not in AUDIO_EXTENSIONS or not real.is_file():
        return None
    if not any(is_inside(real, Path(r)) for r in roots):
        return None
    return real


@dataclass(frozen=True)
class Playable:
    data: bytes | None  # None: not playable, see ``reason``
    mime: str = "audio/wav"
    reason: str | None = None


def playable(song: "SongMeta", roots: Sequence[Path], *, max_mb: float = MAX_PLAY_MB) -> Playable:
    """The song's bytes for st.audio, or the reason there is no player."""
    if not roots:
        return Playable(None, reason="Playback is off: set HUM_SEARCH_MUSIC_ROOT to your music folder to "
                                     "play songs here")
    real = servable_audio(song.path, roots)
    if real is None:
        if song.path and os.path.lexists(song.path):
            return Playable(None, reason="Not played: the file is outside the music folder")
        return Playable(None, reason="Not played: the file is no longer there (index again)")
    try:
        size = real.stat().st_size
        if size > max_mb * 1024 * 1024:
            return Playable(None, reason=f"Not played: the file is {size / 2**20:.0f} MB, over the "
                                         f"{max_mb:.0f} MB the app sends to the browser")
        data = real.read_bytes()
    except OSError as e:
        return Playable(None, reason=f"Not played: cannot read the file ({e.strerror or e})")
    return Playable(data, AUDIO_MIME.get(real.suffix.lower(), "audio/mpeg"))


# --------------------------------------------------------------------------------------------------
# the engine: store, searcher, sound model, loaded once per process
# --------------------------------------------------------------------------------------------------
def settings_key(settings: Settings) -> tuple:
    """What identifies the resources of a configuration (the cache key in app.py)."""
    return (settings.store, settings.es_index, settings.music_root, settings.panns_checkpoint,
            str(settings.cache_dir), settings.device)


def load_sound_model(settings: Settings) -> SoundChannel:
    """The sound channel under the engine's one policy ("auto"), warmed up when it is on."""
    channel = load_sound(settings, "auto")
    if channel.embedder is not None:
        try:
            import numpy as np

            channel.embedder.embed(np.zeros(32_000, np.float32))  # warm-up
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
    """Open the engine (StoreNotFoundError, BackendUnavailableError, StoreFormatError ... propagate
    as HumSearchError), then warm it up with one synthetic query."""
    app = AppEngine(open_engine(settings, sound=sound if sound is not None else load_sound_model(settings)))
    if warm_up:
        app.warmup_ms, app.warmup_error = warm_up_searcher(app.searcher)
    return app


def warmup_wav(seconds: float = 5.0, sr: int = RECORD_SAMPLE_RATE) -> bytes:
    """A short hum-like melody (a demo tune's opening: a few harmonics with vibrato) as 16-bit WAV
    bytes at the recording rate, as a recording arrives from the browser. Built directly rather
    than with synth.synth_hum, which takes seconds at 48 kHz."""
    import numpy as np
    import soundfile as sf

    from ..demo import catalogue as demo

    notes = [n for n in demo.TUNES_BY_SLUG["twinkle-twinkle"].notes() if n.start_s < seconds]
    n = int((notes[-1].end_s + 0.3) * sr)
    t = np.arange(n) / sr
    f0 = np.zeros(n)
    amp = np.zeros(n)
    for note in notes:
        a, b = int(note.start_s * sr), min(n, int((note.start_s + 0.92 * note.dur_s) * sr))
        f0[a:b] = 440.0 * 2 ** ((note.pitch - 12 - 69) / 12)
        amp[a:b] = 1.0
    idx = np.maximum.accumulate(np.where(f0 > 0, np.arange(n), 0))  # hold the last note through gaps
    f0 = np.maximum(f0[idx], f0[f0 > 0][0])
    f0 = f0 * 2 ** (0.15 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4)) * np.convolve(amp, np.ones(480) / 480, "same")
    y = (0.3 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def warm_up_searcher(searcher: "Searcher") -> tuple[float | None, str | None]:
    """Run one query end to end (decode, pitch tracking, kNN, alignment, the plot data and the chart
    library), so that imports, caches and lazily built tables are ready before the first person
    hums. Returns (milliseconds, None) or (None, why it failed); never raises."""
    t0 = time.perf_counter()
    try:
        resp = searcher.search(io.BytesIO(warmup_wav()), top=3, query_name="warm-up hum")
        for r in resp.results[:1]:
            searcher.explain(resp, r)
        import altair  # noqa: F401  (the first chart would otherwise pay for the import)
        import pandas  # noqa: F401
    except Exception as e:  # an empty or unreachable store is reported elsewhere
        log.info("warm-up query failed: %s", e)
        return None, one_line(e)
    return 1e3 * (time.perf_counter() - t0), None


# --------------------------------------------------------------------------------------------------
# searching
# --------------------------------------------------------------------------------------------------
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
    error: str | None = None  # one line: cause. Fix: fix
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
    becomes ``Outcome.error``: the library's one-line message, or a generic one for a bug (logged
    with its traceback on the server, never shown)."""
    t0 = time.perf_counter()
    too_large = upload_too_large(len(query.data), query.name)
    if too_large:
        return Outcome(error=too_large)
    try:
        resp = searcher.search(NamedBytes(query.data, query.name), top=top, genres=list(genres) if genres else None,
                               mode=mode, query_name=query.name)
    except HumSearchError as e:
        return Outcome(error=one_line(e), seconds=time.perf_counter() - t0)
    except MemoryError:
        return Outcome(error="the recording is too large to analyse. Fix: " + MIN_QUERY_HINT)
    except Exception as e:
        log.exception("search of %s failed", query.name)
        return Outcome(error=f"searching failed ({type(e).__name__}: {one_line(e)[:200]}). "
                             "Fix: try again; if it keeps failing, report it with the server log",
                       seconds=time.perf_counter() - t0)
    return Outcome(response=resp, seconds=time.perf_counter() - t0)


def explain_safely(searcher: "Searcher", response: "SearchResponse", result: "Result") -> "MatchPlot | None":
    try:
        return searcher.explain(response, result)
    except Exception:
        log.exception("explain failed for %s", result.song.song_id)
        return None


# --------------------------------------------------------------------------------------------------
# the "why it matched" plot
# --------------------------------------------------------------------------------------------------
NOTE_NAMES_JS = "['C','C♯','D','D♯','E','F','F♯','G','G♯','A','A♯','B']"
SONG_COLOR = "#9AA3B2"
SONG_TEXT_COLOR = "#6B7385"  # the same grey, dark enough for text
HUM_COLOR = "#E4572E"
MAX_PLOT_POINTS = 1200


def _thin(n: int, limit: int = MAX_PLOT_POINTS) -> slice:
    return slice(None, None, max(1, math.ceil(n / limit)))


def plot_frames(mp: "MatchPlot", hum_label: str = "your hum"):
    """Two tidy DataFrames (song, hum) with columns t (s), pitch (MIDI, NaN = none), line."""
    import numpy as np
    import pandas as pd

    s = _thin(len(mp.song_time_s))
    h = _thin(len(mp.hum_time_s))
    song = pd.DataFrame({"t": np.asarray(mp.song_time_s, float)[s], "pitch": np.asarray(mp.song_pitch, float)[s],
                         "line": "song melody"})
    hum = pd.DataFrame({"t": np.asarray(mp.hum_time_s, float)[h], "pitch": np.asarray(mp.hum_pitch, float)[h],
                        "line": hum_label})
    return song, hum


def match_chart(mp: "MatchPlot", *, hum_label: str = "your hum", height: int = 170, legend: bool = True):
    """Altair chart: the song's melody (grey, gaps where none is heard) around the match, the matched
    span shaded, and the hum (transposed into the song's key, warped onto song time) over it."""
    import altair as alt
    import numpy as np
    import pandas as pd

    song, hum = plot_frames(mp, hum_label)
    pitches = np.concatenate([song["pitch"].to_numpy(), hum["pitch"].to_numpy()])
    pitches = pitches[np.isfinite(pitches)]
    lo, hi = (float(pitches.min()) - 1.5, float(pitches.max()) + 1.5) if len(pitches) else (55.0, 75.0)
    t_lo = float(np.nanmin(song["t"])) if len(song) else float(mp.match_start_s)
    t_hi = float(np.nanmax(song["t"])) if len(song) else float(mp.match_end_s)
    x = alt.X("t:Q", title=None, scale=alt.Scale(domain=[t_lo, t_hi], nice=False),
              axis=alt.Axis(labelExpr="floor(datum.value / 60) + ':' + format(floor(datum.value % 60), '02d')",
                            tickCount=6, grid=False))
    y = alt.Y("pitch:Q", title=None, scale=alt.Scale(domain=[lo, hi], nice=False, zero=False),
              axis=alt.Axis(labelExpr=f"{NOTE_NAMES_JS}[round(datum.value) % 12] + (floor(round(datum.value) / 12) - 1)",
                            tickMinStep=1, tickCount=5, gridOpacity=0.35))
    color = alt.Color("line:N", title=None,
                      scale=alt.Scale(domain=["song melody", hum_label], range=[SONG_COLOR, HUM_COLOR]),
                      legend=alt.Legend(orient="bottom", direction="horizontal", symbolType="stroke",
                                        labelFontSize=12, symbolStrokeWidth=3) if legend else None)
    band = alt.Chart(pd.DataFrame({"t": [mp.match_start_s], "b": [mp.match_end_s]})).mark_rect(
        color=HUM_COLOR, opacity=0.08).encode(x=x, x2="b:Q")
    song_line = alt.Chart(song).mark_line(strokeWidth=4, strokeCap="round", opacity=0.85).encode(
        x=x, y=y, color=color, tooltip=[alt.Tooltip("t:Q", title="song time (s)", format=".1f")])
    hum_line = alt.Chart(hum).mark_line(strokeWidth=2, strokeCap="round").encode(x=x, y=y, color=color)
    return (band + song_line + hum_line).properties(height=height).configure_view(stroke=None)


def plot_legend_html(transpose: float | None) -> str:
    """The plot's key, under it, in the lines' colours (HTML for st.markdown)."""
    shift = transpose_words(transpose)
    return (f'<p class="hs-legend"><span class="hs-key" style="color:{HUM_COLOR}">━ your hum</span>'
            f'{" (" + html_escape(shift) + ")" if shift else ""} over '
            f'<span class="hs-key" style="color:{SONG_TEXT_COLOR}">━ the song\'s melody</span>; shaded: the match</p>')


# --------------------------------------------------------------------------------------------------
# indexing small folders from the UI
# --------------------------------------------------------------------------------------------------
def _visible_dirs(folder: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name.casefold())
    except OSError:
        return []
    out = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir() and not os.path.exists(os.path.join(e.path, IGNORE_MARKER)):
                out.append(Path(e.path))
        except OSError:
            continue
    return out


def index_folder_choices(settings: Settings, depth: int = FOLDER_DEPTH, limit: int = MAX_FOLDERS) -> list[str]:
    """Folders the sidebar offers for indexing, as paths relative to the music root ("." = all of
    it): the root and its visible sub-folders down to ``depth``. Nothing when no root is set."""
    roots = allowed_roots(settings)
    if not roots:
        return []
    root = roots[0]
    out = ["."]
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            for sub in _visible_dirs(d):
                real = sub.resolve()
                if not is_inside(real, root):  # a link leading out of the root
                    continue
                out.append(sub.relative_to(root).as_posix())
                nxt.append(sub)
                if len(out) >= limit:
                    return out
        level = nxt
    return out


def resolve_index_folder(settings: Settings, choice: str) -> Path:
    """The real folder for a sidebar choice; HumSearchError unless it lies inside the music root."""
    roots = allowed_roots(settings)
    if not roots:
        raise HumSearchError("no music folder is configured for the web app",
                             "set HUM_SEARCH_MUSIC_ROOT to your music folder and restart the app")
    root = roots[0]
    try:
        real = (root / choice).resolve(strict=True)
    except (OSError, RuntimeError):
        raise HumSearchError(f"{choice} is not a folder in the music folder", "pick a folder from the list") from None
    if not real.is_dir() or not is_inside(real, root):
        raise HumSearchError(f"{choice} is not inside the music folder {root}", "pick a folder from the list")
    return real


def count_audio_files(folder: str | os.PathLike, limit: int = UI_INDEX_MAX_FILES) -> int:
    """Audio files under ``folder`` as the indexer finds them (hidden files and folders and folders
    with a .hum-search-ignore file skipped), counting no further than ``limit + 1``."""
    n = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen or IGNORE_MARKER in filenames:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                n += 1
                if n > limit:
                    return n
    return n


def cli_index_command(settings: Settings, folder: str | os.PathLike) -> str:
    """The terminal command that indexes ``folder`` into the app's store."""
    import shlex

    store = safe_url(settings.store) if is_es_url(settings.store) else str(Path(settings.store).expanduser())
    return f"hum-search index {shlex.quote(str(folder))} --store {shlex.quote(store)}"


def index_folder(settings: Settings, folder: Path, *, store: "Store | None", sound_embedder=None,
                 progress: Callable[[Any], None] | None = None):
    """Index ``folder`` (already checked by ``resolve_index_folder``) into the app's store, creating
    the store when it does not exist yet. Returns the IndexReport."""
    from ..indexing.run import default_failures_file, index_paths

    n = count_audio_files(folder, UI_INDEX_MAX_FILES)
    workers = max(1, min(settings.workers, n, 4))
    kwargs = dict(settings=settings, workers=workers, sound_embedder=sound_embedder, progress=progress,
                  failures_file=default_failures_file(settings.store))
    if store is not None:
        return index_paths(store, [str(folder)], **kwargs)
    with open_engine(settings, create=True, sound="off") as engine:
        return index_paths(engine.store, [str(folder)], **kwargs)


def index_summary(report) -> str:
    parts = [f"{report.indexed} new song{'s' if report.indexed != 1 else ''} indexed"]
    if report.unchanged:
        parts.append(f"{report.unchanged} already indexed")
    if report.moved:
        parts.append(f"{len(report.moved)} moved")
    if report.duplicates:
        parts.append(f"{len(report.duplicates)} duplicates")
    if report.failed:
        parts.append(f"{len(report.failed)} failed")
    return ", ".join(parts) + f" in {report.seconds:.1f} s"
