"""hum_search.demo.catalogue: the example hums' specs, each tune's arrangement, the catalogue builder
and its command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hum_search import cli
from hum_search.config import IGNORE_MARKER
from hum_search.demo import catalogue
from hum_search.demo.tunes import TUNES
from hum_search.errors import HumSearchError


# --------------------------------------------------------------------------------------------------
# the example hums and the arrangements
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("i", range(4))
def test_hum_spec_takes_a_contiguous_part(i):
    t = TUNES[i]
    spec = catalogue.hum_spec(t, i)
    notes = t.notes()
    assert spec.n_notes >= 8 and spec.start_note + spec.n_notes <= len(notes)
    if i % 2 == 1 and spec.start_note:
        assert notes[spec.start_note].start_s >= notes[-1].end_s / 2


def test_every_arrangement_puts_the_melody_where_it_says():
    for i, t in enumerate(TUNES):
        arr = catalogue.arrangement_for(t, seed=i)
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
    songs = catalogue.build_demo_catalogue(tmp_path, tunes=slugs, formats=formats, **FAST)
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
    hums = catalogue.hum_paths(tmp_path)
    assert [p.name for p in hums] == ["fur-elise.wav", "ode-to-joy.wav"]
    assert (tmp_path / "hums" / IGNORE_MARKER).exists()
    hum = entry["hum"]
    assert hum["file"] == "hums/ode-to-joy.wav" and len(hum["song_times_s"]) == len(entry["melody_passes"])
    h = load_audio(tmp_path / hum["file"], 16000)
    assert 4 < len(h) / 16000 < 20
    # idempotent: nothing is rewritten; force rewrites
    mtimes = {p: p.stat().st_mtime_ns for p in songs + hums}
    lines = []
    again = catalogue.build_demo_catalogue(tmp_path, tunes=slugs, formats=formats, progress=lines.append, **FAST)
    assert again == songs and lines == []
    assert {p: p.stat().st_mtime_ns for p in songs + hums} == mtimes
    catalogue.build_demo_catalogue(tmp_path, tunes=slugs[:1], formats=formats, force=True, progress=lines.append, **FAST)
    assert len(lines) == 2 and songs[0].stat().st_mtime_ns != mtimes[songs[0]]
    # the catalogue keeps entries of tunes built earlier
    assert [e["slug"] for e in json.loads((tmp_path / "catalogue.json").read_text())["songs"]] == slugs


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_build_demo_catalogue_mp3(tmp_path):
    from hum_search.indexing.tags import read_tags

    [song] = catalogue.build_demo_catalogue(tmp_path, tunes=["mary-had-a-little-lamb"], formats=("mp3",), hums=False,
                                            **FAST)
    assert song.suffix == ".mp3" and song.parent.name == "Children"
    assert read_tags(song)["title"] == "Mary Had a Little Lamb"
    assert not (tmp_path / "hums").exists()


def test_build_demo_catalogue_errors(tmp_path):
    with pytest.raises(HumSearchError, match="no demo tune"):
        catalogue.build_demo_catalogue(tmp_path, tunes=["no-such-tune"], **FAST)
    with pytest.raises(HumSearchError):
        catalogue.build_demo_catalogue(tmp_path, engine="casio")


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
