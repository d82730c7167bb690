"""The subsequence alignment (``search/align.py``)."""

from __future__ import annotations

import numpy as np

from hum_search.search import align

from .contour_helpers import contour_of


def test_alignment_finds_a_tempo_changed_excerpt():
    rng = np.random.default_rng(3)
    song = contour_of(60 + np.cumsum(rng.integers(-4, 5, 80)), note_s=0.24)
    a, b = 40, 160  # frames of the excerpt
    hum = song[np.arange(a, b, 0.8).astype(int)]  # 25 % slower
    al = align.align(hum, song[None, :])
    # the pitches match exactly; what it costs is the warping (one non-diagonal step in five)
    assert al.cost[0] < 0.05 + 0.25 * align.STEP_PENALTY
    assert abs(al.start[0] - a) <= 2 and abs(al.end[0] - (b - 1)) <= 3


def test_alignment_tolerates_a_wrong_note_and_rejects_another_tune():
    rng = np.random.default_rng(4)
    tune = 60 + np.cumsum(rng.integers(-4, 5, 40))
    other = 60 + np.cumsum(rng.integers(-4, 5, 40))
    hum = contour_of(tune).copy()
    hum[30:37] += 2  # one wrong note
    good = align.align(hum, contour_of(tune)[None, :]).cost[0]
    bad = align.align(hum, contour_of(other)[None, :]).cost[0]
    assert good < 0.2 < 1.0 < bad


def test_alignment_path_is_monotonic_and_spans_the_query():
    song = contour_of([60, 62, 64, 65, 67, 69, 71, 72] * 3)
    qi, rj = align.alignment_path(song[10:60], song)
    assert qi[0] == 0 and qi[-1] == 49
    assert np.all(np.diff(qi) >= 0) and np.all(np.diff(rj) >= 0)
