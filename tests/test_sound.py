"""The PANNs sound channel: loading without side effects, embeddings, checkpoint download.

No network and no real weights: a random-weight Cnn14 checkpoint (same architecture, same file
format as Cnn14_mAP=0.431.pth) is written to a temporary folder and loaded the way users load the
real one. Speed does not depend on the weights; values do, so only properties are checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hum_search.config import Settings
from hum_search.errors import (
    ChecksumError,
    DeviceError,
    ModelError,
    ModelUnavailableError,
    SilentAudioError,
)
from hum_search.features import sound
from hum_search.features.sound import (
    CROP_SAMPLES,
    EMBEDDING_DIM,
    MAX_CROPS,
    SAMPLE_RATE,
    ModelFile,
    SoundEmbedder,
    download_checkpoint,
    make_crops,
    resolve_device,
    sound_status,
)

REPO = Path(__file__).resolve().parents[1]
# Two embeddings of the same audio agree to this: float32 rounding, 2.6e-8 at most when torch's CPU
# kernels summed in another order. What the tests guard against moves entries by more: the audio one
# sample later 5.9e-6 (the random-weight checkpoint), another crop or dropout left on far more.
SAME_EMBEDDING_ATOL = 1e-6
NO_CHECKPOINT_MESSAGE = (
    "sound search unavailable: no PANNs checkpoint. "
    "Fix: set HUM_SEARCH_PANNS_CHECKPOINT or run hum-search download-models"
)


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """A Cnn14 checkpoint with random weights, in the released file's format ({"model": state_dict})."""
    import torch

    path = tmp_path_factory.mktemp("panns") / "Cnn14_random.pth"
    torch.manual_seed(0)
    model = sound.build_cnn14()  # the real Cnn14 class with the panns config (32 kHz, 64 mels, 527 classes)
    torch.save({"model": model.state_dict()}, path)
    del model
    yield path
    path.unlink(missing_ok=True)  # 327 MB: do not leave it in pytest's kept temp folders


@pytest.fixture(scope="session")
def embedder(random_checkpoint):
    """Loaded through the user path: HUM_SEARCH_PANNS_CHECKPOINT and HUM_SEARCH_DEVICE."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUM_SEARCH_PANNS_CHECKPOINT", str(random_checkpoint))
        mp.setenv("HUM_SEARCH_DEVICE", "cpu")
        return SoundEmbedder.load()


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    for name in ("HUM_SEARCH_PANNS_CHECKPOINT", "HUM_SEARCH_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUM_SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def tone(seconds: float, sr: int = SAMPLE_RATE, f0: float = 220.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little noise, float32 in [-0.5, 0.5]."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    y = y + 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


# --- import hygiene ---------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import json, os, subprocess, sys
    calls = []

    def record(kind):
        def fake(*args, **kwargs):
            calls.append([kind, repr(args)[:200]])
            raise OSError(kind + " is forbidden in this test")
        return fake

    os.system = record("os.system")
    os.popen = record("os.popen")
    subprocess.Popen.__init__ = record("subprocess.Popen")
    for name in ("posix_spawn", "posix_spawnp", "fork", "execv", "execve"):
        if hasattr(os, name):
            setattr(os, name, record("os." + name))

    import hum_search.features.sound as sound
    after_import = sorted(m for m in ("torch", "torchlibrosa", "librosa", "matplotlib", "panns_inference")
                          if m in sys.modules)
    status = sound.sound_status()
    emb = sound.SoundEmbedder.load()
    import numpy as np
    t = np.arange(2 * sound.SAMPLE_RATE) / sound.SAMPLE_RATE
    vec = emb.embed((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32))
    print(json.dumps({
        "after_import": after_import,
        "status": status,
        "device": emb.device,
        "norm": float(np.linalg.norm(vec)),
        "calls": calls,
        "panns_inference_imported": "panns_inference" in sys.modules,
        "matplotlib_imported": "matplotlib" in sys.modules,
    }))
    """
)


def test_import_and_load_touch_no_network_no_home_no_subprocess(tmp_path, random_checkpoint):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUM_SEARCH_", "XDG_", "MPL"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(REPO),
        HUM_SEARCH_PANNS_CHECKPOINT=str(random_checkpoint),
        HUM_SEARCH_DEVICE="cpu",
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["after_import"] == [], "importing hum_search.features.sound must not import heavy modules"
    assert report["status"][0] is True
    assert report["calls"] == [], "no wget / subprocess may run"
    assert report["panns_inference_imported"] is False
    assert report["matplotlib_imported"] is False
    assert abs(report["norm"] - 1.0) < 1e-5
    assert list(home.iterdir()) == [], "nothing may be written under HOME (no ~/panns_data, no caches)"


# --- embeddings -----------------------------------------------------------------------------------
def test_embedder_attributes(embedder, random_checkpoint):
    assert embedder.device == "cpu"
    assert embedder.model_name == "panns-cnn14-32k"
    assert embedder.dim == EMBEDDING_DIM == 2048
    assert embedder.SAMPLE_RATE == SAMPLE_RATE == 32000
    assert embedder.checkpoint == random_checkpoint


def test_embedding_is_unit_norm_float32_and_deterministic(embedder):
    y = tone(2.0)
    a = embedder.embed(y)
    b = embedder.embed(y.copy())
    assert a.shape == (2048,) and a.dtype == np.float32
    assert np.isfinite(a).all()
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    # the same input, the same vector: to float rounding, not to the bit (torch's CPU kernels may sum
    # in another order on another call: 2.6e-8 apart, seen once in three runs on a 2-core machine)
    np.testing.assert_allclose(a, b, rtol=0, atol=SAME_EMBEDDING_ATOL)
    other = embedder.embed(tone(2.0, f0=600.0, seed=1))
    assert not np.allclose(a, other)


def test_file_path_and_bytes_give_the_same_embedding(embedder, tmp_path):
    import soundfile as sf

    from hum_search.features.audio import load_audio

    path = tmp_path / "clip.wav"
    sf.write(path, tone(3.0, sr=44100), 44100, subtype="PCM_16")  # resampled to 32 kHz on loading
    audio_from_path, audio_from_bytes = load_audio(path, SAMPLE_RATE), load_audio(path.read_bytes(), SAMPLE_RATE)
    np.testing.assert_array_equal(audio_from_path, audio_from_bytes)  # decoding is exact
    from_path, from_bytes = embedder.embed(audio_from_path), embedder.embed(audio_from_bytes)
    assert from_path.shape == (2048,)
    np.testing.assert_allclose(from_path, from_bytes, rtol=0, atol=SAME_EMBEDDING_ATOL)


def test_embed_batch_equals_embed_per_item(embedder):
    items = [tone(1.5), tone(14.0, f0=330.0, seed=2)]  # 1 crop and 2 crops
    batch = embedder.embed_batch(items, batch_size=2)  # the batch boundary splits the second item
    assert batch.shape == (2, 2048) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for row, y in zip(batch, items):
        np.testing.assert_allclose(row, embedder.embed(y), atol=1e-5)
    assert embedder.embed_batch([]).shape == (0, 2048)


def test_embed_refuses_empty_and_stereo(embedder):
    with pytest.raises(SilentAudioError):
        embedder.embed(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError):
        embedder.embed(np.zeros((2, 1000), dtype=np.float32))


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("torch") or not __import__("torch").cuda.is_available(),
    reason="needs a CUDA GPU",
)
def test_cuda_matches_cpu(embedder, random_checkpoint):
    gpu = SoundEmbedder.load(Settings(panns_checkpoint=str(random_checkpoint)), device="cuda")
    assert gpu.device == "cuda"
    items = [tone(3.0), tone(25.0, seed=3)]
    np.testing.assert_allclose(gpu.embed_batch(items), embedder.embed_batch(items), atol=2e-3)


# --- pad/crop (no model) -------------------------------------------------------------------------------
def test_short_audio_is_looped_to_one_crop():
    y = np.arange(1000, dtype=np.float32)
    crops = make_crops(y)
    assert crops.shape == (1, CROP_SAMPLES) and crops.dtype == np.float32
    np.testing.assert_array_equal(crops[0, :2500], np.concatenate([y, y, y[:500]]))
    assert make_crops(np.ones(CROP_SAMPLES, dtype=np.float32)).shape == (1, CROP_SAMPLES)


def test_long_audio_gives_bounded_spread_crops():
    sr = SAMPLE_RATE
    assert make_crops(np.zeros(int(14 * sr), dtype=np.float32)).shape == (2, CROP_SAMPLES)
    five_minutes = np.arange(300 * sr, dtype=np.float32)  # each sample holds its index (exact below 2**24)
    crops = make_crops(five_minutes)
    assert crops.shape == (MAX_CROPS, CROP_SAMPLES)
    starts = crops[:, 0] / sr
    np.testing.assert_allclose(starts, [50 - 5, 150 - 5, 250 - 5], atol=0.01)  # centred at 1/6, 3/6, 5/6
    np.testing.assert_array_equal(np.diff(crops, axis=1), 1.0)  # contiguous audio
    song = np.arange(int(25 * sr), dtype=np.float32)
    crops = make_crops(song)
    assert crops[0, 0] == 0 and crops[-1, -1] == song[-1]  # kept inside the audio, ends covered


def test_make_crops_refuses_empty_and_2d():
    with pytest.raises(SilentAudioError):
        make_crops(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError):
        make_crops(np.zeros((10, 2), dtype=np.float32))


# --- availability ---------------------------------------------------------------------------------
def test_sound_status_without_checkpoint(no_env):
    assert sound_status() == (False, NO_CHECKPOINT_MESSAGE)
    with pytest.raises(ModelUnavailableError) as err:
        SoundEmbedder.load()
    assert str(err.value) == NO_CHECKPOINT_MESSAGE
    assert "\n" not in str(err.value)


def test_sound_status_with_missing_env_path(no_env, monkeypatch):
    missing = no_env / "nowhere" / "Cnn14.pth"
    monkeypatch.setenv("HUM_SEARCH_PANNS_CHECKPOINT", str(missing))
    ok, reason = sound_status()
    assert not ok
    assert str(missing) in reason and "HUM_SEARCH_PANNS_CHECKPOINT" in reason and "Fix:" in reason
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        SoundEmbedder.load()


def test_sound_status_with_env_path_and_with_cached_file(no_env, monkeypatch):
    ckpt = no_env / "mine.pth"
    ckpt.write_bytes(b"not loaded by sound_status")
    monkeypatch.setenv("HUM_SEARCH_PANNS_CHECKPOINT", str(ckpt))
    ok, reason = sound_status()
    assert ok and str(ckpt) in reason and "HUM_SEARCH_PANNS_CHECKPOINT" in reason

    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT")
    cached = sound.cached_checkpoint_path(Settings.from_env())
    assert cached == no_env / "cache" / "panns" / "Cnn14_mAP=0.431.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    ok, reason = sound_status()
    assert ok and str(cached) in reason and "downloaded" in reason


def test_explicit_checkpoint_argument_wins(no_env, monkeypatch):
    monkeypatch.setenv("HUM_SEARCH_PANNS_CHECKPOINT", str(no_env / "env.pth"))
    mine = no_env / "arg.pth"
    mine.write_bytes(b"x")
    assert sound.resolve_checkpoint(Settings.from_env(), mine) == mine


def test_load_rejects_files_that_are_not_cnn14_checkpoints(tmp_path):
    import torch

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"<html>this is an error page</html>")
    with pytest.raises(ModelError, match="cannot read the PANNs checkpoint") as err:
        SoundEmbedder.load(Settings(cache_dir=tmp_path), checkpoint=garbage, device="cpu")
    assert "Fix:" in str(err.value) and "\n" not in str(err.value)

    other = tmp_path / "other.pth"
    torch.save({"model": {"layer.weight": torch.zeros(3)}}, other)
    with pytest.raises(ModelError, match="holds no Cnn14 weights"):
        SoundEmbedder.load(Settings(cache_dir=tmp_path), checkpoint=other, device="cpu")


# --- device -----------------------------------------------------------------------------------------
def test_device_resolution():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None, Settings(device="cpu")) == "cpu"
    assert resolve_device("CPU", Settings(device="cuda")) == "cpu"  # the argument wins over the setting
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available") as err:
            resolve_device("cuda")
        assert "Fix: use --device cpu" in str(err.value)
        with pytest.raises(DeviceError):
            resolve_device(None, Settings(device="cuda"))


def test_asking_for_cuda_without_cuda_fails_before_loading(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ckpt = tmp_path / "c.pth"
    ckpt.write_bytes(b"never read")
    with pytest.raises(DeviceError):
        SoundEmbedder.load(Settings(panns_checkpoint=str(ckpt), device="cuda"))


# --- download ---------------------------------------------------------------------------------------
@pytest.fixture
def served(tmp_path):
    """A 'remote' file served through a file:// URL, and the ModelFile that describes it."""
    payload = np.random.default_rng(7).integers(0, 256, size=(3 << 20) + 123, dtype=np.uint8).tobytes()
    remote = tmp_path / "remote" / "weights.pth"
    remote.parent.mkdir()
    remote.write_bytes(payload)
    good = ModelFile(
        filename="weights.pth",
        url=remote.as_uri(),
        sha256=hashlib.sha256(payload).hexdigest(),
        md5=hashlib.md5(payload).hexdigest(),
        size_bytes=len(payload),
    )
    return payload, good


def _settings(tmp_path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache")


def test_download_good_hash_then_cached(tmp_path, served, monkeypatch):
    payload, good = served
    path = download_checkpoint(_settings(tmp_path), file=good, progress=False)
    assert path == tmp_path / "cache" / "panns" / "weights.pth"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == ["weights.pth"]  # no temp file left

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded a second time")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download_checkpoint(_settings(tmp_path), file=good, progress=False) == path


def test_download_force_downloads_again(tmp_path, served):
    payload, good = served
    path = download_checkpoint(_settings(tmp_path), file=good, progress=False)
    path.write_bytes(b"stale")
    download_checkpoint(_settings(tmp_path), file=good, progress=False, force=True)
    assert path.read_bytes() == payload


@pytest.mark.parametrize(
    "field, value, message",
    [("sha256", "0" * 64, "SHA-256"), ("md5", "0" * 32, "MD5"), ("size_bytes", 10, "bytes, expected 10")],
)
def test_download_mismatch_raises_and_leaves_nothing(tmp_path, served, field, value, message):
    _, good = served
    bad = ModelFile(**{**good.__dict__, field: value})
    with pytest.raises(ChecksumError, match=message) as err:
        download_checkpoint(_settings(tmp_path), file=bad, progress=False)
    assert "Fix:" in str(err.value) and "\n" not in str(err.value)
    assert list((tmp_path / "cache" / "panns").iterdir()) == []


def test_download_from_an_unreachable_url_leaves_nothing(tmp_path, served):
    _, good = served
    with pytest.raises(ModelUnavailableError, match="could not download"):
        download_checkpoint(_settings(tmp_path), url=(tmp_path / "missing.pth").as_uri(), file=good, progress=False)
    assert list((tmp_path / "cache" / "panns").iterdir()) == []


def test_official_file_constants():
    assert sound.CNN14_FILE.filename == "Cnn14_mAP=0.431.pth"
    assert "zenodo.org/record/3987831/" in sound.CNN14_FILE.url
    assert len(sound.CNN14_FILE.sha256) == 64 and len(sound.CNN14_FILE.md5) == 32
    assert sound.CNN14_FILE.size_bytes == 327_428_481


# --- the download-models command --------------------------------------------------------------------
def _command(argv):
    from hum_search.commands import download_models

    parser = argparse.ArgumentParser()
    download_models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["download-models", *argv])
    return args.func(args)


def test_command_checks_the_official_hash(no_env, capsys):
    impostor = no_env / "impostor.pth"
    impostor.write_bytes(b"not the Zenodo file")
    with pytest.raises(ChecksumError, match="has 19 bytes, expected 327428481"):
        _command(["--url", impostor.as_uri(), "--quiet"])
    assert list((no_env / "cache" / "panns").iterdir()) == []


def test_command_reports_an_existing_download(no_env, capsys, monkeypatch):
    cached = no_env / "cache" / "panns" / "Cnn14_mAP=0.431.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded again"))
    assert _command([]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(cached)
    assert "already downloaded" in err
