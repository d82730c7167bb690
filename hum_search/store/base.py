"""The one small interface that both stores (embedded and Elasticsearch) implement.

A store holds one document per song: metadata, the song's melody contour (for the alignment
re-rank and the UI's plot), its melody segment vectors (for kNN) and, when the sound model ran, its
PANNs sound embedding. The store also records the ``IndexSpec`` it was built with and refuses to be
opened by code whose spec differs.
"""

from __future__ import annotations

import abc
from typing import Sequence

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
    def get(self, song_ids: Sequence[str], *, melody: bool = True) -> dict[str, SongRecord]:
        """Songs by id (missing ids are left out). ``melody=False`` skips contours and vectors."""

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

    def prepare_search(self, progress=None) -> None:
        """Load (or build) what melody search needs, so that the first search is fast; ``progress``
        is called with (songs done, songs in all) while an index is built. Optional for a backend."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
