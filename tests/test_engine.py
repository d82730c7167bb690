"""The front door: ``open_engine`` and the one sound-channel policy every front end shares."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hum_search import engine as engine_mod
from hum_search.config import Settings
from hum_search.engine import SoundChannel, load_sound, open_engine
from hum_search.errors import DeviceError, ModelUnavailableError, StoreNotFoundError
from hum_search.features import pitch
from hum_search.types import SongMeta, SongRecord

REPO = Path(__file__).resolve().parents[1]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture
def no_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
    return Settings(store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", panns_checkpoint=None)


@pytest.fixture
def cuda_without_cuda(tmp_path):
    """A checkpoint file is present (the loader fails on the device before reading it) and CUDA is
    asked for on a machine without it."""
    if cuda_available():
        pytest.skip("this machine has CUDA: the setting would be right here")
    ckpt = tmp_path / "Cnn14.pth"
    ckpt.write_bytes(b"not read: the device is checked first")
    return Settings(store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", panns_checkpoint=str(ckpt),
                    device="cuda")


def test_auto_without_a_checkpoint_is_off_with_the_reason_as_an_error_object(no_checkpoint):
    channel = load_sound(no_checkpoint, "auto")
    assert channel.embedder is None and channel.device is None
    assert isinstance(channel.off, ModelUnavailableError)
    assert channel.off.fix and "download-models" in channel.off.fix


def test_required_without_a_checkpoint_raises(no_checkpoint):
    with pytest.raises(ModelUnavailableError, match="no PANNs checkpoint"):
        load_sound(no_checkpoint, "required")


def test_off_loads_nothing(no_checkpoint, monkeypatch):
    monkeypatch.setattr(engine_mod, "unavailable_reason", lambda s: pytest.fail("looked for a checkpoint"))
    assert load_sound(no_checkpoint, "off").embedder is None


def test_unknown_policy_is_refused(no_checkpoint):
    with pytest.raises(ValueError):
        load_sound(no_checkpoint, "sometimes")


@pytest.mark.parametrize("policy", ["auto", "required"])
def test_a_missing_device_that_was_asked_for_raises_in_every_policy_that_loads(cuda_without_cuda, policy):
    with pytest.raises(DeviceError, match="CUDA is not available"):
        load_sound(cuda_without_cuda, policy)


def test_the_device_error_comes_before_a_store_is_created(cuda_without_cuda):
    with pytest.raises(DeviceError):
        open_engine(cuda_without_cuda, create=True)
    assert not Path(cuda_without_cuda.store).exists()


def test_cli_index_and_web_app_treat_the_device_setting_alike(cuda_without_cuda, tmp_path):
    """The same HUM_SEARCH_DEVICE=cuda on a machine without CUDA: the indexer fails with the device
    message, and the app's loader raises the same error (the app shows it as its one line)."""
    from hum_search.web import session as web

    music = tmp_path / "music"
    music.mkdir()
    sf.write(music / "a.wav", np.zeros(16_000, np.float32), 16_000)
    env = {**os.environ, "HUM_SEARCH_PANNS_CHECKPOINT": cuda_without_cuda.panns_checkpoint,
           "HUM_SEARCH_DEVICE": "cuda", "HUM_SEARCH_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, "-m", "hum_search", "index", str(music), "--store", str(tmp_path / "st")],
                       capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "CUDA is not available" in p.stderr and "Traceback" not in p.stderr
    with pytest.raises(DeviceError, match="CUDA is not available"):
        web.load_sound_model(cuda_without_cuda)


def test_searching_a_missing_store_creates_nothing(no_checkpoint):
    with pytest.raises(StoreNotFoundError):
        open_engine(no_checkpoint, sound="off")
    assert not Path(no_checkpoint.store).exists()


def test_engine_opens_indexes_and_searches_one_store(no_checkpoint, tmp_path):
    with open_engine(no_checkpoint, create=True, sound="off") as engine:
        assert engine.store.count() == 0 and engine.sound.embedder is None
    with open_engine(no_checkpoint, sound="off", location=str(tmp_path / "other"), create=True) as other:
        assert other.settings.store == str(tmp_path / "other")


class _FakeEmbedder:
    device = "cpu"

    def embed(self, y: np.ndarray) -> np.ndarray:
        v = np.zeros(2048, np.float32)
        v[0] = 1.0
        return v


def test_sound_search_does_not_track_pitch(no_checkpoint, monkeypatch):
    """"Sounds like" needs only the decoded audio: the pitch tracker must not run for it."""
    with open_engine(no_checkpoint, create=True, sound=SoundChannel(_FakeEmbedder())) as engine:
        meta = SongMeta(song_id="s1", path="/x/a.wav", title="A", artist=None, album=None, genre=None,
                        duration_s=3.0, content_hash="h", file_size=1, file_mtime=0.0, indexed_at="2026-01-01T00:00:00Z")
        engine.store.add([SongRecord(meta=meta, sound=_FakeEmbedder().embed(np.zeros(1)))])
        monkeypatch.setattr(pitch, "track", lambda *a, **k: pytest.fail("the pitch tracker ran for a sound search"))
        buf = io.BytesIO()
        sf.write(buf, 0.1 * np.sin(np.linspace(0, 2000, 32_000)).astype(np.float32), 32_000, format="WAV")
        resp = engine.search(io.BytesIO(buf.getvalue()), mode="sound", top=3)
    assert [r.song.song_id for r in resp.results] == ["s1"]
    assert resp.timing_ms["features"] >= 0.0
