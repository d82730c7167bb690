"""Songs to Elasticsearch documents and back. Pure functions, no client.

A song document carries:

* the metadata (keyword/text/number/date fields, see mappings/songs.json);
* ``melody_segments``: one nested object per segment with its ``vector`` (dense_vector, searched
  with nested kNN) and ``start_s``/``end_s``;
* ``sound_embedding``: the PANNs embedding (dense_vector), absent when the sound model did not run;
* ``melody``: a compact, non-indexed copy of what ``get(melody=True)`` returns: the contour
  (float16), the segment vectors (float16) and segment times (float32), base64 in ``binary`` fields.

Why the compact copy: dense_vector values are kept out of ``_source`` (index setting
``index.mapping.exclude_source_vectors``), so reading hundreds of segment vectors back would mean
asking for them one JSON float at a time through the ``fields`` API. The re-rank only needs the
contours and vectors of a few dozen candidates; a float16 blob is ~6x smaller than the JSON floats
and decodes with one ``np.frombuffer``. It costs dims*2 bytes per segment on disk (the index
already keeps each vector as float32 plus its HNSW graph) and no memory at search time.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ...types import IndexSpec, MelodyFeatures, SongMeta, SongRecord
from ..base import normalize_rows, validate_record


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=dtype).copy()


def to_doc(rec: SongRecord, spec: IndexSpec) -> dict[str, Any]:
    """The _source of a song document. Raises ValueError for a record that ``validate_record``
    refuses (the same check as the embedded store's)."""
    validate_record(rec, spec)
    melody_dim = spec.melody_dim
    m = rec.meta
    doc: dict[str, Any] = {
        "song_id": m.song_id, "path": m.path, "title": m.title, "artist": m.artist, "album": m.album,
        "genre": m.genre, "duration_s": float(m.duration_s), "content_hash": m.content_hash,
        "file_size": int(m.file_size), "file_mtime": float(m.file_mtime), "indexed_at": m.indexed_at,
        "has_sound": rec.sound is not None,
    }
    mel = rec.melody
    if mel is not None:
        v = normalize_rows(np.asarray(mel.vectors, np.float32).reshape(-1, melody_dim))
        starts = np.asarray(mel.seg_start_s, np.float32)
        ends = np.asarray(mel.seg_end_s, np.float32)
        doc["melody"] = {
            "fps": float(mel.fps),
            "n_segments": int(len(v)),
            "contour_f16": _b64(np.asarray(mel.contour, np.float16)),
            "vectors_f16": _b64(v.astype(np.float16)),
            "seg_start_f32": _b64(starts),
            "seg_end_f32": _b64(ends),
        }
        doc["melody_segments"] = [
            {"vector": v[i].tolist(), "start_s": float(starts[i]), "end_s": float(ends[i])} for i in range(len(v))
        ]
    if rec.sound is not None:
        doc["sound_embedding"] = normalize_rows(np.asarray(rec.sound, np.float32).ravel()).tolist()
    return doc


def meta_from_source(src: dict[str, Any]) -> SongMeta:
    return SongMeta(
        song_id=src["song_id"], path=src["path"], title=src.get("title"), artist=src.get("artist"),
        album=src.get("album"), genre=src.get("genre"), duration_s=float(src["duration_s"]),
        content_hash=src["content_hash"], file_size=int(src["file_size"]), file_mtime=float(src["file_mtime"]),
        indexed_at=src["indexed_at"],
    )


def melody_from_source(src: dict[str, Any], melody_dim: int) -> MelodyFeatures | None:
    mel = src.get("melody")
    if not mel:
        return None
    contour = _unb64(mel["contour_f16"], np.float16).astype(np.float32)
    if "vectors_f16" not in mel:  # read without its segments (``get_body(..., segments=False)``)
        return MelodyFeatures.contour_only(contour, float(mel["fps"]), melody_dim)
    return MelodyFeatures(
        contour=contour,
        fps=float(mel["fps"]),
        vectors=_unb64(mel["vectors_f16"], np.float16).reshape(-1, melody_dim),  # as stored: see types
        seg_start_s=_unb64(mel["seg_start_f32"], np.float32),
        seg_end_s=_unb64(mel["seg_end_f32"], np.float32),
    )


def vector_from_fields(fields: dict[str, Any] | None, name: str, dims: int) -> np.ndarray | None:
    """A dense_vector read through the ``fields`` option (a flat list of floats; tolerate a list of
    one list as well)."""
    if not fields or name not in fields:
        return None
    v = np.asarray(fields[name], dtype=np.float32).ravel()
    return v if v.shape[0] == dims else None


def record_from_hit(hit: dict[str, Any], melody_dim: int, sound_dim: int, *, melody: bool) -> SongRecord:
    src = hit.get("_source") or {}
    meta = meta_from_source(src)
    return SongRecord(
        meta=meta,
        melody=melody_from_source(src, melody_dim) if melody else None,
        sound=vector_from_fields(hit.get("fields"), "sound_embedding", sound_dim),
    )
