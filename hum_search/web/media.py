"""Which files the app may send to the browser, and the bytes for a card's player.

A song's file is served only when its real path (``..`` and symbolic links resolved) lies inside
the real path of the music root, it is a regular file with an audio extension, and it is at most
MAX_PLAY_MB. The paths come from the index, never from the browser; the check is there so that a
store built elsewhere, a link or an edited database cannot turn the app into a file server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..features.audio import AUDIO_EXTENSIONS
from .folders import is_inside

if TYPE_CHECKING:  # pragma: no cover
    from ..types import SongMeta

MAX_PLAY_MB = 100  # larger files get no player (the whole file is held in memory and sent to the browser)
AUDIO_MIME = {
    ".wav": "audio/wav", ".wave": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac",
    ".webm": "audio/webm", ".aif": "audio/aiff", ".aiff": "audio/aiff",
}


def servable_audio(path: str | os.PathLike | None, roots: Sequence[Path]) -> Path | None:
    """The real path of ``path`` if the app may send it to the browser, else None: an existing
    regular audio file whose real path (symbolic links and ``..`` resolved) lies inside one of
    ``roots`` (real paths, see ``folders.allowed_roots``)."""
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
    if not any(is_inside(real, r) for r in roots):
        return None
    return real


@dataclass(frozen=True)
class Playable:
    data: bytes | None  # None: not playable, see ``reason``
    mime: str = "audio/wav"
    reason: str | None = None


def playable(song: "SongMeta", roots: Sequence[Path], *, max_mb: float = MAX_PLAY_MB,
             no_root: str | None = None) -> Playable:
    """The song's bytes for st.audio, or the reason there is no player (``no_root``: why there is
    no music root, from ``folders.music_root_problem``)."""
    if not roots:
        return Playable(None, reason="Playback is off: " + (no_root or "set HUM_SEARCH_MUSIC_ROOT to your "
                                                            "music folder to play songs here"))
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
