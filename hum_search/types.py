"""The pipeline's data types, at the bottom of the import graph: what the analyzer produces, what a
store holds and returns, and the spec that says what stored features mean. No module here imports
anything of the project but ``errors``.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .errors import StoreFeaturesError


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

    def check_compatible(self, code_spec: "IndexSpec", location: str, fix: str | None = None) -> None:
        """Raise StoreFeaturesError unless this (stored) spec equals the code's spec. ``fix``: what
        to do (default: the embedded store's rebuild in place, ``hum-search index DIR --force``)."""
        diffs = self.differences(code_spec)
        if not diffs:
            return
        fix = fix or (f"analyse your music again: hum-search index DIR --store {shlex.quote(location)} --force "
                      "rebuilds it in place (the old index stays until the new one is complete)")
        if self.format_version > code_spec.format_version:
            fix = f"a newer release of hum-search wrote it: search it with that release, or {fix}"
        raise StoreFeaturesError(f"the index at {location} was built with other features ({'; '.join(diffs)})", fix)


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
    vectors: np.ndarray  # (n_segments, dim) unit norm; float32, or float16 as read back from a store
    seg_start_s: np.ndarray  # (n_segments,) float32, song time where each segment starts
    seg_end_s: np.ndarray  # (n_segments,) float32

    @classmethod
    def contour_only(cls, contour: np.ndarray, fps: float, dim: int) -> "MelodyFeatures":
        """The contour without its segments, as ``Store.get(..., segments=False)`` returns it."""
        return cls(contour=contour, fps=fps, vectors=np.zeros((0, dim), np.float16),
                   seg_start_s=np.zeros(0, np.float32), seg_end_s=np.zeros(0, np.float32))


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


class SegmentHit(NamedTuple):
    """One song segment a query window found. A named tuple, not a frozen dataclass: a hum's search
    makes about 7,000 of them at 10,000 songs, and a frozen dataclass took 1.5 us each to make
    against 0.5 (10 ms -> 4 ms per hum)."""

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
