"""The one small interface that both stores (embedded and Elasticsearch) implement.

A store holds one document per song: metadata, the song's melody contour (for the alignment
re-rank and the UI's plot), its melody segment vectors (for kNN) and, when the sound model ran, its
PANNs sound embedding. The store also records the ``IndexSpec`` it was built with and refuses to be
opened by code whose spec differs.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import StoreFormatError


@dataclass(frozen=True)
class IndexSpec:
    """What the stored features mean. Two specs must be equal for code to use a store."""

    format_version: int
    melody_model: str
    melody_dim: int
    melody_params: dict[str, Any]
    sound_model: str
    sound_dim: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IndexSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def differences(self, other: "IndexSpec") -> list[str]:
        """What differs, as "dotted.key: store has X, code expects Y" (nested settings flattened, so
        a message names the one parameter that changed rather than two whole dictionaries)."""
        a, b = _flatten(self.to_dict()), _flatten(other.to_dict())
        return [f"{k}: store has {a.get(k)!r}, code expects {b.get(k)!r}" for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)]

    def check_compatible(self, code_spec: "IndexSpec", location: str) -> None:
        """Raise StoreFormatError unless this (stored) spec equals the code's spec."""
        diffs = self.differences(code_spec)
        if diffs:
            raise StoreFormatError(
                f"the index at {location} was built with other features ({'; '.join(diffs)})",
                f"re-index into a new store (hum-search index DIR --store NEW_PATH), or delete {location} and index again",
            )


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class MelodyFeatures:
    """A song's melody: a contour plus the segment vectors cut from it."""

    contour: np.ndarray  # (n_frames,) float32 MIDI pitch, NaN where no melody is heard
    fps: float  # contour frames per second
    vectors: np.ndarray  # (n_segments, dim) float32, unit norm
    seg_start_s: np.ndarray  # (n_segments,) float32, song time where each segment starts
    seg_end_s: np.ndarray  # (n_segments,) float32


@dataclass
class SongMeta:
    song_id: str  # derived from the content hash
    path: str  # absolute file path as indexed
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None
    duration_s: float
    content_hash: str  # sha256 of the file bytes
    file_size: int
    file_mtime: float
    indexed_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SongRecord:
    """Everything stored about one song."""

    meta: SongMeta
    melody: MelodyFeatures | None = None
    sound: np.ndarray | None = None  # (sound_dim,) float32, unit norm

    @property
    def song_id(self) -> str:
        return self.meta.song_id


@dataclass(frozen=True)
class FileState:
    """What the indexer needs to decide that a file is unchanged."""

    song_id: str
    file_size: int
    file_mtime: float


@dataclass(frozen=True)
class SegmentHit:
    song_id: str
    start_s: float
    end_s: float
    score: float  # (1 + cosine) / 2, as Elasticsearch scores cosine similarity


@dataclass(frozen=True)
class SongHit:
    song_id: str
    score: float  # (1 + cosine) / 2


@dataclass
class StoreFailure:
    song_id: str
    path: str
    reason: str


@dataclass
class StoreStats:
    kind: str
    location: str
    songs: int
    segments: int
    with_sound: int
    genres: dict[str, int]
    spec: IndexSpec
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
