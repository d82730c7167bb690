"""The first stage's whole-line pass (``search/lines.py``): its costs, where it runs, and the hums in
another rhythm that it finds where the windows' vote does not."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.features import extract as analysis
from hum_search.features import melody
from hum_search.search import align, candidates, lines, rerank
from hum_search.search.candidates import Candidate
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SongMeta, SongRecord

NOTE_FRAMES = 8  # 0.32 s notes


def _record(i: int, contour: np.ndarray, genre: str | None = None) -> SongRecord:
    meta = SongMeta(f"r{i}", f"/music/r{i}.wav", f"R {i}", None, None, genre, len(contour) / melody.CONTOUR_FPS,
                    f"{i:064x}", 1, 1.0, "2026-01-01T00:00:00Z")
    return SongRecord(meta, melody.song_segments(contour), None)


def _tunes(seed: int, n: int, notes: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.repeat(60 + rng.integers(-7, 8, notes), NOTE_FRAMES).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def tunes_store(tmp_path_factory):
    """120 songs of random notes (64 s each), two genres: more songs than a short hum's re-rank takes."""
    songs = _tunes(31, 120)
    store = EmbeddedStore(tmp_path_factory.mktemp("line-tunes"), analysis.current_spec())
    store.add([_record(i, s, "folk" if i % 2 else "rock") for i, s in enumerate(songs)])
    yield store, songs
    store.close()


def _rhythm_changed_hum(song: np.ndarray, first_note: int, n_notes: int, rng) -> np.ndarray:
    """Notes ``first_note``... of ``song`` hummed 3 semitones up, each held 0.45-1.9 times its length
    (held and rushed notes: the song's rhythm gone), with 0.15 semitone of pitch noise."""
    notes = song[::NOTE_FRAMES][first_note: first_note + n_notes]
    lengths = np.maximum(np.rint(NOTE_FRAMES * rng.uniform(0.45, 1.9, n_notes)), 2).astype(int)
    hum = np.repeat(notes, lengths) + 3.0
    return (hum + rng.normal(0, 0.15, len(hum))).astype(np.float32)


def _found_first_with_and_without(store, songs: list[np.ndarray], monkeypatch, off) -> tuple[list[bool], list[bool]]:
    """14 notes of each of the first 8 songs hummed in another rhythm (``_rhythm_changed_hum``),
    searched (first stage, then a re-rank of 10 candidates) as the module is set, then with the
    setting ``off`` (module, name) at 0: for each hum, whether its song comes first, matched within
    1.5 s of its first note."""
    monkeypatch.setattr(candidates, "RERANK_SONGS", 10)
    monkeypatch.setattr(candidates, "RERANK_MAX_SONGS", 10)
    rng = np.random.default_rng(8)
    hums = [(k, 20 + 9 * k, _rhythm_changed_hum(songs[k], 20 + 9 * k, 14, rng)) for k in range(8)]

    def firsts() -> list[bool]:
        out = []
        for k, first_note, hum in hums:
            results = rerank.rerank(store, _query(hum), candidates.candidates(store, _query(hum), None))
            start_s = first_note * NOTE_FRAMES / melody.CONTOUR_FPS
            out.append(results[0].song.song_id == f"r{k}" and abs(results[0].match_start_s - start_s) < 1.5)
        return out

    found = firsts()
    monkeypatch.setattr(*off, 0)
    return found, firsts()


def _query(hum: np.ndarray) -> analysis.QueryAnalysis:
    length_s = len(hum) / melody.CONTOUR_FPS
    return analysis.QueryAnalysis(length_s, hum, 0.0, melody.query_windows(hum), length_s)


def test_line_costs_equal_the_alignment_s_in_every_key():
    """The compiled pass (vectorized, costs only) gives ``align.align``'s cost for each row and key,
    with pauses in the hum and frames without melody in the songs."""
    rng = np.random.default_rng(2)
    for _ in range(12):
        n, m = int(rng.integers(3, 60)), int(rng.integers(5, 150))
        query = (60 + rng.integers(-5, 6, n) + rng.normal(0, 0.3, n)).astype(np.float32)
        query[1:][rng.random(n - 1) < 0.15] = np.nan
        rows = (55 + rng.integers(-7, 8, (int(rng.integers(1, 80)), m)) + rng.normal(0, 0.3, (1, m))).astype(np.float32)
        rows[rng.random(rows.shape) < 0.1] = np.nan
        got = lines.line_costs(query, list(rows))
        want = np.stack([align.align(query, rows - k).cost for k in lines.LINE_KEYS], axis=1)
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("tempo", [0.7, 1.0])
def test_the_best_places_are_where_the_hum_was_taken_at_its_tempo_and_key(tempo):
    """8 s of song r7 from 20 s at ``tempo`` (song seconds per hum second), 5 semitones down."""
    rng = np.random.default_rng(4)
    songs = _tunes(5, 30)
    start_s = 20.0
    at = start_s * melody.CONTOUR_FPS + tempo * np.arange(int(8.0 * melody.CONTOUR_FPS))
    hum = songs[7][at.astype(np.intp)] - 5.0 + rng.normal(0, 0.1, len(at)).astype(np.float32)
    places = lines.best_places(align.hum_query(hum)[:: lines.LINE_DOWNSAMPLE], songs, 3)
    song, (start, found_tempo, key) = places[0]
    assert (song, found_tempo, key) == (7, tempo, 5.0)  # (the key: from the hum's to the song's)
    assert start == pytest.approx(start_s, abs=0.5)
    assert len(places) == 3 and len({p[0] for p in places}) == 3


def test_a_hum_in_another_rhythm_is_found_by_the_line_pass_not_by_the_windows(tunes_store, monkeypatch):
    """Hums of 14 notes each held 0.45-1.9 times as long as in the song (about 6 s), 3 semitones up,
    against a re-rank of 10 candidates: the windows' vote (a 5 s template in the song's rhythm)
    hands few of their songs on; with the whole-line pass every one is found first, at its place."""
    store, songs = tunes_store
    with_lines, without = _found_first_with_and_without(store, songs, monkeypatch, (lines, "LINE_SONGS"))
    assert all(with_lines), with_lines
    assert sum(without) <= len(without) // 2, without


def test_the_line_pass_keeps_to_the_genres_asked_for(tunes_store):
    store, songs = tunes_store
    hum = _rhythm_changed_hum(songs[3], 30, 14, np.random.default_rng(1))  # r3: folk
    found = [record.meta.song_id for record, _ in lines.line_places(store, _query(hum), None)]
    assert found[0] == "r3"
    rock = lines.line_places(store, _query(hum), ["rock"])
    assert rock and all(record.meta.genre == "rock" for record, _ in rock)


def test_the_line_pass_runs_only_on_a_catalogue_it_can_align_whole(tunes_store, monkeypatch):
    store, songs = tunes_store
    hum = _rhythm_changed_hum(songs[3], 30, 14, np.random.default_rng(1))
    assert len(lines.line_places(store, _query(hum), None)) == lines.LINE_SONGS
    monkeypatch.setattr(lines, "LINE_MAX_MUSIC_S", 120 * 64.0 - 1.0)  # one second less than the catalogue
    assert lines.line_places(store, _query(hum), None) is None  # (the candidates then align stretches)
    monkeypatch.undo()
    monkeypatch.setattr(store, "search_mode", "ann")  # a store that does not search exactly (large, or Elasticsearch)
    assert lines.line_places(store, _query(hum), None) == []
    assert lines.line_places(store, _query(hum[:20]), None) == []  # (too few voiced frames: 0.8 s)


def test_the_line_pass_adds_places_to_its_songs_and_appends_those_not_found():
    songs = _tunes(6, 3)
    records = [_record(i, s) for i, s in enumerate(songs)]
    found = [Candidate("r0", 2.0, [(0.9, 5.0, 1.0, 0.0, 5.0)]), Candidate("r1", 1.0)]
    out = candidates.with_line_places(found, [(records[1], (3.0, 1.0, 2.0)), (records[2], (7.0, 0.7, 5.0))])
    assert [c.song_id for c in out] == ["r0", "r1", "r2"]
    assert out[0].places == [] and out[1].places == [(3.0, 1.0, 2.0)] and out[1].record is records[1]
    assert out[2].hits == [] and out[2].places == [(7.0, 0.7, 5.0)] and out[2].record is records[2]
    assert found[1].places == [(3.0, 1.0, 2.0)]  # (the same candidate objects, not copies)


def test_the_re_rank_aligns_a_candidate_at_its_line_place_without_any_hit():
    """A song the windows never found (no hits), handed on with the place the line pass matched it
    at, is aligned there and found first at that place."""
    songs = _tunes(9, 12)
    start_s = 30.0
    hum = songs[0][int(start_s * melody.CONTOUR_FPS): int((start_s + 8.0) * melody.CONTOUR_FPS)] - 2.0
    m = 0.0
    others = [Candidate(f"r{i}", 0.9, hits=[(0.9, 10.0 + 3 * i, 1.0, m, 10.0 + 3 * i)], record=_record(i, songs[i]))
              for i in range(1, len(songs))]
    own = Candidate("r0", 0.0, [], record=_record(0, songs[0]), places=[(start_s, 1.0, 10.0)])
    results = rerank.rerank(None, _query(hum), others + [own])
    assert results[0].song.song_id == "r0" and results[0].cost < 0.2
    assert results[0].match_start_s == pytest.approx(start_s, abs=1.0)


def test_the_line_pass_aligns_only_the_hum_s_first_seconds(tunes_store, monkeypatch):
    """Its cost grows with the hum's length: a long recording is aligned over its first
    LINE_MAX_QUERY_S seconds. 6 s of song r5, then 14 s of song r6: r6 matches more of it and
    comes first, unless only the first 6 s are aligned."""
    store, songs = tunes_store
    fps = melody.CONTOUR_FPS
    hum = np.concatenate([songs[5][400: 400 + int(6 * fps)], songs[6][800: 800 + int(14 * fps)]]) + 1.0
    assert lines.line_places(store, _query(hum), None)[0][0].meta.song_id == "r6"
    monkeypatch.setattr(lines, "LINE_MAX_QUERY_S", 6.0)
    assert lines.line_places(store, _query(hum), None)[0][0].meta.song_id == "r5"


def test_a_match_that_runs_off_the_song_s_end_is_still_drawn(tmp_path):
    """A song found at its last seconds (a line place there: the hum's last frames aligned past its
    end, as a wrong note would be, the match reported up to the end) is still explained: the path
    is drawn over the song's frames only."""
    from hum_search.search import explain
    from hum_search.search.results import Result, SearchResponse

    song = _tunes(12, 1, notes=40)[0]  # 12.8 s
    store = EmbeddedStore(tmp_path / "store", analysis.current_spec())
    try:
        rec = _record(0, song)
        store.add([rec])
        hum = np.concatenate([song[-int(3 * melody.CONTOUR_FPS):], song[:int(5 * melody.CONTOUR_FPS)] + 4.0]) - 2.0
        end = len(song) / melody.CONTOUR_FPS
        result = Result(1, rec.meta, 0.1, cost=0.9, match_start_s=end - 3.0, match_end_s=end, transpose=2.0)
        plot = explain.explain(store, SearchResponse("q", "hum", [result], False, {}, _query(hum)), result)
        assert plot is not None and len(plot.hum_time_s) > 0
        assert plot.hum_time_s.min() >= end - 3.0 - 1e-6 and plot.hum_time_s.max() < end
    finally:
        store.close()


def test_on_a_large_catalogue_the_pass_aligns_a_stretch_and_places_the_match_in_the_whole_song():
    """Stretches of three songs (r7's from 35 to 55 s holds the hum's passage, 40-48 s); the match
    is placed in song seconds, not the stretch's; a stretch past the song's ends is clipped, and one
    with no line left is skipped."""
    songs = _tunes(5, 10)
    records = [_record(i, s) for i, s in enumerate(songs)]
    hum = songs[7][int(40.0 * melody.CONTOUR_FPS): int(48.0 * melody.CONTOUR_FPS)] - 4.0
    stretches = [(records[2], 10.0, 30.0), (records[7], 35.0, 55.0), (records[4], -5.0, 500.0),
                 (records[5], 70.0, 80.0)]  # (r5 is 64 s long: nothing left)
    places = lines.stretch_places(_query(hum), stretches)
    assert [record.meta.song_id for record, _ in places] == ["r7", "r4", "r2"]
    start, tempo, key = places[0][1]
    assert (tempo, key) == (1.0, 4.0) and start == pytest.approx(40.0, abs=0.5)
    assert lines.stretch_places(_query(hum[:20]), stretches) == []  # (too few voiced frames)


@pytest.mark.parametrize("plan", ["exact, too long", "two passes, records", "two passes, index"])
def test_a_hum_in_another_rhythm_is_found_where_the_catalogue_is_too_long_to_align_whole(tunes_store, monkeypatch,
                                                                                         plan):
    """The hums of the test above where the whole lines are not aligned: the vote's best songs are
    aligned around their best hit, and the hums the windows miss are found. An exact store whose
    lines are over LINE_MAX_MUSIC_S; a store that does not search exactly (a large embedded store,
    Elasticsearch), with both of its fine passes: over the coarse songs' records (Elasticsearch)
    and over the approximate index's stretches (a large embedded store)."""
    store, songs = tunes_store
    if plan == "exact, too long":
        monkeypatch.setattr(lines, "LINE_MAX_MUSIC_S", 120 * 64.0 - 1.0)
    else:
        monkeypatch.setattr(store, "search_mode", "ann")
        assert not store.searches_exactly()
    if plan == "two passes, index":
        monkeypatch.setattr(candidates, "FINE_WHOLE_MAX_SEGMENTS", 0)
    with_stretches, without = _found_first_with_and_without(store, songs, monkeypatch, (candidates, "STRETCH_SONGS"))
    assert sum(with_stretches) >= len(with_stretches) - 1, with_stretches
    assert sum(without) <= sum(with_stretches) - 3, (with_stretches, without)
