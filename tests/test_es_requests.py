"""Request bodies built for Elasticsearch, field by field, and parsing of responses shaped like the
examples in the Elasticsearch documentation (nested kNN with inner hits, kNN, aggregations,
point-in-time pages). Offline: no client, no server."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from hum_search.store.base import validate_record
from hum_search.store.elastic import codec as es_codec
from hum_search.store.elastic import query as es_query
from hum_search.store.elastic.bulk import song_failures
from hum_search.types import SegmentHit, SongHit, StoreFailure

from .store_contract import DIM, SOUND_DIM, SPEC, fake_vectors, make_record


# --- kNN requests ------------------------------------------------------------------------------------
def test_melody_knn_body_field_by_field():
    v = fake_vectors(1, 1)[0] * 5.0  # not unit length: the request carries a unit vector
    body = es_query.melody_knn_body(v, k=7, genres=["rock", "folk", "rock"], per_song=3)
    assert set(body) == {"size", "_source", "track_total_hits", "knn"}
    assert body["size"] == 7
    assert body["_source"] is False
    assert body["track_total_hits"] is False
    knn = body["knn"]
    assert set(knn) == {"field", "query_vector", "k", "num_candidates", "filter", "inner_hits"}
    assert knn["field"] == "melody_segments.vector"
    assert len(knn["query_vector"]) == DIM
    assert np.linalg.norm(knn["query_vector"]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(knn["query_vector"], v / np.linalg.norm(v), atol=1e-6)
    assert knn["k"] == 7
    assert knn["num_candidates"] == es_query.num_candidates(7) == 200
    # the genre filter is inside the knn clause (a pre-filter on the parent song), deduplicated
    assert knn["filter"] == [{"terms": {"genre": ["rock", "folk"]}}]
    assert knn["inner_hits"] == {
        "name": "segments", "size": 3, "_source": False,
        "fields": ["melody_segments.start_s", "melody_segments.end_s"],
    }


def test_melody_knn_body_without_genres_has_no_filter():
    for genres in (None, []):
        body = es_query.melody_knn_body(fake_vectors(2, 1)[0], k=5, genres=genres, per_song=1)
        assert "filter" not in body["knn"]
        assert body["knn"]["inner_hits"]["size"] == 1


def test_knn_limits_are_clamped():
    body = es_query.melody_knn_body(fake_vectors(3, 1)[0], k=50_000, genres=None, per_song=500)
    assert body["knn"]["k"] == 10_000 and body["size"] == 10_000
    assert body["knn"]["num_candidates"] == 10_000
    assert body["knn"]["inner_hits"]["size"] == 100  # index.max_inner_result_window


@pytest.mark.parametrize("k,expected", [(1, 200), (10, 200), (20, 200), (50, 500), (100, 1000), (999, 9990),
                                        (5000, 10_000)])
def test_num_candidates(k, expected):
    nc = es_query.num_candidates(k)
    assert nc == expected and k <= nc <= 10_000


def test_sound_knn_body_field_by_field():
    v = fake_vectors(4, 1, SOUND_DIM)[0]
    body = es_query.sound_knn_body(v, 3, ["jazz"])
    assert body == {
        "size": 3, "_source": False, "track_total_hits": False,
        "knn": {"field": "sound_embedding", "query_vector": pytest.approx(v.tolist(), abs=1e-6), "k": 3,
                "num_candidates": 200, "filter": [{"terms": {"genre": ["jazz"]}}]},
    }
    assert "filter" not in es_query.sound_knn_body(v, 3, None)["knn"]


def test_msearch_lines_pair_a_header_with_each_body():
    bodies = [{"size": 1}, {"size": 2}]
    assert es_query.msearch_lines("hum-songs", bodies) == [
        {"index": "hum-songs"}, {"size": 1}, {"index": "hum-songs"}, {"size": 2}]


# --- other requests --------------------------------------------------------------------------------------
def test_get_body_keeps_vectors_out_of_source():
    body = es_query.get_body(["a", "b"], melody=True)
    assert set(body) == {"query", "size", "_source", "fields", "track_total_hits"}
    assert body["query"] == {"ids": {"values": ["a", "b"]}}
    assert body["size"] == 2 and body["track_total_hits"] is False
    inc = body["_source"]["includes"]
    assert "melody.vectors_f16" in inc and "melody.contour_f16" in inc and "path" in inc
    assert not any(f.startswith("melody_segments") or f == "sound_embedding" for f in inc)
    assert body["fields"] == ["sound_embedding"]
    lean = es_query.get_body(["a"], melody=False)["_source"]["includes"]
    assert not any(f.startswith("melody") for f in lean)


def test_get_body_without_segments_reads_the_contour_alone():
    body = es_query.get_body(["a", "b"], melody=True, sound=False, segments=False)
    full = es_query.get_body(["a", "b"], melody=True, sound=False)
    assert {k: v for k, v in body.items() if k != "_source"} == {k: v for k, v in full.items() if k != "_source"}
    inc = body["_source"]["includes"]
    assert [f for f in inc if f.startswith("melody")] == ["melody.fps", "melody.contour_f16"]
    assert [f for f in inc if not f.startswith("melody")] == list(es_query.META_FIELDS)
    # (source filtering by dotted path into an object field: the `_source` option of the search API)


def test_get_body_leaves_the_sound_vector_out_unless_asked():
    # the re-rank reads contours and segment vectors only: no 2,048 floats per candidate song
    body = es_query.get_body(["a", "b"], melody=True, sound=False)
    assert "fields" not in body
    assert "sound_embedding" not in json.dumps(body)
    assert body["_source"] == es_query.get_body(["a", "b"], melody=True)["_source"]


def test_id_or_path_query():
    q = es_query.id_or_path_query("x.mp3", "/music/x.mp3")
    assert q == {"bool": {"should": [{"ids": {"values": ["x.mp3"]}}, {"term": {"path": "x.mp3"}},
                                     {"term": {"path": "/music/x.mp3"}}], "minimum_should_match": 1}}
    assert len(es_query.id_or_path_query("/a", "/a")["bool"]["should"]) == 2


def test_other_songs_at_path_query():
    assert es_query.other_songs_at_path_query("/m/a.mp3", "s1") == {
        "bool": {"filter": [{"term": {"path": "/m/a.mp3"}}], "must_not": [{"ids": {"values": ["s1"]}}]}}


def test_point_in_time_page():
    first = es_query.pit_page("PIT1", 1000, None, es_query.FILE_STATE_FIELDS)
    assert first == {"size": 1000, "_source": {"includes": ["path", "song_id", "file_size", "file_mtime"]},
                     "pit": {"id": "PIT1", "keep_alive": "2m"}, "sort": [{"_shard_doc": "asc"}],
                     "track_total_hits": False}
    assert "search_after" not in first and "index" not in first  # a PIT search names no index
    assert es_query.pit_page("PIT1", 1000, [46, 7], ["path"])["search_after"] == [46, 7]


def test_reindex_request_starts_a_task():
    # _reindex API: source.index, dest.index; wait_for_completion=false answers with a task id
    assert es_query.reindex_request("hum-songs-000001", "hum-songs-000002") == {
        "source": {"index": "hum-songs-000001"}, "dest": {"index": "hum-songs-000002"}, "slices": "auto",
        "refresh": True, "wait_for_completion": False}


def test_stats_body():
    body = es_query.stats_body()
    assert body["size"] == 0 and body["track_total_hits"] is True
    assert body["aggs"]["segments"] == {"sum": {"field": "melody.n_segments"}}
    assert body["aggs"]["with_sound"] == {"filter": {"term": {"has_sound": True}}}
    assert body["aggs"]["duration"] == {"sum": {"field": "duration_s"}}
    assert body["aggs"]["genres"]["terms"]["field"] == "genre"


# --- responses shaped like the documentation's ------------------------------------------------------------
def _inner(seg_hits):
    return {"segments": {"hits": {"total": {"value": len(seg_hits), "relation": "eq"},
                                  "max_score": max(s for s, _, _ in seg_hits),
                                  "hits": [{"_index": "hum-songs-000001", "_id": "x",
                                            "_nested": {"field": "melody_segments", "offset": off},
                                            "_score": s,
                                            "fields": {"melody_segments": [{"start_s": [st], "end_s": [st + 4.0]}]}}
                                           for s, off, st in seg_hits]}}}


NESTED_KNN_RESPONSE = {
    "took": 4, "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {"total": {"value": 3, "relation": "eq"}, "max_score": 0.99, "hits": [
        {"_index": "hum-songs-000001", "_id": "song0007", "_score": 0.99,
         "inner_hits": _inner([(0.99, 5, 10.0), (0.90, 2, 4.0)])},
        {"_index": "hum-songs-000001", "_id": "song0003", "_score": 0.95,
         "inner_hits": _inner([(0.95, 0, 0.0), (0.70, 1, 2.0)])},
        {"_index": "hum-songs-000001", "_id": "song0001", "_score": 0.80,
         "inner_hits": _inner([(0.80, 3, 6.0)])},
    ]},
}


def test_parse_nested_knn_with_inner_hits():
    hits = es_query.parse_melody_response(NESTED_KNN_RESPONSE, k=2, per_song=2)
    assert hits == [
        SegmentHit("song0007", 10.0, 14.0, 0.99), SegmentHit("song0007", 4.0, 8.0, 0.90),
        SegmentHit("song0003", 0.0, 4.0, 0.95), SegmentHit("song0003", 2.0, 6.0, 0.70),
    ]
    one = es_query.parse_melody_response(NESTED_KNN_RESPONSE, k=5, per_song=1)
    assert [(h.song_id, h.start_s) for h in one] == [("song0007", 10.0), ("song0003", 0.0), ("song0001", 6.0)]


def test_parse_orders_songs_by_their_best_segment_score():
    # the parent _score may be quantized; the inner hits carry the segment scores we return
    resp = {"hits": {"hits": [
        {"_id": "a", "_score": 0.9, "inner_hits": _inner([(0.85, 0, 0.0)])},
        {"_id": "b", "_score": 0.8, "inner_hits": _inner([(0.88, 0, 2.0)])},
    ]}}
    assert [h.song_id for h in es_query.parse_melody_response(resp, 2, 1)] == ["b", "a"]


def test_parse_inner_hit_times_from_source_or_flat_fields():
    ih_src = {"_score": 0.7, "_source": {"start_s": 1.5, "end_s": 5.5}}
    ih_flat = {"_score": 0.6, "fields": {"melody_segments.start_s": [3.0], "melody_segments.end_s": [7.0]}}
    resp = {"hits": {"hits": [{"_id": "a", "_score": 0.7, "inner_hits": {"segments": {"hits": {"hits": [ih_src]}}}},
                              {"_id": "b", "_score": 0.6, "inner_hits": {"segments": {"hits": {"hits": [ih_flat]}}}}]}}
    assert es_query.parse_melody_response(resp, 5, 1) == [SegmentHit("a", 1.5, 5.5, 0.7), SegmentHit("b", 3.0, 7.0, 0.6)]


def test_parse_empty_and_scoreless_responses():
    assert es_query.parse_melody_response({"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}, 5, 1) == []
    assert es_query.parse_melody_response({"hits": {"hits": [{"_id": "a", "_score": 0.5}]}}, 5, 1) == []
    assert es_query.parse_sound_response({"hits": {"hits": []}}, 3) == []


def test_parse_knn_response():
    resp = {"took": 3, "hits": {"total": {"value": 3, "relation": "eq"}, "max_score": 1.0000001, "hits": [
        {"_index": "hum-songs-000001", "_id": "song0006", "_score": 1.0000001},
        {"_index": "hum-songs-000001", "_id": "song0002", "_score": 0.61},
        {"_index": "hum-songs-000001", "_id": "song0009", "_score": 0.58}]}}
    assert es_query.parse_sound_response(resp, 2) == [SongHit("song0006", 1.0), SongHit("song0002", 0.61)]


def test_parse_terms_and_metric_aggregations():
    resp = {"took": 2, "hits": {"total": {"value": 4, "relation": "eq"}, "max_score": None, "hits": []},
            "aggregations": {
                "genres": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                           "buckets": [{"key": "folk", "doc_count": 2}, {"key": "jazz", "doc_count": 1}]},
                "segments": {"value": 24.0}, "with_sound": {"doc_count": 3}, "duration": {"value": 247.0}}}
    assert es_query.parse_genres(resp) == {"folk": 2, "jazz": 1}
    assert es_query.parse_stats(resp) == {"songs": 4, "segments": 24, "with_sound": 3, "total_duration_s": 247.0,
                                          "genres": {"folk": 2, "jazz": 1}}
    empty = {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
             "aggregations": {"genres": {"buckets": []}, "segments": {"value": 0.0}, "with_sound": {"doc_count": 0},
                              "duration": {"value": 0.0}}}
    assert es_query.parse_stats(empty)["songs"] == 0


def test_bulk_failures_become_store_failures():
    recs = {"song0001": make_record(1), "song0002": make_record(2)}
    failed = [
        {"op": "index", "index": "hum-songs-000001", "id": "song0002", "status": 400,
         "reason": "document_parsing_exception: [1:2] failed to parse"},
        {"op": "delete", "index": "hum-songs-failures", "id": "abc", "status": 404, "reason": "not_found"},
    ]
    assert song_failures(failed, recs) == [
        StoreFailure("song0002", recs["song0002"].meta.path,
                     "Elasticsearch rejected it: document_parsing_exception: [1:2] failed to parse")]


# --- documents ------------------------------------------------------------------------------------------
def test_document_roundtrip_through_source_and_fields():
    rec = make_record(5)
    doc = es_codec.to_doc(rec, SPEC)
    src = {k: doc[k] for k in es_query.get_body(["x"], melody=True)["_source"]["includes"] if "." not in k}
    src["melody"] = doc["melody"]
    hit = {"_id": rec.song_id, "_source": src, "fields": {"sound_embedding": doc["sound_embedding"]}}
    back = es_codec.record_from_hit(hit, DIM, SOUND_DIM, melody=True)
    assert back.meta == rec.meta
    np.testing.assert_allclose(back.melody.vectors, rec.melody.vectors, atol=2e-3)
    np.testing.assert_allclose(back.melody.seg_end_s, rec.melody.seg_end_s)
    assert np.isnan(back.melody.contour[10:20]).all()
    np.testing.assert_allclose(back.sound, rec.sound, atol=1e-6)
    assert base64.b64decode(doc["melody"]["vectors_f16"]).__len__() == 6 * DIM * 2
    lean = es_codec.record_from_hit({"_id": "x", "_source": src}, DIM, SOUND_DIM, melody=False)
    assert lean.melody is None and lean.sound is None


def test_document_read_without_segments_gives_the_contour_alone():
    # Elasticsearch filters _source by the dotted paths asked for: the melody object keeps only those keys
    rec = make_record(5)
    doc = es_codec.to_doc(rec, SPEC)
    paths = es_query.get_body(["x"], melody=True, segments=False)["_source"]["includes"]
    src = {k: doc[k] for k in paths if "." not in k}
    src["melody"] = {k.split(".", 1)[1]: doc["melody"][k.split(".", 1)[1]] for k in paths if k.startswith("melody.")}
    back = es_codec.record_from_hit({"_id": rec.song_id, "_source": src}, DIM, SOUND_DIM, melody=True)
    full = es_codec.record_from_hit({"_id": rec.song_id, "_source": {**src, "melody": doc["melody"]}}, DIM, SOUND_DIM,
                                    melody=True)
    np.testing.assert_array_equal(back.melody.contour, full.melody.contour)
    assert back.melody.fps == full.melody.fps
    assert back.melody.vectors.shape == (0, DIM) and len(back.melody.seg_start_s) == 0


BREAKAGES = {
    "dims": ("melody vectors have shape", lambda r: setattr(r.melody, "vectors", np.ones((6, DIM + 1), np.float32))),
    "times": ("differ in length", lambda r: setattr(r.melody, "seg_end_s", r.melody.seg_end_s[:-1])),
    "nan": ("NaN", lambda r: r.melody.vectors.__setitem__((0, 0), np.nan)),
    "inf": ("infinity", lambda r: r.melody.vectors.__setitem__((1, 3), np.inf)),
    "zero": ("all zeros", lambda r: r.melody.vectors.__setitem__(2, 0.0)),
    "sound dims": ("sound embedding has shape", lambda r: setattr(r, "sound", np.ones(SOUND_DIM + 3, np.float32))),
    "sound nan": ("NaN", lambda r: r.sound.__setitem__(4, np.nan)),
    "sound zero": ("all zeros", lambda r: setattr(r, "sound", np.zeros(SOUND_DIM, np.float32))),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_invalid_records_are_refused_before_sending(breakage):
    words, breaks = BREAKAGES[breakage]
    rec = make_record(1)
    breaks(rec)
    with pytest.raises(ValueError, match=words):
        validate_record(rec, SPEC)
    with pytest.raises(ValueError, match=words):  # the codec runs the same check
        es_codec.to_doc(rec, SPEC)


def test_a_valid_record_passes_and_melody_or_sound_may_be_absent():
    validate_record(make_record(1), SPEC)
    validate_record(make_record(2, sound=False), SPEC)
    rec = make_record(3)
    rec.melody = None
    validate_record(rec, SPEC)
