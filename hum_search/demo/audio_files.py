"""Audio files and their tags: wav/flac through soundfile, mp3/ogg/m4a/webm through ffmpeg, and
title/artist/album/genre through mutagen (wav gets an ID3 chunk).

A file appears complete or not at all: it is written beside its final name, then renamed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import AudioEncodeError

FFMPEG_TIMEOUT_S = 300
_SOUNDFILE_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
_FFMPEG_CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-q:a", "3"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "5"],
    ".m4a": ["-c:a", "aac", "-b:a", "160k"],
    ".webm": ["-c:a", "libopus", "-b:a", "96k"],
}


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write mono audio. wav/flac through soundfile; mp3/ogg/m4a/webm through ffmpeg. The file
    appears complete or not at all (written beside it, then renamed)."""
    import soundfile as sf

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _SOUNDFILE_FORMATS and ext not in _FFMPEG_CODECS:
        raise AudioEncodeError(
            f"cannot write {path.name}: unsupported format {ext or '(no extension)'}",
            "use .wav, .flac, .mp3, .ogg, .m4a or .webm",
        )
    y = np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=ext, dir=path.parent)
    os.close(fd)
    try:
        if ext in _SOUNDFILE_FORMATS:
            fmt, subtype = _SOUNDFILE_FORMATS[ext]
            sf.write(tmp, y, sr, format=fmt, subtype=subtype)
        else:
            _encode_with_ffmpeg(tmp, y, sr, name=path.name, ext=ext)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _encode_with_ffmpeg(tmp: str, y: np.ndarray, sr: int, *, name: str, ext: str) -> None:
    """Encode ``y`` into ``tmp`` (format from ``ext``) through a 16-bit wav and the ffmpeg CLI."""
    import soundfile as sf

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioEncodeError(
            f"cannot write {name}: {ext[1:]} encoding needs ffmpeg, which is not installed",
            "install ffmpeg (apt-get install ffmpeg) or write wav/flac instead",
        )
    wav = tmp + ".wav"
    try:
        sf.write(wav, y, sr, format="WAV", subtype="PCM_16")
        cmd = [ffmpeg, "-nostdin", "-y", "-v", "error", "-i", wav, *_FFMPEG_CODECS[ext], "-f",
               {".m4a": "ipod", ".ogg": "ogg", ".webm": "webm", ".mp3": "mp3"}[ext], tmp]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AudioEncodeError(f"encoding {name} took over {FFMPEG_TIMEOUT_S} s",
                                   "write wav/flac instead") from None
        if p.returncode != 0:
            msg = p.stderr.decode(errors="replace").strip().splitlines()
            raise AudioEncodeError(
                f"ffmpeg could not encode {name} ({msg[-1][:200] if msg else p.returncode})",
                f"check that your ffmpeg has the {ext[1:]} encoder, or write wav/flac instead",
            )
    finally:
        if os.path.exists(wav):
            os.unlink(wav)


def write_tags(
    path: str | os.PathLike,
    *,
    title: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    genre: str | None = None,
) -> None:
    """Write title/artist/album/genre tags (mp3, flac, ogg, m4a through mutagen's easy interface;
    wav gets an ID3 chunk). Fields left None are not touched."""
    import mutagen

    path = Path(path)
    values = {k: v for k, v in (("title", title), ("artist", artist), ("album", album), ("genre", genre)) if v}
    if not values:
        return
    try:
        if path.suffix.lower() in (".wav", ".wave"):
            _write_wav_tags(path, values)
            return
        f = mutagen.File(str(path), easy=True)
        if f is None:
            raise AudioEncodeError(f"cannot tag {path.name}: mutagen does not know this format",
                                   "use mp3, flac, ogg, m4a or wav")
        if f.tags is None:
            f.add_tags()
        for key, value in values.items():
            f.tags[key] = [value]
        f.save()
    except AudioEncodeError:
        raise
    except Exception as e:  # mutagen raises many types
        raise AudioEncodeError(f"cannot write tags to {path.name} ({e})", "check that the file is not corrupt") from None


def _write_wav_tags(path: Path, values: dict[str, str]) -> None:
    from mutagen.id3 import TALB, TCON, TIT2, TPE1
    from mutagen.wave import WAVE

    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "genre": TCON}
    f = WAVE(str(path))
    if f.tags is None:
        f.add_tags()
    for key, value in values.items():
        f.tags.add(frames[key](encoding=3, text=[value]))
    f.save()
