"""The "sounds like" channel: PANNs Cnn14 audio embeddings.

Cnn14 (Kong et al., "PANNs", 2020; the ``panns-inference`` package) was trained on AudioSet at
32 kHz. Its 2048-d penultimate layer describes timbre, instruments and texture, which is what the
melody channel ignores. Every embedding this module returns is float32 and L2-normalised, so the
cosine similarity of two songs is their dot product.

Load once, pass in::

    embedder = SoundEmbedder.load(settings)            # raises ModelUnavailableError offline
    vec = embedder.embed(load_audio(path, embedder.SAMPLE_RATE))
    vecs = embedder.embed_batch([y1, y2, y3])

Pad/crop strategy (the same for a song and for a query, so both live in one space):

* audio of at most ``CROP_S`` seconds is tiled (looped) up to exactly ``CROP_S`` seconds: silence
  padding would change the time-pooled features, a loop leaves them (max + mean) almost unchanged;
* longer audio gives ``min(MAX_CROPS, ceil(duration / CROP_S))`` crops of ``CROP_S`` seconds, centred
  on equally spaced points ((k + 0.5) / n of the duration), so a song's intro and outro are skipped
  and the cost per song is bounded: at most ``MAX_CROPS`` x ``CROP_S`` = 30 s of audio through
  Cnn14, however long the song (see docs/sound.md for the measured CPU seconds);
* every crop is embedded and L2-normalised, the crops are averaged and the mean is normalised again.

All crops have the same length, so ``embed_batch`` batches crops of many songs together (on the GPU
when there is one); ``embed_batch(ys)[i]`` equals ``embed(ys[i])`` up to float rounding.

Side effects: importing this module imports neither torch nor ``panns_inference`` and touches neither
the network nor the disk. ``panns_inference``'s own ``__init__`` downloads a labels CSV with
``wget`` into ~/panns_data (and silently yields 0 classes when that fails), and its ``AudioTagging``
runs ``wget -O`` over any checkpoint under 300 MB. So the package is never imported: only the
``Cnn14`` class is executed from the installed ``models.py``, inside a private synthetic parent
package (``_hum_search_panns``) whose ``__path__`` is the installed directory, so that its
``from .pytorch_utils import ...`` resolves without running ``panns_inference/__init__.py``. Its
unused ``import matplotlib.pyplot`` line is dropped as well (pyplot would build a font cache under
~/.cache and run ``fc-list``). torch, torchlibrosa and librosa are imported by ``SoundEmbedder.load``.
"""

from __future__ import annotations

import ast
import hashlib
import http.client
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import math
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import DEVICE_CHOICES, Settings
from ..errors import (
    ChecksumError,
    DeviceError,
    ModelError,
    ModelUnavailableError,
    SilentAudioError,
)

log = logging.getLogger(__name__)

# --- model constants ------------------------------------------------------------------------------
MODEL_NAME = "panns-cnn14-32k"  # stored next to the vectors: other weights or crops = another name
SAMPLE_RATE = 32_000  # Hz; Cnn14 was trained at 32 kHz, load_audio(source, SAMPLE_RATE) resamples
EMBEDDING_DIM = 2048  # Cnn14's fc1 output
# The architecture parameters of the released Cnn14_mAP=0.431 checkpoint (panns-inference's own).
CNN14_CONFIG: dict[str, int] = {
    "sample_rate": SAMPLE_RATE,  # Hz
    "window_size": 1024,  # samples (32 ms)
    "hop_size": 320,  # samples (10 ms)
    "mel_bins": 64,
    "fmin": 50,  # Hz
    "fmax": 14_000,  # Hz
    "classes_num": 527,  # AudioSet classes (head unused here)
}

# --- pad/crop constants ---------------------------------------------------------------------------
CROP_S = 10.0  # seconds per crop: the length of an AudioSet clip, what Cnn14 was trained on
CROP_SAMPLES = int(CROP_S * SAMPLE_RATE)  # 320 000 samples
MAX_CROPS = 3  # crops per song at most: bounds the cost to 30 s of audio per song
DEFAULT_BATCH_SIZE = 16  # crops (of CROP_S seconds each) per forward pass


# --- the checkpoint file --------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFile:
    """A downloadable weights file and what it must hash to."""

    filename: str
    url: str
    sha256: str
    md5: str | None = None  # checked as well where the publisher gives one
    size_bytes: int | None = None


# The official checkpoint: Zenodo record 3987831 (qiuqiangkong/audioset_tagging_cnn, CC BY 4.0).
# Zenodo lists an MD5 per file, not a SHA-256. Not read from Zenodo itself (no network here) but
# pinned identically by independent public projects: MD5 541141fa… (Zenodo's, e.g.
# Labbeti/dcase2022task6a nn/urls.py), SHA-256 0dc499e4… and 327,428,481 bytes (e.g.
# dennech/reaper-audio-tag, Em3rc0d/ECHO scripts/mvp/fetch_panns_checkpoint.py). All three are checked.
CNN14_FILE = ModelFile(
    filename="Cnn14_mAP=0.431.pth",
    url="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",
    sha256="0dc499e40e9761ef5ea061ffc77697697f277f6a960894903df3ada000e34b31",
    md5="541141fa2ee191a88f24a3219fff024e",
    size_bytes=327_428_481,
)
CACHE_SUBDIR = "panns"  # the checkpoint is cached as <cache_dir>/panns/Cnn14_mAP=0.431.pth
DOWNLOAD_CHUNK_BYTES = 1 << 20  # 1 MiB
DOWNLOAD_TIMEOUT_S = 60  # per socket operation, not for the whole file

NO_CHECKPOINT_CAUSE = "sound search unavailable: no PANNs checkpoint"
NO_CHECKPOINT_FIX = "set HUM_SEARCH_PANNS_CHECKPOINT or run hum-search download-models"



def _settings(settings: "Settings | None") -> "Settings":
    return settings if settings is not None else Settings.from_env()


def cached_checkpoint_path(settings: "Settings | None" = None, file: ModelFile = CNN14_FILE) -> Path:
    """Where ``download_checkpoint`` puts the checkpoint (whether or not it is there)."""
    return Path(_settings(settings).cache_dir).expanduser() / CACHE_SUBDIR / file.filename


def _explicit_checkpoint(settings: "Settings") -> Path | None:
    return Path(settings.panns_checkpoint).expanduser() if settings.panns_checkpoint else None


def _missing_checkpoint_error(path: Path, explicit: bool) -> ModelUnavailableError:
    if path.exists():  # a folder or a special file
        return ModelUnavailableError(
            f"sound search unavailable: the PANNs checkpoint {path} is not a file",
            "point HUM_SEARCH_PANNS_CHECKPOINT (or the checkpoint argument) at the .pth file itself",
        )
    if explicit:
        return ModelUnavailableError(
            f"sound search unavailable: the PANNs checkpoint {path} (HUM_SEARCH_PANNS_CHECKPOINT) does not exist",
            "fix the path, or unset HUM_SEARCH_PANNS_CHECKPOINT and run hum-search download-models",
        )
    return ModelUnavailableError(f"sound search unavailable: the PANNs checkpoint {path} does not exist", "check the path")


def _check_packages() -> None:
    """Raise ModelUnavailableError when torch or panns-inference is not installed (no import)."""
    for name, what in (("torch", "torch"), ("torchlibrosa", "torchlibrosa==0.1.0"), ("panns_inference", "panns-inference==0.1.1")):
        if importlib.util.find_spec(name) is None:
            raise ModelUnavailableError(
                f"sound search unavailable: the {name} package is not installed",
                f"pip install --no-deps {what} (see requirements.txt)",
            )


def resolve_checkpoint(settings: "Settings | None" = None, checkpoint: str | os.PathLike | None = None) -> Path:
    """The checkpoint to load: ``checkpoint``, else HUM_SEARCH_PANNS_CHECKPOINT, else the cached
    download. Raises ModelUnavailableError when there is none. Touches only ``stat``."""
    settings = _settings(settings)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise _missing_checkpoint_error(path, explicit=False)
        return path
    explicit = _explicit_checkpoint(settings)
    if explicit is not None:
        if not explicit.is_file():
            raise _missing_checkpoint_error(explicit, explicit=True)
        return explicit
    cached = cached_checkpoint_path(settings)
    if cached.is_file():
        return cached
    raise ModelUnavailableError(NO_CHECKPOINT_CAUSE, NO_CHECKPOINT_FIX)


def unavailable_reason(settings: "Settings | None" = None) -> ModelUnavailableError | None:
    """Why sound search cannot be used (the error ``SoundEmbedder.load`` would raise for a missing
    package or checkpoint), or None when it can. Loads nothing."""
    try:
        _check_packages()
        resolve_checkpoint(_settings(settings))
    except ModelUnavailableError as e:
        return e
    return None


def sound_status(settings: "Settings | None" = None) -> tuple[bool, str]:
    """Whether sound search can be used, as a line for ``hum-search stats``: ``(True, "sound search
    available: PANNs checkpoint …")`` or ``(False, <the one-line message SoundEmbedder.load would raise>)``."""
    settings = _settings(settings)
    reason = unavailable_reason(settings)
    if reason is not None:
        return False, str(reason)
    path = resolve_checkpoint(settings)
    source = "HUM_SEARCH_PANNS_CHECKPOINT" if _explicit_checkpoint(settings) is not None else "downloaded"
    return True, f"sound search available: PANNs checkpoint {path} ({source})"


# --- device ---------------------------------------------------------------------------------------
def resolve_device(device: str | None = None, settings: "Settings | None" = None) -> str:
    """``device`` (e.g. from ``--device``), else HUM_SEARCH_DEVICE, else auto: CUDA when available.

    Imports torch (call it when loading a model, not at start-up)."""
    requested = (device or (settings.device if settings is not None else None) or "auto").strip().lower()
    if requested not in DEVICE_CHOICES and not (requested.startswith("cuda:") and requested[5:].isdigit()):
        raise DeviceError(f"unknown device {requested!r}", "use auto, cpu or cuda (HUM_SEARCH_DEVICE or --device)")
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no usable CUDA GPU or driver"
        raise DeviceError(
            f"device {requested!r} was asked for, but CUDA is not available ({build}, torch {torch.__version__})",
            "use --device cpu (or HUM_SEARCH_DEVICE=cpu/auto), or install a CUDA build of torch",
        )
    index = int(requested[5:]) if ":" in requested else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {requested!r} was asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are visible",
            "use --device cuda (the first GPU) or check CUDA_VISIBLE_DEVICES",
        )
    return requested


# --- loading Cnn14 without panns_inference/__init__.py ------------------------------------------------
_SYNTHETIC_PACKAGE = "_hum_search_panns"
_cnn14_lock = threading.Lock()
_cnn14_class: Any = None


class _DropMatplotlibLoader(importlib.abc.Loader):
    """Executes a source file without its top-level ``import matplotlib…`` statements and without
    writing bytecode (a .pyc of the edited source would shadow the real one in __pycache__)."""

    def __init__(self, path: Path):
        self.path = path

    def create_module(self, spec):  # default module creation
        return None

    def exec_module(self, module) -> None:
        tree = ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))
        tree.body = [node for node in tree.body if not _imports_matplotlib(node)]
        exec(compile(tree, str(self.path), "exec"), module.__dict__)


def _imports_matplotlib(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return all(alias.name.split(".")[0] == "matplotlib" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "matplotlib" and node.level == 0
    return False


def _panns_dir() -> Path:
    spec = importlib.util.find_spec("panns_inference")  # finds, does not execute, a top-level package
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "sound search unavailable: the panns_inference package is not installed",
            "pip install --no-deps panns-inference==0.1.1 torchlibrosa==0.1.0",
        )
    return Path(list(spec.submodule_search_locations)[0])


def load_cnn14_class() -> type:
    """The ``Cnn14`` class from panns_inference's installed models.py, loaded once, without running
    ``panns_inference/__init__.py`` (which downloads a labels file) and without matplotlib."""
    global _cnn14_class
    with _cnn14_lock:
        if _cnn14_class is not None:
            return _cnn14_class
        _check_packages()
        directory = _panns_dir()
        package = sys.modules.get(_SYNTHETIC_PACKAGE)
        if package is None:
            pkg_spec = importlib.machinery.ModuleSpec(_SYNTHETIC_PACKAGE, None, is_package=True)
            pkg_spec.submodule_search_locations = [str(directory)]
            package = importlib.util.module_from_spec(pkg_spec)
            package.__path__ = [str(directory)]
            sys.modules[_SYNTHETIC_PACKAGE] = package
        name = f"{_SYNTHETIC_PACKAGE}.models"
        path = directory / "models.py"
        spec = importlib.util.spec_from_file_location(name, path, loader=_DropMatplotlibLoader(path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _cnn14_class = module.Cnn14
        return _cnn14_class


def build_cnn14() -> Any:
    """A Cnn14 module with the released architecture and random weights (tests, benchmarks)."""
    return load_cnn14_class()(**CNN14_CONFIG)


# --- pad/crop -------------------------------------------------------------------------------------
def make_crops(y: np.ndarray) -> np.ndarray:
    """The (k, CROP_SAMPLES) float32 crops that stand for ``y`` (32 kHz mono), 1 <= k <= MAX_CROPS.

    Up to CROP_S seconds: ``y`` looped to exactly CROP_S seconds. Longer: ``ceil(len / CROP)`` crops,
    at most MAX_CROPS, centred at (i + 0.5) / k of the duration and kept inside the audio."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (1-D array), got shape {y.shape}")
    n = len(y)
    if n == 0:
        raise SilentAudioError("the audio is empty (0 samples)", "record or choose a longer piece of audio")
    if n <= CROP_SAMPLES:
        return np.resize(y, CROP_SAMPLES)[None, :]  # np.resize repeats the array to fill
    k = min(MAX_CROPS, math.ceil(n / CROP_SAMPLES))
    starts = [min(max(0, round((i + 0.5) * n / k - CROP_SAMPLES / 2)), n - CROP_SAMPLES) for i in range(k)]
    return np.stack([y[s : s + CROP_SAMPLES] for s in starts])


_ZERO_NORM = 1e-12


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > _ZERO_NORM)


# --- the embedder ---------------------------------------------------------------------------------
class SoundEmbedder:
    """PANNs Cnn14 embeddings of 32 kHz mono audio. Create it with ``SoundEmbedder.load``."""

    SAMPLE_RATE = SAMPLE_RATE
    dim = EMBEDDING_DIM
    model_name = MODEL_NAME

    def __init__(self, model: Any, device: str, checkpoint: Path):
        self._model = model
        self.device = device
        self.checkpoint = checkpoint

    @classmethod
    def load(
        cls,
        settings: "Settings | None" = None,
        checkpoint: str | os.PathLike | None = None,
        device: str | None = None,
    ) -> "SoundEmbedder":
        """Load Cnn14 from ``checkpoint`` (else HUM_SEARCH_PANNS_CHECKPOINT, else the downloaded file)
        onto ``device`` (else HUM_SEARCH_DEVICE, else CUDA when available, else CPU).

        Raises ModelUnavailableError (no checkpoint or package), ModelError (not a Cnn14 checkpoint)
        or DeviceError (CUDA asked for but absent). Never downloads anything."""
        settings = _settings(settings)
        _check_packages()
        path = resolve_checkpoint(settings, checkpoint)
        dev = resolve_device(device, settings)
        weights = _read_weights(path)
        model = build_cnn14()
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise ModelError(
                f"{path} is not a Cnn14 (32 kHz, 527 classes) checkpoint ({_first_line(e)})",
                "use Cnn14_mAP=0.431.pth from Zenodo record 3987831 (hum-search download-models)",
            ) from None
        model.eval()
        model.to(dev)
        log.info("loaded %s from %s on %s", MODEL_NAME, path, dev)
        return cls(model, dev, path)

    def embed(self, y_32k: np.ndarray) -> np.ndarray:
        """The (2048,) float32 unit-norm embedding of mono 32 kHz audio (see the module docstring)."""
        return self.embed_batch([y_32k], batch_size=MAX_CROPS)[0]

    def embed_batch(self, ys: Sequence[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """(len(ys), 2048) float32 unit-norm embeddings; ``batch_size`` counts 10 s crops, not items."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if len(ys) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        crops = [make_crops(y) for y in ys]
        owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(crops)])
        all_crops = np.concatenate(crops)
        emb = np.empty((len(all_crops), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(all_crops), batch_size):
            emb[start : start + batch_size] = self._forward(all_crops[start : start + batch_size])
        total = np.zeros((len(ys), EMBEDDING_DIM), dtype=np.float64)
        np.add.at(total, owner, _unit_rows(emb))  # sum of unit crop vectors per item ...
        dead = np.flatnonzero(np.linalg.norm(total, axis=1) <= _ZERO_NORM)
        if len(dead):  # Cnn14 gave an all-zero embedding for every crop (digital silence)
            where = "the audio" if len(ys) == 1 else f"item {int(dead[0])} of the batch"
            raise SilentAudioError(f"{where} gave no sound features at all", "use audio with audible sound")
        return _unit_rows(total).astype(np.float32)  # ... normalised == normalised mean

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            return self._model(x)["embedding"].float().cpu().numpy()

    def __repr__(self) -> str:
        return f"SoundEmbedder({self.model_name}, device={self.device!r}, checkpoint={str(self.checkpoint)!r})"


def _read_weights(path: Path) -> dict:
    """The Cnn14 state dict in a checkpoint file (``{"model": state_dict}`` or a bare state dict)."""
    state = _torch_load(path)
    weights = state.get("model", state) if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not {"conv_block1.conv1.weight", "fc1.weight"} <= weights.keys():
        raise ModelError(
            f"{path} holds no Cnn14 weights (no 'model' state dict with Cnn14's layers)",
            "point HUM_SEARCH_PANNS_CHECKPOINT at Cnn14_mAP=0.431.pth from Zenodo record 3987831",
        )
    return weights


def _torch_load(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only``). Only the
    official file, recognised by its SHA-256, may fall back to a full unpickle, in case it holds
    other training state."""
    import torch

    damaged = (
        "it is damaged or not a PyTorch file: run hum-search download-models --force, "
        "or point HUM_SEARCH_PANNS_CHECKPOINT at Cnn14_mAP=0.431.pth"
    )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        error = e
    if isinstance(error, torch.serialization.pickle.UnpicklingError) and file_sha256(path) == CNN14_FILE.sha256:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:
            error = e
    raise ModelError(f"cannot read the PANNs checkpoint {path} ({type(error).__name__}: {_first_line(error)})", damaged)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(DOWNLOAD_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


# --- download -------------------------------------------------------------------------------------
def download_checkpoint(
    settings: "Settings | None" = None,
    *,
    url: str | None = None,
    force: bool = False,
    progress: bool = True,
    file: ModelFile = CNN14_FILE,
) -> Path:
    """Download ``file`` once into <cache_dir>/panns/ and return its path.

    An existing cached file is returned as it is (it was verified before it got its name) unless
    ``force``. The bytes go to a temporary file in the same folder; size, SHA-256 and MD5 are checked,
    then the file is renamed into place atomically. On a mismatch the temporary file is deleted and
    ChecksumError is raised; a failed or interrupted download leaves nothing behind. ``url``: a mirror
    (http(s):// or file://); the hashes are checked all the same. Progress goes to stderr (tqdm)."""
    dest = cached_checkpoint_path(settings, file)
    if dest.is_file() and not force:
        log.info("PANNs checkpoint already downloaded: %s", dest)
        return dest
    source = url or file.url
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.filename}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise ModelError(
            f"cannot write to the model cache {dest.parent} ({e.strerror or e})",
            "set HUM_SEARCH_CACHE_DIR to a writable folder",
        ) from None
    tmp = Path(tmp_name)
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha256, md5 = _fetch(source, out, file, progress)
            out.flush()
            os.fsync(out.fileno())
        _verify(file, source, size, sha256, md5)
        os.replace(tmp, dest)
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
    log.info("downloaded %s to %s", source, dest)
    return dest


def _fetch(source: str, out, file: ModelFile, progress: bool) -> tuple[int, str, str]:
    from tqdm import tqdm

    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    request = urllib.request.Request(source, headers={"User-Agent": "hum-search (model download)"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else file.size_bytes
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=file.filename,
                file=sys.stderr, disable=not progress, leave=True,
            ) as bar:
                while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise ModelUnavailableError(
            f"could not download the PANNs checkpoint from {source} ({reason})",
            "check the internet connection or use --url with a mirror; or download "
            f"{file.filename} by hand and set HUM_SEARCH_PANNS_CHECKPOINT to it",
        ) from None
    return size, sha256.hexdigest(), md5.hexdigest()


def _verify(file: ModelFile, source: str, size: int, sha256: str, md5: str) -> None:
    fix = (
        "the download was cut short or the server sent another file: run hum-search download-models "
        f"again (with --url only for a mirror of {file.filename})"
    )
    if file.size_bytes is not None and size != file.size_bytes:
        raise ChecksumError(
            f"the download of {file.filename} from {source} has {size} bytes, expected {file.size_bytes}", fix
        )
    if sha256 != file.sha256.lower():
        raise ChecksumError(
            f"the download of {file.filename} from {source} has SHA-256 {sha256}, expected {file.sha256}", fix
        )
    if file.md5 is not None and md5 != file.md5.lower():
        raise ChecksumError(f"the download of {file.filename} from {source} has MD5 {md5}, expected {file.md5}", fix)
