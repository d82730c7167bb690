"""Signal helpers shared by the song renderers and the hum synthesizer."""

from __future__ import annotations

import numpy as np


def normalize(y: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """``y`` scaled so that its peak is ``peak_dbfs`` (silence stays silent), as float32."""
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y * (10 ** (peak_dbfs / 20) / peak)
    return y.astype(np.float32)


def highpass_noise(rng: np.random.Generator, n: int, order: int) -> np.ndarray:
    """``n`` samples of white noise differenced ``order`` times (a +6 dB/octave tilt per order), at
    about unit variance: the hiss of snares, hi-hats and a "d" burst."""
    x = rng.standard_normal(n + order)
    for _ in range(order):
        x = np.diff(x)
    return x[:n] / (2 ** order) ** 0.5
