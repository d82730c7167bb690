"""The pitch tracker (``features/pitch.py``) on synthetic signals: glides, vibrato, missing
fundamentals, harmonics, noise, and the melody line of a mix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hum_search.demo.arrange import arrange
from hum_search.demo.notation import melody_to_notes
from hum_search.demo.render import render
from hum_search.features import foreground, melody, pitch
from hum_search.search import align

SR = pitch.SAMPLE_RATE


def harmonic_tone(f0: np.ndarray, *, n_harmonics: int = 8, first: int = 1, sr: int = SR) -> np.ndarray:
    """A voice-like harmonic tone following the f0 track ``f0`` (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(h * phase) / h for h in range(first, n_harmonics + 1))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def midi(hz):
    return 69 + 12 * np.log2(np.asarray(hz) / 440.0)


def tracked_error_cents(y: np.ndarray, truth_hz: np.ndarray, params=pitch.HUM) -> np.ndarray:
    est = pitch.track(y, params)
    t = np.arange(len(est)) * pitch.HOP
    truth = midi(truth_hz[np.clip(t, 0, len(truth_hz) - 1)])
    voiced = ~np.isnan(est)
    return 100 * np.abs(est[voiced] - truth[voiced]), voiced


def test_glide_is_tracked_within_25_cents():
    n = 2 * SR
    f0 = 180.0 * 2 ** (np.linspace(0, 1, n))  # one octave up in two seconds
    err, voiced = tracked_error_cents(harmonic_tone(f0), f0)
    assert voiced.mean() > 0.9
    assert np.percentile(err, 95) < 25


def test_vibrato_is_tracked_within_25_cents():
    t = np.arange(2 * SR) / SR
    f0 = 220.0 * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.5 * t))  # +-40 cents at 5.5 Hz
    err, voiced = tracked_error_cents(harmonic_tone(f0), f0)
    assert voiced.mean() > 0.9
    assert np.percentile(err, 95) < 25


def test_missing_fundamental_gives_no_octave_error():
    f0 = np.full(2 * SR, 110.0)  # a low male hum through a thin microphone: no fundamental
    err, voiced = tracked_error_cents(harmonic_tone(f0, first=2, n_harmonics=12), f0)
    assert voiced.mean() > 0.9
    assert np.median(err) < 30


def test_without_the_two_lowest_harmonics_the_track_is_at_least_steady():
    """Through a phone band (300 Hz up) a 110 Hz hum may be heard at its 3rd harmonic; matching is
    key-invariant, so a steady offset is harmless, but the track must not jump between the two."""
    t = np.arange(3 * SR) / SR
    f0 = 110.0 * 2 ** (np.round(2 * np.sin(2 * np.pi * 0.5 * t)) / 12)  # a few steps of a tune
    est = pitch.track(harmonic_tone(f0, first=3, n_harmonics=14))
    truth = midi(f0[np.clip(np.arange(len(est)) * pitch.HOP, 0, len(f0) - 1)])
    offset = (est - truth)[~np.isnan(est)]
    assert np.mean(np.abs(offset - np.median(offset)) < 0.5) > 0.9


@pytest.mark.parametrize("third_penalty", [pitch.HUM.third_penalty, 0.0])
def test_a_tune_without_its_two_lowest_harmonics_is_tracked_at_its_fundamental(third_penalty):
    """A low male tune through a phone band: every note has lost its fundamental and 2nd harmonic.
    Its 3rd harmonic collects a harmonic sum of its own (3f, 6f, 9f...), but the 4th, 5th, 7th...
    harmonics sit a third and two thirds of the way between those: the thirds penalty keeps the
    track on the fundamental's pitch class; without it the tune is heard a twelfth up."""
    rng = np.random.default_rng(3)
    parts, truth = [], []
    for m in 45 + rng.integers(0, 8, 14):  # A2-E3: 110-165 Hz
        y = harmonic_tone(np.full(int(0.35 * SR), 440 * 2 ** ((m - 69) / 12)), first=3, n_harmonics=14)
        parts += [y, np.zeros(int(0.08 * SR), np.float32)]
        truth += [m] * (len(y) + int(0.08 * SR))
    est = pitch.track(np.concatenate(parts), dataclasses.replace(pitch.HUM, third_penalty=third_penalty))
    t = np.asarray(truth, float)[np.clip(np.arange(len(est)) * pitch.HOP, 0, len(truth) - 1)]
    voiced = ~np.isnan(est)
    assert voiced.mean() > 0.8
    right = np.mean(align.pitch_class_distance(est[voiced] - t[voiced]) < 0.5)
    assert (right > 0.9) if third_penalty else (right < 0.1)


def test_low_notes_heard_at_their_third_harmonic_are_moved_back_to_their_fundamental():
    """A low male hum through a thin microphone: its lowest notes lose the fundamental and the 2nd
    harmonic, so the tracker hears them at the 3rd. Moving them down an octave would leave them a
    fifth off; the fundamental (salience of all harmonics) must win over the octave below the 3rd."""
    notes = [50, 52, 45, 50, 53, 45, 52, 50, 48, 45, 50]
    parts, truth = [], []
    for m in notes:
        y = harmonic_tone(np.full(int(0.35 * SR), 440 * 2 ** ((m - 69) / 12)), first=3 if m == 45 else 1,
                          n_harmonics=12)
        parts += [y, np.zeros(int(0.08 * SR), np.float32)]
        truth += [m] * (len(y) + int(0.08 * SR))
    est = pitch.track(np.concatenate(parts))
    t = np.asarray(truth, float)[np.clip(np.arange(len(est)) * pitch.HOP, 0, len(truth) - 1)]
    low = ~np.isnan(est) & (t == 45)
    assert low.sum() > 50
    assert np.mean(align.pitch_class_distance(est[low] - 45) < 0.5) > 0.9


def test_noise_and_silence_are_unvoiced():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.zeros(SR // 2), harmonic_tone(np.full(SR, 300.0)), np.zeros(SR // 2)]).astype(np.float32)
    y += 1e-4 * rng.standard_normal(len(y)).astype(np.float32)
    est = pitch.track(y)
    frames = pitch.FRAME_RATE
    assert np.isnan(est[: int(0.4 * frames)]).mean() > 0.9
    assert np.abs(np.nanmedian(est[int(0.6 * frames): int(1.4 * frames)]) - midi(300.0)) < 0.2


def test_melody_of_a_mix_follows_the_lead():
    """The song preset picks the lead line out of chords and bass (pitch class, 80 % of frames)."""
    tune = melody_to_notes("C5 D5 E5 F5 | G5:2 E5:2 | A5 G5 F5 E5 | D5:4", bpm=100)
    arr = arrange(tune, key_root=0, passes=1, intro_beats=0, drums=False)
    y = render(arr, sr=SR, engine="additive")
    contour = melody.contour_from_f0(pitch.track(y, pitch.SONG))
    t = np.arange(len(contour)) / melody.CONTOUR_FPS
    hits = total = 0
    for n in arr.lead_notes:
        inside = (t > n.start_s + 0.06) & (t < n.start_s + n.dur_s - 0.04) & ~np.isnan(contour)
        total += inside.sum()
        hits += np.sum(align.pitch_class_distance(contour[inside] - n.pitch) < 0.5)
    assert total > 0 and hits / total > 0.8


# --- representation ----------------------------------------------------------------------------------
def contour_of(pitches, note_s=0.3, rest_every=0):
    frames = int(note_s * melody.CONTOUR_FPS)
    c = np.repeat(np.asarray(pitches, np.float32), frames)
    return c


def test_a_candidate_that_holds_still_beside_a_moving_one_costs_more():
    """foreground.steady_penalty: of two strong candidates, the one whose pitch stays within a few
    cents (an instrument) costs STEADY_COST more than the one with vibrato (a voice); when every
    strong candidate is steady (a test tone, a whistle with no wobble) none costs more."""
    t = np.arange(100) / pitch.FRAME_RATE
    voice = 60.0 + 0.3 * np.sin(2 * np.pi * 5.5 * t)  # 30 cents of vibrato at 5.5 Hz
    organ = np.full(100, 67.0)
    cands = np.stack([voice, organ, np.full(100, 40.0)], axis=1).astype(np.float32)
    sal = np.tile(np.array([1.0, 0.9, 0.1], np.float32), (100, 1))
    pen = foreground.steady_penalty(cands, sal)
    middle = slice(foreground.STEADY_FRAMES, 100 - foreground.STEADY_FRAMES)
    assert np.allclose(pen[middle, 1], foreground.STEADY_COST)  # the organ
    assert np.all(pen[middle, 0] < 0.1 * foreground.STEADY_COST)  # the voice
    alone = foreground.steady_penalty(np.stack([organ, organ + 12], axis=1).astype(np.float32), sal[:, :2])
    assert np.all(alone == 0.0)


def test_a_voice_beside_an_equally_loud_steady_instrument_is_tracked():
    """A hum with vibrato and a steady organ note a fifth above, as loud: the track follows the voice."""
    sr = pitch.SAMPLE_RATE
    t = np.arange(int(3 * sr)) / sr
    f_voice = 220.0 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f_voice) / sr
    voice = sum(np.sin(h * phase) / h for h in range(1, 8))
    organ = sum(np.sin(2 * np.pi * 330.0 * h * t) / h for h in range(1, 6))
    f0 = pitch.track((voice / np.std(voice) + organ / np.std(organ)).astype(np.float32) * 0.1, pitch.HUM)
    voiced = f0[np.isfinite(f0)]
    assert len(voiced) > 0.8 * len(f0)
    near_voice = np.abs(((voiced - 57.0 + 6) % 12) - 6) < 1.0
    assert np.mean(near_voice) > 0.8, np.mean(near_voice)
