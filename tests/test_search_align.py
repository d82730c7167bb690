"""The subsequence alignment (``search/align.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.jit import Compiled
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
    assert abs(al.start[0] - a) <= 3 and abs(al.end[0] - (b - 1)) <= 3  # 3 frames: 0.12 s at 25 fps


def test_alignment_tolerates_a_wrong_note_and_rejects_another_tune():
    rng = np.random.default_rng(4)
    tune = 60 + np.cumsum(rng.integers(-4, 5, 40))
    other = 60 + np.cumsum(rng.integers(-4, 5, 40))
    hum = contour_of(tune).copy()
    hum[30:37] += 2  # one wrong note
    good = align.align(hum, contour_of(tune)[None, :]).cost[0]
    bad = align.align(hum, contour_of(other)[None, :]).cost[0]
    assert good < 0.2 < 1.0 < bad


def test_pitch_within_the_tolerance_costs_nothing_and_a_wrong_note_costs_its_excess():
    """A hum whose every note is up to 0.28 semitone off its tune (how people hum) aligns at no cost;
    a note 2 semitones off costs 2 - PITCH_TOLERANCE on each of its frames. (Without the tolerance
    the sloppy hum costs about 0.14 a frame.)"""
    rng = np.random.default_rng(5)
    tune = 60 + np.cumsum(rng.integers(-4, 5, 40)).astype(float)
    sloppy = contour_of(tune + rng.uniform(-0.28, 0.28, len(tune)))
    assert align.align(sloppy, contour_of(tune)[None, :]).cost[0] < 1e-6
    hum = contour_of(tune).copy()
    hum[30:37] += 2.0
    cost = align.align(hum, contour_of(tune)[None, :]).cost[0]
    assert cost == pytest.approx(7 * (2.0 - align.PITCH_TOLERANCE) / len(hum), rel=1e-4)
    assert align.local_cost(np.array([0.2, -0.3, 1.0, 11.9, 5.0])) == pytest.approx([0.0, 0.0, 0.7, 0.0, 2.0])


def test_matched_is_the_share_of_hum_frames_aligned_within_the_tolerance():
    """``align(..., track=True).matched`` counts the hum frames that cost nothing on the best path:
    all of a sloppy hum of the tune, all but a wrong note's frames, none of a hum half a semitone
    sharp everywhere (which costs 0.2 a frame), none aligned to song frames without melody. Costs,
    starts and ends are those of the untracked programme, which leaves ``matched`` NaN."""
    rng = np.random.default_rng(5)
    tune = 60 + np.cumsum(rng.integers(-4, 5, 40)).astype(float)
    song = contour_of(tune)[None, :]
    sloppy = contour_of(tune + rng.uniform(-0.28, 0.28, len(tune)))
    assert align.align(sloppy, song, track=True).matched[0] == pytest.approx(1.0)
    hum = contour_of(tune).copy()
    hum[30:37] += 2.0
    tracked, plain = align.align(hum, song, track=True), align.align(hum, song)
    assert tracked.matched[0] == pytest.approx(1 - 7 / len(hum), abs=1e-6) and np.isnan(plain.matched[0])
    assert (tracked.cost[0], tracked.start[0], tracked.end[0]) == (plain.cost[0], plain.start[0], plain.end[0])
    sharp = align.align(contour_of(tune) + 0.5, song, track=True)
    assert sharp.matched[0] == 0.0 and sharp.cost[0] == pytest.approx(0.5 - align.PITCH_TOLERANCE, rel=1e-4)
    assert align.align(hum, np.full_like(song, np.nan), track=True).matched[0] == 0.0
    assert align.align(hum, np.zeros((0, 5)), track=True).matched.shape == (0,)


def test_the_tracked_count_is_the_zero_cost_frames_of_the_best_path():
    """For many random regions, the tracked count is the number of the path's cells that cost 0,
    on the path ``alignment_path`` finds (where the best path is unique)."""
    rng = np.random.default_rng(11)
    query = contour_of(60 + np.cumsum(rng.integers(-2, 3, 30)), note_s=0.2)
    regions = contour_of(60 + np.cumsum(rng.integers(-2, 3, (20, 50)), axis=1).ravel(), note_s=0.2)
    regions = regions.reshape(20, -1).astype(np.float64) + rng.uniform(-0.4, 0.4, (20, 1))
    al = align.align(query, regions, track=True)
    for i, r in enumerate(regions):
        qi, rj = align.alignment_path(query, r)
        zero = align.local_cost(query[qi] - np.nan_to_num(r[rj])) == 0.0
        assert al.matched[i] == pytest.approx(np.sum(zero & ~np.isnan(r[rj])) / len(query), abs=1e-6)


def test_alignment_path_is_monotonic_and_spans_the_query():
    song = contour_of([60, 62, 64, 65, 67, 69, 71, 72] * 3)
    qi, rj = align.alignment_path(song[10:60], song)
    assert qi[0] == 0 and qi[-1] == 49
    assert np.all(np.diff(qi) >= 0) and np.all(np.diff(rj) >= 0)


def _cost_along(query: np.ndarray, region: np.ndarray, qi: np.ndarray, rj: np.ndarray) -> float:
    """The mean cost of a warping path, from align's rules written out once more: every frame on it,
    and STEP_PENALTY per non-diagonal step (a (1,2) step skips a song frame; a (2,1) step shows in
    the path as two query frames on one song frame); a pause in the query costs nothing, and the
    mean is over the query's voiced frames."""
    diff = np.nan_to_num(query[qi]) - np.nan_to_num(region[rj])
    d = np.clip(align.pitch_class_distance(diff) - align.PITCH_TOLERANCE, 0.0, align.COST_CAP)
    d = np.where(np.isnan(region[rj]), align.UNVOICED_COST, d)
    d = np.where(np.isnan(query[qi]), 0.0, d)
    steps = np.stack([np.diff(qi), np.diff(rj)], axis=1)
    bent = np.sum((steps[:, 1] == 2) | (steps[:, 1] == 0))
    return float((d.sum() + align.STEP_PENALTY * bent) / np.count_nonzero(~np.isnan(query)))


@pytest.mark.parametrize("pauses", [False, True])
def test_the_compiled_alignment_costs_what_its_path_costs(pauses):
    """align() (compiled, split over threads) against alignment_path() (the plain numpy programme
    kept for plots): the cost of the path the second finds is the cost the first reports, for many
    regions with gaps in one call, for a hum with and without pauses; and a padded row costs what
    it costs alone."""
    rng = np.random.default_rng(7)
    query = contour_of(60 + np.cumsum(rng.integers(-3, 4, 30)), note_s=0.2)
    if pauses:
        query[12:18] = query[40:44] = np.nan
    n_regions = 2 * align.MIN_REGIONS_PER_THREAD + 3  # enough for more than one thread
    regions = contour_of(60 + np.cumsum(rng.integers(-3, 4, (n_regions, 50)), axis=1).ravel(), note_s=0.2)
    regions = regions.reshape(n_regions, -1).astype(np.float64)
    regions[rng.random(regions.shape) < 0.05] = np.nan
    al = align.align(query, regions)
    for i, r in enumerate(regions):
        qi, rj = align.alignment_path(query, r)
        assert al.cost[i] == pytest.approx(_cost_along(query, r, qi, rj), abs=1e-4)
        assert al.end[i] == rj[-1]
    padded = np.concatenate([regions, np.full((n_regions, 7), np.inf)], axis=1)
    padded[5, 40:] = np.inf  # a shorter region among longer ones
    together = align.align(query, padded)
    alone = align.align(query, padded[5:6])  # on the calling thread
    assert together.cost[5] == pytest.approx(alone.cost[0]) and together.start[5] == alone.start[0]


def test_importing_the_search_neither_imports_numba_nor_touches_the_disk():
    """numba is imported, and the alignment and the tracker's Viterbi compiled (and cached on disk),
    on first use, not when the library is imported."""
    import subprocess
    import sys
    code = ("import sys, hum_search.engine, hum_search.search.align as a, hum_search.features.pitch as p; "
            "print('numba' in sys.modules, a._KERNEL.compiled is None, p._VITERBI.compiled is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_the_alignment_compiles_without_a_writable_cache(monkeypatch):
    """Where numba finds no writable cache location (its RuntimeError), the programme is compiled
    without a cache, and aligns the same."""
    import numba
    query = contour_of([60, 62, 64, 65, 67])
    region = contour_of([55, 60, 62, 64, 65, 67, 69])[None, :]
    expected = align.align(query, region)
    real_njit = numba.njit

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_dtw': no locator available for file")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)
    monkeypatch.setattr(align, "_KERNEL", Compiled(align._dtw))
    got = align.align(query, region)
    assert align._KERNEL.compiled is not None
    assert got.cost[0] == pytest.approx(expected.cost[0]) and got.start[0] == expected.start[0]


def test_a_forked_child_aligns_with_threads_of_its_own():
    """The thread pool made by a search does not survive a fork (indexing workers are forked): the
    child makes its own instead of waiting forever on the parent's dead threads."""
    import multiprocessing
    regions = np.tile(contour_of([60, 62, 64, 65, 67, 69]), (2 * align.MIN_REGIONS_PER_THREAD, 1))
    query = contour_of([62, 64, 65])
    expected = align.align(query, regions)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_align_costs, (query, regions)).get(timeout=60)
    np.testing.assert_allclose(got, expected.cost)


def _align_costs(query: np.ndarray, regions: np.ndarray) -> np.ndarray:
    return align.align(query, regions).cost


def test_the_re_rank_measures_each_hit_window_as_the_segments_were_measured():
    """rerank._segment_means (many songs' hit windows in one call) gives each window the circular mean
    pitch that melody.window_vectors gives it on its own song, including windows clipped at a song's
    ends and songs whose hits lie far apart."""
    from hum_search.features import melody
    from hum_search.search import rerank

    rng = np.random.default_rng(5)
    songs = []
    for n in (40, 300, 2500, 6000):  # frames: shorter than one window up to 4 minutes
        c = (60 + np.cumsum(rng.normal(0, 1.5, n))).astype(np.float32)
        c[rng.random(n) < 0.2] = np.nan
        songs.append((c, sorted(rng.uniform(-3, n / melody.CONTOUR_FPS + 3, 3).tolist())))
    songs.append((songs[0][0], []))
    got = rerank._segment_means(songs)
    length = melody.SEGMENT_S * melody.CONTOUR_FPS
    want = np.concatenate([melody.window_vectors(c, np.clip(np.asarray(st) * melody.CONTOUR_FPS, 0, max(len(c) - length, 0)), length)[1]
                           for c, st in songs if st])
    assert len(got) == len(want) == 12
    assert np.abs((got - want + 6) % 12 - 6).max() < 1e-3


def _with_pauses(hum: np.ndarray, every: int, length: int) -> np.ndarray:
    """``hum`` with ``length`` frames of silence (NaN) every ``every`` frames, where a breath or the
    tracker's loss of the voice would leave them: the notes keep their time."""
    out = hum.copy()
    for at in range(every, len(out) - length, every):
        out[at: at + length] = np.nan
    return out


def test_a_hum_with_pauses_aligns_as_if_it_had_none_and_another_tune_does_not():
    """A hum is aligned with its pauses where they are (``hum_query``): a 0.28 s pause every 1.2 s
    costs nothing, where the same voiced frames laid end to end shift the rest of the hum against
    the song at each pause and pay a tempo step to catch up. The cost and ``matched`` are per
    voiced frame, so another tune costs as much as without the pauses."""
    rng = np.random.default_rng(12)
    tune = 60 + np.cumsum(rng.integers(-4, 5, 60)).astype(float)
    other = 60 + np.cumsum(rng.integers(-4, 5, 60)).astype(float)
    song = contour_of(tune, note_s=0.3)
    hum = _with_pauses(song[50:350], every=30, length=7)  # frames of 40 ms
    query = align.hum_query(np.concatenate([[np.nan] * 5, hum, [np.nan] * 5]))
    assert len(query) == len(hum) and not np.isnan(query[0]) and not np.isnan(query[-1])
    kept = align.align(query, song[None, :], track=True)
    end_to_end = align.align(query[~np.isnan(query)], song[None, :])
    assert kept.cost[0] < 0.02 < 0.1 < end_to_end.cost[0]
    assert kept.matched[0] == pytest.approx(1.0) and abs(kept.start[0] - 50) <= 1
    wrong = align.align(query, contour_of(other, note_s=0.3)[None, :]).cost[0]
    assert wrong > 0.8
    assert align.hum_query(np.full(4, np.nan)).shape == (0,)
