"""Rendering an ``Arrangement`` to audio: fluidsynth with a General MIDI soundfont, or the additive
synthesizer in ``additive.py`` when fluidsynth or a soundfont is missing.

fluidsynth gets a standard MIDI file (``midi.py``) and writes a float wav in a temporary folder; the
result is resampled if fluidsynth used another rate, cut or padded to the song's length and
normalized to a -1 dBFS peak. ``HUM_SEARCH_SOUNDFONT`` overrides the usual soundfont locations.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..errors import SynthError
from ..features.audio import resample
from .additive import render_additive
from .arrange import Arrangement
from .dsp import normalize
from .midi import write_midi

log = logging.getLogger(__name__)

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
FLUIDSYNTH_TIMEOUT_S = 300
PEAK_DBFS = -1.0  # peak of a rendered song


def find_soundfont() -> str | None:
    """A General MIDI soundfont: $HUM_SEARCH_SOUNDFONT, else the usual system locations."""
    env = os.environ.get("HUM_SEARCH_SOUNDFONT", "").strip()
    if env:
        return env if os.path.isfile(env) else None
    return next((p for p in SOUNDFONT_PATHS if os.path.isfile(p)), None)


def fluidsynth_available() -> bool:
    return shutil.which("fluidsynth") is not None and find_soundfont() is not None


def render(arr: Arrangement, *, sr: int = 22050, engine: str = "auto", seed: int = 0) -> np.ndarray:
    """Render to mono float32 at ``sr``, ``round(arr.duration_s * sr)`` samples, peak at -1 dBFS.

    ``engine``: "fluidsynth" (a General MIDI soundfont through the fluidsynth CLI), "additive" (the
    numpy synthesizer, no external programs) or "auto" (fluidsynth when it and a soundfont are
    installed, else additive)."""
    if engine == "auto":
        engine = "fluidsynth" if fluidsynth_available() else "additive"
        log.info("render engine: %s", engine)
    if engine == "fluidsynth":
        y = _render_fluidsynth(arr, sr)
    elif engine == "additive":
        y = render_additive(arr, sr, seed)
    else:
        raise SynthError(f"unknown render engine {engine!r}", "use auto, fluidsynth or additive")
    return _fit_length(y, int(round(arr.duration_s * sr)))


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if len(y) < n:
        y = np.concatenate([y, np.zeros(n - len(y), np.float32)])
    return normalize(y[:n], PEAK_DBFS)


def _render_fluidsynth(arr: Arrangement, sr: int) -> np.ndarray:
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    sf2 = find_soundfont()
    if exe is None or sf2 is None:
        missing = "fluidsynth" if exe is None else "a General MIDI soundfont"
        raise SynthError(
            f"cannot render with fluidsynth: {missing} is not installed",
            "install the packages fluidsynth and fluid-soundfont-gm (apt-get install fluidsynth "
            "fluid-soundfont-gm), set HUM_SEARCH_SOUNDFONT to a .sf2 file, or use the additive engine",
        )
    with tempfile.TemporaryDirectory(prefix="hum-search-fs-") as tmp:
        mid = os.path.join(tmp, "song.mid")
        wav = os.path.join(tmp, "song.wav")
        write_midi(mid, arr)
        cmd = [exe, "-ni", "-q", "-g", "0.6", "-r", str(int(sr)), "-T", "wav", "-O", "float", "-F", wav, sf2, mid]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=FLUIDSYNTH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SynthError(f"fluidsynth took over {FLUIDSYNTH_TIMEOUT_S} s", "use the additive engine") from None
        if p.returncode != 0 or not os.path.exists(wav):
            msg = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()
            raise SynthError(
                f"fluidsynth failed ({msg[-1][:200] if msg else f'exit status {p.returncode}'})",
                "check the fluidsynth installation or use the additive engine",
            )
        y, file_sr = sf.read(wav, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if file_sr != sr:
        y = resample(y, file_sr, sr)
    if not np.all(np.isfinite(y)) or float(np.max(np.abs(y), initial=0.0)) == 0.0:
        raise SynthError("fluidsynth rendered silence", "check the soundfont, or use the additive engine")
    return y

