"""The store contract on the embedded store, plus what is specific to it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hum_search.errors import (
    StoreCorruptError,
    StoreDamagedError,
    StoreError,
    StoreFormatError,
    StoreNotFoundError,
)
from hum_search.store.embedded import EmbeddedStore

from .store_contract import SPEC, StoreContract, make_record
from .test_es_requests import BREAKAGES


class TestEmbeddedContract(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path):
        opened = []
        counter = iter(range(1000))

        def make(spec=None, reopen_of=None):
            directory = reopen_of.location if reopen_of is not None else tmp_path / f"store{next(counter)}"
            store = EmbeddedStore(directory, spec or SPEC)
            opened.append(store)
            return store

        yield make
        for s in opened:
            s.close()


def test_missing_store_without_create(tmp_path):
    with pytest.raises(StoreNotFoundError, match="index a music folder first"):
        EmbeddedStore(tmp_path / "nothing", SPEC, create=False)


def test_refuses_non_empty_foreign_directory(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(StoreError, match="not empty"):
        EmbeddedStore(tmp_path, SPEC)


def test_refuses_other_format_version_on_disk(tmp_path):
    EmbeddedStore(tmp_path / "s", SPEC).close()
    meta = tmp_path / "s" / "store.json"
    info = json.loads(meta.read_text())
    info["spec"]["format_version"] = 0
    meta.write_text(json.dumps(info))
    with pytest.raises(StoreFormatError) as e:
        EmbeddedStore(tmp_path / "s", SPEC)
    msg = str(e.value)
    assert "format_version: store has 0, code expects 1" in msg and "--force" in msg and "\n" not in msg


def test_corrupt_store_json(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "store.json").write_text("{not json")
    with pytest.raises(StoreFormatError, match="not a hum-search store"):
        EmbeddedStore(tmp_path / "s", SPEC)




@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_refuses_the_records_the_elasticsearch_store_refuses(tmp_path, breakage):
    # one validator (store.base.validate_record) for both stores: NaN and all-zero vectors included
    words, breaks = BREAKAGES[breakage]
    store = EmbeddedStore(tmp_path / "s", SPEC)
    bad = make_record(1)
    breaks(bad)
    failures = store.add([make_record(0), bad])
    assert [f.song_id for f in failures] == ["song0001"]
    assert words in failures[0].reason
    assert store.count() == 1
    store.close()


def test_get_without_sound(tmp_path):
    store = EmbeddedStore(tmp_path / "s", SPEC)
    store.add([make_record(1)])
    lean = store.get(["song0001"], sound=False)["song0001"]
    assert lean.sound is None and lean.melody is not None
    assert store.get(["song0001"])["song0001"].sound is not None  # the default still reads it
    with store.batch():  # nothing to defer: a write is visible when it returns
        store.add([make_record(2)])
        assert store.count() == 2
    store.close()


# --- damage, corruption, readers that create nothing (issue 12) ---------------------------------------------
def _store_with_songs(path, n=3):
    store = EmbeddedStore(path, SPEC)
    assert store.add([make_record(i) for i in range(n)]) == []
    store.close()
    return path


def _names(path):
    return sorted(p.name for p in path.iterdir())


def test_reader_never_creates_a_missing_database(tmp_path):
    d = _store_with_songs(tmp_path / "s")
    (d / "songs.sqlite3").unlink()
    with pytest.raises(StoreDamagedError, match="songs.sqlite3 is missing") as e:
        EmbeddedStore(d, SPEC, create=False)
    assert "hum-search index DIR --store" in str(e.value) and "\n" not in str(e.value)
    assert _names(d) == ["store.json"]


def test_writer_starts_a_new_database_without_the_stale_wal(tmp_path, caplog):
    d = _store_with_songs(tmp_path / "s")
    (d / "songs.sqlite3").unlink()
    (d / "songs.sqlite3-wal").write_bytes(b"left by the deleted database")
    with caplog.at_level("WARNING"), EmbeddedStore(d, SPEC) as store:
        assert store.count() == 0
    assert "starting a new, empty one" in caplog.text
    assert _names(d) == ["songs.sqlite3", "store.json"]


def test_lost_store_json_is_restored_by_a_writer_from_the_database(tmp_path):
    d = _store_with_songs(tmp_path / "s")
    original = json.loads((d / "store.json").read_text())
    (d / "store.json").unlink()
    with pytest.raises(StoreDamagedError, match="store.json is missing"):
        EmbeddedStore(d, SPEC, create=False)
    assert _names(d) == ["songs.sqlite3"]
    with EmbeddedStore(d, SPEC) as store:
        assert store.count() == 3
    assert json.loads((d / "store.json").read_text()) == original


def test_old_database_without_its_record_is_backfilled_by_a_writer(tmp_path):
    d = _store_with_songs(tmp_path / "s")
    with sqlite3.connect(d / "songs.sqlite3") as db:
        db.execute("DROP TABLE meta")
    EmbeddedStore(d, SPEC, create=False).close()  # a reader changes nothing
    with sqlite3.connect(d / "songs.sqlite3") as db:
        assert "meta" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    EmbeddedStore(d, SPEC).close()
    with sqlite3.connect(d / "songs.sqlite3") as db:
        recorded = json.loads(db.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()[0])
    assert recorded == json.loads((d / "store.json").read_text())


@pytest.mark.parametrize("damage,words", [
    (lambda p: p.write_bytes(b"\x00" * 5000), "not an SQLite database"),
    (lambda p: p.write_bytes(p.read_bytes()[:6000]), "truncated"),
])
def test_corrupt_database_is_named_with_the_way_back(tmp_path, damage, words):
    d = _store_with_songs(tmp_path / "s")
    damage(d / "songs.sqlite3")
    for create in (False, True):
        with pytest.raises(StoreCorruptError) as e:
            EmbeddedStore(d, SPEC, create=create)
        msg = str(e.value)
        assert words in msg and "corrupt" in msg and "mv " in msg and "hum-search index DIR" in msg
        assert "network share" not in msg


def test_full_disk_is_one_line(tmp_path):
    store = EmbeddedStore(tmp_path / "s", SPEC)
    page_count = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {page_count + 1}")  # as if the disk were full
    with pytest.raises(StoreError, match="is full") as e:
        store.add([make_record(i, n_seg=200) for i in range(40)])
    assert "free some disk space" in str(e.value)
    store.close()


def test_store_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for create in (False, True):
        with pytest.raises(StoreNotFoundError, match="is a file, not an index folder"):
            EmbeddedStore(f, SPEC, create=create)


def test_foreign_folder_advice_matches_what_index_accepts(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(StoreNotFoundError) as reader:
        EmbeddedStore(tmp_path, SPEC, create=False)
    assert "NEW_FOLDER" in str(reader.value) and f"--store {tmp_path}" not in str(reader.value)
    with pytest.raises(StoreError, match="not empty"):
        EmbeddedStore(tmp_path, SPEC)


def test_another_programs_songs_sqlite3_is_left_alone(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    with sqlite3.connect(d / "songs.sqlite3") as db:
        db.execute("CREATE TABLE playlist (name TEXT)")
    before = (d / "songs.sqlite3").read_bytes()
    for create in (False, True):
        with pytest.raises(StoreNotFoundError, match="some other program's database"):
            EmbeddedStore(d, SPEC, create=create)
    assert _names(d) == ["songs.sqlite3"] and (d / "songs.sqlite3").read_bytes() == before
