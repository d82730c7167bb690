"""Stationary-noise removal for hummed queries, in the tracker's own magnitude spectrogram.

What a room adds to a hum is mostly *stationary*: a noise floor (hiss, fan air), and steady
harmonic sounds whose partials keep their frequency and level (mains hum and its harmonics, a
fridge's motor whine, an engine at idle). A hum moves: every partial of the voice sits in a given
frequency bin only while one note lasts. So, per frequency bin, a low quantile of the (slightly
time-smoothed) power over the whole recording estimates what is always there, and subtracting it
removes the stationary sources while keeping the voice's partials.

- the time smoothing (FLOOR_SMOOTH_FRAMES) lowers the spread of a noise bin's power, so the
  quantile estimates its mean rather than its deep dips;
- the floor is dilated over ±FLOOR_DILATE_BINS bins (a partial that wobbles by a fraction of a
  percent moves across neighbouring bins);
- FLOOR_QUANTILE: a voice partial occupies one bin for far less than this share of a hum, even for
  a tune of repeated notes (measured: a 14-note excerpt of "Mary had a little lamb" puts a partial
  in one bin for under 25% of the voiced frames).

The per-frame *estimated SNR* (cleaned power over floor power in the voice band) tells the tracker
which frames have a voice in them at all, and summarises the recording's quality for the hint that
front ends show ("less background noise, closer to the microphone").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

FLOOR_QUANTILE = 0.3  # share of frames per bin at or under the stationary floor
FLOOR_SMOOTH_FRAMES = 8  # frames (80 ms) of power averaged before the quantile
FLOOR_DILATE_BINS = 1  # frequency bins on each side over which the floor is dilated
OVER_SUBTRACT = 2.0  # multiple of the floor power removed from every frame
BAND_HZ = (60.0, 5000.0)  # where the voice's partials (and a whistle) are looked for
MIN_KEPT = 0.1  # when less than this share of the band's power would be left, the recording is one
# steady sound (a single held note, as in a tuning test): it is the voice, and nothing is removed


@dataclass
class Cleaned:
    power: np.ndarray  # (frames, bins) power with the stationary part removed
    frame_snr_db: np.ndarray  # (frames,) cleaned power / floor power in BAND_HZ, dB
    floor: np.ndarray  # (bins,) the stationary floor's power


def remove_stationary(power: np.ndarray, bin_hz: float, live: np.ndarray | None = None) -> Cleaned:
    """``power``: (frames, bins) short-time power spectrum; ``live``: (frames,) False where the
    recording is digital silence (``pitch.live_frames``), which is left out of the floor. Returns
    the cleaned power, the per-frame SNR estimate and the floor."""
    n = len(power) // FLOOR_SMOOTH_FRAMES * FLOOR_SMOOTH_FRAMES
    if n == 0:
        smooth = power.mean(axis=0, keepdims=True)
    else:  # block means (not a sliding mean: the quantile needs no more and this is 10x cheaper)
        smooth = power[:n].reshape(-1, FLOOR_SMOOTH_FRAMES, power.shape[1]).mean(axis=1)
        if live is not None:
            sounding = live[:n].reshape(-1, FLOOR_SMOOTH_FRAMES).all(axis=1)
            smooth = smooth[sounding] if sounding.any() else smooth
    floor = np.quantile(smooth, FLOOR_QUANTILE, axis=0)
    floor = maximum_filter1d(floor, 2 * FLOOR_DILATE_BINS + 1)
    cleaned = np.maximum(power - np.float32(OVER_SUBTRACT) * floor[None, :].astype(np.float32), 0.0)
    lo, hi = (int(round(f / bin_hz)) for f in BAND_HZ)
    if np.sum(cleaned[:, lo:hi]) < MIN_KEPT * np.sum(power[:, lo:hi]):
        return Cleaned(power.astype(np.float32), np.full(len(power), 99.0, np.float32), np.zeros_like(floor))
    band_floor = float(np.sum(floor[lo:hi])) + 1e-12
    snr = 10 * np.log10(np.sum(cleaned[:, lo:hi], axis=1) / band_floor + 1e-6)
    return Cleaned(cleaned.astype(np.float32), snr.astype(np.float32), floor.astype(np.float32))
