"""End to end: render a catalogue of songs with accompaniment, index it with the real indexer, query
it with synthetic hums (transposed, tempo-changed, noisy, different voices) and check the ranking and
the reported match position.

The catalogue is the demo's 26 public-domain tunes plus 10 random-walk melodies as distractors,
rendered by the additive synthesizer (fast and deterministic). A chroma-average baseline on the very
same data shows that the thresholds here fail anything that does not follow the melody.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

from hum_search.config import Settings
from hum_search.demo import catalogue as demo
from hum_search.demo import notation
from hum_search.demo.arrange import arrange
from hum_search.demo.audio_files import write_audio
from hum_search.demo.hum import synth_hum
from hum_search.demo.notation import Note
from hum_search.demo.render import render
from hum_search.demo.tunes import TUNES
from hum_search.features.extract import current_spec
from hum_search.indexing.run import index_paths
from hum_search.search.searcher import Searcher
from hum_search.store import open_store

pytestmark = pytest.mark.slow

SONG_SR = 22050
N_QUERIED = 20
N_DISTRACTORS = 10
POSITION_TOLERANCE_S = 3.0


def _hum_plan(i: int) -> dict:
    """Deterministic, varied hum conditions for query ``i``."""
    rng = np.random.default_rng(1000 + i)
    return dict(transpose=float(rng.choice([-5, -3, -2, 2, 3, 4, 5, 7])), tempo=float(rng.uniform(0.8, 1.25)),
                voice=str(rng.choice(["male", "female"])), syllable=str(rng.choice(["mm", "la", "da"])),
                snr_db=float(rng.uniform(10, 25)), noise=str(rng.choice(["pink", "white", "babble"])), seed=i)


def _random_tune(i: int) -> list[Note]:
    rng = np.random.default_rng(500 + i)
    pitches = 64 + np.clip(np.cumsum(rng.integers(-3, 4, 40)), -8, 10)
    durs = rng.choice([0.25, 0.5, 0.5, 0.75, 1.0], 40) * 0.6
    starts = np.concatenate([[0], np.cumsum(durs)[:-1]])
    return [Note(float(p), float(s), float(d) * 0.95) for p, s, d in zip(pitches, starts, durs)]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    music = root / "music"
    songs = []  # (path, melody notes, arrangement)
    for i, tune in enumerate(TUNES[: N_QUERIED + 6]):  # 6 more demo tunes as unqueried songs
        arr = demo.arrangement_for(tune, seed=i)
        path = music / tune.genre / f"{tune.slug}.{('wav', 'flac', 'mp3')[i % 3]}"
        songs.append((path, tune.notes(), arr))
    for i in range(N_DISTRACTORS):
        arr = arrange(_random_tune(i), key_root=i % 12, passes=2, seed=i, style="pop")
        songs.append((music / "Distractors" / f"random-{i}.wav", None, arr))
    for path, _, arr in songs:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, render(arr, sr=SONG_SR, engine="additive", seed=1), SONG_SR)
    store_dir = root / "store"
    settings = Settings.from_env()
    store = open_store(str(store_dir), current_spec(), create=True, settings=settings)
    report = index_paths(store, [music], settings=settings, workers=2, sound_embedder=None)
    assert not report.failed, report.failed
    assert report.indexed == len(songs)
    yield store, songs
    store.close()


def _queries(songs):
    """(hum bytes, expected path, song times where the hummed excerpt starts)."""
    out = []
    for i, (path, notes, arr) in enumerate(songs[:N_QUERIED]):
        spec = demo.hum_spec(TUNES[i], i)
        excerpt = notation.excerpt(notes, spec.start_note, spec.n_notes)
        plan = _hum_plan(i)
        y = synth_hum(excerpt, **plan)
        buf = io.BytesIO()
        sf.write(buf, y, 16000, format="WAV")
        starts = [arr.song_time(notes[k], p) for k in _repeats(notes, spec.start_note, spec.n_notes)
                  for p in range(len(arr.occurrences))]
        out.append((buf.getvalue(), str(path), starts))
    return out


def _repeats(notes, start: int, n: int) -> list[int]:
    """Every note index where the excerpt's interval sequence occurs in the melody (tunes repeat
    phrases: a match at any repeat is at the right place)."""
    pitches = np.array([x.pitch for x in notes])
    steps = np.diff(pitches[start:start + n])
    return [k for k in range(len(pitches) - n + 1) if np.allclose(np.diff(pitches[k:k + n]), steps)]


def test_hums_find_their_songs_and_the_place(catalogue):
    store, songs = catalogue
    searcher = Searcher(store)
    first, placed, rr = 0, 0, []
    for hum, path, starts in _queries(songs):
        resp = searcher.search(hum, top=10)
        paths = [r.song.path for r in resp.results]
        rank = paths.index(os.path.abspath(path)) + 1 if os.path.abspath(path) in paths else None
        rr.append(1 / rank if rank else 0.0)
        if rank == 1:
            first += 1
            top = resp.results[0]
            placed += min(abs(top.match_start_s - s) for s in starts) <= POSITION_TOLERANCE_S
    assert first >= 18, f"only {first} of {N_QUERIED} hums found their song at rank 1"
    assert placed >= first - 1, f"match position off by more than {POSITION_TOLERANCE_S} s for {first - placed} hums"
    assert np.mean(rr) >= 0.9


def test_threshold_rejects_a_melody_blind_method(catalogue):
    """The same queries through a chroma-average "sounds like" method (one 12-d mean chroma per
    file, cosine ranking): it must fall far below the bar the melody channel clears above."""
    store, songs = catalogue
    names = [str(p) for p, _, _ in songs]
    db = np.stack([_mean_chroma(sf.read(p, dtype="float32")[0] if not str(p).endswith(".mp3") else
                                _decode(p), SONG_SR) for p in names])
    first = 0
    for hum, path, _ in _queries(songs):
        q = _mean_chroma(sf.read(io.BytesIO(hum), dtype="float32")[0], 16000)
        first += names[int(np.argmax(db @ q))] == path
    assert first < 18
    assert first <= 6, f"the chroma baseline got {first} of {N_QUERIED}: the test data is too easy"


def _decode(path) -> np.ndarray:
    from hum_search.features.audio import load_audio

    return load_audio(path, SONG_SR)


def _mean_chroma(y: np.ndarray, sr: int) -> np.ndarray:
    n_fft, hop = 4096, 1024
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, (0, n_fft)), n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    ok = (freqs > 60) & (freqs < 4000)
    pc = np.round(12 * np.log2(freqs[ok] / 440.0)).astype(int) % 12
    chroma = np.zeros(12)
    np.add.at(chroma, pc, mag[:, ok].sum(axis=0))
    return chroma / np.linalg.norm(chroma)
