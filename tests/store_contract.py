"""The store contract: one suite that every Store backend must pass.

Use it by subclassing ``StoreContract`` and providing a ``make_store`` fixture that returns a
factory ``make_store(spec=None, reopen_of=None) -> Store`` for a fresh, unique, empty store (or, with
``reopen_of``, the same store opened again, possibly with another spec). Features come from a
deterministic fake embedder, so the expected answers are known exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hum_search.errors import StoreFormatError
from hum_search.types import IndexSpec, MelodyFeatures, SongMeta, SongRecord

DIM = 24
SOUND_DIM = 32
SPEC = IndexSpec(format_version=1, melody_model="fake-melody", melody_dim=DIM,
                 melody_params={"fps": 25.0}, sound_model="fake-sound", sound_dim=SOUND_DIM)


def fake_vectors(seed: int, n: int, dim: int = DIM) -> np.ndarray:
    """Deterministic fake embedder: unit vectors from a seeded generator."""
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_record(i: int, genre: str | None = "folk", *, n_seg: int = 6, sound: bool = True,
                path: str | None = None) -> SongRecord:
    meta = SongMeta(song_id=f"song{i:04d}", path=path or f"/music/{genre or 'none'}/s{i}.mp3", title=f"Title {i}",
                    artist=f"Artist {i % 3}", album=None, genre=genre, duration_s=60.0 + i,
                    content_hash=f"{i:064x}", file_size=1000 + i, file_mtime=1.7e9 + i,
                    indexed_at="2026-11-21T00:00:00Z")
    contour = np.full(100, 60.0 + i % 12, np.float32)
    contour[10:20] = np.nan
    starts = np.arange(n_seg, dtype=np.float32) * 2.0
    mel = MelodyFeatures(contour=contour, fps=25.0, vectors=fake_vectors(i, n_seg), seg_start_s=starts,
                         seg_end_s=starts + 4.0)
    snd = fake_vectors(10_000 + i, 1, SOUND_DIM)[0] if sound else None
    return SongRecord(meta, mel, snd)


class StoreContract:
    """Subclasses provide the ``make_store`` fixture."""

    def test_empty_store(self, make_store):
        store = make_store()
        assert store.count() == 0
        assert store.genres() == {}
        assert store.file_states() == {}
        assert store.melody_knn(fake_vectors(1, 2), k=5) == [[], []]
        assert store.sound_knn(fake_vectors(2, 1, SOUND_DIM)[0], k=5) == []

    def test_add_get_roundtrip(self, make_store):
        store = make_store()
        recs = [make_record(i, g) for i, g in enumerate(["folk", "rock", None])]
        assert store.add(recs) == []
        assert store.count() == 3
        got = store.get(["song0001", "missing"])
        assert list(got) == ["song0001"]
        r = got["song0001"]
        assert r.meta == recs[1].meta
        np.testing.assert_allclose(r.melody.contour, recs[1].melody.contour, atol=0.05)
        assert np.isnan(r.melody.contour[10:20]).all()
        np.testing.assert_allclose(r.melody.seg_start_s, recs[1].melody.seg_start_s)
        np.testing.assert_allclose(r.melody.vectors, recs[1].melody.vectors, atol=2e-3)
        np.testing.assert_allclose(r.sound, recs[1].sound, atol=1e-5)
        assert store.get(["song0000"], melody=False)["song0000"].melody is None

    def test_get_without_segments_reads_the_contour_alone(self, make_store):
        # what the re-rank reads: the contour, none of the segment vectors (a tenth of the bytes)
        store = make_store()
        recs = [make_record(i) for i in range(2)]
        store.add(recs)
        full = store.get(["song0001"], sound=False)["song0001"].melody
        lean = store.get(["song0001", "missing"], sound=False, segments=False)
        assert list(lean) == ["song0001"]
        mel = lean["song0001"].melody
        np.testing.assert_array_equal(mel.contour, full.contour)
        assert mel.fps == full.fps and mel.contour.dtype == np.float32
        assert mel.vectors.shape == (0, full.vectors.shape[1]) and len(mel.seg_start_s) == len(mel.seg_end_s) == 0
        assert lean["song0001"].meta == recs[1].meta and lean["song0001"].sound is None
        assert store.get(["song0000"], melody=False, segments=False)["song0000"].melody is None

    def test_add_is_idempotent(self, make_store):
        store = make_store()
        store.add([make_record(1)])
        store.add([make_record(1)])
        assert store.count() == 1

    def test_same_path_new_content_replaces(self, make_store):
        store = make_store()
        store.add([make_record(1, path="/music/a.mp3")])
        store.add([make_record(2, path="/music/a.mp3")])
        assert store.count() == 1
        assert store.file_states()["/music/a.mp3"].song_id == "song0002"

    def test_file_states_and_hash(self, make_store):
        store = make_store()
        rec = make_record(5)
        store.add([rec])
        st = store.file_states()[rec.meta.path]
        assert (st.song_id, st.file_size, st.file_mtime) == ("song0005", rec.meta.file_size, rec.meta.file_mtime)
        assert store.find_by_hash(rec.meta.content_hash).song_id == "song0005"
        assert store.find_by_hash("0" * 64 + "x") is None

    def test_update_location(self, make_store):
        store = make_store()
        rec = make_record(3)
        store.add([rec])
        store.update_location("song0003", "/music/moved/s3.mp3", 42, 1.8e9)
        states = store.file_states()
        assert rec.meta.path not in states
        assert states["/music/moved/s3.mp3"] == dataclasses.replace(states["/music/moved/s3.mp3"],
                                                                   song_id="song0003", file_size=42, file_mtime=1.8e9)
        assert store.count() == 1

    def test_remove_by_id_and_path(self, make_store):
        store = make_store()
        store.add([make_record(i) for i in range(3)])
        assert store.remove("song0000") == ["song0000"]
        assert store.remove(make_record(1).meta.path) == ["song0001"]
        assert store.remove("nope") == []
        assert store.count() == 1
        assert [h.song_id for h in store.melody_knn(fake_vectors(0, 1), k=5)[0]] == ["song0002"]

    def test_melody_knn_exact_match_first(self, make_store):
        store = make_store()
        store.add([make_record(i, n_seg=8) for i in range(20)])
        q = make_record(7, n_seg=8).melody.vectors[5]
        hits = store.melody_knn(q[None, :], k=3)[0]
        assert [h.song_id for h in hits][0] == "song0007"
        assert len({h.song_id for h in hits}) == 3
        assert hits[0].start_s == pytest.approx(10.0) and hits[0].end_s == pytest.approx(14.0)
        assert hits[0].score == pytest.approx(1.0, abs=2e-3)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        assert all(0.0 <= h.score <= 1.0 for h in hits)

    def test_melody_knn_per_song_and_k(self, make_store):
        store = make_store()
        store.add([make_record(i, n_seg=8) for i in range(10)])
        qs = np.stack([make_record(2, n_seg=8).melody.vectors[1], make_record(4, n_seg=8).melody.vectors[6]])
        res = store.melody_knn(qs, k=4, per_song=2)
        assert len(res) == 2
        for hits, sid, start in zip(res, ["song0002", "song0004"], [2.0, 12.0]):
            assert hits[0].song_id == sid and hits[0].start_s == pytest.approx(start)
            ids = [h.song_id for h in hits]
            assert len(set(ids)) == 4
            assert all(ids.count(s) <= 2 for s in ids)
            assert ids.count(sid) == 2

    def test_melody_knn_genre_prefilter(self, make_store):
        store = make_store()
        store.add([make_record(i, "rock" if i % 2 else "folk") for i in range(12)])
        q = make_record(4).melody.vectors[2][None, :]  # song 4 is folk
        hits = store.melody_knn(q, k=20, genres=["rock"])[0]
        assert hits and all(int(h.song_id[4:]) % 2 == 1 for h in hits)
        assert len(hits) == 6  # a true pre-filter: all rock songs, not the rock part of a global top-k
        both = store.melody_knn(q, k=1, genres=["rock", "folk"])[0]
        assert both[0].song_id == "song0004"
        assert store.melody_knn(q, k=5, genres=["jazz"])[0] == []

    def test_sound_knn(self, make_store):
        store = make_store()
        store.add([make_record(i, "rock" if i < 5 else "folk", sound=(i != 3)) for i in range(10)])
        target = make_record(6).sound
        hits = store.sound_knn(target, k=3)
        assert hits[0].song_id == "song0006" and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert len(hits) == 3
        rock = store.sound_knn(target, k=10, genres=["rock"])
        assert {h.song_id for h in rock} == {"song0000", "song0001", "song0002", "song0004"}

    def test_genres_and_stats(self, make_store):
        store = make_store()
        store.add([make_record(0, "folk"), make_record(1, "folk"), make_record(2, "jazz"),
                   make_record(3, None, sound=False)])
        assert store.genres() == {"folk": 2, "jazz": 1}
        st = store.stats()
        assert (st.songs, st.segments, st.with_sound) == (4, 24, 3)
        assert st.spec == SPEC

    def test_invalid_record_is_reported_not_stored(self, make_store):
        store = make_store()
        bad = make_record(1)
        bad.melody.vectors = np.ones((6, DIM + 1), np.float32)
        failures = store.add([make_record(0), bad])
        assert [f.song_id for f in failures] == ["song0001"]
        assert store.count() == 1

    def test_persists_and_refuses_other_spec(self, make_store):
        store = make_store()
        store.add([make_record(i) for i in range(4)])
        again = make_store(reopen_of=store)
        assert again.count() == 4
        assert again.melody_knn(make_record(2).melody.vectors[:1], k=1)[0][0].song_id == "song0002"
        other = dataclasses.replace(SPEC, melody_params={"fps": 50.0})
        with pytest.raises(StoreFormatError, match="analyse your music again"):
            make_store(spec=other, reopen_of=store)
        with pytest.raises(StoreFormatError):
            make_store(spec=dataclasses.replace(SPEC, format_version=SPEC.format_version + 1), reopen_of=store)

    def test_search_sees_writes(self, make_store):
        store = make_store()
        store.add([make_record(0)])
        q = make_record(9).melody.vectors[:1]
        assert store.melody_knn(q, k=1)[0][0].song_id == "song0000"
        store.add([make_record(9)])
        assert store.melody_knn(q, k=1)[0][0].song_id == "song0009"

    def test_failures_are_recorded_and_cleared_by_indexing(self, make_store):
        store = make_store()
        rec = make_record(1)
        store.record_failures([(rec.meta.path, "not audio"), ("/music/b.mp3", "empty")])
        assert [f[0] for f in store.failures()] == ["/music/b.mp3", rec.meta.path]
        store.add([rec])
        assert [f[0] for f in store.failures()] == ["/music/b.mp3"]
        assert store.stats().failures == 1
