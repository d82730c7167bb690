"""Decoding: every file and every recorded or uploaded byte string goes through ``decode`` (songs
and hums, by ``features.extract``); ``load_audio`` is the same plus resampling to one rate, for
callers that want samples only (the PANNs examples, scripts, tests).

Decoding tries libsndfile first (wav of any sample width, flac, ogg/vorbis/opus, mp3) and falls back
to FFmpeg's libraries in-process through PyAV for everything else (m4a/aac, webm/opus, ...): no
subprocess, so a browser recording decodes in a few milliseconds. The result is always mono float32 at the
requested sample rate, with every sample finite.

Long files are checked against a limit *before* decoding, so a 3-hour file is refused with a reason
instead of being read into memory.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from ..errors import AudioFileError, AudioTooLongError, DecodeError, SilentAudioError

log = logging.getLogger(__name__)

AudioSource = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".webm", ".aif", ".aiff"}
)
SILENCE_RMS_DBFS = -70.0  # below this RMS a recording counts as silent
NONFINITE_MAX_FRACTION = 0.01  # above this share of NaN/inf samples the file counts as corrupt


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # mono float32, finite
    sr: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sr


def describe(source: AudioSource) -> str:
    """A short human name for a source, for messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, str) else "the uploaded audio"


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out or len(y) == 0:
        return y.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def load_audio(
    source: AudioSource,
    sr: int,
    *,
    max_seconds: float | None = None,
    truncate: bool = False,
) -> np.ndarray:
    """Decode ``source`` (path, bytes or binary file object) to mono float32 at ``sr`` Hz.

    ``max_seconds``: refuse longer audio with AudioTooLongError, or, with ``truncate=True``, keep only
    the first ``max_seconds``. Raises AudioFileError, DecodeError or SilentAudioError with a message
    that names the cause and a fix.
    """
    audio = decode(source, sr=sr, max_seconds=max_seconds, truncate=truncate)
    return resample(audio.samples, audio.sr, sr)


def decode(source: AudioSource, *, sr: int | None = None, max_seconds: float | None = None,
           truncate: bool = False) -> Audio:
    """Decode ``source`` (path, bytes or binary file object) to mono float32. libsndfile returns the file's own sample rate;
    ffmpeg resamples to ``sr`` when given (saving a second resampling), else keeps the file's rate."""
    name = describe(source)
    opts = _Options(name, sr, max_seconds, truncate)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        _check_file(path)
        audio = _decode_path(path, opts)
    else:
        data = bytes(source) if isinstance(source, (bytes, bytearray)) else source.read()
        if not data:
            raise AudioFileError(f"{name} is empty (0 bytes)", "record or upload the audio again")
        audio = _decode_bytes(data, opts)
    return Audio(_sanitize(audio.samples, name), audio.sr)


@dataclass(frozen=True)
class _Options:
    name: str
    sr: int | None
    max_seconds: float | None
    truncate: bool


# --- files ------------------------------------------------------------------------------------------
def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioFileError(f"{path} does not exist", "check the path") from None
    except PermissionError:
        raise AudioFileError(f"cannot access {path}: permission denied", "check the folder permissions") from None
    if path.is_dir():
        raise AudioFileError(f"{path} is a folder, not an audio file", "pass an audio file")
    if st.st_size == 0:
        raise AudioFileError(f"{path} is empty (0 bytes)", "re-export or re-copy the file, or remove it")
    if not os.access(path, os.R_OK):
        raise AudioFileError(
            f"cannot read {path}: permission denied", f"make it readable (chmod a+r '{path}') or run as its owner"
        )


def _decode_path(path: Path, opts: _Options) -> Audio:
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except PermissionError:
        raise AudioFileError(
            f"cannot read {path}: permission denied", f"make it readable (chmod a+r '{path}') or run as its owner"
        ) from None
    if _for_soundfile(head):
        try:
            return _decode_soundfile(path, opts)
        except _NotForSoundfile:
            pass
    return _decode_av(str(path), opts)


def _decode_bytes(data: bytes, opts: _Options) -> Audio:
    if _for_soundfile(data[:_SNIFF_BYTES]):
        try:
            return _decode_soundfile(io.BytesIO(data), opts)
        except _NotForSoundfile:
            pass
    return _decode_av(io.BytesIO(data), opts)


_SNIFF_BYTES = 16
_SOUNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b"ID3")


def _for_soundfile(head: bytes) -> bool:
    """Whether libsndfile should try these bytes. Only known container signatures and MPEG audio
    frame syncs qualify, so that other data (a text file named .mp3) goes straight to ffmpeg,
    (PyAV), which reports it cleanly, instead of libmpg123 printing warnings to stderr."""
    if head.startswith(_SOUNDFILE_MAGIC):
        return True
    # MPEG audio frame sync with a layer (ADTS AAC has the same sync but layer bits 00)
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


class _NotForSoundfile(Exception):
    pass


def _decode_soundfile(src, opts: _Options) -> Audio:
    import soundfile as sf

    name, max_seconds = opts.name, opts.max_seconds
    try:
        f = sf.SoundFile(src)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise _NotForSoundfile() from None
    with f:
        if f.subtype == "OPUS":  # FFmpeg decodes Opus faster: a 14 s 48 kHz hum 60 -> 36 ms
            raise _NotForSoundfile()
        _check_not_truncated(f, name)
        sr = int(f.samplerate)
        frames = f.frames if f.frames and f.frames > 0 else None
        limit = None
        if max_seconds is not None:
            limit = int(max_seconds * sr)
            if frames is not None and frames > limit and not opts.truncate:
                raise _too_long(name, frames / sr, max_seconds)
        try:
            y = f.read(frames=limit if limit is not None else -1, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise DecodeError(f"{name} is corrupt or truncated ({e})", "re-export or re-download it") from None
    if len(y) == 0 and frames:
        raise _NotForSoundfile()  # header promised samples but none decoded; let ffmpeg try
    return Audio(_to_mono(y), sr)


_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _check_not_truncated(f, name: str) -> None:
    """libsndfile silently shortens a WAV whose data chunk was cut off; its log says so."""
    m = _TRUNCATED.search(f.extra_info or "")
    if m and int(m.group(2)) < int(m.group(1)):
        raise DecodeError(
            f"{name} is truncated: its header announces {int(m.group(1))} bytes of audio but only "
            f"{int(m.group(2))} are present",
            "re-download or re-export the file",
        )


def _decode_av(src, opts: _Options) -> Audio:
    """Decode with FFmpeg's libraries in-process (PyAV): m4a/aac, webm/opus, and anything else
    libsndfile does not read. ``src`` is a path or a seekable binary file object."""
    try:
        import av
    except ImportError:
        raise DecodeError(
            f"cannot decode {opts.name}: its format needs PyAV (FFmpeg), which is not installed",
            "pip install av, or convert the file to wav or flac",
        ) from None
    name, max_seconds = opts.name, opts.max_seconds
    try:
        container = av.open(src, mode="r")
    except (av.FFmpegError, ValueError, OSError) as e:
        raise DecodeError(
            f"{name} is not a readable audio file ({_av_reason(e)})",
            "check that it plays in a media player; re-export it or remove it from the folder",
        ) from None
    with container:
        if not container.streams.audio:
            raise DecodeError(f"{name} has no audio stream", "pass an audio file (or a video with sound)")
        stream = container.streams.audio[0]
        duration = container.duration / 1e6 if container.duration else None
        if max_seconds is not None and duration is not None and duration > max_seconds and not opts.truncate:
            raise _too_long(name, duration, max_seconds)
        sr = opts.sr or stream.rate or 44100
        limit = None if max_seconds is None else int((max_seconds + (0 if opts.truncate else 1)) * sr)
        # frames of about a second out of the resampler: per decoded frame (20 ms of opus, 21 ms of
        # aac) the Python round trip cost more than the decoding (a 13 s webm hum: 36 -> 24 ms)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr, frame_size=sr)
        chunks, n = [], 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    n += len(chunks[-1])
                if limit is not None and n >= limit:
                    break
            else:
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except (av.FFmpegError, ValueError) as e:
            if not chunks:
                raise DecodeError(f"{name} is corrupt ({_av_reason(e)})", "re-export or re-download it") from None
            log.warning("%s: decoding stopped early (%s); using the first %.1f s", name, _av_reason(e), n / sr)
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if max_seconds is not None:
        if len(y) > max_seconds * sr and not opts.truncate:
            raise _too_long(name, len(y) / sr, max_seconds)
        y = y[: int(max_seconds * sr)]
    return Audio(np.ascontiguousarray(y, dtype=np.float32), sr)


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[0].strip()[:200] or type(e).__name__


def _too_long(name: str, duration: float, limit: float) -> AudioTooLongError:
    return AudioTooLongError(
        f"{name} is {duration / 60:.1f} min long, over the {limit / 60:.0f} min limit",
        "raise HUM_SEARCH_MAX_DURATION_S if you really want to index it, or split the file",
    )


# --- samples ----------------------------------------------------------------------------------------
def _to_mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    return np.ascontiguousarray(y, dtype=np.float32)


def _sanitize(y: np.ndarray, name: str) -> np.ndarray:
    if len(y) == 0:
        raise SilentAudioError(f"{name} contains no audio samples (zero length)", "record or export it again")
    finite = np.isfinite(y)
    if not finite.all():
        bad = int((~finite).sum())
        if bad > NONFINITE_MAX_FRACTION * len(y):
            raise DecodeError(
                f"{name} is corrupt: {bad} of {len(y)} samples are NaN or infinite",
                "re-export it from the original source",
            )
        log.warning("%s: replaced %d NaN/infinite samples with silence", name, bad)
        y = np.where(finite, y, 0.0).astype(np.float32)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms <= 10 ** (SILENCE_RMS_DBFS / 20):
        raise SilentAudioError(
            f"{name} is silent (level {20 * np.log10(rms + 1e-12):.0f} dBFS)",
            "check the microphone or the file; hum louder or closer to the microphone",
        )
    return y
