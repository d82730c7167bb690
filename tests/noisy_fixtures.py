"""Synthetic hard queries for the hum front end (issue 11), made with numpy and the demo synth.

Each maker returns mono float32 audio at 16 kHz of the notes ``notes`` (demo-tune notes, song
time), performed and recorded in one hard way: under a steady harmonic hum at a given SNR, under a
competing melody, whistled, sung with words, at an extreme tempo, with skipped notes. Nothing here
is fitted to the benchmark's generator: the noises are built differently (a fan's blade-pass tone,
an organ-like background melody, a whistle with breath noise).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from hum_search.demo import catalogue, notation, render, tunes
from hum_search.demo import hum as demo_hum
from hum_search.features import extract
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SongMeta, SongRecord

SR = 16_000


def wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    """``y`` as the bytes of a WAV file (what an upload gives the search)."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def demo_tune_store(folder: Path, n_tunes: int | None = None, engine: str = "additive") -> EmbeddedStore:
    """An embedded store at ``folder`` of the first ``n_tunes`` demo tunes (all by default) as songs
    (the demo arrangements rendered by ``engine``), melody channel only; each song's id is its tune's
    slug."""
    store = EmbeddedStore(folder, extract.current_spec())
    for i, tune in enumerate(tunes.TUNES[:n_tunes]):
        y = render.render(catalogue.arrangement_for(tune, seed=i), sr=SR, engine=engine)
        meta = SongMeta(tune.slug, f"/music/{tune.slug}.wav", tune.title, None, None, "demo", len(y) / SR,
                        f"{i:064x}", 1, 1.0, "2026-01-01T00:00:00Z")
        store.add([SongRecord(meta, extract.song_melody(y), None)])
    return store


def _scale_to_snr(voice: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """voice + noise, the noise scaled so that voice RMS (over its voiced part) / noise RMS = snr_db."""
    n = min(len(voice), len(noise))
    v, z = voice[:n], noise[:n]
    active = np.abs(v) > 0.05 * np.max(np.abs(v))
    env = signal.convolve(active.astype(float), np.ones(800) / 800, mode="same") > 0.2
    v_rms = float(np.sqrt(np.mean(v[env] ** 2)))
    y = v + z * v_rms / (10 ** (snr_db / 20) * float(np.sqrt(np.mean(z ** 2))) + 1e-12)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def steady_harmonic_noise(n: int, *, f0: float = 118.0, whine_hz: float = 830.0, seed: int = 0) -> np.ndarray:
    """An extractor fan or engine at idle: a blade-pass tone with 7 harmonics (slow 0.1% wobble),
    a whine, and a broadband rumble. Its pitch is steady, so a tracker that follows the loudest
    harmonic source follows it."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    wob = 1 + 0.001 * np.sin(2 * np.pi * 0.2 * t)
    x = sum(rng.uniform(0.5, 1.0) / h ** 0.5 * np.sin(2 * np.pi * f0 * h * t * wob + rng.uniform(0, 6.3))
            for h in range(1, 8))
    x = x + 0.6 * np.sin(2 * np.pi * whine_hz * t)
    rumble = signal.lfilter(*signal.butter(2, 300 / (SR / 2)), rng.standard_normal(n))
    return x / np.std(x) + 0.4 * rumble / np.std(rumble)


def competing_melody(n: int, *, seed: int = 0, midi_centre: float = 62.0) -> np.ndarray:
    """Another tune played on an organ-like instrument (steady pitch, sustained notes, 5 harmonics)
    in the same register as the hum, with a sustained bass note under it."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    steps = np.cumsum(rng.integers(-3, 4, 200))
    out = np.zeros(n)
    i, k = 0, 0
    while i < n:
        dur = int(SR * rng.choice([0.25, 0.5, 0.5, 0.75]))
        m = midi_centre + float(np.clip(steps[k % len(steps)], -7, 7))
        f = 440 * 2 ** ((m - 69) / 12)
        seg = slice(i, min(n, i + dur))
        tt = t[seg] - t[i]
        env = np.minimum(1, tt / 0.02) * np.minimum(1, (tt[-1] - tt + 1e-3) / 0.03)
        out[seg] += env * sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, 6))
        i += dur
        k += 1
    bass = 440 * 2 ** ((midi_centre - 24 - 69) / 12)
    out += 0.5 * np.sin(2 * np.pi * bass * t)
    return out


def hum_in_noise(notes, noise: np.ndarray, snr_db: float, *, voice: str = "male", seed: int = 0) -> np.ndarray:
    hum = demo_hum.synth_hum(notes, voice=voice, snr_db=None, seed=seed, lead_silence_s=0.8)
    return _scale_to_snr(hum, noise[: len(hum)] if len(noise) >= len(hum) else np.resize(noise, len(hum)), snr_db)


def whistle(notes, *, centre_hz: float = 2000.0, tempo: float = 1.0, seed: int = 0, snr_db: float = 25.0) -> np.ndarray:
    """A whistled tune: a nearly pure sine (a weak 2nd harmonic) around ``centre_hz``, with vibrato,
    glides between notes, breath noise, short breaks at phrase ends, room noise."""
    rng = np.random.default_rng(seed)
    pitches = np.array([nt.pitch for nt in notes], float)
    shift = 12 * np.log2(centre_hz / 440) + 69 - np.mean(pitches)
    t0 = notes[0].start_s
    lead = 0.4
    total = (notes[-1].end_s - t0) / tempo + 2 * lead
    n = int(total * SR)
    midi = np.full(n, np.nan)
    amp = np.zeros(n)
    for nt in notes:
        s = int(((nt.start_s - t0) / tempo + lead) * SR)
        e = min(n, int(((nt.end_s - t0) / tempo + lead) * SR) - int(0.03 * SR))
        if e <= s:
            continue
        tt = np.arange(e - s) / SR
        midi[s:e] = nt.pitch + shift + 0.3 * np.sin(2 * np.pi * 5.5 * tt) * np.minimum(1, tt / 0.2) \
            + rng.normal(0, 0.15)
        amp[s:e] = np.minimum(1, tt / 0.02) * np.minimum(1, (tt[-1] - tt + 1e-3) / 0.02)
    idx = np.where(~np.isnan(midi), np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    midi = np.where(np.isnan(midi), midi[idx], midi)
    midi[np.isnan(midi)] = np.nanmean(midi)
    f = 440 * 2 ** ((signal.lfilter([0.05], [1, -0.95], midi - midi[0]) + midi[0] - 69) / 12)
    ph = 2 * np.pi * np.cumsum(f) / SR
    y = amp * (np.sin(ph) + 0.08 * np.sin(2 * ph))
    breath = signal.lfilter(*signal.butter(2, [1000 / (SR / 2), 5000 / (SR / 2)], "band"), rng.standard_normal(n))
    y = y + 0.05 * amp * breath / np.std(breath)
    return _scale_to_snr(y, rng.standard_normal(n), snr_db)


# vowel formants (Hz) of an adult male voice: (F1, F2, F3)
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240), "e": (530, 1840, 2480),
          "o": (570, 840, 2410)}


def sung_words(notes, *, voice_octave: int = -1, seed: int = 0, snr_db: float = 25.0) -> np.ndarray:
    """Singing with words: each note a consonant (a noise burst or a short closure) then a different
    vowel (its own formants), with vibrato and a glide between notes."""
    rng = np.random.default_rng(seed)
    t0 = notes[0].start_s
    lead = 0.4
    n = int((notes[-1].end_s - t0 + 2 * lead) * SR)
    f0 = np.zeros(n)
    y = np.zeros(n)
    names = list(VOWELS)
    prev = None
    for k, nt in enumerate(notes):
        s = int((nt.start_s - t0 + lead) * SR)
        e = min(n, int((nt.end_s - t0 + lead) * SR))
        if e - s < 400:
            continue
        tt = np.arange(e - s) / SR
        m = nt.pitch + 12 * voice_octave + rng.normal(0, 0.2)
        glide = (prev - m) * np.exp(-tt / 0.04) if prev is not None else 0.0
        m_t = m + glide + 0.35 * np.sin(2 * np.pi * 5.8 * tt + rng.uniform(0, 6)) * np.minimum(1, tt / 0.3)
        f0[s:e] = 440 * 2 ** ((m_t - 69) / 12)
        prev = m
        cons = int(0.06 * SR)  # consonant: the voice is off, a burst of noise (s, t, k, ch)
        ph = 2 * np.pi * np.cumsum(f0[s:e]) / SR
        formants = VOWELS[names[(k + int(rng.integers(0, 5))) % len(names)]]
        src = np.zeros(e - s)
        for h in range(1, 40):
            fh = h * f0[s:e]
            gain = sum(1 / (1 + ((fh - fm) / (60 + 0.05 * fm)) ** 2) for fm in formants) / h ** 0.3
            src += gain * np.where(fh < 7000, np.sin(h * ph), 0)
        env = np.minimum(1, np.maximum(tt - cons / SR, 0) / 0.02) * np.minimum(1, (tt[-1] - tt + 1e-3) / 0.03)
        y[s:e] += env * src
        burst = rng.standard_normal(cons) * np.hanning(cons)
        hp = signal.lfilter(*signal.butter(2, 2500 / (SR / 2), "high"), burst)
        y[s:s + cons] += 0.5 * hp * np.max(np.abs(src))
    return _scale_to_snr(y, rng.standard_normal(n), snr_db)


def skip_notes(notes, every: int = 5):
    """Drop every ``every``-th note (after the first), closing the gap: the person skipped it."""
    out, shift = [], 0.0
    for k, nt in enumerate(notes):
        if k and k % every == 0:
            shift += nt.end_s - nt.start_s if k + 1 >= len(notes) else notes[k + 1].start_s - nt.start_s
            continue
        out.append(notation.Note(nt.pitch, nt.start_s - shift, nt.dur_s))
    return out


def with_pauses(notes, every: int = 4, rest_s: float = 0.7):
    """The same notes with a rest of ``rest_s`` after every ``every`` notes: phrases with breaths,
    where whatever plays behind the hummer is heard alone."""
    out, shift = [], 0.0
    for k, nt in enumerate(notes):
        if k and k % every == 0:
            shift += rest_s
        out.append(notation.Note(nt.pitch, nt.start_s + shift, nt.dur_s))
    return out


def radio(n: int, tune_index: int, *, seed: int = 0) -> np.ndarray:
    """Another song on the radio: a demo tune's full arrangement (melody, chords, bass, drums; not
    one of the songs the tests index), looped to ``n`` samples."""
    return np.resize(_song(tune_index, seed), n)


@lru_cache(maxsize=8)
def _song(tune_index: int, seed: int) -> np.ndarray:
    y = render.render(catalogue.arrangement_for(tunes.TUNES[tune_index], seed=seed), sr=SR, engine="additive")
    y.flags.writeable = False
    return y
