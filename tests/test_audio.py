"""Decoding (``hum_search.features.audio``): every sample format, rate, channel count and container that
should work does, and files and bytes decode alike.

The synthesis helpers at the top (tones, melodies with accompaniment, hums) are shared with
test_indexing, test_cli and test_bad_input.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hum_search.features.audio import AUDIO_EXTENSIONS, decode, load_audio

SR = 22_050
NOTE_S = 0.4
HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")


# --- synthesis helpers (shared) ---------------------------------------------------------------------
def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def tone(freq: float = 440.0, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def melody_notes(seed: int, n: int = 16) -> list[int]:
    """A seeded random-walk tune (MIDI numbers), different for every seed."""
    rng = np.random.default_rng(seed)
    notes = [int(rng.integers(62, 70))]
    for _ in range(n - 1):
        notes.append(int(np.clip(notes[-1] + rng.choice([-4, -3, -2, -1, 1, 2, 3, 5]), 57, 79)))
    return notes


def render_notes(notes, note_s: float = NOTE_S, sr: int = SR, *, transpose: float = 0.0, accompaniment: bool = True,
                 vibrato: float = 0.0, amp: float = 0.3) -> np.ndarray:
    """A melody as a few harmonics per note (with a short fade), over a quieter bass an octave or
    two below (the "accompaniment"); ``vibrato`` in semitones makes it hum-like."""
    n = int(round(note_s * sr))
    t = np.arange(n) / sr
    env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    out = []
    for i, m in enumerate(notes):
        f = hz(m + transpose + vibrato * np.sin(2 * np.pi * 5.5 * t))
        phase = 2 * np.pi * np.cumsum(f) / sr
        y = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.25)))
        if accompaniment:
            bass = hz(notes[i - i % 4] + transpose - 24)
            y = y + 0.35 * np.sin(2 * np.pi * bass * t) + 0.15 * np.sin(2 * np.pi * 1.5 * bass * t)
        out.append(env * y)
    y = np.concatenate(out)
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def write_song(path: Path, seed: int, *, sr: int = SR, subtype: str | None = None, n_notes: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), render_notes(melody_notes(seed, n_notes), sr=sr), sr, subtype=subtype)
    return path


def hum_for(seed: int, *, first: int = 2, n: int = 12, transpose: float = 3.0, sr: int = 16_000,
            tempo: float = 1.1) -> np.ndarray:
    """A hum of notes ``first..first+n`` of song ``seed``: transposed, a little slower, with vibrato
    and a little noise, no accompaniment."""
    notes = melody_notes(seed)[first:first + n]
    y = render_notes(notes, NOTE_S * tempo, sr, transpose=transpose, accompaniment=False, vibrato=0.15)
    rng = np.random.default_rng(seed + 1000)
    return (y + 0.005 * rng.standard_normal(len(y))).astype(np.float32)


def write_hum(path: Path, seed: int, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), hum_for(seed, **kw), 16_000)
    return path


def ffmpeg_convert(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True,
                   timeout=120)
    return dst


def dominant_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


# --- sample formats ---------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_sample_formats(tmp_path, subtype):
    """8-bit (unsigned), 16-, 24- and 32-bit integer and 32/64-bit float WAVs all decode."""
    p = tmp_path / f"{subtype}.wav"
    sf.write(str(p), tone(440.0, 1.0, SR, amp=0.5), SR, subtype=subtype)
    assert sf.info(str(p)).subtype == subtype
    y = load_audio(p, 16_000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(16_000, abs=2)
    assert dominant_hz(y, 16_000) == pytest.approx(440.0, abs=3)
    assert np.max(np.abs(y)) == pytest.approx(0.5, abs=0.03)  # scaled to [-1, 1] whatever the format


@pytest.mark.parametrize("sr", [8_000, 11_025, 22_050, 44_100, 48_000, 96_000])
def test_sample_rates(tmp_path, sr):
    p = tmp_path / f"r{sr}.wav"
    sf.write(str(p), tone(660.0, 1.5, sr), sr)
    a = decode(p)
    assert a.sr == sr and a.duration_s == pytest.approx(1.5, abs=1e-3)
    y = load_audio(p, 16_000)
    assert len(y) == pytest.approx(24_000, abs=2)
    assert dominant_hz(y, 16_000) == pytest.approx(660.0, abs=3)


def test_six_channels_are_mixed_down(tmp_path):
    """5.1 audio: the channels are averaged to mono, nothing is dropped."""
    sr = 48_000
    chans = np.stack([tone(220.0 * (i + 1), 1.0, sr, amp=0.3) for i in range(6)], axis=1)
    p = tmp_path / "surround.wav"
    sf.write(str(p), chans, sr)
    assert sf.info(str(p)).channels == 6
    y = load_audio(p, sr)
    assert y.ndim == 1 and len(y) == sr
    np.testing.assert_allclose(y, chans.mean(axis=1), atol=1e-4)
    spec = np.abs(np.fft.rfft(y))
    for i in range(6):  # every channel's tone is in the mix
        assert spec[int(220 * (i + 1))] > 0.2 * spec.max()


def test_flac_and_ogg(tmp_path):
    y0 = tone(440.0, 2.0, 44_100)
    for name, fmt in (("a.flac", "FLAC"), ("a.ogg", "OGG")):
        p = tmp_path / name
        sf.write(str(p), y0, 44_100, format=fmt)
        y = load_audio(p, 16_000)
        assert len(y) == pytest.approx(32_000, abs=400)
        assert dominant_hz(y, 16_000) == pytest.approx(440.0, abs=3)


@needs_ffmpeg
@pytest.mark.parametrize("ext,args", [(".mp3", ["-b:a", "128k"]), (".m4a", ["-c:a", "aac", "-b:a", "96k"]),
                                      (".opus", ["-c:a", "libopus"]), (".webm", ["-c:a", "libopus"])])
def test_compressed_containers(tmp_path, ext, args):
    src = tmp_path / "src.wav"
    sf.write(str(src), render_notes(melody_notes(3), sr=44_100), 44_100)
    try:
        p = ffmpeg_convert(src, tmp_path / f"song{ext}", *args)
    except subprocess.CalledProcessError:
        pytest.skip(f"this ffmpeg cannot write {ext}")
    assert ext in AUDIO_EXTENSIONS
    y = load_audio(p, 16_000)
    expected = 16 * NOTE_S * 16_000
    assert abs(len(y) - expected) < 0.1 * 16_000  # encoder padding is allowed, not a different length
    assert np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 0.01


def test_bytes_and_path_decode_alike(tmp_path):
    """Recorded or uploaded bytes go through the same decoder as files."""
    p = write_song(tmp_path / "s.wav", 5, sr=44_100)
    a = load_audio(p, 16_000)
    b = load_audio(p.read_bytes(), 16_000)
    c = load_audio(io.BytesIO(p.read_bytes()), 16_000)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_truncate_keeps_the_start(tmp_path):
    p = tmp_path / "long.wav"
    sf.write(str(p), tone(440.0, 5.0, 8_000), 8_000)
    a = decode(p, max_seconds=2.0, truncate=True)
    assert a.duration_s == pytest.approx(2.0, abs=1e-3)
