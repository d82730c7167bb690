"""The additive synthesizer: an ``Arrangement`` rendered in numpy, with no external programs.

Each General MIDI program maps to one of a few timbres (harmonic amplitudes, sustained or plucked
envelope, vibrato); a note is a wavetable of the harmonics below 0.45 x the sample rate (no
aliasing), read at the note's frequency. Drums are synthesized kicks, snares, hi-hats and
crashes, with noise seeded per note (same seed, same samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .arrange import Arrangement
from .dsp import highpass_noise
from .notation import Note


@dataclass(frozen=True)
class _Timbre:
    partials: tuple[float, ...]  # amplitude of harmonic k = 1, 2, ...
    kind: str  # "sustain" or "pluck"
    attack: float = 0.02
    release: float = 0.08
    decay: float = 1.0  # pluck: time constant of the fundamental (s)
    vibrato: float = 0.0  # depth in semitones
    gain: float = 1.0


_TIMBRES = {
    "flute": _Timbre((1.0, 0.35, 0.18, 0.08, 0.05, 0.02), "sustain", 0.04, 0.08, vibrato=0.12),
    "reed": _Timbre((1.0, 0.1, 0.55, 0.08, 0.35, 0.06, 0.2, 0.04, 0.1), "sustain", 0.03, 0.07, vibrato=0.08),
    "string": _Timbre(tuple(1 / k for k in range(1, 13)), "sustain", 0.05, 0.15, vibrato=0.15),
    "brass": _Timbre(tuple(1 / k ** 0.8 for k in range(1, 11)), "sustain", 0.03, 0.08, vibrato=0.05),
    "organ": _Timbre((1.0, 0.7, 0.4, 0.45, 0.0, 0.25, 0.0, 0.2), "sustain", 0.01, 0.05, gain=0.7),
    "pad": _Timbre(tuple(0.8 ** k for k in range(8)), "sustain", 0.25, 0.4, gain=0.7),
    "piano": _Timbre(tuple(1 / k ** 1.3 for k in range(1, 11)), "pluck", 0.004, 0.12, decay=1.1),
    "guitar": _Timbre(tuple(1 / k ** 1.1 for k in range(1, 11)), "pluck", 0.003, 0.08, decay=0.7, gain=0.8),
    "bells": _Timbre((1.0, 0.1, 0.5, 0.05, 0.3), "pluck", 0.002, 0.3, decay=1.6),
    "bass": _Timbre((1.0, 0.6, 0.3, 0.15, 0.08), "pluck", 0.005, 0.06, decay=0.9, gain=1.3),
    "synth": _Timbre(tuple(1 / k for k in range(1, 16)), "sustain", 0.01, 0.05, gain=0.6),
}


def _timbre_for(program: int) -> _Timbre:
    p = program
    if 0 <= p <= 7:
        return _TIMBRES["piano"]
    if 8 <= p <= 15:
        return _TIMBRES["bells"]
    if 16 <= p <= 23:
        return _TIMBRES["organ"] if p < 21 else _TIMBRES["reed"]
    if 24 <= p <= 31:
        return _TIMBRES["guitar"]
    if 32 <= p <= 39:
        return _TIMBRES["bass"]
    if 40 <= p <= 51:
        return _TIMBRES["string"]
    if 52 <= p <= 55:
        return _TIMBRES["pad"]
    if 56 <= p <= 63:
        return _TIMBRES["brass"]
    if 64 <= p <= 71:
        return _TIMBRES["reed"]
    if 72 <= p <= 79:
        return _TIMBRES["flute"]
    if 88 <= p <= 95:
        return _TIMBRES["pad"]
    return _TIMBRES["synth"]


_TABLE_SIZE = 2048


@lru_cache(maxsize=256)
def _wavetable(partials: tuple[float, ...], k_max: int) -> np.ndarray:
    """One period of the sum of the first ``k_max`` partials, normalized to peak 1 (plus a wrap
    sample for interpolation)."""
    theta = 2 * np.pi * np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE
    ks = np.arange(1, k_max + 1)
    table = np.asarray(partials[:k_max]) @ np.sin(np.outer(ks, theta))
    return (table / (np.max(np.abs(table)) + 1e-12)).astype(np.float32)


def _lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """``table`` read at ``cycles`` (periods elapsed, float32), linearly interpolated."""
    pos = (cycles - np.floor(cycles)) * np.float32(_TABLE_SIZE)
    i = pos.astype(np.int32)
    frac = pos - i
    lo = table[i]
    return lo + (table[i + 1] - lo) * frac


def _tone(note: Note, timbre: _Timbre, sr: int) -> np.ndarray:
    """One note: a band-limited harmonic wavetable read at the note's (vibrato) frequency, with an
    envelope (plucked timbres decay exponentially, faster for higher notes)."""
    f0 = 440.0 * 2 ** ((note.pitch - 69) / 12)
    dur = max(note.dur_s, 0.02)
    n = int((dur + timbre.release) * sr)
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    if timbre.vibrato and dur > 0.3:
        depth = timbre.vibrato * np.clip((t - 0.2) / 0.3, 0, 1)
        freq = f0 * 2 ** (depth * np.sin(2 * np.pi * 5.2 * t) / 12)
        cycles = (np.cumsum(freq, dtype=np.float64) / sr).astype(np.float32)
    else:
        cycles = np.float32(f0) * t
    k_max = max(1, min(len(timbre.partials), int(0.45 * sr / f0)))
    y = _lookup(_wavetable(timbre.partials, k_max), cycles)
    env = np.ones(n, dtype=np.float32)
    a = max(1, int(timbre.attack * sr))
    env[:a] = np.linspace(0.0, 1.0, a)
    if timbre.kind == "pluck":
        tau = timbre.decay * (220.0 / max(f0, 55.0)) ** 0.35
        env *= np.exp(-t / np.float32(tau))
    else:
        env *= 1.0 - 0.15 * np.clip(t / 1.5, 0, 1)
    s_end = int(dur * sr)
    r = n - s_end
    if r > 0:
        env[s_end:] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
    return (y * env * timbre.gain * 0.5).astype(np.float32)


def _drum(note: Note, sr: int, rng: np.random.Generator) -> np.ndarray:
    kind = int(round(note.pitch))
    if kind in (35, 36):  # kick
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        freq = 45 + 95 * np.exp(-t / 0.035)
        y = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
        y[: int(0.003 * sr)] += 0.3 * rng.standard_normal(int(0.003 * sr))
        return y.astype(np.float32)
    if kind in (38, 40):  # snare
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        y = 0.6 * highpass_noise(rng, n, 1) * np.exp(-t / 0.06) + 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05)
        return y.astype(np.float32)
    if kind in (42, 44):  # closed hi-hat
        n = int(0.08 * sr)
        t = np.arange(n) / sr
        return (0.35 * highpass_noise(rng, n, 2) * np.exp(-t / 0.015)).astype(np.float32)
    if kind == 46:
        n = int(0.3 * sr)
        t = np.arange(n) / sr
        return (0.3 * highpass_noise(rng, n, 2) * np.exp(-t / 0.09)).astype(np.float32)
    # crash and anything else
    n = int(1.2 * sr)
    t = np.arange(n) / sr
    return (0.3 * highpass_noise(rng, n, 2) * np.exp(-t / 0.35)).astype(np.float32)


def render_additive(arr: Arrangement, sr: int, seed: int) -> np.ndarray:
    """The mix of all tracks at ``sr`` (one second longer than the song, not normalized)."""
    n_total = int(round(arr.duration_s * sr)) + sr
    out = np.zeros(n_total, dtype=np.float32)
    for ti, tr in enumerate(arr.tracks):
        buf = np.zeros(n_total, dtype=np.float32)
        gain = (tr.volume / 127.0) ** 2
        timbre = None if tr.is_drum else _timbre_for(tr.program)
        for ni, note in enumerate(tr.notes):
            if tr.is_drum:
                y = _drum(note, sr, np.random.default_rng([seed, ti, ni]))
            else:
                y = _tone(note, timbre, sr)
            y = y * (note.velocity / 127.0) ** 1.6
            start = int(round(note.start_s * sr))
            if start >= n_total:
                continue
            end = min(n_total, start + len(y))
            buf[start:end] += y[: end - start]
        out += buf * gain * {"drums": 0.55, "lead": 1.5}.get(tr.role, 1.0)
    return out
