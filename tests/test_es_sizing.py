"""The sizing formulas and the quantization measurement behind docs/elasticsearch.md. Offline."""

from __future__ import annotations

import dataclasses

import pytest

from hum_search.features.extract import current_spec
from hum_search.store.elastic import sizing as es_sizing
from hum_search.store.elastic.sizing import Collection, memory_bytes, vector_bytes


def test_elastic_formulas():
    # Elastic: float 4*d, int8 d+4, int4 d/2+4, bbq d/8+14, plus 4*m for the HNSW graph
    assert vector_bytes("flat", 2048) == 8192
    assert vector_bytes("hnsw", 64) == 4 * 64 + 64
    assert vector_bytes("int8_hnsw", 2048) == 2048 + 4 + 64
    assert vector_bytes("int4_hnsw", 2048) == 1024 + 4 + 64
    assert vector_bytes("bbq_hnsw", 2048) == 256 + 14 + 64
    assert es_sizing.disk_bytes("int8_hnsw", 100) == 400 + 104


def test_documented_totals():
    """The figures in docs/elasticsearch.md: 80-d melody vectors, a 5 s segment every 0.4 s of a
    4-minute song (588.5 per song), float hnsw; 2048-d sound vectors, int8_hnsw. The vector counts
    come from the spec, which the test takes from the feature code (the store layer may not)."""
    spec = current_spec()
    assert (spec.melody_dim, spec.sound_dim) == (80, 2048)
    assert es_sizing.segments_per_song(spec) == pytest.approx(588.5)
    m = memory_bytes(Collection.from_spec(spec, 10_000))
    assert m["melody"] == pytest.approx(10_000 * 588.5 * (4 * 80 + 64))
    assert m["sound"] == pytest.approx(10_000 * 2116)
    assert memory_bytes(Collection.from_spec(spec, 1_000_000))["total"] == pytest.approx(228.1e9, rel=0.01)
    assert memory_bytes(Collection.from_spec(spec, 1_000_000), "int8_hnsw", "bbq_hnsw")["total"] == pytest.approx(
        87.4e9, rel=0.01)


def test_segments_follow_the_spec():
    spec = dataclasses.replace(current_spec(), melody_params={"segment_s": 5.0, "segment_hop_s": 0.8})
    assert es_sizing.segments_per_song(spec, 240.0) == pytest.approx(294.75)
    assert es_sizing.segments_per_song(spec, 3.0) == 0.0  # shorter than one segment


def test_tables_print_the_documented_rows():
    lines: list[str] = []
    es_sizing.tables(current_spec(), lines.append)
    assert "   1,000,000 songs: melody 226.0 GB, sound 2.1 GB, total 228.1 GB" in lines
    assert not any("dims=" in line for line in lines)  # the recall measurement only with recall_tables


def test_quantization_measurement_supports_the_choice():
    r = es_sizing.quantization_recall("melody", 4000, 64, n_queries=60, seed=3)
    assert r["int8+rescore2"] >= 0.97 and r["int8+rescore2"] >= r["int8"]
    assert r["bbq+rescore3"] < r["int8+rescore2"]
    s = es_sizing.quantization_recall("sound", 1500, 2048, n_queries=40, seed=3)
    assert s["int8+rescore2"] >= 0.97
