"""The embedded store's approximate-nearest-neighbour index of melody segment vectors (faiss).

Kept in the store folder, next to the SQLite database, which stays the source of truth:

    ann/current.json        format version, the files below, their sizes and CRC-32s, the index recipe
    ann/ann-<token>.faiss   the faiss index (ids: SQLite rowid << TIME_BITS | segment start / TIME_STEP_S)
    ann/ann-<token>.npz     the songs it covers: rowid, song_id, number of vectors

A write puts new ``ann-<token>`` files next to the old ones, flushes them, then replaces
``current.json`` atomically (``os.replace``): a run killed at any point leaves the previous,
consistent pointer. Opening checks the pointer, the format version, the recipe, sizes and CRC-32s;
anything wrong (missing, truncated, corrupt, another version) logs one line and the index is
rebuilt from the stored segment vectors (no audio is decoded). After loading, ``sync`` brings it up
to date with the songs in SQLite at that moment (the caller's read snapshot): songs added since
are added to the index, songs removed or replaced are removed from it; the whole index is only
rebuilt when the catalogue has grown REBUILD_GROWTH times past the size it was trained on.

The first stage's middle and fine passes read stretches of many songs (``region_vectors``) from the
index's own codes, through a view sorted by song and time (``_SegmentCodes``, built on first use
after each change: 10,000 songs, 5 M vectors, about 1 s and 490 MB; up to CODES_MAX_BYTES of codes,
so not at 100,000 songs, where those passes read SQLite records instead).

Why faiss IVF with a scalar quantizer: measured on the segment vectors of a 10,000-song store
(5 M vectors) with the first stage's query windows (benchmarks/ann_choice.py, see
docs/embedded-store.md, "Approximate first stage").
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..jit import Compiled
from ..types import SegmentHit

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ANN_DIR = "ann"
POINTER = "current.json"
TIME_BITS = 16  # low id bits: segment start in TIME_STEP_S steps (65536 x 0.1 s = 109 min > the 60 min limit)
TIME_STEP_S = 0.1
LIST_SIZE = 1000  # vectors per inverted list (nlist = vectors / LIST_SIZE, at least MIN_LISTS)
MIN_LISTS = 64
ENCODING = "SQ8"  # faiss code of each vector (see the module docstring)
NPROBE_SHARE = 0.01  # share of the lists probed per search...
MIN_NPROBE = 32  # ...but at least this many
TRAIN_PER_LIST = 40  # training vectors per list (faiss warns below 39)
REBUILD_GROWTH = 4.0  # retrain when the index holds this many times the vectors it was trained on
MAX_REMOVALS = 200  # more songs removed or replaced at once: rebuild rather than remove one by one
ADD_BATCH_SONGS = 500  # songs read from SQLite per batch while building
# Above LARGE_VECTORS (about 40,000 songs of 3.5 minutes) the index takes the large recipe: the
# flat list quantizer and SQ8 codes would cost, at 100,000 songs (48 M vectors), 4.2 GB of memory
# and (estimated) over an hour of list assignment on 2 cores. Instead: at most MAX_LISTS lists,
# found through an HNSW graph of the list centroids (assignment and probing cost no longer grow
# with the list count), 6-bit codes (60 bytes a vector: 2.9 GB at 48 M) and a shorter k-means
# (LARGE_TRAIN_ITER). Measured at 100,000 songs: docs/benchmark-history.md "Scale".
LARGE_VECTORS = 20_000_000
LARGE_ENCODING = "SQ6"
MAX_LISTS = 8192
HNSW_NEIGHBOURS = 32  # M of the centroids' HNSW graph
LARGE_TRAIN_ITER = 10  # k-means iterations of the large recipe (faiss' default: 25)

CODES_MAX_BYTES = 1 << 30  # the (song, time)-ordered view of the codes is kept up to this size (about 13 M SQ8 vectors)

Progress = Callable[[int, int], None]  # (songs done, songs in all)
Reader = Callable[[list[int]], Iterable[tuple[int, np.ndarray, np.ndarray, np.ndarray]]]  # rowid, vectors, starts, ends


@dataclass
class _SongTable:
    """``AnnIndex.covered`` as arrays, for the search's hits: song i has ``rowids[i]``, ``song_ids[i]``
    and segments ``seg_len[i]`` seconds long; ``pos_of[rowid]`` is i (-1: not covered)."""

    rowids: np.ndarray
    pos_of: np.ndarray
    song_ids: np.ndarray  # (object: str)
    seg_len: np.ndarray


@dataclass
class SongRow:
    rowid: int
    song_id: str
    n_segments: int


class AnnIndex:
    """A faiss IVF index over every stored segment vector, with the songs it covers."""

    def __init__(self, index, covered: dict[int, tuple[str, int]], trained_vectors: int, dim: int,
                 large: bool = False):
        self.index = index
        self.large = large  # built with the large recipe (see LARGE_VECTORS)
        self.covered = covered  # rowid -> (song_id, vectors in the index, segment length in seconds)
        self.trained_vectors = trained_vectors
        self.dim = dim
        self.changes = 0  # songs added or removed since built or loaded
        self._codes: _SegmentCodes | None = None  # built on first use after each change
        self._rowids: dict[str, int] | None = None  # song_id -> rowid, likewise
        self._table: _SongTable | None = None  # the covered songs as arrays, likewise

    @property
    def n_vectors(self) -> int:
        return int(self.index.ntotal)

    # --- search ---------------------------------------------------------------------------------
    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The k best segments for each row of ``q``: (cosines, rowids, segment starts in seconds),
        each (len(q), k), best first; rowid -1 where fewer were found."""
        import faiss

        nprobe = min(self.index.nlist, max(MIN_NPROBE, int(np.ceil(NPROBE_SHARE * self.index.nlist))))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        if self.large:  # the centroids' graph must return at least nprobe lists
            params.quantizer_params = faiss.SearchParametersHNSW(efSearch=max(2 * nprobe, 64))
        sims, ids = self.index.search(np.ascontiguousarray(q, np.float32), k, params=params)
        rowid = np.where(ids >= 0, ids >> TIME_BITS, -1)
        start = (ids & ((1 << TIME_BITS) - 1)).astype(np.float64) * TIME_STEP_S
        return sims, rowid, start

    def rowid_of(self) -> dict[str, int]:
        """song_id -> rowid of the songs the index covers."""
        if self._rowids is None:
            self._rowids = {song[0]: rowid for rowid, song in self.covered.items()}
        return self._rowids

    def region_vectors(self, rowids: np.ndarray, lo_s: np.ndarray, hi_s: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The decoded vectors of each song's (``rowids``, -1: none) segments that start within
        [lo_s, hi_s] seconds, song by song: (vectors, each song's count, their starts, their ends);
        None when the index holds more codes than CODES_MAX_BYTES (its ordered view would cost too
        much memory)."""
        if self.n_vectors * self.index.code_size > CODES_MAX_BYTES:
            return None
        codes = self._codes
        if codes is None:
            codes = self._codes = _SegmentCodes(self.index)
        rowids = np.asarray(rowids, np.int64)
        vectors, counts, starts = codes.regions(rowids, lo_s, hi_s)
        length = np.array([self.covered[r][2] if r in self.covered else 0.0 for r in rowids.tolist()])
        return vectors, counts, starts, starts + np.repeat(length, counts)

    def song_hits(self, q: np.ndarray, k_seg: int, k: int, per_song: int,
                  allowed: Callable[[int, str], bool] | None = None) -> list[list[SegmentHit]]:
        """For each row of ``q``: the best ``k`` songs among its ``k_seg`` nearest segments, each with
        up to ``per_song`` segments, best first (as ``Store.melody_knn``); ``allowed(rowid,
        song_id)`` filters songs (a genre). Song ids come from the index's own list, so a hit is
        never another song's vectors."""
        sims, rowids, starts = self.search(q, k_seg)
        scores = np.clip((1.0 + sims.astype(np.float64)) / 2.0, 0.0, 1.0)  # Elasticsearch's cosine score
        if per_song == 1:
            return self._best_segment_per_song(rowids, starts, scores, k, allowed)
        out = []
        for qi in range(len(q)):
            hits: list[SegmentHit] = []
            taken: dict[int, int] = {}
            for r, st, sc in zip(rowids[qi].tolist(), starts[qi].tolist(), scores[qi].tolist()):
                song = self.covered.get(r)
                if song is None or (allowed is not None and not allowed(r, song[0])):
                    continue  # -1 (fewer found) or filtered out
                n = taken.get(r, 0)
                if n >= per_song or (n == 0 and len(taken) >= k):
                    continue
                taken[r] = n + 1
                hits.append(SegmentHit(song[0], st, st + song[2], sc))
            by_song: dict[str, list[SegmentHit]] = {}
            for h in hits:  # already best first
                by_song.setdefault(h.song_id, []).append(h)
            out.append([h for lst in by_song.values() for h in lst])
        return out

    def _best_segment_per_song(self, rowids: np.ndarray, starts: np.ndarray, scores: np.ndarray, k: int,
                               allowed: Callable[[int, str], bool] | None) -> list[list[SegmentHit]]:
        """Every query's hits (rows, best first) -> its k best songs, best segment each, for all
        queries in one pass of array operations (a song's first hit in a row is its best; songs no
        longer covered or not ``allowed`` are passed over); only the kept hits become objects.
        10,300-song store, 54 hums of the development benchmark: 7.6 -> 4.9 ms per hum, the same hits
        (a loop per query over its distinct songs before)."""
        table = self._song_table()
        n_q, n = rowids.shape
        if len(table.pos_of) == 0:
            return [[] for _ in range(n_q)]
        pos = np.where(rowids >= 0, table.pos_of[np.clip(rowids, 0, len(table.pos_of) - 1)], -1)
        pos[rowids >= len(table.pos_of)] = -1
        if allowed is not None:  # (asked once per distinct song)
            seen = np.unique(pos[pos >= 0])
            ok = np.zeros(len(table.song_ids), bool)
            ok[seen] = [allowed(r, sid) for r, sid in zip(table.rowids[seen].tolist(), table.song_ids[seen].tolist())]
            pos = np.where((pos >= 0) & ok[np.maximum(pos, 0)], pos, -1)
        key = (np.arange(n_q, dtype=np.int64)[:, None] * (len(table.song_ids) + 1) + pos + 1).ravel()
        _, first = np.unique(key, return_index=True)
        first = np.sort(first)  # each (query, song)'s first hit, query by query, best first
        first = first[pos.ravel()[first] >= 0]
        q = first // n
        rank = np.arange(len(first)) - np.searchsorted(q, q)  # the song's place among its query's songs
        first, q = first[rank < k], q[rank < k]
        p, st = pos.ravel()[first], starts.ravel()[first]
        hits = list(map(SegmentHit, table.song_ids[p].tolist(), st.tolist(), (st + table.seg_len[p]).tolist(),
                        scores.ravel()[first].tolist()))
        bounds = np.searchsorted(q, np.arange(n_q + 1)).tolist()
        return [hits[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _song_table(self) -> "_SongTable":
        """The covered songs as arrays (made on first use after each change, as ``rowid_of``)."""
        if self._table is None:
            rowids = np.array(sorted(self.covered), np.int64)
            pos_of = np.full(int(rowids.max()) + 1 if len(rowids) else 0, -1, np.int64)
            pos_of[rowids] = np.arange(len(rowids))
            songs = [self.covered[r] for r in rowids.tolist()]
            self._table = _SongTable(rowids, pos_of, np.array([s[0] for s in songs], dtype=object),
                                     np.array([s[2] for s in songs], np.float64))
        return self._table

    # --- keeping up with SQLite -----------------------------------------------------------------
    def sync(self, songs: list[SongRow], read: Reader, progress: Progress | None = None) -> bool:
        """Make the index cover exactly ``songs``; ``read(rowids)`` yields (rowid, vectors, starts, ends).
        Returns False when a rebuild is cheaper or needed (many removals, a catalogue that outgrew
        the training); the caller then rebuilds."""
        want = {s.rowid: s for s in songs}
        stale = [r for r, (sid, *_) in self.covered.items() if r not in want or want[r].song_id != sid]
        if len(stale) > MAX_REMOVALS:
            return False
        if stale:
            self._remove(stale)
        new = [s for s in songs if s.rowid not in self.covered]
        after = self.n_vectors + sum(s.n_segments for s in new)
        if after > REBUILD_GROWTH * max(self.trained_vectors, 1) or (after > LARGE_VECTORS) != self.large:
            return False  # outgrew its training, or its recipe
        if new:
            self._add(new, read, progress)
        return True

    def _remove(self, rowids: list[int]) -> None:
        import faiss

        self._codes = self._rowids = self._table = None
        for r in rowids:  # one pass over the lists per song: a few ms each at 10,000 songs
            self.index.remove_ids(faiss.IDSelectorRange(r << TIME_BITS, (r + 1) << TIME_BITS))
            del self.covered[r]
        self.changes += len(rowids)

    def _add(self, songs: list[SongRow], read, progress: Progress | None) -> None:
        self._codes = self._rowids = self._table = None
        done = 0
        for i in range(0, len(songs), ADD_BATCH_SONGS):
            chunk = songs[i:i + ADD_BATCH_SONGS]
            by_rowid = {s.rowid: s for s in chunk}
            vecs, ids = [], []
            for rowid, v, starts, ends in read([s.rowid for s in chunk]):
                vecs.append(v)
                ids.append(segment_ids(rowid, starts))
                length = float(ends[0] - starts[0]) if len(v) else 0.0
                self.covered[rowid] = (by_rowid[rowid].song_id, len(v), length)
            if vecs:
                self.index.add_with_ids(np.concatenate(vecs).astype(np.float32), np.concatenate(ids))
            done += len(chunk)
            if progress:
                progress(done, len(songs))
        self.changes += len(songs)

    # --- build ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, dim: int, songs: list[SongRow], read: Reader, progress: Progress | None = None) -> "AnnIndex":
        """Train on a sample of the stored vectors, then add every song."""
        import faiss

        total = sum(s.n_segments for s in songs)
        large = total > LARGE_VECTORS
        nlist = max(MIN_LISTS, total // LIST_SIZE)
        if large:
            nlist = min(nlist, MAX_LISTS)
        sample = _training_sample(songs, read, nlist * TRAIN_PER_LIST)
        nlist = max(1, min(nlist, len(sample) // TRAIN_PER_LIST))
        if large:
            quantizer = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        else:
            quantizer = faiss.IndexFlatIP(dim)
        code = _quantizer_type(LARGE_ENCODING if large else ENCODING)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, code, faiss.METRIC_INNER_PRODUCT)
        if large:
            index.cp.niter = LARGE_TRAIN_ITER
            index.clustering_index = faiss.IndexFlatIP(dim)  # k-means on a flat index; the graph is built once
        index.train(sample)
        ann = cls(index, {}, total, dim, large)
        ann._add(songs, read, progress)
        return ann

    # --- files ----------------------------------------------------------------------------------
    def save(self, store_dir: Path) -> None:
        """Write the index and its song list under new names, then switch the pointer atomically."""
        import faiss

        folder = Path(store_dir) / ANN_DIR
        folder.mkdir(exist_ok=True)
        token = secrets.token_hex(6)
        index_file, songs_file = f"ann-{token}.faiss", f"ann-{token}.npz"
        faiss.write_index(self.index, str(folder / index_file))
        rowids = np.fromiter(self.covered, np.int64, len(self.covered))
        with open(folder / songs_file, "wb") as f:
            rows = [self.covered[r] for r in rowids.tolist()]
            np.savez(f, rowid=rowids, song_id=np.array([r[0] for r in rows], dtype="U"),
                     n=np.array([r[1] for r in rows], np.int64), length=np.array([r[2] for r in rows], np.float64))
        info = {"format": FORMAT_VERSION, "recipe": recipe(self.dim, self.large), "trained_vectors": self.trained_vectors,
                "files": {name: _file_sum(folder / name) for name in (index_file, songs_file)}}
        for name in (index_file, songs_file):
            _fsync(folder / name)
        tmp = folder / f"{POINTER}.{token}.tmp"
        tmp.write_text(json.dumps(info, indent=1))
        _fsync(tmp)
        os.replace(tmp, folder / POINTER)
        for old in folder.iterdir():  # earlier versions (a reader that still opens one retries)
            if old.name not in (POINTER, index_file, songs_file) and not old.name.endswith(".tmp"):
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, store_dir: Path, dim: int) -> "AnnIndex":
        """The saved index; raises AnnUnusable (with the reason) when it is missing or damaged."""
        import faiss

        folder = Path(store_dir) / ANN_DIR
        try:
            info = json.loads((folder / POINTER).read_text())
        except FileNotFoundError:
            raise AnnUnusable("no approximate index yet") from None
        except (OSError, ValueError) as e:
            raise AnnUnusable(f"its pointer file is unreadable ({e})") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
            raise AnnUnusable(f"format {info.get('format') if isinstance(info, dict) else '?'}, "
                              f"this version reads {FORMAT_VERSION}")
        large = info.get("recipe") == recipe(dim, large=True)
        if info.get("recipe") != recipe(dim, large):
            raise AnnUnusable("it was built with other settings")
        files = info.get("files") or {}
        for name, (size, crc) in files.items():
            path = folder / name
            if not path.is_file() or path.stat().st_size != size or _file_sum(path)[1] != crc:
                raise AnnUnusable(f"{name} is missing, truncated or corrupt")
        try:
            index_file = next(n for n in files if n.endswith(".faiss"))
            songs_file = next(n for n in files if n.endswith(".npz"))
            index = faiss.read_index(str(folder / index_file))
            with np.load(folder / songs_file) as z:
                covered = {int(r): (str(s), int(n), float(ln))
                           for r, s, n, ln in zip(z["rowid"], z["song_id"], z["n"], z["length"])}
        except (StopIteration, RuntimeError, OSError, ValueError, KeyError) as e:
            raise AnnUnusable(f"it could not be read ({type(e).__name__})") from None
        if index.d != dim or sum(c[1] for c in covered.values()) != index.ntotal:
            raise AnnUnusable("its song list does not match its vectors")
        return cls(index, covered, int(info.get("trained_vectors", index.ntotal)), dim, large)


class AnnUnusable(Exception):
    """The saved approximate index cannot be used (the message says why); it is rebuilt."""


class _SegmentCodes:
    """The IVF index's codes seen in (song, time) order, for reading stretches of many songs at once
    (the first stage's middle and fine passes): the inverted lists' ids sorted, with a copy of the
    codes and each vector's list in the same order. 10,300-song store (5 M vectors): built in about
    1 s, 490 MB at its peak (codes 400 MB, ids 40, lists 20); a hum's middle and fine passes (about
    73,000 vectors of 2,500 stretches) read and decoded in 8 ms (20 with faiss's own decoding)."""

    def __init__(self, index):
        import faiss

        inv, size = index.invlists, index.code_size
        sizes = np.array([inv.list_size(i) for i in range(index.nlist)], np.int64)
        lists = np.flatnonzero(sizes).tolist()
        first = np.concatenate([[0], np.cumsum(sizes)])
        ids = np.empty(int(first[-1]), np.int64)
        for i in lists:
            ids[first[i]:first[i + 1]] = faiss.rev_swig_ptr(inv.get_ids(i), int(sizes[i]))
        order = np.argsort(ids)
        self.ids = ids[order]
        place = np.empty_like(order)
        place[order] = np.arange(len(order))
        del ids, order
        # each song's codes in one run, in time order (copied list by list: no second full copy)
        self.codes = np.empty((len(place), size), np.uint8)
        for i in lists:
            m = int(sizes[i])
            self.codes[place[first[i]:first[i + 1]]] = faiss.rev_swig_ptr(inv.get_codes(i), m * size).reshape(m, size)
        self.lists = np.empty(len(place), np.int32)
        self.lists[place] = np.repeat(np.arange(index.nlist, dtype=np.int32), sizes)
        self.centroids = index.quantizer.reconstruct_n(0, index.nlist) if index.by_residual else None
        self.sq = index.sq
        self.sq8 = None  # (vmin, vdiff) per dimension: 8-bit codes over residuals, decoded by _DECODE_SQ8
        if self.centroids is not None and self.sq.qtype == faiss.ScalarQuantizer.QT_8bit:
            trained = faiss.vector_to_array(self.sq.trained).astype(np.float32)
            self.sq8 = (trained[:index.d].copy(), trained[index.d:].copy())

    def regions(self, rowids: np.ndarray, lo_s: np.ndarray,
                hi_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(decoded vectors, count per entry, their starts) of the segments of song ``rowids[i]``
        that start within [lo_s[i], hi_s[i]] seconds, entry after entry."""
        lo = np.clip(np.floor(np.asarray(lo_s) / TIME_STEP_S), 0, (1 << TIME_BITS) - 1).astype(np.int64)
        hi = np.clip(np.ceil(np.asarray(hi_s) / TIME_STEP_S), -1, (1 << TIME_BITS) - 1).astype(np.int64)
        a = _sorted_search(self.ids, (rowids << TIME_BITS) | lo, "left")
        b = _sorted_search(self.ids, (rowids << TIME_BITS) | np.maximum(hi, 0), "right")
        counts = np.where((rowids >= 0) & (hi >= lo), np.maximum(b - a, 0), 0)
        rows = np.repeat(a - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        if self.sq8 is not None:
            vectors = _DECODE_SQ8(self.codes, rows, self.lists, self.centroids, *self.sq8)
        else:
            vectors = self.sq.decode(np.ascontiguousarray(self.codes[rows]))
            if self.centroids is not None:
                vectors += self.centroids[self.lists[rows]]
        starts = (self.ids[rows] & ((1 << TIME_BITS) - 1)).astype(np.float64) * TIME_STEP_S
        return vectors.astype(np.float32, copy=False), counts, starts


def _sorted_search(ids: np.ndarray, keys: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted(ids, keys, side)`` with the keys searched in ascending order (numpy then
    starts each search where the last ended: 5 M ids, 2,500 keys in the first stage's order of songs,
    5.1 -> 3.4 ms per hum for the middle and fine passes together)."""
    order = np.argsort(keys, kind="stable")
    out = np.empty(len(keys), np.int64)
    out[order] = np.searchsorted(ids, keys[order], side=side)
    return out


def _decode_sq8(codes, rows, lists, centroids, vmin, vdiff):  # pragma: no cover - compiled
    """faiss's 8-bit scalar quantizer's decoding of ``codes[rows]`` plus each vector's list centroid
    (the index stores residuals), in one pass over the output: faiss's decode of the gathered codes
    and the centroids added after it took 11.2 ms per hum at 10,000 songs (73,000 vectors), this 4.4
    (the same values within 1e-7)."""
    n, d = len(rows), codes.shape[1]
    out = np.empty((n, d), np.float32)
    half, levels = np.float32(0.5), np.float32(255.0)
    for i in range(n):
        r = rows[i]
        c = centroids[lists[r]]
        for j in range(d):
            out[i, j] = (vmin[j] + ((np.float32(codes[r, j]) + half) / levels) * vdiff[j]) + c[j]
    return out


_DECODE_SQ8 = Compiled(_decode_sq8)


def recipe(dim: int, large: bool = False) -> dict:
    """What the index's contents depend on: a saved index with another recipe is rebuilt."""
    out = {"dim": dim, "encoding": ENCODING, "time_bits": TIME_BITS, "time_step_s": TIME_STEP_S,
           "metric": "inner_product", "list_size": LIST_SIZE}
    if large:
        out.update(encoding=LARGE_ENCODING, max_lists=MAX_LISTS, quantizer=f"HNSW{HNSW_NEIGHBOURS}",
                   train_iter=LARGE_TRAIN_ITER)
    return out


def segment_ids(rowid: int, starts: np.ndarray) -> np.ndarray:
    steps = np.rint(np.asarray(starts, np.float64) / TIME_STEP_S).astype(np.int64)
    if len(steps) and (steps.min() < 0 or steps.max() >= 1 << TIME_BITS):
        raise ValueError(f"segment starts outside 0..{(1 << TIME_BITS) * TIME_STEP_S:.0f} s")
    return (np.int64(rowid) << TIME_BITS) | steps


def _quantizer_type(encoding: str):
    import faiss

    return {"SQ8": faiss.ScalarQuantizer.QT_8bit, "SQ6": faiss.ScalarQuantizer.QT_6bit,
            "SQ4": faiss.ScalarQuantizer.QT_4bit, "SQfp16": faiss.ScalarQuantizer.QT_fp16}[encoding]


def _training_sample(songs: list[SongRow], read, n: int) -> np.ndarray:
    """About ``n`` stored vectors, spread over the catalogue: every k-th song in song-id order, a stride
    within each. Song ids are content hashes, so the sample (and the index trained on it) does not
    depend on the order in which the songs were indexed: in row order, two indexings of one folder
    whose workers finished in another order trained other indexes (10,300 songs: dev MRR 0.951 and
    0.959 from the same songs)."""
    total = sum(s.n_segments for s in songs)
    if total == 0:
        raise ValueError("no segment vectors to index")
    share = min(1.0, n / total)
    step = max(1, int(round(1 / max(share, 1e-9)) ** 0.5))  # songs and segments both thinned
    picked = [s.rowid for s in sorted(songs, key=lambda s: s.song_id)[::step]]
    vectors = {}
    for i in range(0, len(picked), ADD_BATCH_SONGS):
        for rowid, v, *_ in read(picked[i:i + ADD_BATCH_SONGS]):
            vectors[rowid] = v[::step]
    return np.ascontiguousarray(np.concatenate([vectors[r] for r in picked if r in vectors]), np.float32)


def _file_sum(path: Path) -> list[int]:
    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return [size, crc]


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())

