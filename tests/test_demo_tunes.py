"""hum_search.demo.tunes: the tunes as written (notation, key, meter, range, known openings)."""

from __future__ import annotations

import pytest

from hum_search.demo.arrange import STYLES
from hum_search.demo.notation import MODES, midi_to_note_name
from hum_search.demo.tunes import GENRE_STYLE, TUNES, TUNES_BY_SLUG, Tune

SINGABLE = (52, 81)  # E3..A5: every written melody note (hums move it by octaves into the voice)
MAX_SPAN = 19  # semitones, lowest to highest note of a tune


# --------------------------------------------------------------------------------------------------
# the tunes
# --------------------------------------------------------------------------------------------------
def test_catalogue_size_and_unique_names():
    assert len(TUNES) >= 20
    slugs = [t.slug for t in TUNES]
    assert len(set(slugs)) == len(slugs)
    assert len({t.title for t in TUNES}) == len(TUNES)
    assert all(s == s.lower() and " " not in s for s in slugs)
    assert set(TUNES_BY_SLUG) == set(slugs)
    assert set(GENRE_STYLE.values()) <= set(STYLES)  # every genre has an arrangement style


@pytest.mark.parametrize("tune", TUNES, ids=lambda t: t.slug)
def test_tune_is_well_formed(tune: Tune):
    parsed = tune.parsed  # raises on any typo in the notation
    notes = parsed.notes
    assert len(notes) >= 16, "at least ~16 notes to hum"
    assert tune.artist and tune.title and tune.genre in GENRE_STYLE
    assert tune.mode in ("major", "minor") and 0 <= tune.key_root < 12
    assert 40 <= tune.bpm <= 300
    assert 0 <= tune.lead_program <= 127
    num, den = (int(x) for x in tune.meter.split("/"))
    unit = {"quarter": 4, "eighth": 8, "sixteenth": 16}[tune.beat]
    assert tune.beats_per_bar == pytest.approx(num * unit / den), "beats_per_bar must match meter and beat"
    # bars: a pickup (or a full bar) first, then full bars, a complete or shorter last bar
    bars = parsed.bar_beats
    full = tune.beats_per_bar
    assert 0 < bars[0] <= full
    assert all(b == pytest.approx(full) for b in bars[1:-1]), f"bars {bars}"
    assert 0 < bars[-1] <= full
    if bars[0] < full and bars[-1] < full:
        assert bars[0] + bars[-1] == pytest.approx(full), "pickup and last bar make a whole bar"
    # pitches: a singable range, and the notes of the key (catches a wrong accidental)
    pitches = [n.pitch for n in notes]
    assert SINGABLE[0] <= min(pitches) and max(pitches) <= SINGABLE[1]
    assert max(pitches) - min(pitches) <= MAX_SPAN
    scale = {(tune.key_root + i) % 12 for i in MODES[tune.mode]}
    if tune.mode == "minor":
        scale |= {(tune.key_root + 9) % 12, (tune.key_root + 11) % 12}  # melodic/harmonic minor
    in_key = sum(n.beats for n in notes if n.pitch % 12 in scale) / sum(n.beats for n in notes)
    assert in_key >= 0.85
    if not tune.excerpt:
        assert notes[-1].pitch % 12 == tune.key_root, "a complete tune ends on its tonic"
    # no absurd leaps (a typo of an octave digit would make one)
    assert max(abs(a.pitch - b.pitch) for a, b in zip(notes, notes[1:])) <= 16
    # durations: positive, and notes + rests fill the bars exactly
    assert all(e.beats > 0 for e in parsed.events)
    assert sum(e.beats for e in parsed.events) == pytest.approx(sum(bars))


def test_known_openings_are_right():
    def opening(slug, n):
        return [midi_to_note_name(x.pitch) for x in TUNES_BY_SLUG[slug].notes()[:n]]

    assert opening("twinkle-twinkle", 7) == ["C4", "C4", "G4", "G4", "A4", "A4", "G4"]
    assert opening("ode-to-joy", 8) == ["F#4", "F#4", "G4", "A4", "A4", "G4", "F#4", "E4"]
    assert opening("mary-had-a-little-lamb", 7) == ["E4", "D4", "C4", "D4", "E4", "E4", "E4"]
    assert opening("fur-elise", 9) == ["E5", "D#5", "E5", "D#5", "E5", "B4", "D5", "C5", "A4"]
    assert opening("frere-jacques", 4) == ["F4", "G4", "A4", "F4"]
    assert opening("happy-birthday", 6) == ["C4", "C4", "D4", "C4", "F4", "E4"]
    assert opening("greensleeves", 6) == ["E4", "G4", "A4", "B4", "C5", "B4"]
    assert opening("jingle-bells", 7) == ["B4", "B4", "B4", "B4", "B4", "B4", "B4"]


def test_tune_notes_and_tempo():
    t = TUNES_BY_SLUG["twinkle-twinkle"]
    notes = t.notes()
    assert notes[0].start_s == 0.0 and notes[1].start_s == pytest.approx(60 / t.bpm)
    slow = t.notes(bpm=t.bpm / 2)
    assert slow[-1].end_s == pytest.approx(2 * notes[-1].end_s)
    assert TUNES_BY_SLUG["amazing-grace"].pickup_beats == 1.0
    assert TUNES_BY_SLUG["twinkle-twinkle"].pickup_beats == 0.0

