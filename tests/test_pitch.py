"""The song side of the tracker must not move (stored features keep their meaning), and the hum side's
noise removal does what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hum_search.demo import catalogue, render, tunes
from hum_search.features import denoise, pitch

GOLDEN = Path(__file__).parent / "data" / "song_pitch_golden.npz"
# SONG's fields as recorded in every store's IndexSpec (melody.params()["tracker"]["song"]) since melody
# model salience-melody-v2 (v1, commit 28d3a50: harmonics 8, jump cost 1.0, no rest memory)
SONG_FIELDS = {"between_penalty": 0.3, "fix_harmonic_jumps": False, "fmax_hz": 2000.0, "fmin_hz": 100.0,
               "harmonic_decay": 0.5, "harmonics": 12, "height": 0.35, "jump_cost_per_semitone": 1.4,
               "min_peakiness": 0.0, "min_steadiness": 0.75, "min_steady_frames": 12, "octave_jump_cost": 2.0,
               "rest_jump_cost_per_semitone": 0.3, "silence_db": 35.0, "unvoiced_cost": 1.2,
               "voicing_switch_cost": 0.5}


def test_song_preset_fields_are_unchanged():
    assert pitch.SONG.__dict__ == SONG_FIELDS
    assert type(pitch.SONG) is pitch.TrackerParams


@pytest.mark.parametrize("slug", ["ode-to-joy", "greensleeves", "jingle-bells"])
def test_song_track_is_identical_to_the_stored_features_tracker(slug):
    """tests/data/song_pitch_golden.npz holds pitch.track(y, SONG) of these renders (first 20 s,
    additive engine, arrangement seed 3) made by the tracker of melody model salience-melody-v2.
    Query-side changes must leave it as it was; a change here is a new melody model (extract.py)."""
    tune = tunes.TUNES_BY_SLUG[slug]
    y = render.render(catalogue.arrangement_for(tune, seed=3), sr=pitch.SAMPLE_RATE, engine="additive")
    got = pitch.track(y[: 20 * pitch.SAMPLE_RATE], pitch.SONG)
    want = np.load(GOLDEN)[slug]
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    v = ~np.isnan(want)
    # semitones: FFT/BLAS rounding only. OpenBLAS picks its kernels by CPU (DYNAMIC_ARCH): on one
    # AMD EPYC machine 4 of these 1,810 frames differ by 0.0005-0.0015 semitone; a changed tracker
    # moves voicing (checked exactly above) and whole notes
    assert np.max(np.abs(got[v] - want[v])) < 5e-3


def test_stationary_tones_are_removed_and_a_moving_one_is_kept():
    rng = np.random.default_rng(0)
    frames, bins = 400, 300
    power = rng.exponential(1.0, (frames, bins)).astype(np.float32)  # a noise floor
    power[:, 50] += 100.0  # a steady partial, always there
    moving = 100 + (np.arange(frames) // 40) * 7  # a voice partial: a new bin every 40 frames
    power[np.arange(frames), moving] += 100.0
    out = denoise.remove_stationary(power, bin_hz=7.8125)
    assert out.power[:, 50].mean() < 1.0
    assert out.power[np.arange(frames), moving].mean() > 90.0
    assert np.median(out.power[:, 200:]) == 0.0  # the floor itself is gone


def test_digital_silence_is_left_out_of_the_floor():
    """A recorder's lead-in of exact zeros is not the room: with 60 % of the frames silent, the
    floor (a 30 % quantile) would be zero and nothing removed; left out, the floor is the noise's."""
    rng = np.random.default_rng(1)
    sound = rng.exponential(1.0, (400, 300)).astype(np.float32)
    sound[:, 50] += 100.0  # a steady partial
    power = np.concatenate([np.zeros((600, 300), np.float32), sound])
    live = np.arange(len(power)) >= 600
    assert np.all(denoise.remove_stationary(power, bin_hz=7.8125).floor == 0.0)  # (without the mask)
    out = denoise.remove_stationary(power, bin_hz=7.8125, live=live)
    np.testing.assert_allclose(out.floor, denoise.remove_stationary(sound, bin_hz=7.8125).floor)
    assert out.power[600:, 50].mean() < 1.0


def test_a_hums_track_does_not_depend_on_digital_silence_before_it():
    """The same noisy hum with and without 8 s of zeros first: the same track, frame for frame, and
    the same SNR estimate (before live_frames: no frame of the hum agreed, the fan was tracked)."""
    from .noisy_fixtures import hum_in_noise, steady_harmonic_noise

    notes = tunes.TUNES_BY_SLUG["ode-to-joy"].notes()[:14]
    y = hum_in_noise(notes, steady_harmonic_noise(40 * pitch.SAMPLE_RATE, f0=100.0, whine_hz=650.0, seed=2),
                     5.0, seed=2).astype(np.float32)
    lead = 8 * pitch.SAMPLE_RATE  # 800 frames exactly
    a = pitch.track_hum(y, pitch.HUM)
    b = pitch.track_hum(np.concatenate([np.zeros(lead, np.float32), y]), pitch.HUM)
    assert np.all(np.isnan(b.f0[:790]))
    tail = b.f0[800:800 + len(a.f0)]
    same = (np.isnan(tail) & np.isnan(a.f0)) | (np.abs(tail - a.f0) < 0.01)
    assert same.all(), np.nonzero(~same)[0][:10]
    assert abs(a.snr_db - b.snr_db) < 0.01


def _viterbi_reference(emit, emit_unvoiced, semitone, p):
    """The tracker's Viterbi as plain Python (the implementation before it was compiled)."""
    n, k = emit.shape
    lam, octave, switch = p.jump_cost_per_semitone, p.octave_jump_cost, p.voicing_switch_cost
    rest_lam = p.rest_jump_cost_per_semitone
    emit_l, unv_l, st_l = emit.tolist(), emit_unvoiced.tolist(), semitone.tolist()
    back = [[0] * (k + 1) for _ in range(n)]
    prev = emit_l[0] + [unv_l[0]]
    memory = None  # the pitch at which the unvoiced state's best path fell silent
    for t in range(1, n):
        best_v = min(range(k), key=prev.__getitem__)
        cur = [0.0] * (k + 1)
        for j in range(k):
            best, arg = prev[k] + switch, k
            if rest_lam > 0 and memory is not None:
                back_jump = abs(st_l[t][j] - memory)
                best += rest_lam * back_jump + (octave if back_jump > 7 else 0.0)
            for i in range(k):
                jump = abs(st_l[t][j] - st_l[t - 1][i])
                c = prev[i] + lam * jump + (octave if jump > 7 else 0.0)
                if c < best:
                    best, arg = c, i
            cur[j], back[t][j] = best + emit_l[t][j], arg
        to_unv = prev[best_v] + switch
        cur[k], back[t][k] = (to_unv + unv_l[t], best_v) if to_unv < prev[k] else (prev[k] + unv_l[t], k)
        memory = st_l[t - 1][best_v] if to_unv < prev[k] else memory
        prev = cur
    s = min(range(k + 1), key=prev.__getitem__)
    path = [0] * n
    for t in range(n - 1, -1, -1):
        path[t], s = s, back[t][s]
    return np.array(path)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_viterbi_finds_the_plain_python_path(seed):
    """Random salience costs and candidate pitches, with ties and octave jumps, both presets."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 400)), int(rng.integers(1, 6))
    emit = np.round(rng.exponential(1.0, (n, k)), 1)  # rounded: ties happen
    unvoiced = np.round(rng.exponential(1.0, n), 1)
    semitone = (60 + np.cumsum(rng.normal(0, 4, (n, k)), axis=0)).astype(np.float32)
    for params in (pitch.HUM, pitch.SONG):
        expected = _viterbi_reference(emit, unvoiced, semitone, params)
        assert np.array_equal(pitch._viterbi(emit, unvoiced, semitone, params), expected)


def test_a_song_line_comes_back_from_a_rest_at_the_pitch_it_left():
    """A lead note, a rest, then the same note where the lead's 3rd harmonic (19 semitones up) has a
    little more salience than its fundamental (a bright instrument under loud accompaniment): the
    song preset remembers the pitch across the rest and stays on the lead; without the memory (the
    hum preset's setting) the line restarts on the harmonic, a fifth off in pitch class."""
    n, k = 60, 2
    semitone = np.tile(np.array([[60.0, 79.0]], np.float32), (n, 1))
    emit = np.tile([[0.1, 2.0]], (n, 1))
    emit[35:] = [[0.4, 0.2]]  # after the rest: the harmonic is the stronger candidate
    unvoiced = np.full(n, 3.0)
    unvoiced[20:35] = 0.0  # frames 20-34: the rest
    emit[20:35] = 3.0
    song = pitch._viterbi(emit, unvoiced, semitone, pitch.SONG)
    forgetful = pitch._viterbi(emit, unvoiced, semitone, pitch.HUM)
    assert (song[20:35] == k).all() and (forgetful[20:35] == k).all()  # both rest
    assert (song[:20] == 0).all() and (song[35:] == 0).all()
    assert (forgetful[35:] == 1).all()
    assert pitch.HUM.rest_jump_cost_per_semitone == 0.0  # hums: a breath may restart anywhere
