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


def test_short_query_still_gives_a_window():
    q = melody.query_windows(contour_of([60, 62, 64, 65, 67, 65, 64, 62]))  # 2.4 s
    assert len(q.vectors) >= 1


# --- alignment -------------------------------------------------------------------------------------
