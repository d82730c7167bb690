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


def test_query_window_at_the_right_tempo_matches_the_song_segment():
    rng = np.random.default_rng(2)
    song = contour_of(60 + np.cumsum(rng.integers(-3, 4, 60)))
    seg = melody.song_segments(song)
    tempo = 1.25  # hum 25 % faster, 4 semitones up
    start = int(2.0 * melody.CONTOUR_FPS)
    hum_frames = np.arange(start, len(song), tempo)
    hum = song[hum_frames.astype(int)] + 4
    q = melody.query_windows(hum)
    sims = q.vectors @ seg.vectors.T
    qi, si = np.unravel_index(np.argmax(sims), sims.shape)
    assert sims[qi, si] > 0.97
    assert q.tempo[qi] == pytest.approx(tempo, rel=0.08)
    estimated_start = seg.seg_start_s[si] - q.offset_s[qi] * q.tempo[qi]
    assert estimated_start == pytest.approx(2.0, abs=0.5)


def test_short_query_still_gives_a_window():
    q = melody.query_windows(contour_of([60, 62, 64, 65, 67, 65, 64, 62]))  # 2.4 s
    assert len(q.vectors) >= 1


# --- alignment -------------------------------------------------------------------------------------
