"""Unit tests of the melody channel on synthetic signals: pitch tracking, representation, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from hum_search.demo.arrange import arrange
from hum_search.demo.hum import synth_hum
from hum_search.demo.notation import Note, melody_to_notes
from hum_search.demo.render import render
from hum_search.features import extract as analysis
from hum_search.features import melody, pitch
from hum_search.search import align
from hum_search.search.scoring import match_score
from hum_search.search.searcher import Searcher
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SongMeta, SongRecord

SR = pitch.SAMPLE_RATE


def harmonic_tone(f0: np.ndarray, *, n_harmonics: int = 8, first: int = 1, sr: int = SR) -> np.ndarray:
    """A voice-like harmonic tone following the f0 track ``f0`` (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(h * phase) / h for h in range(first, n_harmonics + 1))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def midi(hz):
    return 69 + 12 * np.log2(np.asarray(hz) / 440.0)


def tracked_error_cents(y: np.ndarray, truth_hz: np.ndarray, params=pitch.HUM) -> np.ndarray:
    est = pitch.track(y, params)
    t = np.arange(len(est)) * pitch.HOP
    truth = midi(truth_hz[np.clip(t, 0, len(truth_hz) - 1)])
    voiced = ~np.isnan(est)
    return 100 * np.abs(est[voiced] - truth[voiced]), voiced


# --- pitch tracking --------------------------------------------------------------------------------
def test_glide_is_tracked_within_25_cents():
    n = 2 * SR
    f0 = 180.0 * 2 ** (np.linspace(0, 1, n))  # one octave up in two seconds
    err, voiced = tracked_error_cents(harmonic_tone(f0), f0)
    assert voiced.mean() > 0.9
    assert np.percentile(err, 95) < 25


def test_vibrato_is_tracked_within_25_cents():
    t = np.arange(2 * SR) / SR
    f0 = 220.0 * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.5 * t))  # +-40 cents at 5.5 Hz
    err, voiced = tracked_error_cents(harmonic_tone(f0), f0)
    assert voiced.mean() > 0.9
    assert np.percentile(err, 95) < 25


def test_missing_fundamental_gives_no_octave_error():
    f0 = np.full(2 * SR, 110.0)  # a low male hum through a thin microphone: no fundamental
    err, voiced = tracked_error_cents(harmonic_tone(f0, first=2, n_harmonics=12), f0)
    assert voiced.mean() > 0.9
    assert np.median(err) < 30


def test_without_the_two_lowest_harmonics_the_track_is_at_least_steady():
    """Through a phone band (300 Hz up) a 110 Hz hum may be heard at its 3rd harmonic; matching is
    key-invariant, so a steady offset is harmless, but the track must not jump between the two."""
    t = np.arange(3 * SR) / SR
    f0 = 110.0 * 2 ** (np.round(2 * np.sin(2 * np.pi * 0.5 * t)) / 12)  # a few steps of a tune
    est = pitch.track(harmonic_tone(f0, first=3, n_harmonics=14))
    truth = midi(f0[np.clip(np.arange(len(est)) * pitch.HOP, 0, len(f0) - 1)])
    offset = (est - truth)[~np.isnan(est)]
    assert np.mean(np.abs(offset - np.median(offset)) < 0.5) > 0.9


def test_low_notes_heard_at_their_third_harmonic_are_moved_back_to_their_fundamental():
    """A low male hum through a thin microphone: its lowest notes lose the fundamental and the 2nd
    harmonic, so the tracker hears them at the 3rd. Moving them down an octave would leave them a
    fifth off; the fundamental (salience of all harmonics) must win over the octave below the 3rd."""
    notes = [50, 52, 45, 50, 53, 45, 52, 50, 48, 45, 50]
    parts, truth = [], []
    for m in notes:
        y = harmonic_tone(np.full(int(0.35 * SR), 440 * 2 ** ((m - 69) / 12)), first=3 if m == 45 else 1,
                          n_harmonics=12)
        parts += [y, np.zeros(int(0.08 * SR), np.float32)]
        truth += [m] * (len(y) + int(0.08 * SR))
    est = pitch.track(np.concatenate(parts))
    t = np.asarray(truth, float)[np.clip(np.arange(len(est)) * pitch.HOP, 0, len(truth) - 1)]
    low = ~np.isnan(est) & (t == 45)
    assert low.sum() > 50
    assert np.mean(align.pitch_class_distance(est[low] - 45) < 0.5) > 0.9


def test_noise_and_silence_are_unvoiced():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.zeros(SR // 2), harmonic_tone(np.full(SR, 300.0)), np.zeros(SR // 2)]).astype(np.float32)
    y += 1e-4 * rng.standard_normal(len(y)).astype(np.float32)
    est = pitch.track(y)
    frames = pitch.FRAME_RATE
    assert np.isnan(est[: int(0.4 * frames)]).mean() > 0.9
    assert np.abs(np.nanmedian(est[int(0.6 * frames): int(1.4 * frames)]) - midi(300.0)) < 0.2


def test_melody_of_a_mix_follows_the_lead():
    """The song preset picks the lead line out of chords and bass (pitch class, 80 % of frames)."""
    tune = melody_to_notes("C5 D5 E5 F5 | G5:2 E5:2 | A5 G5 F5 E5 | D5:4", bpm=100)
    arr = arrange(tune, key_root=0, passes=1, intro_beats=0, drums=False)
    y = render(arr, sr=SR, engine="additive")
    contour = melody.contour_from_f0(pitch.track(y, pitch.SONG))
    t = np.arange(len(contour)) / melody.CONTOUR_FPS
    hits = total = 0
    for n in arr.lead_notes:
        inside = (t > n.start_s + 0.06) & (t < n.start_s + n.dur_s - 0.04) & ~np.isnan(contour)
        total += inside.sum()
        hits += np.sum(align.pitch_class_distance(contour[inside] - n.pitch) < 0.5)
    assert total > 0 and hits / total > 0.8


# --- representation ----------------------------------------------------------------------------------
def contour_of(pitches, note_s=0.3, rest_every=0):
    frames = int(note_s * melody.CONTOUR_FPS)
    c = np.repeat(np.asarray(pitches, np.float32), frames)
    return c


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


def test_scores_are_probability_like():
    assert match_score(0.2, 0.8) > 0.9
    assert match_score(0.7, 0.72) < 0.2
    assert match_score(0.3, None) < match_score(0.3, 0.6)


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


def hum_bytes(y: np.ndarray, sr: int = 16000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def test_noise_is_not_taken_for_humming():
    """White, pink and brown noise give no melody (the query is refused as "no humming heard")."""
    from scipy import signal

    from hum_search.errors import NoMelodyError
    from hum_search.features.extract import analyze_query

    rng = np.random.default_rng(0)
    white = rng.standard_normal(5 * 16000)
    for noise in (white, signal.lfilter([1], [1, -0.98], white), signal.lfilter([1], [1, -0.999], white)):
        y = (0.3 * noise / np.max(np.abs(noise))).astype(np.float32)
        with pytest.raises(NoMelodyError, match="hum or sing"):
            analyze_query(hum_bytes(y))
