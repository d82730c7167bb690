"""hum_search.demo.notation: note names, the melody notation, notes in seconds, excerpts."""

from __future__ import annotations

import pytest

from hum_search.demo import notation

from .demo_helpers import SIMPLE


def test_note_names():
    assert notation.note_name_to_midi("C4") == 60
    assert notation.note_name_to_midi("A4") == 69
    assert notation.note_name_to_midi("F#3") == 54
    assert notation.note_name_to_midi("Bb4") == 70
    assert notation.note_name_to_midi("Cb4") == 59
    assert notation.midi_to_note_name(61) == "C#4"
    assert notation.key_root_pc("Bb") == 10 and notation.key_root_pc("F#") == 6


def test_parse_notation_details():
    p = notation.parse_notation("G3 | C4:1.5 D4:0.5 E4 - | E4:1/3 F4:1/3 G4:1/3 A4:3 |")
    assert p.bar_beats == (1.0, 4.0, 4.0)
    notes = p.notes
    assert [n.pitch for n in notes] == [55, 60, 62, 64, 64, 65, 67, 69]
    assert notes[3].beats == 2.0  # E4 tied over one more beat
    assert notes[1].start_beat == 1.0 and notes[2].start_beat == 2.5
    assert notes[-1].start_beat == pytest.approx(6.0)
    rest = notation.parse_notation("C4 r:2 D4")
    assert [e.pitch for e in rest.events] == [60, None, 62]
    assert rest.events[2].start_beat == 3.0


@pytest.mark.parametrize("bad", ["H4", "C4:0", "C4:-1", "c4", "C", "C4:x", "- C4", "r -", "C4 || D4", ""])
def test_parse_notation_rejects_typos(bad):
    with pytest.raises(ValueError):
        notation.parse_notation(bad)


def test_melody_to_notes_times_in_seconds():
    notes = notation.melody_to_notes("C4 D4:2 r E4:0.5", bpm=120)
    assert [(n.pitch, n.start_s, n.dur_s) for n in notes] == [(60, 0.0, 0.5), (62, 0.5, 1.0), (64, 2.0, 0.25)]


def test_excerpt_keeps_absolute_times():
    notes = notation.melody_to_notes(SIMPLE, bpm=120)
    ex = notation.excerpt(notes, 2, 3)
    assert ex == notes[2:5] and ex[0].start_s == 1.0
    with pytest.raises(ValueError):
        notation.excerpt(notes, 6, 5)


