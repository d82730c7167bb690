"""Synthetic hummed queries: a melody sung by a simulated voice, with a singer's imperfections.

``synth_hum`` builds, step by step: note timing (tempo, a lead silence), the voiced span of each
note (articulation gaps, breaths at phrase ends), an f0 contour in MIDI units (intonation error,
glides between notes, a scoop into a note after a rest, delayed vibrato, slow drift), a
glottal-like harmonic source with a spectral tilt, formant filters for the syllable ("mm" nasal
hum, "la", "da" with a burst), and background noise (pink, white or a babble of voices) at a
signal-to-noise ratio. One ``numpy`` generator seeded once drives every random choice, in that
order: the same arguments give the same samples.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .dsp import highpass_noise, normalize
from .notation import Note

VOICE_CENTRE = {"male": 52.0, "female": 62.0, "child": 67.0}  # typical median humming pitch (MIDI)
_FORMANT_SCALE = {"male": 1.0, "female": 1.17, "child": 1.3}
# (frequency Hz, bandwidth Hz, gain) for a male voice; scaled for the others
_FORMANTS = {
    "m": ((260.0, 70.0, 1.0), (1050.0, 200.0, 0.06), (2300.0, 250.0, 0.03)),
    "a": ((730.0, 90.0, 1.0), (1090.0, 110.0, 0.6), (2440.0, 170.0, 0.25), (3300.0, 250.0, 0.1)),
    "l": ((360.0, 80.0, 1.0), (1000.0, 150.0, 0.3), (2700.0, 200.0, 0.12)),
}
SYLLABLES = ("mm", "la", "da")
NOISES = ("pink", "white", "babble")
HUM_PEAK_DBFS = -6.0  # peak of a synthetic hum
_ATTACK_S = {"mm": 0.04, "la": 0.025, "da": 0.012}  # longest onset ramp of a note, per syllable
_ARTICULATION_GAP_S = {"mm": 0.025, "la": 0.05, "da": 0.07}  # typical silence between notes
_SPECTRAL_TILT = {"mm": 1.6, "la": 1.15, "da": 1.15}  # harmonic k has amplitude 1 / k**tilt


def hum_octave_shift(notes: Sequence[Note], voice: str = "male") -> int:
    """The octave shift (a multiple of 12) that ``synth_hum`` applies to bring ``notes`` into the
    voice's range (before ``transpose``)."""
    if voice not in VOICE_CENTRE:
        raise ValueError(f"unknown voice {voice!r}; use one of {', '.join(VOICE_CENTRE)}")
    durs = np.array([n.dur_s for n in notes], dtype=np.float64)
    pitches = np.array([n.pitch for n in notes], dtype=np.float64)
    centre = float(np.sum(pitches * durs) / max(np.sum(durs), 1e-9))
    return int(12 * round((VOICE_CENTRE[voice] - centre) / 12))


def _formant_bank(x: np.ndarray, formants, scale: float, sr: int) -> np.ndarray:
    from scipy.signal import iirpeak, lfilter

    y = np.zeros_like(x)
    for freq, bw, gain in formants:
        f = min(freq * scale, 0.45 * sr)
        b, a = iirpeak(f, Q=f / (bw * scale), fs=sr)
        y += gain * lfilter(b, a, x)
    return y


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.hanning(n + 2)[1:-1]
    return np.convolve(x, k / k.sum(), mode="same")


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(np.maximum(f, 1.0))
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return y / (np.std(y) + 1e-12)


def _babble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    y = np.zeros(n)
    for _ in range(6):
        f0 = rng.uniform(95, 240) * 2 ** (np.cumsum(rng.standard_normal(n)) * 0.0004 / 12)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        src = sum(np.sin(k * phase) / k for k in range(1, 16))
        am = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2.5, 5.5) * t + rng.uniform(0, 2 * np.pi))
        vowel = "a" if rng.random() < 0.5 else "l"
        y += _formant_bank(src * am ** 2, _FORMANTS[vowel], rng.uniform(1.0, 1.2), sr)
    y += 0.3 * _pink(rng, n)
    return y / (np.std(y) + 1e-12)



def synth_hum(
    notes: list[Note],
    *,
    sr: int = 16000,
    transpose: float = 0.0,
    tempo: float = 1.0,
    voice: str = "male",
    syllable: str = "mm",
    vibrato_cents: float = 25.0,
    pitch_error_cents: float = 20.0,
    glide_ms: float = 40.0,
    breath_gaps: bool = True,
    snr_db: float | None = 20.0,
    noise: str = "pink",
    lead_silence_s: float = 0.3,
    seed: int = 0,
    octave: int | None = None,
) -> np.ndarray:
    """A synthetic hummed query of ``notes`` (mono float32 at ``sr``, peak at -6 dBFS).

    The notes are moved by whole octaves into the range of ``voice`` ("male", "female", "child";
    ``octave`` overrides that shift, in octaves; 0 keeps the written pitch), transposed by
    ``transpose`` semitones and time-scaled by 1/``tempo`` (tempo > 1 is faster); the first note
    starts after ``lead_silence_s`` and the same silence follows the last. Each note gets a random
    intonation error (standard deviation ``pitch_error_cents``), a glide from the previous note
    (``glide_ms``), delayed vibrato of about ``vibrato_cents`` and a slow pitch drift; the source is
    a harmonic, glottal-like pulse train through formant filters for the ``syllable`` ("mm" nasal
    hum, "la", "da"). ``breath_gaps`` leaves short breaths at phrase ends. Noise ("pink", "white",
    "babble") is added at ``snr_db`` relative to the hum (None: no noise)."""
    _check_hum_args(notes, tempo, syllable, noise)
    rng = np.random.default_rng(seed)
    notes = sorted(notes, key=lambda n: n.start_s)
    shift = (12 * octave if octave is not None else hum_octave_shift(notes, voice)) + transpose
    t_first = notes[0].start_s
    on = np.array([(n.start_s - t_first) / tempo + lead_silence_s for n in notes])
    off = on + np.array([n.dur_s / tempo for n in notes])
    err = np.clip(rng.standard_normal(len(notes)), -2.5, 2.5) * pitch_error_cents / 100.0
    target = np.array([n.pitch for n in notes]) + shift + err
    total_s = float(off.max()) + lead_silence_s
    n = int(math.ceil(total_s * sr))

    voiced_end = _voiced_ends(on, off, syllable, breath_gaps, rng)
    midi, amp = _contour(on, voiced_end, target, n, sr, syllable=syllable, glide_ms=glide_ms,
                         vibrato_cents=vibrato_cents, rng=rng)
    voiced = amp > 0
    f0 = _f0_hz(midi, voiced, sr, rng)
    source = _glottal_source(f0, amp, sr, syllable, rng)
    y = _articulate(source, on, sr, syllable=syllable, voice=voice, rng=rng)
    y = y / (np.max(np.abs(y)) + 1e-12)
    if snr_db is not None:
        y = _add_noise(y, voiced, noise, snr_db, sr, rng)
    return normalize(y, HUM_PEAK_DBFS)


def _check_hum_args(notes: Sequence[Note], tempo: float, syllable: str, noise: str) -> None:
    if not notes:
        raise ValueError("no notes to hum")
    if tempo <= 0:
        raise ValueError("tempo must be positive")
    if syllable not in SYLLABLES:
        raise ValueError(f"unknown syllable {syllable!r}; use one of {', '.join(SYLLABLES)}")
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; use one of {', '.join(NOISES)}")


def _voiced_ends(on: np.ndarray, off: np.ndarray, syllable: str, breath_gaps: bool,
                 rng: np.random.Generator) -> np.ndarray:
    """When each note's voice stops (s): a short articulation gap before a following note, a breath
    (0.15-0.28 s) at a phrase end after 2.5 s of singing, and at least 60 ms (or half the note) voiced."""
    n_notes = len(on)
    voiced_end = off.copy()
    ioi = np.diff(on)
    median_ioi = float(np.median(ioi)) if len(ioi) else 1.0
    since_breath = 0.0
    art_gap = _ARTICULATION_GAP_S[syllable]
    for i in range(n_notes):
        dur = off[i] - on[i]
        since_breath += dur
        if i + 1 < n_notes:
            rest = on[i + 1] - off[i]
            gap = art_gap * float(rng.uniform(0.6, 1.4))
            if breath_gaps and rest < 0.15 and since_breath > 2.5 and ioi[i] >= median_ioi:
                gap = float(rng.uniform(0.15, 0.28))
                since_breath = 0.0
            if rest > 0.25:
                since_breath = 0.0
            voiced_end[i] = min(off[i], on[i + 1] - gap) if rest < gap else off[i]
        voiced_end[i] = max(voiced_end[i], on[i] + min(0.06, 0.5 * dur))
    return voiced_end


def _contour(on: np.ndarray, voiced_end: np.ndarray, target: np.ndarray, n: int, sr: int, *, syllable: str,
             glide_ms: float, vibrato_cents: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The pitch (MIDI units, undefined where unvoiced) and amplitude envelope of ``n`` samples."""
    midi = np.empty(n)
    amp = np.zeros(n)
    t = np.arange(n) / sr
    glide = max(glide_ms, 1.0) / 1000.0
    attack = _ATTACK_S[syllable]
    prev_pitch, prev_end = None, -1.0
    for i in range(len(on)):
        s = int(round(on[i] * sr))
        e = min(n, int(round(voiced_end[i] * sr)))
        if e <= s:
            continue
        tt = t[s:e] - on[i]
        if prev_pitch is not None and on[i] - prev_end < 0.2:
            start_pitch = prev_pitch
        else:
            start_pitch = target[i] - float(rng.uniform(0.1, 0.5))  # a scoop up into the note
        midi[s:e] = _note_pitch(tt, target[i], start_pitch, glide, vibrato_cents, rng)
        env = _note_envelope(tt, voiced_end[i] - on[i], attack, sr, rng)
        amp[s:e] = np.maximum(amp[s:e], env)
        prev_pitch, prev_end = target[i], voiced_end[i]
    return midi, amp


def _note_pitch(tt: np.ndarray, target: float, start_pitch: float, glide: float, vibrato_cents: float,
                rng: np.random.Generator) -> np.ndarray:
    """One note's pitch at times ``tt`` from its onset: a raised-cosine glide of ``glide`` s from
    ``start_pitch``, then vibrato that fades in from 0.22 s."""
    p = np.full(len(tt), target)
    g = np.clip(tt / glide, 0, 1)
    p += (start_pitch - target) * (0.5 + 0.5 * np.cos(np.pi * g))
    if vibrato_cents > 0:
        depth = vibrato_cents / 100.0 * float(rng.uniform(0.7, 1.3))
        rate = float(rng.uniform(4.8, 6.2))
        ramp = np.clip((tt - 0.22) / 0.25, 0, 1)
        p += depth * ramp * np.sin(2 * np.pi * rate * tt + float(rng.uniform(0, 2 * np.pi)))
    return p


def _note_envelope(tt: np.ndarray, dur: float, attack: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One note's amplitude: a random level, a slow 25 % fade over 2 s, raised-cosine attack and release."""
    a = max(1, int(min(attack, 0.4 * dur) * sr))
    r = max(1, int(min(0.05, 0.3 * dur) * sr))
    env = np.ones(len(tt)) * (1.0 - 0.25 * np.clip(tt / 2.0, 0, 1)) * float(rng.uniform(0.8, 1.0))
    env[:a] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[-r:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return env


def _f0_hz(midi: np.ndarray, voiced: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """f0 in Hz: unvoiced stretches hold the last voiced pitch (keeps the phase smooth), plus a slow
    random drift of at most 8 cents."""
    n = len(midi)
    idx = np.where(voiced, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    first_voiced = int(np.argmax(voiced))
    midi = np.where(voiced, midi, midi[idx])
    midi[:first_voiced] = midi[first_voiced]
    drift = _smooth(rng.standard_normal(n), int(0.3 * sr)) * 0.04 * math.sqrt(0.3 * sr)
    midi = midi + np.clip(drift, -0.08, 0.08)
    return 440.0 * 2 ** ((midi - 69) / 12)


def _glottal_source(f0: np.ndarray, amp: np.ndarray, sr: int, syllable: str, rng: np.random.Generator) -> np.ndarray:
    """Harmonics with a spectral tilt, each faded out sample by sample as it nears 0.45 x ``sr``,
    plus a little breath noise, times the amplitude envelope."""
    n = len(f0)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tilt = _SPECTRAL_TILT[syllable]
    k_max = int(0.45 * sr / max(float(f0.min()), 40.0))
    source = np.zeros(n)
    for k in range(1, max(2, k_max) + 1):
        limit = np.clip((0.45 * sr - k * f0) / (0.05 * sr), 0, 1)
        if not limit.any():
            break
        source += np.sin(k * phase) * limit / k ** tilt
    source += 0.02 * rng.standard_normal(n)  # breathiness
    source *= amp
    return source


def _articulate(source: np.ndarray, on: np.ndarray, sr: int, *, syllable: str, voice: str,
                rng: np.random.Generator) -> np.ndarray:
    """The source through the formants of the syllable: a nasal "m" throughout for "mm"; for "la"
    and "da" an "l" or a closure and burst at each onset, then the vowel "a"."""
    n = len(source)
    scale = _FORMANT_SCALE.get(voice, 1.0)
    if syllable == "mm":
        return _formant_bank(source, _FORMANTS["m"], scale, sr)
    vowel = _formant_bank(source, _FORMANTS["a"], scale, sr)
    onset_mask = np.zeros(n)
    for i in range(len(on)):
        s = int(round(on[i] * sr))
        m_len = int((0.06 if syllable == "la" else 0.025) * sr)
        fade = int(0.04 * sr)
        seg = np.concatenate([np.ones(m_len), np.linspace(1, 0, fade)])
        e = min(n, s + len(seg))
        onset_mask[s:e] = np.maximum(onset_mask[s:e], seg[: e - s])
    if syllable == "la":
        cons = _formant_bank(source, _FORMANTS["l"], scale, sr) * 0.6
        return cons * onset_mask + vowel * (1 - onset_mask)
    y = vowel * (1 - 0.9 * onset_mask)  # "da": a short closure, then a burst, then the vowel
    for i in range(len(on)):
        s = int(round((on[i] + 0.018) * sr))
        b = int(0.008 * sr)
        if s + b < n:
            burst = highpass_noise(rng, b, 1) * np.exp(-np.arange(b) / (0.003 * sr))
            y[s:s + b] += 0.15 * burst * float(np.max(np.abs(vowel)) + 1e-9)
    return y


def _add_noise(y: np.ndarray, voiced: np.ndarray, noise: str, snr_db: float, sr: int,
               rng: np.random.Generator) -> np.ndarray:
    """``y`` plus ``noise`` scaled to ``snr_db`` below the RMS of the voiced samples."""
    n = len(y)
    if noise == "pink":
        nz = _pink(rng, n)
    elif noise == "white":
        nz = rng.standard_normal(n)
    else:
        nz = _babble(rng, n, sr)
    sig_rms = float(np.sqrt(np.mean(y[voiced] ** 2))) if voiced.any() else 1.0
    return y + nz * (sig_rms / (10 ** (snr_db / 20)) / (float(np.std(nz)) + 1e-12))
