"""``hum-search index DIR --force`` on a store whose features an earlier release computed: the store
is rebuilt beside the old one from the audio (the folders named, plus the old store's files found
elsewhere) and replaces it only when complete; an interrupted rebuild leaves the old store as it
was and is continued by the same command."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import types

import pytest

from hum_search import cli
from hum_search.config import Settings
from hum_search.engine import plan_rebuild
from hum_search.errors import StoreError, StoreFeaturesError
from hum_search.features.extract import current_spec
from hum_search.indexing.report import IndexInterrupted, IndexReport
from hum_search.store import rebuild as store_rebuild
from hum_search.store.embedded import EmbeddedStore

from .test_audio import write_hum, write_song

OLD_MODEL = "salience-melody-v0"


@pytest.fixture(autouse=True)
def no_sound_model(monkeypatch, tmp_path):
    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
    monkeypatch.setenv("HUM_SEARCH_CACHE_DIR", str(tmp_path / "no-cache"))


def index(*argv) -> int:
    return cli.main(["index", *map(str, argv), "--workers", "0", "--no-sound", "--no-progress"])


def age(store_dir) -> None:
    """Make ``store_dir`` look written by an earlier release (another melody model), in both places
    the spec is recorded."""
    meta = store_dir / "store.json"
    info = json.loads(meta.read_text())
    info["spec"]["melody_model"] = OLD_MODEL
    meta.write_text(json.dumps(info))
    db = sqlite3.connect(store_dir / "songs.sqlite3")
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'store'", (json.dumps(info),))
    db.close()


def paths_in(store_dir) -> set[str]:
    s = EmbeddedStore(store_dir, current_spec(), create=False)
    try:
        return set(s.file_states())
    finally:
        s.close()


@pytest.fixture
def old(tmp_path):
    """An aged store holding two songs of ``music`` and one of ``elsewhere``, plus one whose file was
    deleted since."""
    music, elsewhere, store = tmp_path / "music", tmp_path / "elsewhere", tmp_path / "store"
    a, b = write_song(music / "Folk" / "a.wav", 0), write_song(music / "Folk" / "b.wav", 1)
    c, gone = write_song(elsewhere / "Rock" / "c.wav", 2), write_song(elsewhere / "Rock" / "gone.wav", 3)
    assert index(music, "--store", store) == 0
    assert index(elsewhere, "--store", store) == 0
    gone.unlink()
    age(store)
    return types.SimpleNamespace(root=tmp_path, music=music, elsewhere=elsewhere, store=store,
                                 songs=[str(p.resolve()) for p in (a, b, c)], hum=write_hum(tmp_path / "hum.wav", 2))


def test_an_old_store_is_refused_with_a_fix_that_names_force(old, capsys):
    with pytest.raises(StoreFeaturesError) as e:
        EmbeddedStore(old.store, current_spec(), create=False)
    assert f"store has '{OLD_MODEL}'" in str(e.value) and "--force" in str(e.value)
    capsys.readouterr()
    assert index(old.music, "--store", old.store) == 2  # without --force: nothing changes
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1
    assert json.loads((old.store / "store.json").read_text())["spec"]["melody_model"] == OLD_MODEL


def test_force_rebuilds_in_place_and_keeps_the_songs_found_elsewhere(old, capsys):
    capsys.readouterr()
    assert index(old.music, "--store", old.store, "--force") == 0
    out, err = capsys.readouterr()
    assert "1 files of the old index found elsewhere" in out and "rebuilt:" in out
    assert "1 songs of the old index are left out" in err
    assert paths_in(old.store) == set(old.songs)  # the two asked for, the one elsewhere; not the deleted one
    assert not store_rebuild.rebuild_location(old.store).exists()
    assert not [p for p in old.root.iterdir() if ".replaced-" in p.name]
    assert cli.main(["query", str(old.hum), "--store", str(old.store), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["results"][0]["path"] == old.songs[2]


def test_an_interrupted_rebuild_leaves_the_old_store_and_is_continued(old, monkeypatch, capsys):
    from hum_search import engine as engine_mod
    real = engine_mod.Engine.index

    def interrupted(self, roots, **kw):
        kw["progress"] = None
        real(self, roots[:1], **kw)  # the first folder gets in, then Ctrl-C
        raise IndexInterrupted(IndexReport(roots=list(roots), stopped=True))

    monkeypatch.setattr(engine_mod.Engine, "index", interrupted)
    assert index(old.music, "--store", old.store, "--force") == 130
    work = store_rebuild.rebuild_location(old.store)
    assert work.is_dir() and json.loads((old.store / "store.json").read_text())["spec"]["melody_model"] == OLD_MODEL
    monkeypatch.setattr(engine_mod.Engine, "index", real)
    capsys.readouterr()
    assert index(old.music, "--store", old.store, "--force") == 0
    assert "unchanged 2" in capsys.readouterr().out  # the songs of the first run were kept
    assert paths_in(old.store) == set(old.songs) and not work.exists()


def test_an_unfinished_rebuild_of_yet_another_release_is_started_over(old):
    work = store_rebuild.rebuild_location(old.store)
    assert index(old.elsewhere, "--store", work) == 0
    age(work)
    assert index(old.music, "--store", old.store, "--force") == 0
    assert paths_in(old.store) == set(old.songs)


def test_a_folder_in_the_way_of_the_rebuild_is_left_alone(old, capsys):
    work = store_rebuild.rebuild_location(old.store)
    work.mkdir()
    (work / "store.json").write_text("{}")
    (work / "mine.txt").write_text("keep me")
    capsys.readouterr()
    assert index(old.music, "--store", old.store, "--force") == 2
    assert (work / "mine.txt").read_text() == "keep me"
    assert json.loads((old.store / "store.json").read_text())["spec"]["melody_model"] == OLD_MODEL


def test_a_failed_swap_puts_the_old_store_back(tmp_path, monkeypatch):
    old, new = tmp_path / "store", tmp_path / "store.rebuild"
    old.mkdir(), new.mkdir()
    (old / "x").write_text("old")
    real_rename = type(old).rename

    def rename(self, target):
        if self == new:
            raise OSError(18, "Invalid cross-device link")
        return real_rename(self, target)

    monkeypatch.setattr(type(old), "rename", rename)
    with pytest.raises(StoreError, match="cannot put the rebuilt index"):
        store_rebuild.replace_store(old, new)
    assert (old / "x").read_text() == "old" and new.is_dir()


def test_elasticsearch_stores_are_not_rebuilt_in_place():
    settings = dataclasses.replace(Settings.from_env(), store="http://localhost:9200")
    assert plan_rebuild(settings, ["x"]) is None
