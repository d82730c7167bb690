"""Shared helpers for the tests of hum_search.demo: an f0 estimate, units, RMS, a small arrangement."""

from __future__ import annotations

import numpy as np

from hum_search.demo.arrange import Arrangement, arrange
from hum_search.demo.notation import melody_to_notes

SR = 16000
SIMPLE = "C4 D4 E4 F4 | G4:2 r:2 | E4:0.5 D4:0.5 C4:3"


def autocorr_f0(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 1000.0) -> float:
    """f0 of a steady frame: the first autocorrelation peak within 85 % of the highest, refined by
    parabolic interpolation."""
    x = x - x.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0]
    lo, hi = int(sr / fmax), int(sr / fmin)
    seg = ac[lo:hi]
    top = seg.max()
    i = next(i for i in range(1, len(seg) - 1) if seg[i] >= 0.85 * top and seg[i - 1] <= seg[i] >= seg[i + 1])
    a, b, c = seg[i - 1], seg[i], seg[i + 1]
    return sr / (lo + i + 0.5 * (a - c) / (a - 2 * b + c))


def cents(f: float, ref: float) -> float:
    return 1200 * np.log2(f / ref)


def midi_hz(p: float) -> float:
    return 440.0 * 2 ** ((p - 69) / 12)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def simple_arrangement(**kw) -> Arrangement:
    melody = melody_to_notes(SIMPLE, bpm=120)
    opts = dict(key_root=0, mode="major", style="folk", passes=2, bpm=120, beats_per_bar=4)
    opts.update(kw)
    return arrange(melody, **opts)
