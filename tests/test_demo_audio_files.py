"""hum_search.demo.audio_files: audio files in every format, and their tags."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hum_search.demo import audio_files
from hum_search.errors import AudioEncodeError, HumSearchError

from .demo_helpers import SR, autocorr_f0, cents


# --------------------------------------------------------------------------------------------------
# files and tags
# --------------------------------------------------------------------------------------------------
def _tone(seconds=1.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_write_audio_soundfile_round_trip(tmp_path, ext):
    import soundfile as sf

    y = _tone()
    path = audio_files.write_audio(tmp_path / "sub" / f"tone.{ext}", y, SR)
    back, sr = sf.read(path, dtype="float32")
    assert sr == SR and len(back) == len(y)
    assert np.abs(back - y).max() < 1e-3
    assert [p.name for p in path.parent.iterdir()] == [f"tone.{ext}"]  # no temporary file left


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@needs_ffmpeg
@pytest.mark.parametrize("ext", ["mp3", "ogg", "m4a"])
def test_write_audio_ffmpeg_formats_decode(tmp_path, ext):
    from hum_search.features.audio import load_audio

    path = audio_files.write_audio(tmp_path / f"tone.{ext}", _tone(1.0), SR)
    back = load_audio(path, SR)
    assert abs(len(back) / SR - 1.0) < 0.1
    assert abs(cents(autocorr_f0(back[2000:6000], SR), 440.0)) < 30


def test_write_audio_without_ffmpeg_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_files.shutil, "which", lambda name: None)
    with pytest.raises(AudioEncodeError) as err:
        audio_files.write_audio(tmp_path / "x.mp3", _tone(0.2), SR)
    assert isinstance(err.value, HumSearchError) and "ffmpeg" in str(err.value) and err.value.fix
    assert not any(tmp_path.iterdir())
    with pytest.raises(AudioEncodeError):
        audio_files.write_audio(tmp_path / "x.xyz", _tone(0.2), SR)


@pytest.mark.parametrize("ext", ["flac", "wav", pytest.param("mp3", marks=needs_ffmpeg),
                                 pytest.param("ogg", marks=needs_ffmpeg), pytest.param("m4a", marks=needs_ffmpeg)])
def test_tags_written_and_read_back(tmp_path, ext):
    import mutagen

    path = audio_files.write_audio(tmp_path / f"song.{ext}", _tone(0.5), SR)
    audio_files.write_tags(path, title="Ode to Joy", artist="Ludwig van Beethoven", album="hum-search demo",
                           genre="Classical")
    if ext == "wav":
        tags = mutagen.File(path).tags
        got = {k: str(tags[f].text[0]) for k, f in
               (("title", "TIT2"), ("artist", "TPE1"), ("album", "TALB"), ("genre", "TCON"))}
    else:
        f = mutagen.File(path, easy=True)
        got = {k: f.tags[k][0] for k in ("title", "artist", "album", "genre")}
    assert got == {"title": "Ode to Joy", "artist": "Ludwig van Beethoven", "album": "hum-search demo",
                   "genre": "Classical"}
    if ext != "wav":
        from hum_search.indexing.tags import read_tags

        assert read_tags(path)["title"] == "Ode to Joy"
