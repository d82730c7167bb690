"""Issue 11: hums from the real world find their song in a small store of demo tunes.

The fixtures (tests/noisy_fixtures.py) are hard on purpose: the last test checks that a tracker
without the front end's noise removal and whistle range (a noise-following one) fails them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal
from scipy.ndimage import maximum_filter1d

from hum_search.demo import hum, tunes
from hum_search.features import pitch
from hum_search.search.searcher import Searcher

from . import noisy_fixtures as nf

SR = pitch.SAMPLE_RATE
N_TUNES = 10  # songs in the store
QUERIED = (0, 3, 6, 9)  # the tunes hummed in each condition


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    store = nf.demo_tune_store(tmp_path_factory.mktemp("noisy-store"), N_TUNES)
    yield Searcher(store)
    store.close()


def _excerpt(k: int):
    notes = tunes.TUNES[k].notes()
    start = 0 if k % 2 == 0 else len(notes) // 3
    return notes[start:start + 14]


CONDITIONS = {
    "steady harmonic hum at 5 dB SNR": lambda ns, s: nf.hum_in_noise(
        ns, nf.steady_harmonic_noise(40 * SR, f0=90.0 + 13 * s, whine_hz=600.0 + 50 * s, seed=s), 5.0, seed=s),
    "a fridge (60 Hz hum, whine, rumble) at 0 dB SNR": lambda ns, s: fridge_hum(ns, s, 0.0),
    "competing melody at 10 dB SNR": lambda ns, s: nf.hum_in_noise(
        ns, nf.competing_melody(40 * SR, seed=s), 10.0, voice="female", seed=s),
    # as loud as the hum, in its register: only the voice's moving pitch tells them apart (foreground.py)
    "an organ melody in the hum's register at 3 dB SNR": lambda ns, s: nf.hum_in_noise(
        ns, nf.competing_melody(40 * SR, seed=s), 3.0, voice="female", seed=s),
    "another song on the radio through the pauses at 7 dB SNR": lambda ns, s: radio_hum(ns, s, 7.0),
    "whistled at 2 kHz": lambda ns, s: nf.whistle(ns, centre_hz=2000.0, seed=s),
    "sung with changing vowels": lambda ns, s: nf.sung_words(ns, seed=s),
    "0.6x tempo": lambda ns, s: hum.synth_hum(ns, tempo=0.6, seed=s),
    "1.6x tempo": lambda ns, s: hum.synth_hum(ns, tempo=1.6, voice="female", seed=s),
    "skipped notes": lambda ns, s: hum.synth_hum(nf.skip_notes(ns, 5), seed=s),
    "a 4.5 s hum": lambda ns, s: _first_seconds(hum.synth_hum(ns, voice="female", seed=s), 4.5),
    # the recording chain, not the hummer: what a phone, a cheap microphone or an upload does to a hum
    "through a phone (300-3400 Hz, 8 kHz)": lambda ns, s: _phone(hum.synth_hum(ns, seed=s)),
    "35 dB quieter (16-bit)": lambda ns, s: hum.synth_hum(ns, voice="female", seed=s) * 10 ** (-35 / 20),
    "clipped, peaks 12 dB over full scale": lambda ns, s: _clipped(hum.synth_hum(ns, seed=s), 12.0),
    "8 s of near-silence first": lambda ns, s: _after_silence(hum.synth_hum(ns, voice="female", seed=s), 8.0, s),
    "with echoes at 60 and 120 ms": lambda ns, s: _echo(hum.synth_hum(ns, seed=s)),
    # a recorder's lead-in of exact zeros before the microphone opens: no sound, so no room to learn
    # the noise floor from (pitch.live_frames); before, the floor sank to nothing and the fan was
    # tracked (ranks 1, 7, 7, 1)
    "8 s of digital silence, then a hum by a fan at 5 dB SNR": lambda ns, s: np.concatenate(
        [np.zeros(8 * SR, np.float32), CONDITIONS["steady harmonic hum at 5 dB SNR"](ns, s)]),
}
PHONE_SR = 8000  # Hz: narrowband telephony
PHONE_BAND_HZ = (300.0, 3400.0)


def _phone(y: np.ndarray) -> tuple[np.ndarray, int]:
    """The phone band at the phone's rate (the search decodes and resamples it: not the tracker's rate)."""
    sos = signal.butter(4, [f / (SR / 2) for f in PHONE_BAND_HZ], "bandpass", output="sos")
    return signal.resample_poly(signal.sosfilt(sos, y), PHONE_SR, SR).astype(np.float32), PHONE_SR


def _clipped(y: np.ndarray, over_db: float) -> np.ndarray:
    return np.clip(y / np.abs(y).max() * 10 ** (over_db / 20), -1.0, 1.0)


def _after_silence(y: np.ndarray, seconds: float, seed: int) -> np.ndarray:
    """``seconds`` of a quiet room (noise 60 dB under the hum's peak) before the hum."""
    quiet = np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 1e-3 * np.abs(y).max()
    return np.concatenate([quiet, y])


def _echo(y: np.ndarray) -> np.ndarray:
    out = y.copy()
    for delay_s, gain in ((0.06, 0.4), (0.12, 0.3)):
        d = int(delay_s * SR)
        out[d:] += gain * y[:-d]
    return out / np.abs(out).max() * np.abs(y).max()


def _first_seconds(y: np.ndarray, seconds: float) -> np.ndarray:
    """The recording's first ``seconds``, faded out over 50 ms (a hum stopped short)."""
    y = y[: int(seconds * SR)].copy()
    fade = int(0.05 * SR)
    y[-fade:] *= np.linspace(1.0, 0.0, fade)
    return y


def fridge_hum(notes, seed: int, snr_db: float, *, voice: str = "female") -> np.ndarray:
    """A hum beside a fridge or an air conditioner: a 60 Hz hum with 7 harmonics, a motor whine and
    a low rumble, as loud as the hum or louder. Most of the noise's power lies where the voice is
    not, so the voice band's SNR is under 0 dB while the hum's harmonics stand clear."""
    h = hum.synth_hum(notes, voice=voice, snr_db=None, seed=seed, lead_silence_s=0.8)
    rng = np.random.default_rng(seed)
    rumble = signal.lfilter(*signal.butter(2, 400 / (SR / 2), "low"), rng.standard_normal(len(h) + SR))[SR:]
    fan = nf.steady_harmonic_noise(len(h), f0=60.0, whine_hz=700.0 + 40 * seed, seed=seed)
    return nf._scale_to_snr(h, fan / np.std(fan) + 0.5 * rumble / np.std(rumble), snr_db)


RADIO_TUNES = (12, 13, 14)  # songs on the radio: demo tunes the store does not hold


def radio_hum(notes, seed: int, snr_db: float, *, voice: str = "female") -> np.ndarray:
    """A hum in phrases with breaths (a rest every 4 notes, 0.8 s before and after), another song
    playing on the radio throughout."""
    h = hum.synth_hum(nf.with_pauses(notes), voice=voice, snr_db=None, seed=seed, lead_silence_s=0.8)
    return nf._scale_to_snr(h, nf.radio(len(h), RADIO_TUNES[seed % 3], seed=50 + seed), snr_db)


def _ranks(searcher: Searcher, make) -> list[int]:
    ranks = []
    for k in QUERIED:
        made = make(_excerpt(k), k)  # samples at SR, or (samples, rate)
        resp = searcher.search(nf.wav_bytes(*made) if isinstance(made, tuple) else nf.wav_bytes(made), top=10)
        ids = [r.song.song_id for r in resp.results]
        slug = tunes.TUNES[k].slug
        ranks.append(ids.index(slug) + 1 if slug in ids else 99)
    return ranks


@pytest.mark.parametrize("condition", list(CONDITIONS))
def test_a_hard_hum_finds_its_song(searcher, condition):
    ranks = _ranks(searcher, CONDITIONS[condition])
    assert sum(r == 1 for r in ranks) >= len(ranks) - 1, ranks  # at most one of four not at rank 1
    assert max(ranks) <= 10, ranks  # and none lost (one skipped-note hum sits at rank 5: matching, not the front end)


@pytest.mark.parametrize("condition", ["steady harmonic hum at 5 dB SNR", "whistled at 2 kHz"])
def test_a_noise_following_tracker_fails_the_same_fixtures(searcher, monkeypatch, condition):
    """Without the stationary-noise removal, with the old 1,100 Hz ceiling and without the
    foreground gate the tracker follows the fan or misses the whistle: these fixtures are hard
    enough to tell the two apart. (The radio hums are not in this list: since the re-rank searches
    tempo and key more widely, 3 of 4 are found at rank 1 from the noise-following contour too, so
    the gate is checked frame by frame, in the next test.)"""
    monkeypatch.setattr(pitch, "HUM", pitch.HumParams(fmin_hz=65.0, fmax_hz=1100.0, fix_harmonic_jumps=True,
                                                      min_peakiness=2.3, denoise=False, background_gate=False))
    ranks = _ranks(searcher, CONDITIONS[condition])
    assert sum(r == 1 for r in ranks) <= len(ranks) - 2, ranks


def test_without_the_voice_motion_cue_the_organ_melody_is_followed(searcher, monkeypatch):
    """The steadiness cue (foreground.steady_penalty) is what finds these hums: without it the
    tracker switches to the organ's notes and at most one of the four is found at rank 1."""
    monkeypatch.setattr(pitch, "HUM", dataclasses.replace(pitch.HUM, voice_motion=False))
    ranks = _ranks(searcher, CONDITIONS["an organ melody in the hum's register at 3 dB SNR"])
    assert sum(r == 1 for r in ranks) <= 1, ranks


def test_a_hum_under_a_louder_fridge_keeps_its_frames():
    """Frame by frame, at 0 dB: the voice band's SNR is under the tracker's 0 dB floor for most of
    the hum, and without the peakiness exception (pitch._low_snr_frames) at most 45 % of its
    sounding frames stay voiced; with it, at least 55 % of every hum's."""
    without = dataclasses.replace(pitch.HUM, low_snr_keep_peakiness=0.0)
    kept, lost = [], []
    for k in QUERIED:
        h = hum.synth_hum(_excerpt(k), voice="female", snr_db=None, seed=k, lead_silence_s=0.8)
        sounding = maximum_filter1d(np.abs(h) > 0.01 * np.abs(h).max(), int(0.1 * SR))[::pitch.HOP]
        y = fridge_hum(_excerpt(k), k, 0.0).astype(np.float32)
        for f0, out in ((pitch.track(y, pitch.HUM), kept), (pitch.track(y, without), lost)):
            n = min(len(sounding), len(f0))
            out.append(float(np.mean(np.isfinite(f0[:n][sounding[:n]]))))
    assert min(kept) >= 0.55, kept
    assert max(lost) <= 0.45, lost


def test_the_radio_is_not_tracked_in_the_hums_pauses():
    """Frame by frame: where the hummer breathes and the radio plays on, the tracker without the
    foreground gate (foreground.py) follows the radio; with it, those frames are unvoiced while
    most of the hum stays voiced."""
    old = dataclasses.replace(pitch.HUM, background_gate=False)
    gated, followed = [], []
    for k in QUERIED:
        h = hum.synth_hum(nf.with_pauses(_excerpt(k)), voice="female", snr_db=None, seed=k, lead_silence_s=0.8)
        sounding = maximum_filter1d(np.abs(h) > 0.01 * np.abs(h).max(), int(0.1 * SR))[::pitch.HOP]
        y = radio_hum(_excerpt(k), k, 7.0)
        new_f0, old_f0 = pitch.track(y, pitch.HUM), pitch.track(y, old)
        n = min(len(sounding), len(new_f0))
        pause, voice = ~sounding[:n], sounding[:n]
        followed.append(np.mean(np.isfinite(old_f0[:n][pause])))
        gated.append((np.mean(np.isfinite(new_f0[:n][pause])), np.mean(np.isfinite(new_f0[:n][voice]))))
    assert min(followed) > 0.5, followed  # the old tracker hears the radio in every hum's pauses
    assert sum(p < 0.2 for p, _ in gated) >= 3, gated  # the gate silences them in at least 3 of 4
    assert min(v for _, v in gated) > 0.75, gated  # and keeps most of the hum

