"""hum_search.demo.render: the additive synthesizer and fluidrender."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.demo import render
from hum_search.demo.arrange import arrange
from hum_search.demo.notation import melody_to_notes
from hum_search.errors import HumSearchError, SynthError

from .demo_helpers import SR, autocorr_f0, cents, midi_hz, rms, simple_arrangement


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------
def test_additive_render_is_deterministic_with_energy_where_the_notes_are():
    melody = melody_to_notes("C4:2 r:2 | E4:2 r:2 | G4:2 r:2 | C5:2 r:2", bpm=120)
    arr = arrange(melody, key_root=0, bpm=120, passes=1, intro_beats=4, style="classical")
    arr.tracks = [t for t in arr.tracks if t.role == "lead"]  # melody alone: silence between notes
    y1 = render.render(arr, sr=SR, engine="additive", seed=3)
    y2 = render.render(arr, sr=SR, engine="additive", seed=3)
    assert y1.dtype == np.float32 and len(y1) == round(arr.duration_s * SR)
    assert np.array_equal(y1, y2)
    assert 20 * np.log10(np.abs(y1).max()) == pytest.approx(-1.0, abs=0.05)
    occ = arr.occurrences[0]
    for n in melody:
        s = occ.offset_s + n.start_s
        during = y1[int((s + 0.1) * SR):int((s + 0.8) * SR)]
        after = y1[int((s + 1.3) * SR):int((s + 1.9) * SR)]
        assert rms(during) > 30 * rms(after) + 1e-6
        f = autocorr_f0(during[: int(0.3 * SR)], SR)
        assert abs(cents(f, midi_hz(n.pitch))) < 30
    assert rms(y1[: int(0.9 * occ.start_s * SR)]) < 1e-4  # intro: no lead yet


def test_additive_render_full_arrangement_has_drums_and_depends_on_seed():
    arr = simple_arrangement()
    y = render.render(arr, sr=SR, engine="additive", seed=0)
    assert len(y) == round(arr.duration_s * SR) and np.isfinite(y).all()
    intro = y[: int(arr.occurrences[0].start_s * SR)]
    assert rms(intro) > 0.01  # accompaniment plays before the melody
    assert not np.array_equal(y, render.render(arr, sr=SR, engine="additive", seed=1))  # drum noise


def test_render_rejects_unknown_engine():
    with pytest.raises(HumSearchError):
        render.render(simple_arrangement(), engine="casio")


needs_fluidsynth = pytest.mark.skipif(not render.fluidsynth_available(),
                                      reason="fluidsynth and a GM soundfont are not installed")


@needs_fluidsynth
def test_fluidsynth_render_has_the_right_length_and_sound():
    arr = simple_arrangement(passes=1)
    y = render.render(arr, sr=22050, engine="fluidsynth")
    assert y.dtype == np.float32 and len(y) == round(arr.duration_s * 22050)
    assert np.isfinite(y).all()
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-1.0, abs=0.05)
    occ = arr.occurrences[0]
    melody_part = y[int(occ.start_s * 22050):int(occ.end_s * 22050)]
    assert rms(melody_part) > 0.02
    assert render.render(arr, sr=22050, engine="auto").shape == y.shape


def test_fluidsynth_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(SynthError, match="Fix:"):
        render.render(simple_arrangement(), engine="fluidsynth")
    # auto falls back to the additive engine
    assert len(render.render(simple_arrangement(passes=1), sr=8000, engine="auto")) > 0

