"""hum_search.demo.arrange and hum_search.demo.harmony: where the melody sounds in a song, and the chords under it."""

from __future__ import annotations

import pytest

from hum_search.demo.arrange import arrange
from hum_search.demo.harmony import chord_candidates, harmonize
from hum_search.demo.notation import melody_to_notes

from .demo_helpers import SIMPLE, simple_arrangement


# --------------------------------------------------------------------------------------------------
# arrangement
# --------------------------------------------------------------------------------------------------
def test_arrangement_occurrences_say_where_every_melody_note_sounds():
    arr = simple_arrangement(passes=3, pickup_beats=0.0)
    melody = melody_to_notes(SIMPLE, bpm=120)
    assert len(arr.occurrences) == 3
    bar = 4 * 0.5
    assert arr.occurrences[0].offset_s == pytest.approx(bar)  # one bar of intro
    lead = {(round(n.start_s, 6), round(n.pitch)) for t in arr.tracks if t.role == "lead" for n in t.notes}
    for occ in arr.occurrences:
        assert occ.pass_index in (0, 1, 2)
        assert occ.start_s == pytest.approx(occ.offset_s + melody[0].start_s)
        assert occ.end_s == pytest.approx(occ.offset_s + melody[-1].end_s)
        shift = arr.pass_transpose[occ.pass_index]
        for n in melody:
            assert (round(arr.song_time(n, occ.pass_index), 6), round(n.pitch + shift)) in lead
    # passes follow each other without overlap, and the song ends after the last one
    ends = [o.end_s for o in arr.occurrences]
    starts = [o.start_s for o in arr.occurrences]
    assert all(e <= s + 1e-9 for e, s in zip(ends, starts[1:]))
    assert arr.duration_s > ends[-1]
    # later passes: another instrument, and an octave shift where the range allows
    assert arr.pass_program[1] != arr.pass_program[0]
    assert arr.pass_transpose[0] == 0 and arr.pass_transpose[1] in (-12, 0, 12)


def test_arrangement_with_pickup_aligns_the_downbeat():
    melody = melody_to_notes("G4 | C5:2 B4 A4 | G4:3", bpm=60)  # one-beat pickup
    arr = arrange(melody, key_root=0, bpm=60, beats_per_bar=4, pickup_beats=1, intro_beats=4, style="pop")
    # intro = one bar (4 s); the pickup sounds in the last beat of the intro
    assert arr.occurrences[0].offset_s == pytest.approx(3.0)
    assert arr.song_time(melody[1]) == pytest.approx(4.0)  # first downbeat of the melody
    # the pickup of pass 2 does not overlap the end of pass 1
    assert arr.occurrences[1].start_s >= arr.occurrences[0].end_s - 1e-9


def test_harmonizer_ends_on_the_tonic_and_fits_the_melody():
    melody = melody_to_notes("C4 E4 G4 E4 | F4 A4 C5 A4 | G4 B4 D5 B4 | C5:4", bpm=120)
    arr = arrange(melody, key_root=0, bpm=120, passes=1, intro_beats=0, style="classical", outro_bars=0)
    chords = [pcs for _, _, pcs in arr.chords]
    assert chords == [(0, 4, 7), (5, 9, 0), (7, 11, 2), (0, 4, 7)]
    minor = arrange(melody_to_notes("A4 C5 E5 C5 | E4 G#4 B4:2 | A4:4", bpm=120), key_root=9,
                    mode="minor", bpm=120, passes=1, intro_beats=0, outro_bars=0)
    assert [pcs for _, _, pcs in minor.chords] == [(9, 0, 4), (4, 8, 11), (9, 0, 4)]


def test_arrange_rejects_bad_input():
    with pytest.raises(ValueError):
        arrange([], key_root=0)
    with pytest.raises(ValueError):
        simple_arrangement(style="polka")
    with pytest.raises(ValueError):
        simple_arrangement(mode="lydian-ish")


def test_chord_candidates_and_cadence():
    major = chord_candidates(0, "major")
    assert [name for name, _ in major] == ["I", "ii", "iii", "IV", "V", "vi"]  # vii° left out
    minor = dict(chord_candidates(9, "minor"))
    assert minor["V"] == (4, 8, 11) and "v" not in minor  # harmonic minor's major dominant
    # a melody ending on the dominant's notes still gets dominant then tonic in the last two bars
    melody = [(0.0, 4.0, 64), (4.0, 2.0, 67), (6.0, 2.0, 62), (8.0, 4.0, 60)]
    chords = harmonize(melody, 3, beats_per_bar=4, first_downbeat=0.0, key_root=0, mode="major")
    assert [name for name, _ in chords] == ["I", "V", "I"]
    with pytest.raises(ValueError):
        chord_candidates(0, "lydian-ish")
