"""The Elasticsearch mapping files (mappings/*.json) against the code that uses them. Offline."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hum_search.errors import StoreError, StoreFormatError
from hum_search.features.extract import current_spec
from hum_search.store.base import cosine_score
from hum_search.store.elastic import codec as es_codec
from hum_search.store.elastic import mapping as es_mapping
from hum_search.store.elastic.mapping import MAPPINGS_DIR, field

from .store_contract import SPEC, make_record

SONGS = json.loads((MAPPINGS_DIR / "songs.json").read_text())
FAILURES = json.loads((MAPPINGS_DIR / "failures.json").read_text())
MAPPING = SONGS["mappings"]

# The PANNs Cnn14 embedding has 2048 dimensions; this is fixed by the model, not by our code.
PANNS_CNN14_EMBEDDING_DIM = 2048


def test_mapping_dims_equal_the_code_spec():
    spec = current_spec()
    assert field(MAPPING, "melody_segments.vector")["dims"] == spec.melody_dim
    assert field(MAPPING, "sound_embedding")["dims"] == spec.sound_dim


def test_sound_dims_are_the_panns_embedding_size():
    assert field(MAPPING, "sound_embedding")["dims"] == PANNS_CNN14_EMBEDDING_DIM


@pytest.mark.parametrize("name", ["melody_segments.vector", "sound_embedding"])
def test_vector_fields_are_indexed_cosine_floats(name):
    f = field(MAPPING, name)
    assert f["type"] == "dense_vector"
    assert f["element_type"] == "float"
    assert f["index"] is True
    assert f["similarity"] == "cosine"
    assert "type" in f["index_options"], "index_options must be explicit: the default changed across versions"
    assert f["index_options"]["m"] == 16 and f["index_options"]["ef_construction"] == 100


def test_index_options_are_the_documented_choice():
    # see docs/elasticsearch.md "index_options": float HNSW for the small melody vectors (exact
    # segment scores), int8 HNSW with float rescoring for the 2048-dim sound embedding
    assert field(MAPPING, "melody_segments.vector")["index_options"]["type"] == "hnsw"
    assert "rescore_vector" not in field(MAPPING, "melody_segments.vector")["index_options"]  # not allowed on hnsw
    sound = field(MAPPING, "sound_embedding")["index_options"]
    assert sound["type"] == "int8_hnsw"
    assert 1.0 < sound["rescore_vector"]["oversample"] < 10.0


def test_segments_are_nested_with_times():
    seg = field(MAPPING, "melody_segments")
    assert seg["type"] == "nested"
    assert set(seg["properties"]) == {"vector", "start_s", "end_s"}


def test_vectors_are_excluded_from_source_and_the_mapping_is_strict():
    settings = SONGS["settings"]
    assert settings["index.mapping.exclude_source_vectors"] is True
    assert "_source" not in MAPPING, "no _source.excludes: it would make updates and _reindex lose the vectors"
    assert MAPPING["dynamic"] == "strict"
    assert settings["index.number_of_shards"] == 1


def test_issue_fields_and_types():
    assert field(MAPPING, "title")["type"] == "text"
    assert field(MAPPING, "title.keyword")["type"] == "keyword"
    for name in ("artist", "album", "genre", "path", "content_hash"):
        assert field(MAPPING, name)["type"] == "keyword", name
    assert field(MAPPING, "duration_s")["type"] == "float"
    assert field(MAPPING, "indexed_at")["type"] == "date"


@pytest.mark.parametrize("name,expected", sorted(es_mapping.QUERIED_FIELDS.items()))
def test_every_field_the_code_uses_exists_with_its_type(name, expected):
    f = field(MAPPING, name)
    assert f is not None, f"{name} is used by the code but missing from mappings/songs.json"
    assert f["type"] == expected


def test_meta_fields_and_melody_source_fields_are_mapped():
    for name in es_mapping.META_FIELDS + es_mapping.MELODY_SOURCE_FIELDS:
        assert field(MAPPING, name) is not None, name


def _paths(doc, prefix=""):
    for k, v in doc.items():
        name = f"{prefix}{k}"
        yield name
        if isinstance(v, dict):
            yield from _paths(v, name + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                yield from _paths(item, name + ".")


def test_every_document_field_is_mapped():
    # dynamic: strict rejects a document with an unmapped field; catch that here, not in production
    doc = es_codec.to_doc(make_record(3), SPEC)
    for name in set(_paths(doc)):
        assert field(MAPPING, name) is not None, f"{name} is written but not mapped"


def test_documents_carry_unit_vectors_for_cosine():
    rec = make_record(4)
    rec.melody.vectors = rec.melody.vectors * 3.0  # not unit length
    rec.sound = rec.sound * 0.1
    doc = es_codec.to_doc(rec, SPEC)
    seg = np.array([s["vector"] for s in doc["melody_segments"]])
    np.testing.assert_allclose(np.linalg.norm(seg, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(doc["sound_embedding"]), 1.0, atol=1e-6)
    assert doc["melody"]["n_segments"] == len(seg) and doc["has_sound"] is True


def test_cosine_score_is_elasticsearchs():
    # Elasticsearch scores cosine similarity as (1 + cos) / 2; the embedded store uses the same
    for cos in (-1.0, -0.3, 0.0, 0.5, 1.0):
        assert cosine_score(cos) == pytest.approx((1 + cos) / 2)


def test_index_body_fills_spec_dims_and_meta():
    body = es_mapping.songs_index_body(SPEC)
    m = body["mappings"]
    assert field(m, "melody_segments.vector")["dims"] == SPEC.melody_dim
    assert field(m, "sound_embedding")["dims"] == SPEC.sound_dim
    assert m["_meta"]["hum_search"] == {"kind": "hum-search-songs", "mapping_version": 1, "spec": SPEC.to_dict()}
    assert field(MAPPING, "sound_embedding")["dims"] == PANNS_CNN14_EMBEDDING_DIM  # the file itself is untouched


def test_stored_index_with_other_spec_is_refused():
    m = es_mapping.songs_index_body(SPEC)["mappings"]
    es_mapping.check_index(m, SPEC, "es (index t)")
    other = dataclasses.replace(SPEC, melody_params={"fps": 50.0})
    with pytest.raises(StoreFormatError, match="HUM_SEARCH_ES_INDEX=NEW_NAME hum-search index DIR") as e:
        es_mapping.check_index(m, other, "es (index t)")
    assert "melody_params" in str(e.value) and "\n" not in str(e.value)


def test_stored_index_with_other_dims_is_refused():
    m = es_mapping.songs_index_body(SPEC)["mappings"]
    field(m, "sound_embedding")["dims"] = 16
    with pytest.raises(StoreFormatError, match="dense_vector of 32 dims"):
        es_mapping.check_index(m, SPEC, "es (index t)")


def test_foreign_index_is_refused():
    with pytest.raises(StoreFormatError, match="not a hum-search songs index"):
        es_mapping.stored_spec({"properties": {"x": {"type": "keyword"}}}, "es (index t)")


def test_index_names():
    assert es_mapping.concrete_name("hum-songs", 1) == "hum-songs-000001"
    assert es_mapping.next_concrete_name("hum-songs", "hum-songs-000001") == "hum-songs-000002"
    assert es_mapping.next_concrete_name("hum-songs", "something-else") == "hum-songs-000001"
    assert es_mapping.failures_index_name("hum-songs") == "hum-songs-failures"


def test_failures_mapping():
    m = FAILURES["mappings"]
    assert {k: v["type"] for k, v in m["properties"].items()} == {"path": "keyword", "reason": "text",
                                                                 "failed_at": "date"}
    assert m["dynamic"] == "strict"


def test_missing_mapping_file_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="mapping file .* is missing. Fix:"):
        es_mapping.songs_index_body(SPEC, tmp_path)
