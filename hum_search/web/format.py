r"""Words the page shows: song names, scores, match positions, the backend, and the escapes that keep
user-supplied names (file names, tags, folder names) plain text.

Names are never Markdown or HTML. Streamlit renders the body of ``st.error``, ``st.caption``,
``st.markdown`` and ``st.progress`` as Markdown, so an uploaded file named
``![x](http://example.invalid/a.png)`` shown raw became an image that the browser fetched
(issue 12). ``plain`` escapes every ASCII punctuation character with a backslash, which
CommonMark defines as that literal character: no link, image, emphasis, HTML, LaTeX, colour
directive or autolink can start. Escapes are resolved before Streamlit's text-level transforms
run, though: GFM's autolink literals (``http://``, ``www.``, ``a@b.c``) and the emoji and icon
shortcodes (``:smile:``, ``:material/mic:``) are found in the resolved text. Measured in Chromium:
an escaped ``http\:\/\/example\.invalid`` still became a link. So ``plain`` also puts an
invisible WORD JOINER (U+2060) after every ``:`` and ``@`` and inside ``www.``, which none of those
patterns allows. ``html_text`` does the same for HTML contexts (numeric entities; no Markdown runs
inside an HTML block).

Positions and scores come from ``search.results`` (``mmss``, ``score_label``), so the CLI and the
page agree: a match at 83.6 s reads 1:23, where its player starts, and a confident score never
reads as weak.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings, is_es_url
from ..errors import one_line, redact, safe_url
from ..search.results import mmss, score_label

if TYPE_CHECKING:  # pragma: no cover
    from ..search.results import Result
    from ..types import SongMeta

MODE_LABELS = {"hum": "Hum / sing", "sound": "Sounds like"}
MAX_MESSAGE_CHARS = 400  # a message longer than this is cut (a bug's text can be a whole repr)

_PUNCTUATION = frozenset(string.punctuation)  # CommonMark: any ASCII punctuation may be escaped
WORD_JOINER = "\u2060"  # invisible, zero width; breaks autolink and shortcode patterns (see above)
_DEFUSE = re.compile(r"[:@]|(?i:www)(?=\.)")


# --- escapes ------------------------------------------------------------------------------------------
def plain(text: object) -> str:
    """``text`` on one line, shown literally inside Streamlit Markdown (st.error, st.caption, ...)."""
    defused = _DEFUSE.sub(lambda m: m.group(0) + WORD_JOINER, one_line(text))
    return "".join("\\" + c if c in _PUNCTUATION else c for c in defused)


def html_text(text: object) -> str:
    """``text`` on one line as literal HTML text, with Markdown punctuation as numeric entities."""
    return "".join(f"&#{ord(c)};" if c in _PUNCTUATION else c for c in one_line(text))


def message(text: object, settings: Settings | None = None) -> str:
    """A one-line message for the page or the log: redacted (URL credentials, the configured
    Elasticsearch password and API key) and cut to MAX_MESSAGE_CHARS. Still to be escaped."""
    secrets = (settings.es_password, settings.es_api_key) if settings is not None else ()
    out = one_line(redact(text, [s for s in secrets if s]))
    return out if len(out) <= MAX_MESSAGE_CHARS else out[: MAX_MESSAGE_CHARS - 1] + "…"


# --- songs and results ------------------------------------------------------------------------------
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


def score_badge(score: float, mode: str = "hum") -> tuple[str, str]:
    """(text, colour) of a result's badge: ("Good match · 52%", "green"). The words and the colour
    come from ``score_label`` (bands that start at the confidence threshold)."""
    words, colour = score_label(score, mode)
    return f"{words} · {round(100 * max(0.0, min(1.0, score)))}%", colour


def match_label(result: "Result") -> str | None:
    """'Matched at 1:23–1:33', or None when the result has no position (sound mode)."""
    if result.match_start_s is None:
        return None
    end = result.match_end_s if result.match_end_s is not None else result.match_start_s
    return f"Matched at {mmss(result.match_start_s)}–{mmss(end)}"


def start_second(result: "Result") -> int:
    """Where the player starts: the matched second, rounded down as ``mmss`` shows it."""
    return int(max(0.0, result.match_start_s or 0.0))


def transpose_words(semitones: float | None) -> str:
    if semitones is None:
        return ""
    st = int(round(semitones))
    if st == 0:
        return "in the song's key"
    return f"shifted {'+' if st > 0 else '−'}{abs(st)} semitone{'s' if abs(st) != 1 else ''} into the song's key"


def genre_options(genres: dict[str, int]) -> list[str]:
    return sorted((g for g in genres if g), key=str.casefold)


def sound_off_words(reason: object | None) -> str:
    """Why "Sounds like" is off, for the page: the library's reason, plus re-indexing."""
    text = one_line(reason) if reason else "the sound model is not loaded"
    text = text.removeprefix("sound search unavailable: ")
    if "Fix:" in text:
        return text.rstrip(".") + ", then index again with --force"
    return text


# --- the backend ------------------------------------------------------------------------------------
def store_location(settings: Settings) -> str:
    """The store as the page and the terminal command name it (an ES URL without credentials)."""
    if is_es_url(settings.store):
        return safe_url(settings.store)
    return str(Path(settings.store).expanduser())


def backend_description(settings: Settings) -> tuple[str, str]:
    """("Elasticsearch", "http://host:9200 · index hum-songs") or ("Embedded store", "/path")."""
    if is_es_url(settings.store):
        return "Elasticsearch", f"{store_location(settings)} · index {settings.es_index}"
    return "Embedded store", store_location(settings)


def index_summary(report) -> str:
    """'3 new songs indexed, 1 already indexed, 1 failed in 2.0 s' for an IndexReport."""
    parts = [f"{report.indexed} new song{'s' if report.indexed != 1 else ''} indexed"]
    words = {"unchanged": "already indexed"}
    parts += [f"{n} {words.get(what, what)}" for what, n in report.counts() if n and what != "indexed"]
    return ", ".join(parts) + f" in {report.seconds:.1f} s"

