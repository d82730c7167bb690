"""hum_search.demo.hum: synthetic hummed queries."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.demo import hum
from hum_search.demo.notation import Note, melody_to_notes

from .demo_helpers import SR, autocorr_f0, cents, midi_hz, rms


# --------------------------------------------------------------------------------------------------
# hums
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("voice,syllable,vibrato", [("male", "mm", 0.0), ("female", "la", 25.0), ("child", "da", 25.0)])
def test_hum_of_a_steady_note_has_the_right_f0(voice, syllable, vibrato):
    note = Note(57.0, 0.0, 2.0)
    y = hum.synth_hum([note], sr=SR, voice=voice, syllable=syllable, vibrato_cents=vibrato,
                      pitch_error_cents=0.0, snr_db=None, seed=1)
    shift = hum.hum_octave_shift([note], voice)
    assert shift % 12 == 0
    frame = y[int(0.9 * SR):int(1.9 * SR)]  # lead silence 0.3 s, vibrato settled
    assert abs(cents(autocorr_f0(frame, SR), midi_hz(57 + shift))) < 30


def test_hum_transpose_and_octave():
    note = Note(60.0, 0.0, 1.5)
    y = hum.synth_hum([note], sr=SR, octave=0, transpose=3.0, vibrato_cents=0, pitch_error_cents=0,
                      snr_db=None)
    assert abs(cents(autocorr_f0(y[int(0.7 * SR):int(1.5 * SR)], SR), midi_hz(63))) < 30


def test_hum_is_deterministic_timed_and_noisy_as_asked():
    notes = melody_to_notes("C4 D4 E4 C4 | C4 D4 E4 C4 | E4 F4 G4:2", bpm=100)
    kw = dict(sr=SR, seed=7, lead_silence_s=0.5)
    a = hum.synth_hum(notes, **kw)
    assert np.array_equal(a, hum.synth_hum(notes, **kw))
    assert not np.array_equal(a, hum.synth_hum(notes, sr=SR, seed=8, lead_silence_s=0.5))
    span = notes[-1].end_s - notes[0].start_s
    assert len(a) == pytest.approx((span + 1.0) * SR, abs=2)
    fast = hum.synth_hum(notes, sr=SR, tempo=1.25, lead_silence_s=0.5)
    assert len(fast) == pytest.approx((span / 1.25 + 1.0) * SR, abs=2)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0
    # leading silence holds only the noise: about 20 dB under the hum
    clean = hum.synth_hum(notes, sr=SR, seed=7, lead_silence_s=0.5, snr_db=None)
    assert np.abs(clean[: int(0.45 * SR)]).max() == 0.0
    voiced = rms(a[int(0.6 * SR):int(2.0 * SR)])
    silence = rms(a[: int(0.45 * SR)])
    assert 12 < 20 * np.log10(voiced / silence) < 28
    for noise in ("white", "babble"):
        y = hum.synth_hum(notes[:4], sr=SR, noise=noise, snr_db=10, seed=2)
        assert np.isfinite(y).all() and rms(y[: int(0.25 * SR)]) > 0


def test_hum_breath_gaps_and_syllables_make_gaps_between_notes():
    notes = melody_to_notes("C4 C4 C4 C4 | C4 C4 C4 C4", bpm=120)
    for syllable in ("la", "da"):
        y = hum.synth_hum(notes, sr=SR, syllable=syllable, snr_db=None, octave=0, seed=3)
        env = np.array([rms(y[i:i + 80]) for i in range(0, len(y) - 80, 80)])
        voiced = env > 0.1 * env.max()
        onsets = np.count_nonzero(voiced[1:] & ~voiced[:-1])
        assert onsets >= 6, syllable  # re-articulated notes, not one long tone


def test_hum_rejects_bad_options():
    n = [Note(60, 0, 1)]
    for kw in ({"syllable": "oo"}, {"noise": "brown"}, {"voice": "robot"}, {"tempo": 0}):
        with pytest.raises(ValueError):
            hum.synth_hum(n, **kw)
    with pytest.raises(ValueError):
        hum.synth_hum([])

