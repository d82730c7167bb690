"""The search on a tiny store: ranking, match position, genre filter, confidence, scores
(``search/``)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hum_search.demo.arrange import arrange
from hum_search.demo.hum import synth_hum
from hum_search.demo.notation import Note
from hum_search.demo.render import render
from hum_search.features import extract as analysis
from hum_search.features import melody, pitch
from hum_search.search.results import Result
from hum_search.search.scoring import CONFIDENT_MIN_SCORE, match_score, score_results
from hum_search.search.searcher import Searcher
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SegmentHit, SongMeta, SongRecord

SR = pitch.SAMPLE_RATE


def _score(cost: float, other: float | None, rank: int = 0, matched: float = 0.6,
           other_matched: float | None = 0.4) -> float:
    return match_score(cost, other, rank, matched=matched, other_best_matched=None if other is None else other_matched)


def test_scores_are_probability_like():
    assert _score(0.2, 0.8) > 0.9
    assert _score(0.7, 0.72, matched=0.4) < 0.25 < CONFIDENT_MIN_SCORE  # as good as another song: not confident
    assert _score(0.3, None) < _score(0.3, 0.6)


def test_two_songs_that_both_align_perfectly_are_a_tie_not_a_confident_match():
    """With the alignment's pitch tolerance a clean hum can cost 0: two songs sharing the tune
    (0.00 and 0.01, both matching the whole hum) is not a margin of 10,000 to 1."""
    assert _score(0.0, 0.01, matched=1.0, other_matched=1.0) < CONFIDENT_MIN_SCORE
    assert _score(0.0, 0.5, matched=1.0, other_matched=0.5) > CONFIDENT_MIN_SCORE  # against a real other song


def test_a_song_the_first_stage_ranked_low_is_less_likely():
    """The same alignment cost and margin, the song ranked 0th, 5th, 50th by the first stage: two
    stages that agree are surer (scoring.SCORE_FIRST_RANK)."""
    scores = [_score(0.5, 0.52, rank) for rank in (0, 5, 50)]
    assert scores[0] > scores[1] > scores[2]
    assert scores[0] >= CONFIDENT_MIN_SCORE > scores[2]


def test_a_thinly_spread_error_and_a_lead_in_matched_frames_are_surer():
    """The same mean cost and margin: a match whose error is spread thin over the hum (the right tune
    hummed sloppily) scores above one that is exact on most frames and far off on the rest (a wrong
    tune sharing some notes); and matching more of the hum than any other song scores above matching
    as much as another does (scoring.SCORE_MATCHED, SCORE_MATCHED_LEAD)."""
    spread = _score(0.3, 0.45, matched=0.3, other_matched=0.3)
    lumped = _score(0.3, 0.45, matched=0.8, other_matched=0.8)
    assert spread > lumped
    assert _score(0.3, 0.45, matched=0.6, other_matched=0.3) > _score(0.3, 0.45, matched=0.6, other_matched=0.6)


# --- search on a tiny store ------------------------------------------------------------------------------
def _record(i: int, tune: list[float], genre: str) -> SongRecord:
    notes = [Note(p, 0.35 * k, 0.33) for k, p in enumerate(tune)]
    arr = arrange(notes, key_root=0, passes=2, intro_beats=4, drums=False, seed=i)
    y = render(arr, sr=SR, engine="additive")
    mel = analysis.song_melody(y)
    meta = SongMeta(f"s{i}", f"/music/{genre}/s{i}.wav", f"Song {i}", None, None, genre, len(y) / SR,
                    f"{i:064x}", 1, 1.0, "2026-01-01T00:00:00Z")
    return SongRecord(meta, mel, None), notes, arr


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    rng = np.random.default_rng(5)
    store = EmbeddedStore(tmp_path_factory.mktemp("store"), analysis.current_spec())
    songs = []
    for i in range(6):
        tune = list(67 + np.clip(np.cumsum(rng.integers(-3, 4, 32)), -9, 9))
        rec, notes, arr = _record(i, tune, "folk" if i % 2 else "rock")
        store.add([rec])
        songs.append((notes, arr))
    yield store, songs
    store.close()


def test_transposed_tempo_changed_hum_finds_its_song_and_place(tiny_store):
    store, songs = tiny_store
    searcher = Searcher(store)
    notes, arr = songs[3]
    hum = synth_hum(notes[8:26], transpose=5, tempo=1.2, snr_db=20, seed=7)
    resp = searcher.search(hum_bytes(hum), top=3)
    assert resp.results[0].song.song_id == "s3"
    starts = [arr.song_time(notes[8], p) for p in range(len(arr.occurrences))]
    assert min(abs(resp.results[0].match_start_s - s) for s in starts) < 1.5
    assert resp.results[0].score > resp.results[1].score


def test_genre_filter_excludes_the_right_song(tiny_store):
    store, songs = tiny_store
    notes, _ = songs[3]  # a folk song
    resp = Searcher(store).search(hum_bytes(synth_hum(notes[4:22], seed=8)), genres=["rock"], top=5)
    assert all(r.song.genre == "rock" for r in resp.results)


def test_a_tune_that_is_not_there_is_not_confident(tiny_store):
    store, _ = tiny_store
    rng = np.random.default_rng(99)
    stranger = [Note(float(60 + p), 0.3 * k, 0.28) for k, p in enumerate(np.cumsum(rng.integers(-4, 5, 24)))]
    resp = Searcher(store).search(hum_bytes(synth_hum(stranger, seed=9)), top=3)
    assert not resp.confident


@pytest.mark.parametrize("copy_title", ["SONG 3!", "Song 3 (the other recording)"])
def test_a_song_held_twice_is_found_confidently_unlike_two_songs_sharing_the_tune(tiny_store, tmp_path, copy_title):
    """An mp3 beside its flac, an album track on a compilation: the hum matches both files equally,
    and the copy is not "another song" that makes the match uncertain (scoring.song_key). Another
    title on the same melody is another song: then the hum cannot tell which, and says so."""
    store, songs = tiny_store
    both = EmbeddedStore(tmp_path / "both", analysis.current_spec())
    records = store.get([f"s{i}" for i in range(6)], sound=False)
    s3 = records["s3"]
    copy = SongRecord(dataclasses.replace(s3.meta, song_id="s3-copy", path="/music/copies/s3.flac", title=copy_title,
                                          content_hash="c" * 64), s3.melody, None)
    both.add(list(records.values()) + [copy])
    notes, _ = songs[3]
    hum = hum_bytes(synth_hum(notes[8:26], transpose=5, tempo=1.2, snr_db=20, seed=7))
    alone = Searcher(store).search(hum, top=3)
    resp = Searcher(both).search(hum, top=3)
    assert {r.song.song_id for r in resp.results[:2]} == {"s3", "s3-copy"}
    assert alone.confident and alone.results[0].song.song_id == "s3"
    if copy_title == "SONG 3!":  # the same title, told apart only by case and punctuation
        assert resp.confident
        assert min(r.score for r in resp.results[:2]) == pytest.approx(alone.results[0].score, abs=0.02)
    else:
        assert not resp.confident and max(r.score for r in resp.results[:2]) < CONFIDENT_MIN_SCORE
    both.close()


def test_a_song_s_copies_are_not_its_rivals_but_untitled_files_are_each_their_own_song():
    def result(song_id, title, artist, cost, matched=0.9):  # (a clean hum: most frames within the tolerance)
        meta = SongMeta(song_id, f"/m/{song_id}.mp3", title, artist, None, None, 60.0, "0" * 64, 1, 1.0, "")
        return Result(rank=1, song=meta, score=0.0, cost=cost, matched=matched)

    def scored(*rows):
        return [r.score for r in score_results([result(*row) for row in rows])]

    alone = scored(("a", "Ode to Joy", "Beethoven", 0.1), ("b", "Minuet", None, 0.5))[0]
    copies = scored(("a", "Ode to Joy", "Beethoven", 0.1), ("a2", "ode to joy", "BEETHOVEN", 0.1), ("b", "Minuet", None, 0.5))
    assert copies[:2] == [alone, alone] and alone >= CONFIDENT_MIN_SCORE
    # another artist's song of that title, or two files without tags: two songs, a tie
    for twin in (("a2", "Ode to Joy", "Schiller", 0.1), ("a2", None, None, 0.1)):
        first = ("a", None, None, 0.1) if twin[1] is None else ("a", "Ode to Joy", "Beethoven", 0.1)
        tie = scored(first, twin, ("b", "Minuet", None, 0.5))
        assert max(tie[:2]) < CONFIDENT_MIN_SCORE


def test_results_are_ordered_by_score_and_a_near_tie_in_cost_goes_to_the_better_evidence():
    """Two songs at nearly the same cost: the one the first stage ranked first and that matches more
    of the hum scores higher and is listed first, ranks renumbered; a clear lead in cost keeps its
    place; equal scores keep the cost's order. Cost order alone would list the other first."""
    from hum_search.search.scoring import by_score

    def result(song_id, cost, matched):
        meta = SongMeta(song_id, f"/m/{song_id}.mp3", song_id, None, None, None, 60.0, "0" * 64, 1, 1.0, "")
        return Result(rank=1, song=meta, score=0.0, cost=cost, matched=matched)

    near = [result("a", 0.40, 0.45), result("b", 0.41, 0.70), result("c", 0.60, 0.30)]  # cost order
    ranked = by_score(score_results(near, first_ranks=[40, 0, 5]))
    assert [r.song.song_id for r in ranked] == ["b", "a", "c"]
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert ranked[0].score > ranked[1].score > ranked[2].score

    clear = [result("a", 0.10, 0.90), result("b", 0.45, 0.95), result("c", 0.60, 0.30)]
    ranked = by_score(score_results(clear, first_ranks=[40, 0, 5]))
    assert [r.song.song_id for r in ranked] == ["a", "b", "c"] and ranked[0].score >= CONFIDENT_MIN_SCORE

    same = [result("x", 0.3, 0.5), result("y", 0.3, 0.5)]
    for r in same:
        r.score = 0.25
    assert [r.song.song_id for r in by_score(same)] == ["x", "y"]


def hum_bytes(y: np.ndarray, sr: int = 16000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def test_noise_is_not_taken_for_humming():
    """White, pink and brown noise give no melody: the query is refused as too little humming heard
    (where a little was "heard", the refusal also says that nothing stood out from the noise)."""
    from scipy import signal

    from hum_search.errors import NoMelodyError
    from hum_search.features.extract import analyze_query

    rng = np.random.default_rng(0)
    white = rng.standard_normal(5 * 16000)
    for noise in (white, signal.lfilter([1], [1, -0.98], white), signal.lfilter([1], [1, -0.999], white)):
        y = (0.3 * noise / np.max(np.abs(noise))).astype(np.float32)
        with pytest.raises(NoMelodyError, match="humming was heard") as e:
            analyze_query(hum_bytes(y))
        assert "the tune for at least 5 seconds" in str(e.value).split("Fix:")[1]


class _CountingStore:
    """The tiny store, seen as a store whose searches cost something (a cluster, an approximate
    index): it records every batch of kNN searches the search sends."""

    def __init__(self, store, exact: bool):
        self._store, self._exact, self.batches, self.reads = store, exact, [], []

    def get(self, song_ids, **kw):
        self.reads.append(list(song_ids))
        return self._store.get(song_ids, **kw)

    def searches_exactly(self) -> bool:
        return self._exact

    def melody_knn(self, vectors, **kw):
        self.batches.append(len(vectors))
        return self._store.melody_knn(vectors, **kw)

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.mark.parametrize("exact", [False, True])
def test_first_stage_sends_one_batch_and_at_most_32_searches_where_searches_cost(tiny_store, exact):
    """Where each kNN search has a cost (Elasticsearch: one _msearch per batch) a hum sends ONE
    batch of at most melody.MAX_QUERY_WINDOWS = 32 searches and still finds its song; a small exact
    store searches the whole catalogue with every fine window."""
    store, songs = tiny_store
    counting = _CountingStore(store, exact=exact)
    notes, _ = songs[3]
    hum = synth_hum(notes[4:30], transpose=-3, tempo=0.9, snr_db=20, seed=11)
    resp = Searcher(counting).search(hum_bytes(hum), top=3)
    assert resp.results[0].song.song_id == "s3"
    assert len(counting.batches) == 1
    if exact:
        assert counting.batches[0] > melody.MAX_QUERY_WINDOWS
    else:
        assert 1 <= counting.batches[0] <= melody.MAX_QUERY_WINDOWS == 32
        # the songs are read once, for the fine pass; the re-rank reuses those records
        assert [len(r) > 0 for r in counting.reads] == [True], counting.reads


def test_two_passes_over_a_small_catalogue_hand_on_the_exact_search_s_candidates(tiny_store, monkeypatch):
    """Where the coarse songs are the whole (small) catalogue, the fine pass scores whole songs and
    keeps the default baseline: its candidates are the exact one-pass search's, in the same order.
    Scoring regions (a large catalogue) switches the fine vote to FINE_BASE_RANK."""
    from hum_search.features.extract import analyze_query
    from hum_search.search import candidates as cand

    store, songs = tiny_store
    notes, _ = songs[3]
    qa = analyze_query(hum_bytes(synth_hum(notes[4:30], transpose=-3, tempo=0.9, snr_db=20, seed=11)))
    seen = []
    real_vote = cand.vote
    monkeypatch.setattr(cand, "vote", lambda *a, **kw: seen.append(kw.get("base_rank")) or real_vote(*a, **kw))
    exact = cand.candidates(_CountingStore(store, exact=True), qa, None)
    two = cand.candidates(_CountingStore(store, exact=False), qa, None)
    assert [c.song_id for c in two] == [c.song_id for c in exact] and exact[0].song_id == "s3"
    assert seen == [None] * 5  # exact: fine and outer; two passes: coarse, fine and outer
    monkeypatch.setattr(cand, "FINE_WHOLE_MAX_SEGMENTS", 0)
    cand.candidates(_CountingStore(store, exact=False), qa, None)
    assert seen[5:] == [None, cand.FINE_BASE_RANK, cand.FINE_BASE_RANK]


class _RegionStore(_CountingStore):
    """The tiny store, able to give song stretches (``Store.region_vectors``) from its records, as
    the embedded store's approximate index does from its codes."""

    def segment_counts(self, song_ids):
        recs = self._store.get(list(song_ids), melody=True, sound=False)
        return np.array([len(recs[s].melody.vectors) if s in recs else 0 for s in song_ids])

    def region_vectors(self, song_ids, lo_s, hi_s):
        recs = self._store.get(list(dict.fromkeys(song_ids)), melody=True, sound=False)
        parts, counts = [], []
        for sid, lo, hi in zip(song_ids, lo_s, hi_s):
            m = recs[sid].melody if sid in recs else None
            take = np.zeros(0, int) if m is None else np.flatnonzero((m.seg_start_s >= lo) & (m.seg_start_s <= hi))
            counts.append(len(take))
            if len(take):
                parts.append((m.vectors[take].astype(np.float32), m.seg_start_s[take], m.seg_end_s[take]))
        if not parts:
            return np.zeros((0, melody.MELODY_DIM), np.float32), np.array(counts), np.zeros(0), np.zeros(0)
        return (np.concatenate([p[0] for p in parts]), np.array(counts),
                np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


def test_the_fine_pass_from_store_stretches_equals_the_one_from_records(tiny_store, monkeypatch):
    """``fine_hits_from_store`` (regions read with ``Store.region_vectors``, a song's regions
    merged) gives each fine window the same songs, segments and scores as ``local_knn`` over the
    same regions of the songs' records; a store without stretches, or coarse songs holding few
    segments (scored whole, from their records), give None."""
    from hum_search.features.extract import analyze_query
    from hum_search.search import candidates as cand

    store, songs = tiny_store
    qa = analyze_query(hum_bytes(synth_hum(songs[3][0][4:30], transpose=-3, tempo=0.9, snr_db=20, seed=11)))
    fine = melody.query_windows(qa.contour, melody.FINE_TEMPI, max_windows=melody.FINE_MAX_WINDOWS, strict_cap=False)
    coarse = cand.vote(qa.windows, store.melody_knn(qa.windows.vectors, k=6, per_song=1), 6)
    span = len(qa.contour) / melody.CONTOUR_FPS
    assert cand.fine_hits_from_store(_RegionStore(store, exact=False), coarse, fine, span) is None  # few segments
    monkeypatch.setattr(cand, "FINE_WHOLE_MAX_SEGMENTS", 0)
    got = cand.fine_hits_from_store(_RegionStore(store, exact=False), coarse, fine, span)
    records = store.get([c.song_id for c in coarse], melody=True, sound=False)
    want = cand.local_knn(records, fine.vectors, cand.K_PER_WINDOW, {c.song_id: cand.hit_regions(c, span) for c in coarse})
    assert [[(h.song_id, h.start_s) for h in row] for row in got] == [[(h.song_id, h.start_s) for h in row] for row in want]
    np.testing.assert_allclose([h.score for row in got for h in row], [h.score for row in want for h in row],
                               rtol=0, atol=1e-6)  # (float32 sums in another order)
    assert any(row and row[0].song_id == "s3" for row in got)
    assert cand.fine_hits_from_store(_CountingStore(store, exact=False), coarse, fine, span) is None


def test_the_middle_pass_brings_back_a_song_the_coarse_vote_ranked_too_low(tiny_store, monkeypatch):
    """Songs ranked after COARSE_SONGS by the coarse vote are scored on their best hit's stretch
    with every MIDDLE_WINDOW_STEP-th fine window; the best MIDDLE_SONGS join the fine pass. With
    COARSE_SONGS = 1 and the hummed song ranked last, it comes back; a store without stretches
    brings none."""
    from hum_search.features.extract import analyze_query
    from hum_search.search import candidates as cand

    store, songs = tiny_store
    qa = analyze_query(hum_bytes(synth_hum(songs[3][0][4:30], transpose=-3, tempo=0.9, snr_db=20, seed=11)))
    fine = melody.query_windows(qa.contour, melody.FINE_TEMPI, max_windows=melody.FINE_MAX_WINDOWS, strict_cap=False)
    ranked = cand.vote(qa.windows, store.melody_knn(qa.windows.vectors, k=6, per_song=1), 6)
    assert ranked[0].song_id == "s3"
    ranked = ranked[1:] + ranked[:1]  # as if the coarse vote had ranked it last
    span = len(qa.contour) / melody.CONTOUR_FPS
    monkeypatch.setattr(cand, "MIDDLE_SONGS", 1)
    picked = cand.middle_pass(_RegionStore(store, exact=False), ranked[1:], fine, span)
    assert [c.song_id for c in picked] == ["s3"]
    assert cand.middle_pass(_CountingStore(store, exact=False), ranked[1:], fine, span) == []


def test_fine_pass_scores_only_the_song_time_around_the_coarse_hits(tiny_store):
    """local_knn with regions: a segment outside every region of its song is never a hit, even
    when it is the song's best match; hit_regions spans the hum at the hit's tempo plus margins."""
    from hum_search.search import candidates as cand

    store, _ = tiny_store
    records = store.get(["s3"], melody=True, sound=False)
    rec = records["s3"]
    target = int(np.argmax(rec.melody.seg_start_s > 20.0))  # a segment well inside the song
    q = np.asarray(rec.melody.vectors[target : target + 1], np.float32)
    t = float(rec.melody.seg_start_s[target])
    whole = cand.local_knn(records, q, k=1)
    assert whole[0][0].start_s == pytest.approx(t)  # the song's best segment is the vector itself
    inside = cand.local_knn(records, q, k=1, regions={"s3": [(t - 1.0, t + 1.0)]})
    assert inside[0][0].start_s == pytest.approx(t)
    elsewhere = cand.local_knn(records, q, k=1, regions={"s3": [(0.0, t - 6.0)]})
    assert elsewhere[0] and elsewhere[0][0].start_s <= t - 6.0
    assert cand.local_knn(records, q, k=1, regions={"s3": []}) == [[]]

    c = cand.Candidate("s3", 1.0, hits=[(0.9, 30.0, 1.2, 0.0, 31.0), (0.8, 30.5, 1.0, 0.0, 31.0),
                                         (0.7, 10.0, 0.8, 0.0, 12.0)])
    m = cand.FINE_MARGIN_S
    assert cand.hit_regions(c, span_s=8.0) == [(30.0 - m, 30.0 + 8.0 * 1.2 + m), (10.0 - m, 10.0 + 8.0 * 0.8 + m)]


def test_the_vote_baseline_rank_decides_whether_near_misses_count():
    """Each window's evidence is how far a hit beats the window's ``base_rank``-th best song (default
    the last). Song "a" clearly tops two of eight windows at one start; song "b" is a near miss in
    all eight (just above "c", which scatters): against the last hit's score b's many near misses
    win, against the 2nd best only a's clear wins count."""
    from hum_search.search import candidates as cand
    from hum_search.types import SegmentHit

    k, n = 5, 8
    w = melody.QueryWindows(np.zeros((n, melody.MELODY_DIM), np.float32), np.ones(n, np.float32),
                            np.arange(n, dtype=np.float32), np.zeros(n, np.float32))

    def window(i: int) -> list[SegmentHit]:
        hits = [SegmentHit("a", 10.0 + i, 15.0 + i, 0.95)] if i < 2 else []
        hits.append(SegmentHit("b", 20.0 + i, 25.0 + i, 0.80))
        if i >= 2:
            hits.append(SegmentHit("c", 100.0 + 10 * i, 105.0 + 10 * i, 0.79))
        return hits + [SegmentHit(f"x{i}{j}", 0.0, 5.0, 0.70 - 0.01 * j) for j in range(k - len(hits))]

    per_window = [window(i) for i in range(n)]
    assert cand.vote(w, per_window, k)[0].song_id == "b"
    assert [c.song_id for c in cand.vote(w, per_window, k, base_rank=2)][0] == "a"
    assert cand.vote(w, per_window, k, base_rank=k)[0].best == cand.vote(w, per_window, k)[0].best


def test_a_shorter_hum_hands_more_candidates_to_the_re_rank_within_bounds():
    from hum_search.search import candidates as cand

    n = [cand.rerank_songs(s) for s in (0.5, 3.0, 8.0, 9.0, 10.0, 20.0, 60.0)]
    assert n[0] == cand.RERANK_MAX_SONGS and n[-2:] == [cand.RERANK_SONGS] * 2
    assert all(a >= b for a, b in zip(n, n[1:])) and n[2] > n[3] > n[4] == cand.RERANK_SONGS
    assert cand.rerank_songs(cand.RERANK_REF_S / 2) == min(4 * cand.RERANK_SONGS, cand.RERANK_MAX_SONGS)


def test_the_fine_pass_scores_whole_songs_only_where_they_hold_few_segments(tiny_store, monkeypatch):
    """Within FINE_WHOLE_MAX_SEGMENTS the coarse songs are scored whole (the exact search's
    candidates); above it, each song's hit regions."""
    from hum_search.search import candidates as cand

    store, _ = tiny_store
    records = store.get(["s1", "s3"], melody=True, sound=False)
    coarse = [cand.Candidate("s1", 2.0, hits=[(0.9, 4.0, 1.0, 0.0, 4.0)]),
              cand.Candidate("s3", 1.0, hits=[(0.8, 12.0, 0.8, 0.0, 12.0)])]
    qa = analysis.QueryAnalysis(10.0, np.zeros(int(8 * melody.CONTOUR_FPS), np.float32), 0.0,
                                melody.query_windows(np.zeros(0, np.float32)), 8.0)
    n = sum(len(r.melody.vectors) for r in records.values())
    monkeypatch.setattr(cand, "FINE_WHOLE_MAX_SEGMENTS", n)
    assert cand.fine_regions(coarse, records, qa) is None
    monkeypatch.setattr(cand, "FINE_WHOLE_MAX_SEGMENTS", n - 1)
    assert cand.fine_regions(coarse, records, qa) == {c.song_id: cand.hit_regions(c, 8.0) for c in coarse}
    monkeypatch.setattr(cand, "FINE_REGIONS", 0)  # regions off: always whole songs
    assert cand.fine_regions(coarse, records, qa) is None



def test_fine_pass_equals_a_brute_force_search_over_overlapping_regions():
    """local_knn against the plain definition: for every window, the k songs whose best segment
    (starting inside one of the song's regions, which may overlap) scores highest."""
    from hum_search.search import candidates as cand
    from hum_search.types import MelodyFeatures

    rng = np.random.default_rng(3)
    records, regions = {}, {}
    for i in range(12):
        n = int(rng.integers(5, 60))
        v = rng.normal(size=(n, melody.MELODY_DIM)).astype(np.float16)
        st = np.arange(n, dtype=np.float32) * melody.SEGMENT_HOP_S
        meta = SongMeta(f"g{i}", f"/m/g{i}.wav", None, None, None, None, float(st[-1] + 5), "h", 0, 0.0, "")
        records[f"g{i}"] = SongRecord(meta, MelodyFeatures(np.zeros(10, np.float32), melody.CONTOUR_FPS, v, st, st + 5), None)
        regions[f"g{i}"] = [tuple(sorted(rng.uniform(-2, st[-1] + 2, 2))) for _ in range(int(rng.integers(0, 4)))]
    q = rng.normal(size=(7, melody.MELODY_DIM)).astype(np.float32)
    got = cand.local_knn(records, q, k=5, regions=regions)
    for qi in range(len(q)):
        best = {}
        for sid, r in records.items():
            st = r.melody.seg_start_s
            inside = np.zeros(len(st), bool)
            for lo, hi in regions[sid]:
                inside |= (st >= np.float32(lo)) & (st <= np.float32(hi))
            if inside.any():
                sims = r.melody.vectors.astype(np.float32) @ q[qi]
                j = int(np.flatnonzero(inside)[np.argmax(sims[inside])])
                best[sid] = (float(sims[j]), float(st[j]))
        want = sorted(best.items(), key=lambda kv: -kv[1][0])[:5]
        assert [h.song_id for h in got[qi]] == [sid for sid, _ in want]
        assert [h.start_s for h in got[qi]] == pytest.approx([t for _, (_, t) in want])
    assert cand.local_knn(records, q[:0], k=5, regions=regions) == []
    assert cand.local_knn(records, q, k=0, regions=regions) == [[]] * len(q)

# --- the re-rank's tempo and key search ----------------------------------------------------------------
def _contour_record(i: int, contour: np.ndarray) -> SongRecord:
    meta = SongMeta(f"r{i}", f"/music/r{i}.wav", f"R {i}", None, None, None, len(contour) / melody.CONTOUR_FPS,
                    f"{i:064x}", 1, 1.0, "2026-01-01T00:00:00Z")
    return SongRecord(meta, melody.song_segments(contour), None)


def test_second_key_is_the_most_common_pitch_difference_over_the_paired_frames():
    """A hit whose key is 1.4 semitones off (a wrong note in its window): the second estimate is the
    song's key over the frames the region's tempo pairs with the hum (a wrong note of the hum and the
    song's other notes around it do not move it); a region that pairs too few frames gets none."""
    from hum_search.search import rerank
    rng = np.random.default_rng(5)
    hum = np.repeat(60 + rng.integers(-5, 6, 12), 10).astype(np.float32)  # 12 notes of 0.4 s
    hum[25:35] += 1.0  # a wrong note
    around = np.repeat(60 + rng.integers(-5, 6, 40), 10).astype(np.float32)  # 16 s of other notes
    song = np.concatenate([around[:100], hum + 5.0, around[100:]])  # the hum 5 semitones up, from 4 s
    region = rerank._Region("s", song, 0.0, 3.6, 1.0, 4.0)
    (second,) = rerank._second_keys(hum, [region])
    assert second.key == pytest.approx(5.0, abs=1e-6)
    assert rerank._second_keys(hum, [rerank._Region("s", song, 0.0, 5.0, 1.0, 4.0)]) == []  # the hit's key
    assert rerank._second_keys(hum, [rerank._Region("s", song, 0.0, 3.6, 1.0, 60.0)]) == []  # past its end


@pytest.mark.parametrize("widened", [True, False])
def test_rerank_aligns_a_slow_hum_whose_hits_claim_the_wrong_tempo_and_key(monkeypatch, widened):
    """A hum at 0.76x, 3 semitones down, whose best kNN hit assumed 0.95x and a key 4 semitones
    off (as slow hums' windows do in the benchmark's "wide" profile): aligned only at the hit's tempo
    and key the right song costs as much as a wrong one; with the tempo scales and the second key
    estimate it is found, cheaply, at the right place."""
    from hum_search.search import rerank
    from hum_search.search.candidates import Candidate
    if not widened:
        monkeypatch.setattr(rerank, "REGION_SCALES", (1.0,))
        monkeypatch.setattr(rerank, "FINE_TEMPO_SCALES", ())
        monkeypatch.setattr(rerank, "SECOND_KEY_MIN_GAP", 12.0)
    rng = np.random.default_rng(11)
    songs = [np.repeat(60 + rng.integers(-7, 8, 200), 8).astype(np.float32)
             for _ in range(8)]  # 64 s each, notes of 0.32 s
    start_s, tempo = 20.0, 0.76
    frames = np.arange(start_s * melody.CONTOUR_FPS, len(songs[0]), tempo)[: int(9.0 * melody.CONTOUR_FPS)]
    hum = songs[0][frames.astype(int)] - 3.0
    seg_start = 20.0
    _, true_mean, _ = melody.window_vectors(hum, np.zeros(1), melody.SEGMENT_S / 0.95 * melody.CONTOUR_FPS)
    cands = [Candidate(f"r{i}", 1.0 - 0.01 * i, hits=[(0.9, seg_start, 0.95, float(true_mean[0]) + 4.0, seg_start)],
                       record=_contour_record(i, s)) for i, s in enumerate(songs)]
    length_s = len(hum) / melody.CONTOUR_FPS
    qa = analysis.QueryAnalysis(length_s, hum, 0.0, melody.query_windows(hum), length_s)
    results = rerank.rerank(None, qa, cands)
    costs = {r.song.song_id: r.cost for r in results}
    others = min(c for sid, c in costs.items() if sid != "r0")
    if widened:
        assert results[0].song.song_id == "r0" and costs["r0"] < 0.35 < others
        assert results[0].match_start_s == pytest.approx(start_s, abs=1.0)
        assert results[0].match_end_s == pytest.approx(start_s + 9.0 * tempo, abs=1.0)
    else:
        assert costs["r0"] > 0.6


def test_a_hum_under_the_short_length_scores_lower_the_shorter_it_is():
    """Under SHORT_HUM_S of voiced sound a phrase often recurs in another tune: the same match is
    less sure, the more so the shorter the hum, so a score of 0.9 at 4 s is no longer confident;
    from that length on, nothing changes."""
    from hum_search.features.extract import SHORT_HUM_S
    from hum_search.search import scoring

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    args = dict(cost=0.3, other_best_cost=0.4, first_rank=0, matched=0.6, other_best_matched=0.5)
    whole = scoring.match_score(**args)
    assert scoring.match_score(**args, voiced_s=SHORT_HUM_S) == scoring.match_score(**args, voiced_s=20.0) == whole
    drops = [logit(whole) - logit(scoring.match_score(**args, voiced_s=v)) for v in (4.9, 4.0, 3.0)]
    expected = [scoring.SHORT_HUM_LOGIT + scoring.SHORT_HUM_LOGIT_PER_S * (SHORT_HUM_S - v) for v in (4.9, 4.0, 3.0)]
    assert drops == pytest.approx(expected) and drops[0] < drops[1] < drops[2]
    assert logit(0.9) - expected[1] < logit(CONFIDENT_MIN_SCORE)


def test_rerank_scores_a_short_hum_by_its_voiced_length(random_tunes_store):
    """The re-rank hands the hum's voiced seconds to the score: the same alignments, scored as a
    hum of 4 s, are less sure than as one of 8 s."""
    from hum_search.search import candidates as cand
    from hum_search.search import rerank

    store, songs = random_tunes_store
    hum = songs[0][100:300] + 3.0  # 8 s
    scores = []
    for voiced in (8.0, 4.0):
        qa = analysis.QueryAnalysis(8.0, hum, 0.0, melody.query_windows(hum), voiced)
        results = rerank.rerank(store, qa, cand.candidates(store, qa, None))
        assert results[0].song.song_id == "r0"
        scores.append(results[0].score)
    assert scores[1] < scores[0]


def test_the_re_rank_aligns_the_hum_with_its_pauses(random_tunes_store):
    """A hum that breathes (0.32 s without pitch every 1.6 s) keeps its timing in the re-rank: its
    song aligns at almost no cost, and where it matches is where it was hummed. With the voiced
    frames laid end to end, each pause shifted the rest of the hum by a note and the song paid
    for the catch-up on every breath (cost 0.095 on this hum)."""
    from hum_search.search import candidates as cand
    from hum_search.search import rerank

    store, songs = random_tunes_store
    hum = songs[0][100:300] + 3.0  # 8 s from 4 s into the song, 3 semitones up
    for at in range(40, len(hum) - 8, 40):
        hum[at: at + 8] = np.nan
    voiced_s = float(np.count_nonzero(~np.isnan(hum))) / melody.CONTOUR_FPS
    qa = analysis.QueryAnalysis(8.0, hum, 0.0, melody.query_windows(hum), voiced_s)
    results = rerank.rerank(store, qa, cand.candidates(store, qa, None))
    assert results[0].song.song_id == "r0"
    assert results[0].cost < 0.05 and abs(results[0].match_start_s - 4.0) < 0.3
    assert results[0].matched > 0.9


def _pthreads_blas_threads() -> list[int]:
    from threadpoolctl import ThreadpoolController

    return [i["num_threads"] for i in ThreadpoolController().select(threading_layer="pthreads").info()]


@pytest.mark.parametrize("user_setting", [None, "2"])
def test_a_searcher_runs_a_pthreads_blas_on_one_thread_unless_the_user_chose(tiny_store, monkeypatch, user_setting):
    """numpy's OpenBLAS spins its threads between products and took the cores from faiss and the
    alignment (searcher.BLAS_THREADS); a user's OPENBLAS_NUM_THREADS wins."""
    from threadpoolctl import ThreadpoolController

    from hum_search.search import searcher as searcher_module

    ctl = ThreadpoolController().select(threading_layer="pthreads")
    if not ctl.lib_controllers:
        pytest.skip("no pthreads BLAS is loaded in this environment")
    if user_setting is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", user_setting)
    monkeypatch.setattr(searcher_module, "_blas_done", False)
    with ctl.limit(limits=2):  # the original limits come back afterwards
        Searcher(tiny_store)
        expected = 1 if user_setting is None else 2
        assert _pthreads_blas_threads() == [expected] * len(ctl.lib_controllers)
        ctl.limit(limits=2)
        Searcher(tiny_store)  # once per process: a later setting stands
        assert _pthreads_blas_threads() == [2] * len(ctl.lib_controllers)


def test_a_searcher_searched_again_takes_the_heap_out_of_the_collector_s_sight_until_closed(tiny_store, monkeypatch):
    """A full collection walks every object alive (the imported libraries: 35 ms at 10,300 songs),
    and a search's allocations set one off every few searches (searcher._heap_lock). A searcher
    searched a second time freezes what is alive then; closing it gives it back. Once per process:
    a second searcher does not freeze again; a searcher searched once freezes nothing."""
    import gc

    from hum_search.search import searcher as searcher_module

    store, songs = tiny_store
    hum = hum_bytes(synth_hum(songs[3][0][8:26], transpose=5, tempo=1.2, snr_db=20, seed=7))
    monkeypatch.setattr(searcher_module, "_heap_settled_by", None)
    gc.unfreeze()
    try:
        once = Searcher(store)
        once.search(hum, top=1)
        assert gc.get_freeze_count() == 0
        first, second = Searcher(store), Searcher(store)
        first.search(hum, top=1)
        assert first.search(hum, top=1).results[0].song.song_id == "s3"
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        second.search(hum, top=1)
        second.search(hum, top=1)
        second.close()  # not the one that froze: nothing given back
        assert gc.get_freeze_count() == frozen
        first.close()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


# --- hums far from the song's tempo: the outer tempi ---------------------------------------------------
@pytest.fixture(scope="module")
def random_tunes_store(tmp_path_factory):
    """200 songs of random notes (0.32 s each, 64 s), as contours: many more than a hum's re-rank."""
    rng = np.random.default_rng(3)
    songs = [np.repeat(60 + rng.integers(-7, 8, 200), 8).astype(np.float32) for _ in range(200)]
    store = EmbeddedStore(tmp_path_factory.mktemp("random-tunes"), analysis.current_spec())
    store.add([_contour_record(i, s) for i, s in enumerate(songs)])
    yield store, songs
    store.close()


def _slow_hums_found_first(store, songs, monkeypatch, starts_s, tempo: float, seconds: float) -> list[bool]:
    """Hum song k from ``starts_s[k]`` at ``tempo`` for ``seconds``, 2 semitones up with a little
    pitch noise, against a re-rank that takes 10 candidates: whether each is found first. The
    windows' own mechanisms: the whole-line pass (``search/lines.py``), which finds these too, is off."""
    from hum_search.search import candidates as cand
    from hum_search.search import lines, rerank

    monkeypatch.setattr(lines, "LINE_SONGS", 0)
    monkeypatch.setattr(cand, "RERANK_SONGS", 10)
    monkeypatch.setattr(cand, "RERANK_MAX_SONGS", 10)
    rng = np.random.default_rng(4)
    firsts = []
    for k, start_s in enumerate(starts_s):
        frames = np.arange(start_s * melody.CONTOUR_FPS, len(songs[k]), tempo)[: int(seconds * melody.CONTOUR_FPS)]
        hum = songs[k][frames.astype(int)] + 2.0 + rng.normal(0, 0.15, len(frames)).astype(np.float32)
        length_s = len(hum) / melody.CONTOUR_FPS
        qa = analysis.QueryAnalysis(length_s, hum, 0.0, melody.query_windows(hum), length_s)
        results = rerank.rerank(store, qa, cand.candidates(store, qa, None))
        firsts.append(results[0].song.song_id == f"r{k}")
    return firsts


@pytest.mark.parametrize("outer", [True, False])
def test_a_hum_at_0_6x_tempo_is_found_through_the_outer_tempi(random_tunes_store, monkeypatch, outer):
    """Hums at 0.6x, 2 semitones up, 10 s, of a store with more songs than the re-rank takes (10
    here): the fine windows (0.7-1.4x) rank the song too low to hand it on, the outer windows'
    own vote (candidates.with_outer) brings it in and the re-rank puts it first."""
    from hum_search.search import candidates as cand

    store, songs = random_tunes_store
    if not outer:
        monkeypatch.setattr(cand, "OUTER_SONGS", 0)
    firsts = _slow_hums_found_first(store, songs, monkeypatch, [5.0 + 5 * k for k in range(4)], 0.6, 10.0)
    assert sum(firsts) == (4 if outer else 0), firsts


@pytest.mark.parametrize("turned", [True, False])
def test_a_short_hum_at_0_62x_is_found_through_the_turned_partial_windows(random_tunes_store, monkeypatch, turned):
    """6 s hummed at 0.62x (3.7 s of song), 2 semitones up: only the outer tempi's partial windows
    fit, and the stored segments were turned by the mean of 5 s of song, not of the part hummed.
    Turned as well (``melody.PARTIAL_TURNS``) they bring the song to the re-rank for 7 of 8 hums;
    unturned for 5 (for 6 and 3 when the fast outer tempi took most of the outer windows:
    ``melody.outer_windows``)."""
    store, songs = random_tunes_store
    if not turned:
        monkeypatch.setattr(melody, "PARTIAL_TURNS", ())
    firsts = _slow_hums_found_first(store, songs, monkeypatch, [4.8 + 4.0 * k for k in range(8)], 0.62, 6.0)
    assert sum(firsts) >= 7 if turned else sum(firsts) <= 5, firsts


def test_the_outer_tempi_add_only_new_songs_after_the_others():
    from hum_search.search import candidates as cand

    windows = melody.QueryWindows(np.zeros((2, melody.MELODY_DIM), np.float32), np.array([0.61, 0.65], np.float32),
                                  np.zeros(2, np.float32), np.zeros(2, np.float32))
    found = [cand.Candidate("a", 3.0), cand.Candidate("b", 2.0)]
    hits = [[SegmentHit(s, 10.0, 15.0, sc) for s, sc in [("b", 0.99), ("c", 0.98)] + [(f"x{i}", 0.5) for i in range(9)]]
            for _ in range(2)]
    out = cand.with_outer(found, windows, hits, None)
    assert [c.song_id for c in out[:3]] == ["a", "b", "c"]  # "b" kept once, where it was
    assert len(out) == 2 + cand.OUTER_SONGS
    assert cand.with_outer(found, windows, [], None) == found


@pytest.mark.parametrize("support", [True, False])
def test_rerank_aligns_where_many_windows_agree_not_at_one_lucky_window(monkeypatch, support):
    """The hummed song's best single hit (a lucky window) and its second best lie away from where
    it was hummed; six weaker hits agree on the right start, twelve weak ones lie scattered. ``rerank.hit_positions`` aligns there
    too and finds the song at its place; aligned at its two best single hits only, it costs as much
    as the wrong songs."""
    from hum_search.search import rerank
    from hum_search.search.candidates import Candidate
    if not support:
        monkeypatch.setattr(rerank, "SUPPORT_S", 0.0)  # each hit supports itself: the best single hits
    rng = np.random.default_rng(12)
    songs = [np.repeat(60 + rng.integers(-7, 8, 200), 8).astype(np.float32) for _ in range(8)]
    start_s = 20.0
    hum = songs[0][int(start_s * melody.CONTOUR_FPS): int((start_s + 9.0) * melody.CONTOUR_FPS)] + 3.0
    _, q_mean, _ = melody.window_vectors(hum, np.zeros(1), melody.SEGMENT_S * melody.CONTOUR_FPS)
    agree = [(0.80 + 0.01 * k, start_s + 0.1 * (k - 3), 1.0, float(q_mean[0]), start_s) for k in range(6)]
    lucky = [(0.95, 45.0, 1.0, float(q_mean[0]), 45.0), (0.90, 5.0, 1.0, float(q_mean[0]), 5.0)]
    scattered = [(0.6 + 0.005 * k, 30.0 + 2.5 * k, 1.0, float(q_mean[0]), 30.0 + 2.5 * k) for k in range(12)]
    cands = [Candidate("r0", 1.0, hits=lucky + agree + scattered, record=_contour_record(0, songs[0]))]
    cands += [Candidate(f"r{i}", 0.9, hits=[(0.9, 10.0 + 5 * i, 1.0, float(q_mean[0]), 10.0 + 5 * i)],
                        record=_contour_record(i, songs[i])) for i in range(1, 8)]
    _r0_found_at(hum, cands, start_s) if support else _r0_lost(hum, cands)


@pytest.mark.parametrize("first", [True, False])
def test_a_leading_song_is_aligned_at_another_tempo_too_where_its_best_hits_share_one(first):
    """A hum at 0.7x of song r0 from 20 s: its five best hits are windows matching elsewhere at
    1.3x (three agreeing at 45 s: the best supported too), the hit at its own place and tempo only
    sixth. Handed on first by the first stage it is aligned there as well (``hit_positions``, the
    first OTHER_TEMPO_SONGS candidates) and found at its place; handed on after them, only at 1.3x,
    it costs as much as the wrong songs."""
    from hum_search.search import rerank
    from hum_search.search.candidates import Candidate
    rng = np.random.default_rng(21)
    songs = [np.repeat(60 + rng.integers(-7, 8, 200), 8).astype(np.float32) for _ in range(rerank.OTHER_TEMPO_SONGS + 2)]
    start_s, tempo = 20.0, 0.7  # song seconds per hum second
    at = start_s * melody.CONTOUR_FPS + tempo * np.arange(int(9.0 * melody.CONTOUR_FPS))
    hum = songs[0][at.astype(np.intp)] + 3.0
    _, q_mean, _ = melody.window_vectors(hum, np.zeros(1), melody.SEGMENT_S * melody.CONTOUR_FPS)
    m = float(q_mean[0])
    elsewhere = [(0.95 - 0.01 * k, 45.0 + 0.2 * k, 1.3, m, 45.0) for k in range(3)]
    elsewhere += [(0.90 - 0.01 * k, 5.0 + 0.2 * k, 1.3, m, 5.0) for k in range(2)]
    own = Candidate("r0", 1.0, hits=elsewhere + [(0.8, start_s, tempo, m, start_s)], record=_contour_record(0, songs[0]))
    others = [Candidate(f"r{i}", 0.9, hits=[(0.9, 10.0 + 5 * i, 1.0, m, 10.0 + 5 * i)], record=_contour_record(i, songs[i]))
              for i in range(1, len(songs))]
    cands = [own] + others if first else others + [own]
    _r0_found_at(hum, cands, start_s) if first else _r0_lost(hum, cands)


def _r0_costs(hum: np.ndarray, cands) -> tuple[list, dict[str, float]]:
    from hum_search.search import rerank
    length_s = len(hum) / melody.CONTOUR_FPS
    qa = analysis.QueryAnalysis(length_s, hum, 0.0, melody.query_windows(hum), length_s)
    results = rerank.rerank(None, qa, cands)
    return results, {r.song.song_id: r.cost for r in results}


def _r0_found_at(hum: np.ndarray, cands, start_s: float) -> None:
    """The re-rank puts song r0 first, at ``start_s``, at a low cost."""
    results, costs = _r0_costs(hum, cands)
    assert results[0].song.song_id == "r0" and costs["r0"] < 0.2
    assert results[0].match_start_s == pytest.approx(start_s, abs=1.0)


def _r0_lost(hum: np.ndarray, cands) -> None:
    """The re-rank aligns song r0 nowhere near the hum: it costs as much as a wrong song."""
    assert _r0_costs(hum, cands)[1]["r0"] > 0.6


def test_the_re_rank_scores_a_song_by_where_the_first_stage_ranked_it_too():
    """The same hum, the same candidates: its song handed on first or last by the first stage. It
    wins the alignment either way; its score is lower when the first stage ranked it last."""
    from hum_search.search import rerank
    from hum_search.search.candidates import Candidate
    rng = np.random.default_rng(13)
    songs = [np.repeat(60 + rng.integers(-7, 8, 200), 8).astype(np.float32) for _ in range(12)]
    hum = songs[0][500:725] + 0.4 * rng.standard_normal(225).astype(np.float32)
    length_s = len(hum) / melody.CONTOUR_FPS
    _, q_mean, _ = melody.window_vectors(hum, np.zeros(1), melody.SEGMENT_S * melody.CONTOUR_FPS)
    cands = [Candidate(f"r{i}", 1.0, hits=[(0.9, 20.0, 1.0, float(q_mean[0]), 20.0)],
                       record=_contour_record(i, s)) for i, s in enumerate(songs)]
    qa = analysis.QueryAnalysis(length_s, hum, 0.0, melody.query_windows(hum), length_s)
    first = rerank.rerank(None, qa, cands)
    last = rerank.rerank(None, qa, cands[1:] + cands[:1])
    assert first[0].song.song_id == last[0].song.song_id == "r0"
    assert first[0].cost == pytest.approx(last[0].cost, rel=1e-4)  # (float32 sums in another order)
    assert first[0].score > last[0].score
