"""The one small interface that both stores (embedded and Elasticsearch) implement.

A store holds one document per song: metadata, the song's melody contour (for the alignment
re-rank and the UI's plot), its melody segment vectors (for kNN) and, when the sound model ran, its
PANNs sound embedding. The store also records the ``IndexSpec`` it was built with and refuses to be
opened by code whose spec differs.
"""

from __future__ import annotations

import abc
import contextlib
from typing import Iterator, Sequence

import numpy as np

from ..types import (
    FileState,
    IndexSpec,
    SegmentHit,
    SongHit,
    SongMeta,
    SongRecord,
    StoreFailure,
    StoreStats,
)


def cosine_score(cos: np.ndarray | float) -> np.ndarray | float:
    """Elasticsearch's score for cosine similarity: (1 + cos) / 2, in [0, 1]."""
    return np.clip((1.0 + np.asarray(cos, dtype=np.float64)) / 2.0, 0.0, 1.0)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


MIN_VECTOR_NORM = 1e-12  # below this a vector has no direction: cosine similarity is undefined


def validate_record(rec: SongRecord, spec: IndexSpec) -> None:
    """Raise ValueError when ``rec`` cannot be stored under ``spec``: the one check both stores run
    before writing a song (melody vectors of ``spec.melody_dim`` columns, one start and end time
    per vector, all finite and none all-zero; a sound embedding of ``spec.sound_dim`` values,
    finite and non-zero). A NaN or zero vector would poison every cosine it takes part in."""
    mel = rec.melody
    if mel is not None:
        v = np.asarray(mel.vectors, dtype=np.float32)
        if v.ndim != 2 or (len(v) and v.shape[1] != spec.melody_dim):
            raise ValueError(f"melody vectors have shape {v.shape}, expected (n, {spec.melody_dim})")
        if not (len(mel.seg_start_s) == len(mel.seg_end_s) == len(v)):
            raise ValueError("segment times and vectors differ in length")
        if len(v) and not np.isfinite(v).all():
            raise ValueError("melody vectors contain NaN or infinity")
        if len(v) and (np.linalg.norm(v, axis=1) < MIN_VECTOR_NORM).any():
            raise ValueError("a melody vector is all zeros (cosine similarity is undefined)")
    if rec.sound is not None:
        s = np.asarray(rec.sound, dtype=np.float32).ravel()
        if s.shape[0] != spec.sound_dim:
            raise ValueError(f"sound embedding has shape {s.shape}, expected ({spec.sound_dim},)")
        if not np.isfinite(s).all():
            raise ValueError("the sound embedding contains NaN or infinity")
        if np.linalg.norm(s) < MIN_VECTOR_NORM:
            raise ValueError("the sound embedding is all zeros (cosine similarity is undefined)")


class Store(abc.ABC):
    """A song index. Implementations: EmbeddedStore (default) and ElasticsearchStore."""

    kind: str = "abstract"
    progress = None  # optional callback (songs done, songs in all) while a search index is built
    location: str
    spec: IndexSpec

    # --- writes -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def add(self, records: Sequence[SongRecord]) -> list[StoreFailure]:
        """Insert or replace songs (keyed by song_id). Returns the songs that could not be stored;
        everything else is durable when this returns."""

    @abc.abstractmethod
    def remove(self, song_id_or_path: str) -> list[str]:
        """Remove a song by id or by its indexed path. Returns the removed song ids."""

    @abc.abstractmethod
    def update_location(self, song_id: str, path: str, file_size: int, file_mtime: float) -> None:
        """Record that a song's file moved (same content, new path)."""

    # --- reads ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def file_states(self) -> dict[str, FileState]:
        """Indexed path -> FileState, for skipping unchanged files."""

    @abc.abstractmethod
    def find_by_hash(self, content_hash: str) -> SongMeta | None:
        ...

    @abc.abstractmethod
    def get(self, song_ids: Sequence[str], *, melody: bool = True, sound: bool = True,
            segments: bool = True) -> dict[str, SongRecord]:
        """Songs by id (missing ids are left out). ``melody=False`` skips contours and vectors;
        ``segments=False`` keeps the contour but skips the segment vectors and their times (left
        empty: what the re-rank and the match plot read, a tenth of the bytes); ``sound=False``
        skips the sound embedding (2,048 floats a song, which the re-rank never reads: ask for it
        only to copy a record)."""

    @abc.abstractmethod
    def melody_knn(
        self, vectors: np.ndarray, k: int, genres: Sequence[str] | None = None, per_song: int = 1
    ) -> list[list[SegmentHit]]:
        """For each query vector (row), exact or approximate cosine kNN over all melody segments of
        songs in ``genres`` (all songs when None or empty): the best ``k`` songs, each with its best
        ``per_song`` segments, best first."""

    @abc.abstractmethod
    def sound_knn(self, vector: np.ndarray, k: int, genres: Sequence[str] | None = None) -> list[SongHit]:
        """Cosine kNN over song sound embeddings (songs without one are not candidates)."""

    @abc.abstractmethod
    def genres(self) -> dict[str, int]:
        """Genre -> number of songs (songs without a genre are not counted)."""

    @abc.abstractmethod
    def count(self) -> int:
        ...

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        ...

    # --- failures (files that could not be indexed; kept so users can inspect them) -------------------
    def record_failures(self, failures: Sequence[tuple[str, str]]) -> None:
        """Remember (path, reason) of files that failed to index. Optional for a backend."""

    def clear_failures(self, paths: Sequence[str]) -> None:
        """Forget failures of files that have since been indexed."""

    def failures(self) -> list[tuple[str, str, str]]:
        """(path, reason, failed_at) of the files that failed to index, where the backend keeps them."""
        return []

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """A run of writes, such as an indexing run: inside the block a backend may make its writes
        visible to searches only once, when the block ends, instead of after every ``add()``
        (Elasticsearch: one refresh instead of one per batch of songs). Searches inside the block
        may not see the block's own writes. Writes are durable either way. Nestable. The
        embedded store needs nothing here: every write is visible when it returns."""
        yield

    def searches_exactly(self) -> bool:
        """Whether melody kNN here is exact and cheap enough for every fine query window to search
        the whole catalogue (a small embedded store). False where each search has a real cost (an
        approximate index, a cluster): the search then sends at most 32 coarse windows."""
        return False

    def region_vectors(self, song_ids: Sequence[str], lo_s: np.ndarray,
                       hi_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The melody segment vectors of each entry ``song_ids[i]`` that start within [lo_s[i],
        hi_s[i]] seconds: (vectors (n, dim) float32, entry by entry in the order asked; the count
        of each entry's (len(song_ids),); each vector's segment start and end, seconds), possibly
        approximate (quantized). A song may be asked for several times. For a store that can read
        thousands of songs' stretches in milliseconds (the embedded store's approximate index);
        None elsewhere, and the first stage then skips its middle pass (search/candidates.py)."""
        return None

    def segment_counts(self, song_ids: Sequence[str]) -> np.ndarray | None:
        """How many melody segments each song holds (0: unknown), where ``region_vectors`` works."""
        return None

    def prepare_search(self, progress=None) -> None:
        """Load (or build) what melody search needs, so that the first search is fast; ``progress``
        is called with (songs done, songs in all) while an index is built. Optional for a backend."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
