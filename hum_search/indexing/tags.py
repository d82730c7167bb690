"""Song metadata: from the file's tags, else the genre from the parent folder name, else null.

Nothing is ever guessed from substrings of the file name.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

TAG_FIELDS = ("title", "artist", "album", "genre")


_ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}


def read_tags(path: str | Path) -> dict[str, str | None]:
    """Title, artist, album and genre from the file's tags (None where absent or unreadable).
    Handles "easy" tag formats (ID3 in mp3, Vorbis comments, MP4 atoms) and raw ID3 chunks in
    WAV/AIFF files, which mutagen does not map to easy keys."""
    out: dict[str, str | None] = dict.fromkeys(TAG_FIELDS)
    try:
        import mutagen
        from mutagen.id3 import ID3

        f = mutagen.File(str(path), easy=True)
    except Exception as e:  # mutagen raises many types for broken headers
        log.debug("no readable tags in %s: %s", path, e)
        return out
    tags = getattr(f, "tags", None) if f is not None else None
    if not tags:
        return out
    for key in TAG_FIELDS:
        try:
            if isinstance(tags, ID3):
                frame = tags.get(_ID3_FRAMES[key])
                values = (frame.genres if key == "genre" else frame.text) if frame is not None else None
            else:
                values = tags.get(key)
        except Exception:  # some tag containers raise on unknown keys
            values = None
        if values:
            value = str(values[0] if isinstance(values, list) else values).strip()
            out[key] = value or None
    return out


def song_metadata(path: str | Path, root: str | Path | None = None) -> dict[str, str | None]:
    """Tags, with the genre falling back to the parent folder's name when the file lies in a
    sub-folder of ``root`` (the folder being indexed). A file directly in ``root`` gets no folder
    genre: the root's own name ("Music", "Downloads") says nothing about the genre."""
    meta = read_tags(path)
    if meta["genre"] is None:
        p = Path(path).resolve()
        parent = p.parent
        if root is None or parent != Path(root).resolve():
            meta["genre"] = parent.name or None
    return meta
