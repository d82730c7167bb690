"""The embedded store: SQLite for songs and features, numpy matrices for exact cosine kNN.

Layout of a store directory:

    store.json       format version, IndexSpec, creation time (also recorded in the database)
    songs.sqlite3    one row per song (metadata, contour, segment vectors, sound embedding) and the
                     files that failed to index; WAL journal, one transaction per batch of songs
    ann/             the approximate melody index of a large store (ann.py), rebuilt from SQLite
                     when missing or damaged

Opening, creating and checking those files (damage, corruption, read-only copies, concurrent
creation) is ``embedded_files.py``; every SQLite error met later becomes a one-line StoreError.

SQLite is the source of truth and makes every batch atomic: a run killed with SIGKILL loses at most
the batch in flight, and the next run redoes it. For search, the vectors are loaded into memory
once (and again after a write), sorted by genre so that a genre pre-filter is a set of contiguous
row slices, and searched exactly with a matrix product. Why numpy rather than faiss for exact
search: ``benchmarks/bench_store.py`` measured 1M x 128 exact search at 95 ms over all vectors and
8 ms with a 10 % genre filter, against 272 ms and 36 ms for faiss flat on the 2-core development
machine; numpy also needs no extra dependency.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import utc_now
from ..types import (
    FileState,
    IndexSpec,
    MelodyFeatures,
    SegmentHit,
    SongHit,
    SongMeta,
    SongRecord,
    StoreFailure,
    StoreStats,
)
from . import ann as annlib
from . import embedded_files as files
from .base import Store, cosine_score, normalize_rows, validate_record

log = logging.getLogger(__name__)

STORE_FILE, DB_FILE, STORE_KIND = files.STORE_FILE, files.DB_FILE, files.STORE_KIND
_CHUNK_SEGMENTS = 8192  # segments per block of the similarity product
_INDEX_BITS = 14  # a song's segments are numbered in 14 bits: 16384 x 0.4 s = 109 min > the 60 min limit
_KEY_SCALE = float(1 << (31 - _INDEX_BITS - 1))  # cosine steps of 2^-16 in the remaining bits
# Above this many stored segments (about 30,000 s of music: 375 songs of 80 s, 150 of 3.5 min)
# melody kNN goes through the approximate index (ann.py) and the search takes two passes
# (search/candidates.py); below it the exact product needs no index file, and the search's one exact
# pass (every fine window against every segment) and the whole-line pass (search/lines.py, up to
# about as many seconds of lines) are affordable. Above it the one exact pass costs more than the
# two: the seed-0 development instance's hums against 600 songs (204,000 segments;
# benchmarks/scale.py --sizes 300), exact / two passes: search p50 206 / 88 ms (`wide`), p95 over
# hums of at most 10 s 264 / 162 (`wide`) and 289 / 169 (`dev`), MRR 0.921 / 0.928 and 0.988 / 0.990.
# (300,000 before stop 39.)
EXACT_MAX_SEGMENTS = 75_000
# Segments the approximate index returns per song asked for (a window's 120 songs: 960 segments).
# 16 -> 8 on the scale benchmark's 150 dev hums (benchmarks/scale.py stores): the same MRR at
# 1,300 / 10,300 / 100,300 songs (0.933 / 0.883 / 0.751), total p50 -7 / -9 / -48 ms.
ANN_SEGMENTS_PER_SONG = 8
ANN_MAX_K = 4096  # cap on segments asked of the approximate index per query vector
ANN_SAVE_SHARE = 0.01  # an index synced in memory is saved when this share of its songs changed

_META_COLUMNS = (
    "song_id", "path", "title", "artist", "album", "genre", "duration_s", "content_hash", "file_size",
    "file_mtime", "indexed_at",
)


@dataclass
class _Matrix:
    """In-memory search structures for one generation of the database."""

    generation: int
    song_ids: list[str]  # row order of songs (sorted by genre)
    genre_rows: dict[str | None, tuple[int, int]]  # genre -> [first, last) song rows
    seg_vectors: np.ndarray  # (n_segments, dim) float32, rows grouped by song in song order
    seg_bounds: np.ndarray  # (n_songs + 1,) first segment row of each song
    seg_start: np.ndarray
    seg_end: np.ndarray
    sound: np.ndarray  # (n_songs, sound_dim) float32, zero rows for songs without one
    has_sound: np.ndarray  # (n_songs,) bool


class EmbeddedStore(Store):
    kind = "embedded"

    def __init__(self, directory: str | os.PathLike, spec: IndexSpec, *, create: bool = True):
        """Open the store at ``directory``; ``create`` (a writer: indexing) creates a missing one and
        repairs a damaged one where the data allows, otherwise (a reader) nothing is created or
        changed and damage is an error (see ``embedded_files``)."""
        self.dir = Path(directory).expanduser()
        self.location = str(self.dir)
        self.spec = spec
        self._lock = threading.RLock()
        self._matrix: _Matrix | None = None
        self._ann: annlib.AnnIndex | None = None
        self._ann_state: tuple[int, dict[int, tuple[str, str | None]], int] | None = None  # generation, rows, segs
        self.search_mode = "auto"  # "exact" or "ann" forces one first stage (benchmarks, tests)
        self.progress: annlib.Progress | None = None  # told how a build of the approximate index goes
        self._wrote = False
        self._db = files.open_db(self.dir, spec, create=create)

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._wrote:
                self._wrote = False
                try:  # bring a large store's approximate index up to date (the next search opens fast)
                    if self.search_mode != "exact" and self._approximate():
                        self._ann_index()
                except Exception as e:  # the next search rebuilds it from SQLite
                    log.warning("could not update the approximate melody index of %s (%s)", self.location, e)
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    # --- writes -------------------------------------------------------------------------------------
    def add(self, records: Sequence[SongRecord]) -> list[StoreFailure]:
        rows, failures = [], []
        for rec in records:
            try:
                validate_record(rec, self.spec)
                rows.append(self._row(rec))
            except (ValueError, TypeError) as e:
                failures.append(StoreFailure(rec.song_id, rec.meta.path, f"invalid features: {e}"))
        if not rows:
            return failures
        cols = ", ".join(_ROW_COLUMNS)
        marks = ", ".join("?" for _ in _ROW_COLUMNS)
        with self._using(), self._tx() as db:
            for row in rows:
                # a different song may have been indexed at this path before: replace it
                db.execute("DELETE FROM songs WHERE path = ? AND song_id != ?", (row[1], row[0]))
                db.execute(f"INSERT OR REPLACE INTO songs ({cols}) VALUES ({marks})", row)
            db.executemany("DELETE FROM failures WHERE path = ?", [(r[1],) for r in rows])
            self._bump(db)
            self._wrote = True
        return failures

    def _row(self, rec: SongRecord) -> tuple:
        m = rec.meta
        mel = rec.melody
        contour = vectors = starts = ends = None
        n_seg = 0
        fps = None
        if mel is not None:
            v = np.asarray(mel.vectors, dtype=np.float32)
            if v.ndim != 2 or (len(v) and v.shape[1] != self.spec.melody_dim):
                raise ValueError(f"melody vectors have shape {v.shape}, expected (n, {self.spec.melody_dim})")
            if not (len(mel.seg_start_s) == len(mel.seg_end_s) == len(v)):
                raise ValueError("segment times and vectors differ in length")
            vectors = normalize_rows(v).astype(np.float16).tobytes()
            starts = np.asarray(mel.seg_start_s, np.float32).tobytes()
            ends = np.asarray(mel.seg_end_s, np.float32).tobytes()
            contour = np.asarray(mel.contour, np.float16).tobytes()
            fps = float(mel.fps)
            n_seg = len(v)
        sound = None
        if rec.sound is not None:
            s = np.asarray(rec.sound, dtype=np.float32).ravel()
            if s.shape[0] != self.spec.sound_dim or not np.isfinite(s).all():
                raise ValueError(f"sound embedding has shape {s.shape}, expected ({self.spec.sound_dim},)")
            sound = normalize_rows(s).tobytes()
        return (m.song_id, m.path, m.title, m.artist, m.album, m.genre, float(m.duration_s), m.content_hash,
                int(m.file_size), float(m.file_mtime), m.indexed_at, contour, fps, n_seg, vectors, starts, ends, sound)

    def remove(self, song_id_or_path: str) -> list[str]:
        with self._using(), self._tx() as db:
            key, absolute = song_id_or_path, os.path.abspath(song_id_or_path)
            ids = [r[0] for r in db.execute(
                "SELECT song_id FROM songs WHERE song_id = ? OR path = ? OR path = ?", (key, key, absolute))]
            db.executemany("DELETE FROM songs WHERE song_id = ?", [(i,) for i in ids])
            if ids:
                self._bump(db)
                self._wrote = True
        return ids

    def update_location(self, song_id: str, path: str, file_size: int, file_mtime: float) -> None:
        with self._using(), self._tx() as db:
            db.execute("DELETE FROM songs WHERE path = ? AND song_id != ?", (path, song_id))
            db.execute("UPDATE songs SET path = ?, file_size = ?, file_mtime = ? WHERE song_id = ?",
                       (path, int(file_size), float(file_mtime), song_id))
            db.execute("DELETE FROM failures WHERE path = ?", (path,))
            self._bump(db)
            self._wrote = True

    def record_failures(self, failures: Sequence[tuple[str, str]]) -> None:
        if not failures:
            return
        now = utc_now()
        with self._using(), self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO failures VALUES (?, ?, ?)", [(p, r, now) for p, r in failures])

    def clear_failures(self, paths: Sequence[str]) -> None:
        with self._using(), self._tx() as db:
            db.executemany("DELETE FROM failures WHERE path = ?", [(p,) for p in paths])

    def failures(self) -> list[tuple[str, str, str]]:
        with self._using():
            return list(self._db.execute("SELECT path, reason, failed_at FROM failures ORDER BY path"))

    # --- reads --------------------------------------------------------------------------------------
    def file_states(self) -> dict[str, FileState]:
        with self._using():
            rows = self._db.execute("SELECT path, song_id, file_size, file_mtime FROM songs").fetchall()
        return {p: FileState(i, s, m) for p, i, s, m in rows}

    def find_by_hash(self, content_hash: str) -> SongMeta | None:
        cols = ", ".join(_META_COLUMNS)
        with self._using():
            row = self._db.execute(f"SELECT {cols} FROM songs WHERE content_hash = ?", (content_hash,)).fetchone()
        return SongMeta(*row) if row else None

    def get(self, song_ids: Sequence[str], *, melody: bool = True, sound: bool = True,
            segments: bool = True) -> dict[str, SongRecord]:
        ids = list(dict.fromkeys(song_ids))
        if not ids:
            return {}
        seg_cols = ["seg_vectors", "seg_starts", "seg_ends"] if segments else ["NULL", "NULL", "NULL"]
        cols = list(_META_COLUMNS) + (["contour", "contour_fps"] + seg_cols if melody else []) \
            + ["sound" if sound else "NULL"]
        out: dict[str, SongRecord] = {}
        with self._using():
            for chunk in _chunks(ids, 500):
                q = f"SELECT {', '.join(cols)} FROM songs WHERE song_id IN ({', '.join('?' for _ in chunk)})"
                for row in self._db.execute(q, chunk):
                    meta = SongMeta(*row[: len(_META_COLUMNS)])
                    rest = row[len(_META_COLUMNS):]
                    mel = None
                    if melody and rest[0] is not None:
                        _, fps, vec, st, en = rest[:5]
                        contour = np.frombuffer(rest[0], np.float16).astype(np.float32)
                        mel = MelodyFeatures.contour_only(contour, fps, self.spec.melody_dim)
                        if segments:
                            mel.vectors = np.frombuffer(vec, np.float16).reshape(-1, self.spec.melody_dim)  # as stored: see types
                            mel.seg_start_s = np.frombuffer(st, np.float32).copy()
                            mel.seg_end_s = np.frombuffer(en, np.float32).copy()
                    sound = np.frombuffer(rest[-1], np.float32).copy() if rest[-1] is not None else None
                    out[meta.song_id] = SongRecord(meta, mel, sound)
        return out

    def count(self) -> int:
        with self._using():
            return int(self._db.execute("SELECT COUNT(*) FROM songs").fetchone()[0])

    def genres(self) -> dict[str, int]:
        with self._using():
            rows = self._db.execute(
                "SELECT genre, COUNT(*) FROM songs WHERE genre IS NOT NULL GROUP BY genre ORDER BY genre").fetchall()
        return {g: int(n) for g, n in rows}

    def stats(self) -> StoreStats:
        with self._using():
            songs, segs, with_sound = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(n_segments), 0), COUNT(sound) FROM songs").fetchone()
            n_fail = self._db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
            duration = self._db.execute("SELECT COALESCE(SUM(duration_s), 0) FROM songs").fetchone()[0]
        size = sum(files.file_sizes(self.dir))
        return StoreStats(kind=self.kind, location=self.location, songs=int(songs), segments=int(segs),
                          with_sound=int(with_sound), genres=self.genres(), spec=self.spec, failures=int(n_fail),
                          extra={"total_duration_s": float(duration), "disk_bytes": size})

    # --- search -------------------------------------------------------------------------------------
    def melody_knn(self, vectors: np.ndarray, k: int, genres: Sequence[str] | None = None,
                   per_song: int = 1) -> list[list[SegmentHit]]:
        q = normalize_rows(np.atleast_2d(np.asarray(vectors, np.float32)))
        if len(q) == 0 or k <= 0 or per_song <= 0:
            return [[] for _ in range(len(q))]
        if self._approximate():
            return self._ann_knn(q, k, genres, per_song)
        mx = self._load()
        results: list[list[SegmentHit]] = [[] for _ in range(len(q))]
        for song_lo, song_hi in self._song_ranges(mx, genres):
            bounds = mx.seg_bounds[song_lo:song_hi + 1]
            rows = np.arange(song_lo, song_hi)[bounds[:-1] < bounds[1:]]  # songs with segments
            if len(rows) == 0:
                continue
            best, arg = self._best_per_song(mx, rows, q)  # (n_queries, n_songs) each
            kk = min(k, len(rows))
            top = np.argpartition(-best, kk - 1, axis=1)[:, :kk] if kk < len(rows) else \
                np.broadcast_to(np.arange(len(rows)), (len(q), len(rows)))
            if per_song == 1:  # the best segment of each song is known already: no per-song work
                seg = np.take_along_axis(arg, top, axis=1)
                scores = cosine_score(np.take_along_axis(best, top, axis=1)).tolist()
                song_rows, starts, ends = rows[top].tolist(), mx.seg_start[seg].tolist(), mx.seg_end[seg].tolist()
                ids = mx.song_ids
                for qi in range(len(q)):
                    results[qi].extend(SegmentHit(ids[r], st, en, sc) for r, st, en, sc in
                                       zip(song_rows[qi], starts[qi], ends[qi], scores[qi]))
                continue
            # several segments per song: rank each selected song's segments for the queries that chose it
            for j in np.unique(top):
                a, b = int(mx.seg_bounds[rows[j]]), int(mx.seg_bounds[rows[j] + 1])
                queries = np.nonzero((top == j).any(axis=1))[0]
                block = q[queries] @ mx.seg_vectors[a:b].T  # (n_selected_queries, n_segments)
                idx = np.argsort(-block, axis=1, kind="stable")[:, :per_song]
                scores = cosine_score(np.take_along_axis(block, idx, axis=1)).tolist()
                starts, ends = mx.seg_start[a + idx].tolist(), mx.seg_end[a + idx].tolist()
                sid = mx.song_ids[rows[j]]
                for col, qi in enumerate(queries.tolist()):
                    results[qi].extend(SegmentHit(sid, st, en, sc)
                                       for st, en, sc in zip(starts[col], ends[col], scores[col]))
        return [_best_songs(hits, k, per_song) for hits in results]

    @staticmethod
    def _best_per_song(mx: _Matrix, rows: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every query and song (``rows``): the best cosine over the song's segments and the
        index of that segment, each (n_queries, len(rows)).

        The product is computed in chunks of whole songs (the similarity matrix stays in cache), and
        max and argmax come out of one reduction: each cosine is packed with its segment's index
        within the song into one int32 (cosine in the high bits, quantized to 2^-16), so the largest
        key per song carries both."""
        best = np.empty((len(q), len(rows)), np.float32)
        arg = np.empty((len(q), len(rows)), np.int64)
        first = mx.seg_bounds[rows]
        last = mx.seg_bounds[rows + 1]
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and last[j] - first[i] <= _CHUNK_SEGMENTS and first[j] == last[j - 1]:
                j += 1
            a, b = int(first[i]), int(last[j - 1])
            sims = q @ mx.seg_vectors[a:b].T
            offsets = first[i:j] - a
            local = np.arange(b - a, dtype=np.int32) - np.repeat(offsets, last[i:j] - first[i:j]).astype(np.int32)
            keys = np.clip(sims, -1.0, 1.0)
            keys *= _KEY_SCALE
            packed = keys.astype(np.int32) << _INDEX_BITS
            packed |= local
            top = np.maximum.reduceat(packed, offsets, axis=1)
            best[:, i:j] = (top >> _INDEX_BITS).astype(np.float32) / _KEY_SCALE
            arg[:, i:j] = first[i:j] + (top & ((1 << _INDEX_BITS) - 1))
            i = j
        return best, arg

    # --- approximate search (ann.py) ----------------------------------------------------------------
    def searches_exactly(self) -> bool:
        return not self._approximate()

    def _approximate(self) -> bool:
        if self.search_mode != "auto":
            return self.search_mode == "ann"
        return self._ann_snapshot()[2] > EXACT_MAX_SEGMENTS

    def _ann_snapshot(self) -> tuple[int, dict[int, tuple[str, str | None]], int]:
        """(generation, rowid -> (song_id, genre) of songs with segments, total segments), cached."""
        with self._lock:
            gen = self._generation()
            if self._ann_state is None or self._ann_state[0] != gen:
                rows = self._db.execute("SELECT rowid, song_id, genre, n_segments FROM songs WHERE n_segments > 0")
                songs, total = {}, 0
                for rowid, sid, genre, n in rows:
                    songs[int(rowid)] = (sid, genre)
                    total += int(n)
                self._ann_state = (gen, songs, total)
            return self._ann_state

    def prepare_search(self, progress: annlib.Progress | None = None) -> None:
        """Load (or build, or bring up to date) what melody search needs, so the first search is fast."""
        if self._approximate():
            self._ann_index(progress)
            self.region_vectors([], np.zeros(0), np.zeros(0))  # the middle pass's view of the index

    def _ann_index(self, progress: annlib.Progress | None = None) -> annlib.AnnIndex:
        """The approximate index, in step with one read snapshot of SQLite (built or synced as needed)."""
        with self._lock:
            gen = self._generation()
            if self._ann is not None and getattr(self, "_ann_gen", None) == gen:
                return self._ann
            progress = progress or self.progress
            self._db.execute("BEGIN")  # one snapshot for the song list and the vectors read
            try:
                gen = self._generation()
                songs = [annlib.SongRow(int(r), sid, int(n)) for r, sid, n in self._db.execute(
                    "SELECT rowid, song_id, n_segments FROM songs WHERE n_segments > 0 ORDER BY rowid")]
                ann, built = self._ann, False
                if ann is None:
                    try:
                        ann = annlib.AnnIndex.load(self.dir, self.spec.melody_dim)
                    except annlib.AnnUnusable as e:
                        if not str(e).startswith("no approximate"):
                            log.warning("approximate melody index of %s unusable (%s): rebuilding it from the "
                                        "stored features", self.location, e)
                before = ann.changes if ann is not None else 0
                if ann is None or not ann.sync(songs, self._read_vectors, progress):
                    log.info("building the approximate melody index of %s (%d songs)", self.location, len(songs))
                    ann, built = annlib.AnnIndex.build(self.spec.melody_dim, songs, self._read_vectors, progress), True
            finally:
                self._db.execute("COMMIT")
            if built or ann.changes - before > ANN_SAVE_SHARE * max(len(songs), 1):
                self._save_ann(ann)
            self._ann, self._ann_gen = ann, gen
            return ann

    def _save_ann(self, ann: annlib.AnnIndex) -> None:
        try:
            ann.save(self.dir)
        except OSError as e:  # a read-only store still searches, from the index in memory
            log.warning("could not save the approximate melody index in %s (%s); it is rebuilt next time",
                        self.location, e)

    def _read_vectors(self, rowids: list[int]):
        """(rowid, segment vectors, starts, ends) of the given songs, from SQLite."""
        dim = self.spec.melody_dim
        marks = ", ".join("?" for _ in rowids)
        for rowid, n, v, st, en in self._db.execute(
                f"SELECT rowid, n_segments, seg_vectors, seg_starts, seg_ends FROM songs WHERE rowid IN ({marks})",
                rowids):
            yield (int(rowid), np.frombuffer(v, np.float16).reshape(n, dim), np.frombuffer(st, np.float32),
                   np.frombuffer(en, np.float32))

    def _ann_knn(self, q: np.ndarray, k: int, genres: Sequence[str] | None, per_song: int) -> list[list[SegmentHit]]:
        ann = self._ann_index()
        _, genre_of, _ = self._ann_snapshot()
        wanted = set(genres) if genres else None
        share = 1.0
        if wanted is not None:  # post-filtering: ask for more segments the rarer the genres
            share = max(sum(1 for _, g in genre_of.values() if g in wanted) / max(len(genre_of), 1), 1e-6)
        k_seg = int(min(ANN_MAX_K, max(k, 1) * ANN_SEGMENTS_PER_SONG * per_song / share))
        allowed = None
        if wanted is not None:
            def allowed(rowid: int, song_id: str) -> bool:
                info = genre_of.get(rowid)
                return info is not None and info[0] == song_id and info[1] in wanted
        return ann.song_hits(q, k_seg, k, per_song, allowed)

    def region_vectors(self, song_ids: Sequence[str], lo_s: np.ndarray,
                       hi_s: np.ndarray) -> tuple[np.ndarray, ...] | None:
        if not self._approximate():
            return None
        ann, rowids = self._ann_rowids(song_ids)
        with self._lock:  # (the first call after a change builds the index's ordered view)
            return ann.region_vectors(rowids, lo_s, hi_s)

    def segment_counts(self, song_ids: Sequence[str]) -> np.ndarray | None:
        if not self._approximate():
            return None
        ann, rowids = self._ann_rowids(song_ids)
        return np.array([ann.covered[r][1] if r >= 0 else 0 for r in rowids.tolist()], np.int64)

    def _ann_rowids(self, song_ids: Sequence[str]) -> tuple[annlib.AnnIndex, np.ndarray]:
        """The approximate index and the rowid of each song in it (-1: not covered)."""
        ann = self._ann_index()
        rowid_of = ann.rowid_of()
        return ann, np.array([rowid_of.get(sid, -1) for sid in song_ids], np.int64)

    def sound_knn(self, vector: np.ndarray, k: int, genres: Sequence[str] | None = None) -> list[SongHit]:
        v = normalize_rows(np.asarray(vector, np.float32).ravel())
        mx = self._load()
        hits: list[SongHit] = []
        for lo, hi in self._song_ranges(mx, genres):
            rows = np.arange(lo, hi)[mx.has_sound[lo:hi]]
            if len(rows) == 0:
                continue
            sims = mx.sound[rows] @ v
            for j in _top_indices(sims, k):
                hits.append(SongHit(mx.song_ids[rows[j]], float(cosine_score(sims[j]))))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def _song_ranges(self, mx: _Matrix, genres: Sequence[str] | None) -> list[tuple[int, int]]:
        if not genres:
            return [(0, len(mx.song_ids))]
        return [mx.genre_rows[g] for g in dict.fromkeys(genres) if g in mx.genre_rows]

    def _load(self) -> _Matrix:
        with self._using():
            gen = self._generation()
            if self._matrix is not None and self._matrix.generation == gen:
                return self._matrix
            t0 = time.perf_counter()
            rows = self._db.execute(
                "SELECT song_id, genre, n_segments, seg_vectors, seg_starts, seg_ends, sound FROM songs "
                "ORDER BY genre IS NULL, genre, song_id").fetchall()
            dim, sdim = self.spec.melody_dim, self.spec.sound_dim
            counts = np.array([r[2] for r in rows], dtype=np.int64)
            bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            vec = np.empty((int(bounds[-1]), dim), np.float32)
            st = np.empty(int(bounds[-1]), np.float32)
            en = np.empty(int(bounds[-1]), np.float32)
            sound = np.zeros((len(rows), sdim), np.float32)
            has_sound = np.zeros(len(rows), bool)
            genre_rows: dict[str | None, list[int]] = {}
            for i, (sid, genre, n, v, s, e, snd) in enumerate(rows):
                a, b = bounds[i], bounds[i + 1]
                if n:
                    vec[a:b] = np.frombuffer(v, np.float16).reshape(n, dim)
                    st[a:b] = np.frombuffer(s, np.float32)
                    en[a:b] = np.frombuffer(e, np.float32)
                if snd is not None:
                    sound[i] = np.frombuffer(snd, np.float32)
                    has_sound[i] = True
                genre_rows.setdefault(genre, [i, i + 1])[1] = i + 1
            self._matrix = _Matrix(
                generation=gen, song_ids=[r[0] for r in rows],
                genre_rows={g: (lo, hi) for g, (lo, hi) in genre_rows.items()},
                seg_vectors=vec, seg_bounds=bounds,
                seg_start=st, seg_end=en, sound=sound, has_sound=has_sound)
            log.debug("loaded %d songs, %d segments in %.0f ms", len(rows), len(vec), 1e3 * (time.perf_counter() - t0))
            return self._matrix

    # --- helpers ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _using(self):
        """The lock, and SQLite errors as one-line StoreErrors (corrupt, disk full, locked, ...)."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as e:
                raise files.store_error(e, self.dir) from None

    def _generation(self) -> int:
        return int(self._db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE state SET value = value + 1 WHERE key = 'generation'")

    def _tx(self):
        return _Transaction(self._db)


_ROW_COLUMNS = _META_COLUMNS + ("contour", "contour_fps", "n_segments", "seg_vectors", "seg_starts", "seg_ends",
                                "sound")


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:  # SQLite has rolled back already after some errors (a full disk)
            with contextlib.suppress(sqlite3.Error):  # the error that got us here is the one to report
                self.db.execute("ROLLBACK")
        return False


def _top_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first."""
    if len(x) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(x):
        idx = np.argpartition(-x, k - 1)[:k]
    else:
        idx = np.arange(len(x))
    return idx[np.argsort(-x[idx], kind="stable")]


def _best_songs(hits: list[SegmentHit], k: int, per_song: int) -> list[SegmentHit]:
    """Keep the best k songs (by their best segment) with up to per_song segments each, best first."""
    by_song: dict[str, list[SegmentHit]] = {}
    for h in sorted(hits, key=lambda h: -h.score):
        lst = by_song.setdefault(h.song_id, [])
        if len(lst) < per_song:
            lst.append(h)
    songs = sorted(by_song.values(), key=lambda lst: -lst[0].score)[:k]
    return [h for lst in songs for h in lst]


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
