"""The store contract on the embedded store, plus what is specific to it."""

from __future__ import annotations

import json

import pytest

from hum_search.errors import StoreError, StoreFormatError, StoreNotFoundError
from hum_search.store.embedded import EmbeddedStore

from .store_contract import SPEC, StoreContract


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
    assert "format_version: store has 0, code expects 1" in msg and "re-index" in msg and "\n" not in msg


def test_corrupt_store_json(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "store.json").write_text("{not json")
    with pytest.raises(StoreFormatError, match="not a hum-search store"):
        EmbeddedStore(tmp_path / "s", SPEC)


