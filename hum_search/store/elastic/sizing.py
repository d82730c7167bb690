"""Sizing of the Elasticsearch index on paper, and the measurements behind the index_options choice.

Memory: Elastic's formulas for the off-heap memory that approximate kNN needs per vector
(docs "Tune approximate kNN search", "Ensure data nodes have enough memory"):

    float (hnsw, flat)    4 * dims
    int8  (int8_hnsw)     dims + 4
    int4  (int4_hnsw)     dims / 2 + 4
    bbq   (bbq_hnsw)      dims / 8 + 14
    + HNSW graph          4 * m            (m = 16 by default)

Recall: ``quantization_recall`` measures what quantization alone does to a brute-force top k, on
synthetic vectors shaped like ours, with and without rescoring the oversampled candidates with the
float vectors (what ``rescore_vector.oversample`` does). It is a model of Lucene's int8 scalar
quantization and of BBQ's one-bit codes, run with numpy; it does not run HNSW and is no substitute
for measuring recall on a real cluster (see docs/elasticsearch.md). ``hum-search es-sizing``
prints the tables used in the docs (``--recall`` adds the quantization measurement).

The vector counts come from an ``IndexSpec`` (``Collection.from_spec``): its dims and the segment
length and hop in its melody parameters; the store layer never reads the feature code itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...types import IndexSpec

HNSW_M = 16
SONG_S = 240.0  # a typical song: 4 minutes
QUANTIZED = {"int8_hnsw": "int8", "int4_hnsw": "int4", "bbq_hnsw": "bbq",
             "int8_flat": "int8", "int4_flat": "int4", "bbq_flat": "bbq"}


def vector_bytes(index_type: str, dims: int, m: int = HNSW_M) -> float:
    """Off-heap bytes per vector that kNN search wants in memory (vectors + graph)."""
    kind = QUANTIZED.get(index_type, "float")
    per = {"float": 4.0 * dims, "int8": dims + 4.0, "int4": dims / 2 + 4.0, "bbq": dims / 8 + 14.0}[kind]
    if index_type.endswith("hnsw"):
        per += 4.0 * m
    return per


def disk_bytes(index_type: str, dims: int) -> float:
    """Bytes per vector on disk for the vector data: raw float32 always, plus the quantized copy."""
    kind = QUANTIZED.get(index_type, "float")
    extra = {"float": 0.0, "int8": dims + 4.0, "int4": dims / 2 + 4.0, "bbq": dims / 8 + 14.0}[kind]
    return 4.0 * dims + extra


def segments_per_song(spec: IndexSpec, song_s: float = SONG_S) -> float:
    """Melody segment vectors of a ``song_s`` song: a segment of ``segment_s`` every
    ``segment_hop_s`` seconds (the spec's melody parameters); 588.5 for 5 s every 0.4 s of 4 min."""
    seg_s = float(spec.melody_params["segment_s"])
    hop_s = float(spec.melody_params["segment_hop_s"])
    return max(0.0, (song_s - seg_s) / hop_s + 1)


@dataclass(frozen=True)
class Collection:
    songs: int
    segments_per_song: float
    melody_dim: int
    sound_dim: int
    with_sound: float = 1.0  # share of songs with a sound embedding

    @classmethod
    def from_spec(cls, spec: IndexSpec, songs: int, song_s: float = SONG_S, with_sound: float = 1.0) -> "Collection":
        return cls(songs, segments_per_song(spec, song_s), spec.melody_dim, spec.sound_dim, with_sound)


def memory_bytes(c: Collection, melody_type: str = "hnsw", sound_type: str = "int8_hnsw") -> dict[str, float]:
    mel = c.songs * c.segments_per_song * vector_bytes(melody_type, c.melody_dim)
    snd = c.songs * c.with_sound * vector_bytes(sound_type, c.sound_dim)
    return {"melody": mel, "sound": snd, "total": mel + snd}


# --- quantization models -----------------------------------------------------------------------------
def _scalar_quantize(x: np.ndarray, bits: int, lo: float, hi: float) -> np.ndarray:
    levels = (1 << bits) - 1
    q = np.round((np.clip(x, lo, hi) - lo) * (levels / (hi - lo)))
    return (lo + q * ((hi - lo) / levels)).astype(np.float32)


def int_scores(docs: np.ndarray, queries: np.ndarray, bits: int = 7) -> np.ndarray:
    """Dot products of scalar-quantized docs and queries: Lucene's int8 uses 7 bits per dimension
    with the bounds taken at the confidence interval 1 - 1/(dims + 1); int4 uses 4 bits."""
    d = docs.shape[1]
    ci = 1.0 - 1.0 / (d + 1) if bits >= 7 else 0.99
    lo, hi = np.quantile(docs, [(1 - ci) / 2, (1 + ci) / 2])
    return _scalar_quantize(queries, bits, lo, hi) @ _scalar_quantize(docs, bits, lo, hi).T


def bbq_scores(docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Estimated dot products from one-bit codes of the centred docs (the RaBitQ-style estimator
    that BBQ builds on: sign bits plus two corrective floats per vector)."""
    c = docs.mean(axis=0)
    r = docs - c
    norm = np.linalg.norm(r, axis=1, keepdims=True)
    o = r / np.maximum(norm, 1e-12)
    bits = np.where(o >= 0, 1.0, -1.0).astype(np.float32) / math.sqrt(docs.shape[1])
    align = np.sum(bits * o, axis=1)  # <o_bar, o>
    qc = queries - c
    est = (qc @ bits.T) / np.maximum(align, 1e-6)[None, :] * norm[:, 0][None, :]  # ~ <q - c, x - c>
    return est + (queries @ c)[:, None] + (r @ c)[None, :]


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, idx, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(idx, order, axis=1)


def recall(approx_scores: np.ndarray, exact: np.ndarray, k: int, oversample: float = 1.0) -> float:
    """Recall@k of the top k by approx_scores against the exact top k; with oversample > 1 the top
    k*oversample candidates are rescored exactly before taking k."""
    truth = _topk(exact, k)
    n = max(k, int(round(k * oversample)))
    cand = _topk(approx_scores, n)
    if n > k:
        rescored = np.take_along_axis(exact, cand, axis=1)
        cand = np.take_along_axis(cand, _topk(rescored, k), axis=1)
    hits = [len(set(a) & set(b)) for a, b in zip(cand, truth)]
    return float(np.mean(hits) / k)


def synthetic(kind: str, n: int, dims: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors shaped like ours. ``melody``: clustered signed vectors (recurring motifs),
    queries are stored segments plus the noise of a hummed rendition (cos ~0.8-0.9 to their
    source). ``sound``: non-negative vectors (PANNs embeddings come after a ReLU) around a few
    dozen genre-like centres."""
    rng = np.random.default_rng(seed)
    if kind == "melody":
        centres = rng.standard_normal((max(8, n // 40), dims))
        x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, dims))
        noise = 0.6  # norm of the noise vector: cos(query, source) ~ 0.85
    else:
        centres = np.maximum(rng.standard_normal((40, dims)), 0) * rng.random((40, dims))
        x = np.maximum(centres[rng.integers(0, 40, n)] + 0.35 * rng.standard_normal((n, dims)), 0)
        noise = 0.35
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = x[rng.choice(n, n_queries, replace=False)]
    q = src + noise * rng.standard_normal(src.shape) / math.sqrt(dims)
    if kind == "sound":
        q = np.maximum(q, 0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x.astype(np.float32), q.astype(np.float32)


def quantization_recall(kind: str, n: int, dims: int, n_queries: int = 200, k: int = 10,
                        seed: int = 0) -> dict[str, float]:
    docs, queries = synthetic(kind, n, dims, n_queries, seed)
    exact = queries @ docs.T
    i8 = int_scores(docs, queries, 7)
    i4 = int_scores(docs, queries, 4)
    out = {
        "int8": recall(i8, exact, k), "int8+rescore2": recall(i8, exact, k, 2.0),
        "int4": recall(i4, exact, k), "int4+rescore2": recall(i4, exact, k, 2.0),
    }
    if dims >= 64:  # bbq needs at least 64 dims
        bb = bbq_scores(docs, queries)
        out.update({"bbq": recall(bb, exact, k), "bbq+rescore3": recall(bb, exact, k, 3.0),
                    "bbq+rescore5": recall(bb, exact, k, 5.0)})
    return out


def fmt_bytes(b: float) -> str:
    for unit, div in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= div:
            return f"{b / div:.1f} {unit}"
    return f"{b:.0f} B"


def tables(spec: IndexSpec, out: Callable[[str], None], *, recall_tables: bool = False) -> None:
    """The tables of docs/elasticsearch.md for the collection that ``spec`` describes."""
    per_song = segments_per_song(spec)
    out("bytes per vector (memory):")
    for t in ("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw"):
        out(f"  {t:10s} melody({spec.melody_dim}) {vector_bytes(t, spec.melody_dim):7.0f}   "
            f"sound({spec.sound_dim}) {vector_bytes(t, spec.sound_dim):7.0f}")
    for mel_t, snd_t in (("hnsw", "int8_hnsw"), ("int8_hnsw", "int8_hnsw"), ("int8_hnsw", "bbq_hnsw")):
        out(f"memory, melody {mel_t} + sound {snd_t} ({per_song:.0f} segments/song):")
        for songs in (10_000, 1_000_000, 10_000_000):
            m = memory_bytes(Collection.from_spec(spec, songs), mel_t, snd_t)
            out(f"  {songs:>10,d} songs: melody {fmt_bytes(m['melody'])}, sound {fmt_bytes(m['sound'])}, "
                f"total {fmt_bytes(m['total'])}")
    if not recall_tables:
        return
    for kind, n, dims in (("melody", 20_000, 48), ("melody", 20_000, 64), ("melody", 20_000, 96),
                          ("sound", 5_000, spec.sound_dim)):
        r = quantization_recall(kind, n, dims)
        out(f"{kind} dims={dims} n={n}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()))
