"""hum_search.demo.catalogue: the tunes as written, and the catalogue builder and its command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hum_search import cli
from hum_search.demo import catalogue as demo
from hum_search.demo import synth
from hum_search.errors import HumSearchError

SINGABLE = (52, 81)  # E3..A5: every written melody note (hums move it by octaves into the voice)
MAX_SPAN = 19  # semitones, lowest to highest note of a tune


# --------------------------------------------------------------------------------------------------
# the tunes
# --------------------------------------------------------------------------------------------------
def test_catalogue_size_and_unique_names():
    assert len(demo.TUNES) >= 20
    slugs = [t.slug for t in demo.TUNES]
    assert len(set(slugs)) == len(slugs)
    assert len({t.title for t in demo.TUNES}) == len(demo.TUNES)
    assert all(s == s.lower() and " " not in s for s in slugs)
    assert set(demo.TUNES_BY_SLUG) == set(slugs)


@pytest.mark.parametrize("tune", demo.TUNES, ids=lambda t: t.slug)
def test_tune_is_well_formed(tune: demo.Tune):
    parsed = tune.parsed  # raises on any typo in the notation
    notes = parsed.notes
    assert len(notes) >= 16, "at least ~16 notes to hum"
    assert tune.artist and tune.title and tune.genre in demo.GENRE_STYLE
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
    scale = {(tune.key_root + i) % 12 for i in synth.MODES[tune.mode]}
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
        return [synth.midi_to_note_name(x.pitch) for x in demo.TUNES_BY_SLUG[slug].notes()[:n]]

    assert opening("twinkle-twinkle", 7) == ["C4", "C4", "G4", "G4", "A4", "A4", "G4"]
    assert opening("ode-to-joy", 8) == ["F#4", "F#4", "G4", "A4", "A4", "G4", "F#4", "E4"]
    assert opening("mary-had-a-little-lamb", 7) == ["E4", "D4", "C4", "D4", "E4", "E4", "E4"]
    assert opening("fur-elise", 9) == ["E5", "D#5", "E5", "D#5", "E5", "B4", "D5", "C5", "A4"]
    assert opening("frere-jacques", 4) == ["F4", "G4", "A4", "F4"]
    assert opening("happy-birthday", 6) == ["C4", "C4", "D4", "C4", "F4", "E4"]
    assert opening("greensleeves", 6) == ["E4", "G4", "A4", "B4", "C5", "B4"]
    assert opening("jingle-bells", 7) == ["B4", "B4", "B4", "B4", "B4", "B4", "B4"]


def test_tune_notes_and_tempo():
    t = demo.TUNES_BY_SLUG["twinkle-twinkle"]
    notes = t.notes()
    assert notes[0].start_s == 0.0 and notes[1].start_s == pytest.approx(60 / t.bpm)
    slow = t.notes(bpm=t.bpm / 2)
    assert slow[-1].end_s == pytest.approx(2 * notes[-1].end_s)
    assert demo.TUNES_BY_SLUG["amazing-grace"].pickup_beats == 1.0
    assert demo.TUNES_BY_SLUG["twinkle-twinkle"].pickup_beats == 0.0


@pytest.mark.parametrize("i", range(4))
def test_hum_spec_takes_a_contiguous_part(i):
    t = demo.TUNES[i]
    spec = demo.hum_spec(t, i)
    notes = t.notes()
    assert spec.n_notes >= 8 and spec.start_note + spec.n_notes <= len(notes)
    if i % 2 == 1 and spec.start_note:
        assert notes[spec.start_note].start_s >= notes[-1].end_s / 2


def test_every_arrangement_puts_the_melody_where_it_says():
    for i, t in enumerate(demo.TUNES):
        arr = demo.arrangement_for(t, seed=i)
        notes = t.notes()
        assert len(arr.occurrences) in (2, 3)
        lead = {round(n.start_s, 4) for n in arr.lead_notes}
        for occ in arr.occurrences:
            assert all(round(occ.offset_s + n.start_s, 4) in lead for n in notes), t.slug
        assert arr.occurrences[0].offset_s + notes[0].start_s >= 0
        assert arr.duration_s > arr.occurrences[-1].end_s


# --------------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------------
FAST = dict(engine="additive", sr=16000)


def test_build_demo_catalogue_writes_songs_hums_tags_and_is_idempotent(tmp_path):
    from hum_search.features.audio import load_audio
    from hum_search.indexing.tags import read_tags

    slugs = ["ode-to-joy", "fur-elise"]  # the first two: mp3 (or ...) and flac by format rotation
    formats = ("flac", "wav")
    songs = demo.build_demo_catalogue(tmp_path, tunes=slugs, formats=formats, **FAST)
    assert [p.relative_to(tmp_path).as_posix() for p in songs] == [
        "Classical/ode-to-joy.flac", "Classical/fur-elise.wav"]
    flac = songs[0]
    assert read_tags(flac) == {"title": "Ode to Joy", "artist": "Ludwig van Beethoven",
                               "album": "hum-search demo", "genre": "Classical"}
    y = load_audio(flac, 16000)
    cat = json.loads((tmp_path / "catalogue.json").read_text())
    entry = cat["songs"][0]
    assert entry["slug"] == "ode-to-joy" and entry["file"] == "Classical/ode-to-joy.flac"
    assert len(y) / 16000 == pytest.approx(entry["duration_s"], abs=0.01)
    # the melody sounds where the catalogue says: louder than the intro
    start = entry["melody_passes"][0]["start_s"]
    assert np.sqrt(np.mean(y[int(start * 16000):int((start + 4) * 16000)] ** 2)) > \
        1.5 * np.sqrt(np.mean(y[: int(start * 16000)] ** 2))
    # hums
    hums = demo.hum_paths(tmp_path)
    assert [p.name for p in hums] == ["fur-elise.wav", "ode-to-joy.wav"]
    assert (tmp_path / "hums" / demo.IGNORE_MARKER).exists()
    hum = entry["hum"]
    assert hum["file"] == "hums/ode-to-joy.wav" and len(hum["song_times_s"]) == len(entry["melody_passes"])
    h = load_audio(tmp_path / hum["file"], 16000)
    assert 4 < len(h) / 16000 < 20
    # idempotent: nothing is rewritten; force rewrites
    mtimes = {p: p.stat().st_mtime_ns for p in songs + hums}
    lines = []
    again = demo.build_demo_catalogue(tmp_path, tunes=slugs, formats=formats, progress=lines.append, **FAST)
    assert again == songs and lines == []
    assert {p: p.stat().st_mtime_ns for p in songs + hums} == mtimes
    demo.build_demo_catalogue(tmp_path, tunes=slugs[:1], formats=formats, force=True, progress=lines.append, **FAST)
    assert len(lines) == 2 and songs[0].stat().st_mtime_ns != mtimes[songs[0]]
    # the catalogue keeps entries of tunes built earlier
    assert [e["slug"] for e in json.loads((tmp_path / "catalogue.json").read_text())["songs"]] == slugs


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_build_demo_catalogue_mp3(tmp_path):
    from hum_search.indexing.tags import read_tags

    [song] = demo.build_demo_catalogue(tmp_path, tunes=["mary-had-a-little-lamb"], formats=("mp3",), hums=False,
                                       **FAST)
    assert song.suffix == ".mp3" and song.parent.name == "Children"
    assert read_tags(song)["title"] == "Mary Had a Little Lamb"
    assert not (tmp_path / "hums").exists()


def test_build_demo_catalogue_errors(tmp_path):
    with pytest.raises(HumSearchError, match="no demo tune"):
        demo.build_demo_catalogue(tmp_path, tunes=["no-such-tune"], **FAST)
    with pytest.raises(HumSearchError):
        demo.build_demo_catalogue(tmp_path, engine="casio")


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "music"
    rc = cli.main(["demo", "--out", str(out), "--engine", "additive", "--tune", "camptown-races"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "1 demo songs" in text and "hum-search query" in text
    assert (out / "Folk").is_dir() and (out / "hums" / "camptown-races.wav").exists()
    assert cli.main(["demo", "--list"]) == 0
    assert "ode-to-joy" in capsys.readouterr().out
    assert cli.main(["demo", "--out", str(out), "--tune", "nope"]) == 2
    assert "no demo tune" in capsys.readouterr().err
