"""The store contract on a live Elasticsearch, plus what is specific to it.

Runs only when HUM_SEARCH_ES_URL points at a cluster (credentials from HUM_SEARCH_ES_API_KEY or
HUM_SEARCH_ES_USER/HUM_SEARCH_ES_PASSWORD, see docs/elasticsearch.md "Run the Elasticsearch
tests"); otherwise every test here is skipped and ``-ra`` prints why. Each test gets its own alias
(hum-test-<random>) and its indices are deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import uuid

import numpy as np
import pytest

from hum_search.config import Settings
from hum_search.errors import StoreFormatError, StoreNotFoundError
from hum_search.store.elastic.store import ElasticsearchStore

from .store_contract import SPEC, StoreContract, fake_vectors, make_record

ES_URL = os.environ.get("HUM_SEARCH_ES_URL", "").strip()

pytestmark = [
    pytest.mark.es,
    pytest.mark.skipif(not ES_URL, reason="HUM_SEARCH_ES_URL is not set: the Elasticsearch store tests need a live "
                                          "cluster (docker compose up -d --wait; see docs/elasticsearch.md)"),
]


def _settings(alias: str) -> Settings:
    return dataclasses.replace(Settings.from_env(), es_index=alias)


@pytest.fixture
def es_alias():
    alias = f"hum-test-{uuid.uuid4().hex[:12]}"
    yield alias
    store = None
    try:
        store = ElasticsearchStore.attach(ES_URL, _settings(alias))
    except StoreNotFoundError:
        pass
    if store is not None:
        store.drop()
        store.close()


class TestElasticsearchContract(StoreContract):
    @pytest.fixture
    def make_store(self):
        opened: list[ElasticsearchStore] = []
        aliases: list[str] = []

        def make(spec=None, reopen_of=None):
            if reopen_of is not None:
                alias = reopen_of.alias
            else:
                alias = f"hum-test-{uuid.uuid4().hex[:12]}"
                aliases.append(alias)
            store = ElasticsearchStore(ES_URL, spec or SPEC, create=True, settings=_settings(alias))
            opened.append(store)
            return store

        yield make
        for alias in aliases:
            try:
                ElasticsearchStore.attach(ES_URL, _settings(alias)).drop()
            except StoreNotFoundError:
                pass
        for s in opened:
            s.close()


def test_missing_index_without_create(es_alias):
    with pytest.raises(StoreNotFoundError, match="index a music folder first"):
        ElasticsearchStore(ES_URL, SPEC, create=False, settings=_settings(es_alias))


def test_alias_layout_and_meta(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    assert store.index == f"{es_alias}-000001"
    mapping = store.client.indices.get_mapping(index=es_alias)[store.index]["mappings"]
    assert mapping["_meta"]["hum_search"]["spec"] == SPEC.to_dict()
    assert mapping["properties"]["melody_segments"]["properties"]["vector"]["dims"] == SPEC.melody_dim
    settings = store.client.indices.get_settings(index=store.index)[store.index]["settings"]["index"]
    assert settings["mapping"]["exclude_source_vectors"] == "true"
    assert store.client.indices.exists(index=store.failures_index)


def test_vectors_stay_out_of_source_responses(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    store.add([make_record(1)])
    doc = store.client.get(index=es_alias, id="song0001")["_source"]
    assert "sound_embedding" not in doc
    assert all("vector" not in seg for seg in doc["melody_segments"])
    # and get() still returns the sound embedding exactly (through the fields option)
    np.testing.assert_allclose(store.get(["song0001"])["song0001"].sound, make_record(1).sound, atol=1e-6)


def test_update_location_keeps_vectors(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    store.add([make_record(i) for i in range(3)])
    store.update_location("song0001", "/music/moved.mp3", 5, 1.9e9)
    q = make_record(1).melody.vectors[2][None, :]
    assert store.melody_knn(q, k=1)[0][0].song_id == "song0001"
    assert store.sound_knn(make_record(1).sound, k=1)[0].song_id == "song0001"




def test_a_batch_is_searchable_when_it_ends(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    store.record_failures([(make_record(2).meta.path, "not audio")])
    with store.batch():
        store.add([make_record(i) for i in range(2)])
        store.add([make_record(2)])
    assert store.count() == 3 and store.failures() == []
    assert store.melody_knn(make_record(2).melody.vectors[:1], k=1)[0][0].song_id == "song0002"


def test_get_without_sound(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    store.add([make_record(1)])
    lean = store.get(["song0001"], sound=False)["song0001"]
    assert lean.sound is None and lean.melody is not None


def test_reindex_swaps_the_alias(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    store.add([make_record(i, "rock" if i % 2 else "folk") for i in range(6)])
    res = store.reindex(delete_old=True)
    assert (res.old_index, res.new_index, res.documents) == (f"{es_alias}-000001", f"{es_alias}-000002", 6)
    again = ElasticsearchStore(ES_URL, SPEC, settings=_settings(es_alias))
    assert again.index == res.new_index and again.count() == 6
    assert again.genres() == {"folk": 3, "rock": 3}
    assert again.melody_knn(make_record(4).melody.vectors[1][None, :], k=1)[0][0].song_id == "song0004"
    assert not store.client.indices.exists(index=res.old_index)


def test_other_spec_is_refused_with_one_line(es_alias):
    ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    other = dataclasses.replace(SPEC, melody_dim=SPEC.melody_dim * 2)
    with pytest.raises(StoreFormatError) as e:
        ElasticsearchStore(ES_URL, other, settings=_settings(es_alias))
    assert "melody_dim: store has 24, code expects 48" in str(e.value) and "\n" not in str(e.value)


def test_large_batch_in_chunks(es_alias):
    store = ElasticsearchStore(ES_URL, SPEC, create=True, settings=_settings(es_alias))
    recs = [make_record(i, n_seg=12) for i in range(130)]
    assert store.add(recs) == []
    assert store.count() == 130
    assert len(store.file_states()) == 130
    hits = store.melody_knn(fake_vectors(77, 3), k=10, per_song=2)
    assert [len({h.song_id for h in hs}) for hs in hits] == [10, 10, 10]
