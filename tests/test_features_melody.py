"""Contours, segment vectors and query windows (``features/melody.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.features import melody

from .contour_helpers import contour_of


def test_segment_vectors_are_key_and_octave_invariant():
    rng = np.random.default_rng(1)
    c = contour_of(60 + np.cumsum(rng.integers(-3, 4, 40)))
    base = melody.song_segments(c).vectors
    for shift in (-7.3, 5.0, 12.0):
        np.testing.assert_allclose(melody.song_segments(c + shift).vectors, base, atol=1e-5)
    octave_errors = c.copy()
    octave_errors[::7] += 12  # the extractor jumps an octave now and then
    np.testing.assert_allclose(melody.song_segments(octave_errors).vectors, base, atol=1e-5)
    assert np.allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("grid, min_cosine", [("fine", 0.97), ("coarse", 0.95)])
def test_query_window_at_the_right_tempo_matches_the_song_segment(grid, min_cosine):
    """The fine windows (every 0.2 s) line up with a song segment almost exactly; the coarse ones
    (the 32 kNN searches: 9 tempo ratios, so fewer offsets each) a little less, at the same place,
    for a hum close to one of their ratios (1.19x; halfway between two, 6 % off each, the best
    coarse cosine of this tune falls to about 0.86, and the fine windows do the rest)."""
    rng = np.random.default_rng(2)
    song = contour_of(60 + np.cumsum(rng.integers(-3, 4, 60)))
    seg = melody.song_segments(song)
    tempo = 1.2  # hum 20 % faster, 4 semitones up
    start = int(2.0 * melody.CONTOUR_FPS)
    hum_frames = np.arange(start, len(song), tempo)
    hum = song[hum_frames.astype(int)] + 4
    if grid == "fine":
        q = melody.query_windows(hum, melody.FINE_TEMPI, max_windows=melody.FINE_MAX_WINDOWS, strict_cap=False)
    else:
        q = melody.query_windows(hum)
        assert len(q.vectors) <= melody.MAX_QUERY_WINDOWS
    sims = q.vectors @ seg.vectors.T
    qi, si = np.unravel_index(np.argmax(sims), sims.shape)
    assert sims[qi, si] > min_cosine
    assert q.tempo[qi] == pytest.approx(tempo, rel=0.08)
    estimated_start = seg.seg_start_s[si] - q.offset_s[qi] * q.tempo[qi]
    assert estimated_start == pytest.approx(2.0, abs=0.5)


def test_a_short_slow_hum_gets_a_partial_window_that_finds_its_place():
    """6 s hummed at 0.72x cover 4.3 s of song: no whole window fits at that tempo, so the best
    whole windows assume the hum is faster than it is. The partial window (the hum as the first 86 %
    of a window, the rest 0) at the tempo ratio nearest 0.72 matches the segment that starts where
    the hum does better than any segment matches a whole window."""
    rng = np.random.default_rng(5)
    song = contour_of(60 + np.cumsum(rng.integers(-3, 4, 60)))
    seg = melody.song_segments(song)
    tempo, start_s = 0.72, 3.2
    frames = np.arange(start_s * melody.CONTOUR_FPS, len(song), tempo)[: int(6.0 * melody.CONTOUR_FPS)]
    hum = song[frames.astype(int)] - 5
    q = melody.query_windows(hum, melody.FINE_TEMPI, max_windows=melody.FINE_MAX_WINDOWS, strict_cap=False)
    partial = q.tempo < melody.SEGMENT_S / (len(hum) / melody.CONTOUR_FPS)
    assert partial.sum() >= 1 and np.all(q.offset_s[partial] == 0)
    sims = q.vectors @ seg.vectors.T
    qi, si = np.unravel_index(np.argmax(sims), sims.shape)
    assert partial[qi] and q.tempo[qi] == pytest.approx(tempo, rel=0.05)
    assert seg.seg_start_s[si] == pytest.approx(start_s, abs=0.4)
    assert sims[partial].max() > sims[~partial].max() + 0.05
    coarse = melody.query_windows(hum)
    assert 1 <= len(coarse.vectors) <= melody.MAX_QUERY_WINDOWS


def test_a_partial_window_turned_by_what_the_song_plays_after_the_hum_matches_and_keys_it():
    """6 s hummed at 0.61x cover 3.7 s of a 5 s song segment. The stored segment is turned by the
    mean of all 5 s, the partial window by the mean of the part hummed: one of ``PARTIAL_TURNS``
    makes up the difference, matching far better than the window unturned, and its mean pitch
    (less the turn) keys the hum to the song more closely (the hum is the song 5 semitones down)."""
    rng = np.random.default_rng(3)
    song = contour_of(60 + rng.integers(-7, 8, 60))
    seg = melody.song_segments(song)
    tempo, start_s = melody.OUTER_TEMPI[0], 3.2
    frames = np.arange(start_s * melody.CONTOUR_FPS, len(song), tempo)[: int(6.0 * melody.CONTOUR_FPS)]
    hum = song[frames.astype(int)] - 5
    at = int(np.argmin(np.abs(seg.seg_start_s - start_s)))
    seg_mean = melody.window_vectors(song, np.array([start_s * melody.CONTOUR_FPS]), melody.SEGMENT_S * melody.CONTOUR_FPS)[1][0]
    span = melody.SEGMENT_S / tempo * melody.CONTOUR_FPS
    assert melody.PARTIAL_MIN_SHARE * span <= len(hum) < span
    cos, key_error = {}, {}
    for turn in (0.0, *melody.PARTIAL_TURNS):
        v, m, ok = melody.window_vectors(hum, np.zeros(1), span, partial=True, turn=turn)
        assert ok[0]
        cos[turn] = float(v[0] @ seg.vectors[at])
        key_error[turn] = abs((seg_mean - m[0] - 5 + 6) % 12 - 6)
    best = max(cos, key=cos.get)
    assert best != 0.0 and cos[best] > cos[0.0] + 0.1, cos
    assert key_error[best] < min(key_error[0.0], 0.5), key_error
    q = melody.query_windows(hum, melody.OUTER_TEMPI, max_windows=melody.OUTER_MAX_WINDOWS, strict_cap=False,
                             turns=melody.PARTIAL_TURNS)
    assert np.sum(np.isclose(q.tempo, tempo)) == 1 + len(melody.PARTIAL_TURNS)  # one partial window, each turn
    assert float(np.max(q.vectors @ seg.vectors[at])) == pytest.approx(cos[best], abs=1e-5)
    with pytest.raises(ValueError):
        melody.query_windows(hum, turns=melody.PARTIAL_TURNS)  # the coarse windows' cap is strict


def test_only_partial_windows_a_hum_covers_little_of_are_turned_unless_the_hum_is_short():
    """A 6.8 s hum's partial window at 0.7x (it covers 95 % of its 7.1 s) is hardly off in key and
    stays unturned; at 0.61x (83 %) it is turned. A 4.6 s hum (shorter than a segment: its
    windows at the song's own tempo are partial) has every partial window turned."""
    rng = np.random.default_rng(1)
    n_turns = 1 + len(melody.PARTIAL_TURNS)
    for seconds, expect in ((6.8, {0.61: n_turns, 0.7: 1}), (4.6, {0.92: n_turns, 0.99: n_turns})):
        hum = contour_of(60 + rng.integers(-5, 6, int(round(seconds / 0.2))), note_s=0.2)
        for tempi in (melody.OUTER_TEMPI, melody.FINE_TEMPI):
            q = melody.query_windows(hum, tempi, max_windows=200, strict_cap=False, turns=melody.PARTIAL_TURNS)
            for tau, count in expect.items():
                at = np.isclose(q.tempo, tau, atol=0.006) & (q.offset_s == 0)
                if any(abs(t - tau) < 0.006 for t in tempi):
                    assert at.sum() == count, (seconds, tau, at.sum())


def test_the_outer_windows_of_a_slow_hum_are_not_outnumbered_by_the_fast_sides():
    """A 9 s hum: at 0.61-0.65x a window spans 7.7-8.2 s of it, at 1.50-1.61x 3.1-3.3 s. With one hop
    for all four outer tempi the slow side got 4 windows and the fast side 18, whose lucky hits then
    outvoted a slow hum's song; each side now spaces its own half of OUTER_MAX_WINDOWS."""
    rng = np.random.default_rng(1)
    hum = contour_of(60 + rng.integers(-5, 6, 45), note_s=0.2)
    q = melody.outer_windows(hum)
    slow, fast = int(np.sum(q.tempo < 1.0)), int(np.sum(q.tempo > 1.0))
    assert slow + fast == len(q.vectors) and set(np.round(q.tempo.astype(float), 2).tolist()) == {0.61, 0.65, 1.5, 1.61}
    assert slow >= 0.8 * fast and fast <= melody.OUTER_MAX_WINDOWS // 2 + 1, (slow, fast)
    assert slow + fast <= melody.OUTER_MAX_WINDOWS + 2
    shared = melody.query_windows(hum, melody.OUTER_TEMPI, max_windows=melody.OUTER_MAX_WINDOWS, strict_cap=False)
    assert np.sum(shared.tempo < 1.0) < 0.3 * np.sum(shared.tempo > 1.0)  # (what one shared hop gave)


def test_short_query_still_gives_a_window():
    q = melody.query_windows(contour_of([60, 62, 64, 65, 67, 65, 64, 62]))  # 2.4 s
    assert len(q.vectors) >= 1


# --- alignment -------------------------------------------------------------------------------------
