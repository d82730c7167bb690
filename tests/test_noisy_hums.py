"""Issue 11: hums from the real world find their song in a small store of demo tunes.

The fixtures (tests/noisy_fixtures.py) are hard on purpose: the last test checks that a tracker
without the front end's noise removal and whistle range (a noise-following one) fails them.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from hum_search.demo import catalogue, hum, render, tunes
from hum_search.features import extract, pitch
from hum_search.search.searcher import Searcher
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SongMeta, SongRecord

from . import noisy_fixtures as nf

SR = pitch.SAMPLE_RATE
N_TUNES = 10  # songs in the store
QUERIED = (0, 3, 6, 9)  # the tunes hummed in each condition


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    store = EmbeddedStore(tmp_path_factory.mktemp("noisy-store"), extract.current_spec())
    for i, tune in enumerate(tunes.TUNES[:N_TUNES]):
        y = render.render(catalogue.arrangement_for(tune, seed=i), sr=SR, engine="additive")
        meta = SongMeta(tune.slug, f"/music/{tune.slug}.wav", tune.title, None, None, "demo", len(y) / SR,
                        f"{i:064x}", 1, 1.0, "2026-01-01T00:00:00Z")
        store.add([SongRecord(meta, extract.song_melody(y), None)])
    yield Searcher(store)
    store.close()


def _wav(y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV")
    return buf.getvalue()


def _excerpt(k: int):
    notes = tunes.TUNES[k].notes()
    start = 0 if k % 2 == 0 else len(notes) // 3
    return notes[start:start + 14]


CONDITIONS = {
    "steady harmonic hum at 5 dB SNR": lambda ns, s: nf.hum_in_noise(
        ns, nf.steady_harmonic_noise(40 * SR, f0=90.0 + 13 * s, whine_hz=600.0 + 50 * s, seed=s), 5.0, seed=s),
    # a same-register organ melody at 5 dB is not solved yet (2 of 4 at rank 1): see docs/melody.md
    "competing melody at 10 dB SNR": lambda ns, s: nf.hum_in_noise(
        ns, nf.competing_melody(40 * SR, seed=s), 10.0, voice="female", seed=s),
    "whistled at 2 kHz": lambda ns, s: nf.whistle(ns, centre_hz=2000.0, seed=s),
    "sung with changing vowels": lambda ns, s: nf.sung_words(ns, seed=s),
    "0.6x tempo": lambda ns, s: hum.synth_hum(ns, tempo=0.6, seed=s),
    "1.6x tempo": lambda ns, s: hum.synth_hum(ns, tempo=1.6, voice="female", seed=s),
    "skipped notes": lambda ns, s: hum.synth_hum(nf.skip_notes(ns, 5), seed=s),
}


def _ranks(searcher: Searcher, make) -> list[int]:
    ranks = []
    for k in QUERIED:
        resp = searcher.search(_wav(make(_excerpt(k), k)), top=10)
        ids = [r.song.song_id for r in resp.results]
        slug = tunes.TUNES[k].slug
        ranks.append(ids.index(slug) + 1 if slug in ids else 99)
    return ranks


@pytest.mark.parametrize("condition", list(CONDITIONS))
def test_a_hard_hum_finds_its_song(searcher, condition):
    ranks = _ranks(searcher, CONDITIONS[condition])
    assert sum(r == 1 for r in ranks) >= len(ranks) - 1, ranks  # at most one of four not at rank 1
    assert max(ranks) <= 10, ranks  # and none lost (one skipped-note hum sits at rank 5: matching, not the front end)


@pytest.mark.parametrize("condition", ["steady harmonic hum at 5 dB SNR", "whistled at 2 kHz"])
def test_a_noise_following_tracker_fails_the_same_fixtures(searcher, monkeypatch, condition):
    """Without the stationary-noise removal and with the old 1,100 Hz ceiling the tracker follows the
    fan or misses the whistle: these fixtures are hard enough to tell the two apart."""
    monkeypatch.setattr(pitch, "HUM", pitch.HumParams(fmin_hz=65.0, fmax_hz=1100.0, fix_harmonic_jumps=True,
                                                      min_peakiness=2.3, denoise=False))
    ranks = _ranks(searcher, CONDITIONS[condition])
    assert sum(r == 1 for r in ranks) <= len(ranks) - 2, ranks
