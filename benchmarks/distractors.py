"""Synthetic distractor songs at the feature level, for the scale benchmark (``scale.py``).

A distractor is a melody played 4-7 times at a random tempo and key (later passes sometimes an
octave up), with intro, interludes and outro in which the "extracted" line follows an
accompaniment-like figure, small pitch noise and vibrato, short gaps and a few octave errors, as a
song melody extractor gives; about 3.5 minutes per song. Its contour goes through the project's own
``melody.song_segments``, so the stored vectors are exactly what indexing a real song with that
contour would store. Adapted from the development benchmark's ``scale/add_distractors.py``.

Melody sources:
- ``folk`` (default, needs nothing outside the project): random folk-like tunes from a small
  generative model (diatonic random walk, bar rhythms, an A A' B A'' phrase form with cadences);
- ``--pool FILE``: real melodies of the development benchmark's pool (notes in quarters), as the
  reference generator uses, minus those of the instances given with ``--exclude-instance``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Callable, Iterator

import numpy as np

from hum_search.features import melody
from hum_search.types import SongMeta, SongRecord

FPS = melody.CONTOUR_FPS
GENRES = ("folk", "classical", "jazz", "rock", "electronic", "piano", "strings", "guitar", "pop")
MAX_SONG_S = 360.0
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_BARS = {4.0: ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (0.5, 0.5, 1, 1, 1), (1.5, 0.5, 1, 1), (1, 0.5, 0.5, 2),
               (1, 1, 0.5, 0.5, 1), (2, 2)),
         3.0: ((1, 1, 1), (2, 1), (1.5, 0.5, 1), (0.5, 0.5, 1, 1), (1, 0.5, 0.5, 1), (3,))}
_STEPS = np.array([-4, -3, -2, -1, 0, 1, 2, 3, 4])
_STEP_P = np.array([0.03, 0.05, 0.12, 0.26, 0.08, 0.26, 0.12, 0.05, 0.03])


# --- melody sources ---------------------------------------------------------------------------------
def folk_melody(rng: np.random.Generator) -> dict:
    """A random folk-like tune: {"notes": [[midi, onset_q, dur_q], ...], "qpm", "title"}."""
    scale = _MAJOR if rng.random() < 0.7 else _MINOR
    bar_q = 4.0 if rng.random() < 0.6 else 3.0

    def phrase(start_degree: int, end_degrees: tuple[int, ...]) -> list[tuple[int, float]]:
        out, d = [], start_degree
        bars = [_BARS[bar_q][int(rng.integers(len(_BARS[bar_q])))] for _ in range(4)]
        for b, rhythm in enumerate(bars):
            for j, dur in enumerate(rhythm):
                last = b == 3 and j == len(rhythm) - 1
                if last:
                    d = min(end_degrees, key=lambda e: abs(e - d))
                elif out:
                    d = int(np.clip(d + rng.choice(_STEPS, p=_STEP_P), -3, 10))
                out.append((d, float(dur)))
        return out

    a = phrase(int(rng.choice([0, 2, 4])), (2, 4))
    a2 = a[: -3] + phrase(a[-3][0], (0,))[-3:]  # A': the same start, a closing cadence
    b = phrase(int(rng.choice([4, 5, 7])), (4,))
    a3 = a[: -3] + phrase(a[-3][0], (0,))[-3:]
    notes, t = [], 0.0
    for d, dur in a + a2 + b + a3:
        octave, idx = divmod(d, 7)
        notes.append([60 + 12 * octave + scale[idx], t, dur])
        t += dur
    return {"notes": notes, "qpm": float(rng.uniform(70, 160)), "title": "Folk tune"}


def load_pool(path: str, exclude_instances: tuple[str, ...] = (), exclude_split: str = "heldout") -> list[dict]:
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt") as f:
        mels = [json.loads(line) for line in f]
    used: set[str] = set()
    for inst in exclude_instances:  # melodies already in a benchmark instance's catalogue
        with open(f"{inst}/meta/songs.jsonl") as f:
            used |= {json.loads(line)["melody_id"] for line in f}
    return [m for m in mels if m.get("split") != exclude_split and m["id"] not in used]


# --- song contours ----------------------------------------------------------------------------------
def _accompaniment(rng: np.random.Generator, root: int, seconds: float) -> np.ndarray:
    n = int(seconds * FPS)
    out = np.full(n, np.nan, np.float32)
    t = 0
    while t < n:
        d = int(rng.uniform(0.2, 0.6) * FPS)
        if rng.random() < 0.8:
            out[t:t + d] = root + rng.choice([0, 4, 7, 12]) + rng.normal(0, 0.1)
        t += d
    return out


def _pass_contour(rng: np.random.Generator, notes: list, qpm: float, key: int) -> np.ndarray:
    spq = 60.0 / qpm
    end = max(o + d for _, o, d in notes) * spq
    n = int(end * FPS) + 1
    out = np.full(n, np.nan, np.float32)
    for p, o, d in notes:
        a = int(o * spq * FPS)
        b = max(a + 1, int((o + d) * spq * FPS) - (1 if rng.random() < 0.3 else 0))
        vibrato = 0.3 * np.sin(2 * np.pi * 5.5 * np.arange(b - a) / FPS) * (rng.random() < 0.3)
        out[a:b] = p + key + rng.normal(0, 0.15) + vibrato
    for _ in range(rng.poisson(1.0)):  # extractor octave errors: a few stretches an octave off
        a = int(rng.integers(0, max(1, n - 10)))
        out[a:a + int(rng.integers(5, 40))] += 12 * rng.choice([-1, 1])
    return out


def song_contour(rng: np.random.Generator, mel: dict) -> np.ndarray:
    notes = mel["notes"]
    qpm = float(np.clip((mel.get("qpm") or 100.0) * rng.uniform(0.8, 1.25), 50, 220))
    key = int(rng.integers(-6, 6))
    parts = [_accompaniment(rng, 48 + key, rng.uniform(4, 12))]
    for i in range(int(rng.integers(4, 8))):
        parts.append(_pass_contour(rng, notes, qpm, key + (12 if i > 0 and rng.random() < 0.3 else 0)))
        parts.append(_accompaniment(rng, 48 + key, rng.uniform(2, 10)))
    return np.concatenate(parts)[: int(MAX_SONG_S * FPS)]


# --- songs ------------------------------------------------------------------------------------------
def distractor_id(i: int, seed: int, pooled: bool) -> str:
    """The song id of distractor number ``i`` (``pooled``: its melody is from a pool)."""
    return hashlib.sha1(f"distractor-{seed}-{'pool' if pooled else 'folk'}-{i}".encode()).hexdigest()[:16]


def distractor_melody(rng: np.random.Generator, pool: list[dict] | None) -> dict:
    """The melody a distractor's generator ``rng`` draws first (from the pool, or a random folk tune)."""
    return pool[int(rng.integers(len(pool)))] if pool else folk_melody(rng)


def distractor(i: int, seed: int, pool: list[dict] | None) -> SongRecord:
    """Distractor number ``i`` (the same for the same ``seed`` and source, whatever else is built)."""
    rng = np.random.default_rng([seed, i])
    mel = distractor_melody(rng, pool)
    c = song_contour(rng, mel)
    feats = melody.song_segments(c)
    sid = distractor_id(i, seed, bool(pool))
    meta = SongMeta(song_id=sid, path=f"/distractors/{sid}.mp3", title=f"{mel.get('title', 'Tune')} (distractor {i})",
                    artist="synthetic", album=None, genre=GENRES[i % len(GENRES)], duration_s=len(c) / FPS,
                    content_hash=sid * 4, file_size=1, file_mtime=0.0, indexed_at="2026-01-01T00:00:00Z")
    return SongRecord(meta=meta, melody=feats)


def batches(start: int, stop: int, seed: int, pool: list[dict] | None, size: int = 500) -> Iterator[list[SongRecord]]:
    batch: list[SongRecord] = []
    for i in range(start, stop):
        batch.append(distractor(i, seed, pool))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def grow(store, start: int, stop: int, seed: int, pool: list[dict] | None,
         progress: Callable[[int], None] | None = None) -> int:
    """Add distractors ``start``..``stop - 1`` to ``store``; returns the number of segments added."""
    segments = 0
    for batch in batches(start, stop, seed, pool):
        failures = store.add(batch)
        if failures:
            raise RuntimeError(f"distractors could not be stored: {failures[:2]}")
        segments += sum(len(r.melody.vectors) for r in batch)
        if progress:
            progress(len(batch))
    return segments
