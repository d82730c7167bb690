#!/usr/bin/env python3
"""Exact-search speed of the embedded store's engine, and of faiss for comparison.

    .venv/bin/python benchmarks/bench_store.py                 # numpy (and faiss if installed)
    .venv/bin/python benchmarks/bench_store.py --rows 1000000 --dim 128

Part 1 is the trial the foundation issue describes: one query vector against N x D unit vectors,
exact top-10 by inner product, all rows and a 10 % genre pre-filter (a contiguous slice, as the
embedded store sorts rows by genre). Part 2 times the store's real search, `melody_knn`, with a
typical hum's batch of query windows against a catalogue of synthetic songs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def timeit(fn, repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def part1(rows: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[123] + 0.1 * rng.standard_normal(dim).astype(np.float32)
    sl = slice(rows // 2, rows // 2 + rows // 10)

    def np_top(m):
        s = m @ q
        i = np.argpartition(-s, 10)[:10]
        return i[np.argsort(-s[i])]

    print(f"exact top-10, {rows:,} x {dim}-d float32 ({x.nbytes / 2**20:.0f} MiB):")
    print(f"  numpy matmul + argpartition     all rows {timeit(lambda: np_top(x)):6.1f} ms   "
          f"10% genre slice {timeit(lambda: np_top(x[sl])):6.1f} ms")
    try:
        import faiss
    except ImportError:
        print("  faiss                           not installed (pip install faiss-cpu to compare)")
        return
    index = faiss.IndexFlatIP(dim)
    index.add(x)
    sub = faiss.IndexFlatIP(dim)
    sub.add(x[sl])
    print(f"  faiss IndexFlatIP               all rows {timeit(lambda: index.search(q[None], 10)):6.1f} ms   "
          f"10% genre slice {timeit(lambda: sub.search(q[None], 10)):6.1f} ms")


def part2(songs: int, segments_per_song: int, windows: int) -> None:
    from hum_search.features.extract import current_spec
    from hum_search.store.embedded import EmbeddedStore
    from hum_search.types import MelodyFeatures, SongMeta, SongRecord

    spec = current_spec()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        store = EmbeddedStore(d, spec)
        batch = []
        for i in range(songs):
            v = rng.standard_normal((segments_per_song, spec.melody_dim)).astype(np.float32)
            starts = np.arange(segments_per_song, dtype=np.float32) * 0.4
            meta = SongMeta(f"s{i}", f"/m/{i % 10}/{i}.mp3", None, None, None, f"g{i % 10}", 90.0, f"{i:064x}",
                            1, 1.0, "x")
            batch.append(SongRecord(meta, MelodyFeatures(np.zeros(10, np.float32), 25.0, v, starts, starts + 5), None))
            if len(batch) == 500:
                store.add(batch)
                batch = []
        store.add(batch)
        q = rng.standard_normal((windows, spec.melody_dim)).astype(np.float32)
        t_load = timeit(lambda: store._load(), repeat=1)
        print(f"\nmelody_knn, {songs:,} songs x {segments_per_song} segments "
              f"({songs * segments_per_song:,} x {spec.melody_dim}-d), {windows} query windows, k=20:")
        print(f"  all songs {timeit(lambda: store.melody_knn(q, k=20), repeat=5):7.1f} ms   "
              f"one genre of ten {timeit(lambda: store.melody_knn(q, k=20, genres=['g3']), repeat=5):7.1f} ms   "
              f"(matrix load {t_load:.0f} ms, once per process and after writes)")
        store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--songs", type=int, default=1000)
    ap.add_argument("--segments", type=int, default=200, help="segments per song (90 s at 0.4 s hop)")
    ap.add_argument("--windows", type=int, default=200, help="query windows per hum")
    a = ap.parse_args()
    part1(a.rows, a.dim)
    part2(a.songs, a.segments, a.windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
