#!/usr/bin/env python3
"""Which ANN index for the melody first stage: recall vs exact, latency, memory, build time.

    .venv/bin/python benchmarks/ann_choice.py --store /tmp/hum-search-scale/store-10000 --hums /tmp/demo

Data: every stored segment vector of ``--store`` (read from its SQLite, as float32); queries: the
query windows (``melody.query_windows`` with the first stage's tempo plan) of the hums under
``--hums`` (``*.wav`` searched recursively, or a benchmark instance's ``queries/``). Ground truth:
the exact top songs per window (best segment per song, as the first stage asks). For each index:
song recall@20 (share of each window's exact 20 best songs found among the index's top
``--k-seg`` segments), the time of one hum's batch of windows, bytes per vector and build time.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hum_search.features import melody  # noqa: E402
from hum_search.features.extract import analyze_query  # noqa: E402

TOP_SONGS = 20


def load_vectors(store: str, hop: int):
    db = sqlite3.connect(f"file:{store}/songs.sqlite3?mode=ro", uri=True)
    vecs, song = [], []
    for i, (n, blob) in enumerate(db.execute("SELECT n_segments, seg_vectors FROM songs WHERE n_segments > 0")):
        v = np.frombuffer(blob, np.float16).reshape(n, melody.MELODY_DIM)[::hop]
        vecs.append(v)
        song.append(np.full(len(v), i, np.int64))
    return np.concatenate(vecs).astype(np.float32), np.concatenate(song)


def exact_top_songs(x, song, q, n_songs):
    out = []
    for qi in range(len(q)):
        s = x @ q[qi]
        best = np.full(n_songs, -2.0, np.float32)
        np.maximum.at(best, song, s)
        out.append(set(np.argsort(-best)[:TOP_SONGS].tolist()))
    return out


def recall(ids, song, truth):
    r = []
    for qi, t in enumerate(truth):
        got = ids[qi][ids[qi] >= 0]
        songs = []
        for s in song[got]:
            if s not in songs:
                songs.append(s)
            if len(songs) >= TOP_SONGS:
                break
        r.append(len(t & set(songs)) / len(t))
    return float(np.mean(r))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--hums", required=True)
    ap.add_argument("--k-seg", type=int, default=256)
    ap.add_argument("--max-hums", type=int, default=12)
    ap.add_argument("--hop", type=int, default=1, help="index every HOP-th segment")
    ap.add_argument("--only", default="", help="comma-separated index names to run")
    a = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(2)
    x, song = load_vectors(a.store, a.hop)
    n_songs = int(song.max()) + 1
    hums = sorted(Path(a.hums).rglob("*.wav"))[: a.max_hums]
    qs = []
    for h in hums:
        qa = analyze_query(str(h))
        qs.append(qa.windows.vectors)
    q = np.concatenate(qs)
    print(f"{len(x):,} vectors of {n_songs:,} songs, {len(hums)} hums, {len(q)} windows "
          f"({len(q) / len(hums):.0f} per hum)", flush=True)
    t0 = time.perf_counter()
    truth = exact_top_songs(x, song, q, n_songs)
    print(f"exact: {1e3 * (time.perf_counter() - t0) / len(hums):.0f} ms per hum", flush=True)
    nlist = max(64, len(x) // 1000)  # as ann.py: about 1,000 vectors per list
    specs = {
        "ivf-sq8": (f"IVF{nlist},SQ8", [16, 32, 64, 128]),
        "ivf-pq40": (f"IVF{nlist},PQ40x8", [32, 64, 128]),
        "ivf-pq20": (f"IVF{nlist},PQ20x8", [32, 64, 128]),
        "ivf-sq4": (f"IVF{nlist},SQ4", [32, 64]),
        "hnsw32-sq8": ("HNSW32,SQ8", [128, 256, 512]),
    }
    only = set(filter(None, a.only.split(",")))
    rng = np.random.default_rng(0)
    train = x[rng.choice(len(x), min(len(x), 40 * nlist), replace=False)]
    for name, (spec, params) in specs.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        index = faiss.index_factory(melody.MELODY_DIM, spec, faiss.METRIC_INNER_PRODUCT)
        index.train(train)
        index.add(x)
        build = time.perf_counter() - t0
        nbytes = len(faiss.serialize_index(index))
        for p in params:
            if "HNSW" in spec:
                index.hnsw.efSearch = max(p, a.k_seg)
            else:
                index.nprobe = p
            t0 = time.perf_counter()
            ids = []
            for qq in qs:
                _, i = index.search(qq, a.k_seg)
                ids.append(i)
            dt = 1e3 * (time.perf_counter() - t0) / len(hums)
            rec = recall(np.concatenate(ids), song, truth)
            print(f"{name:12s} param {p:4d}: recall@{TOP_SONGS} songs {rec:.4f}, {dt:6.1f} ms per hum, "
                  f"{nbytes / len(x):5.1f} B/vector, build {build:.0f} s", flush=True)
    try:
        from usearch.index import Index
    except ImportError:
        return 0
    for dtype in ("i8", "f16"):
        if only and f"usearch-{dtype}" not in only:
            continue
        t0 = time.perf_counter()
        index = Index(ndim=melody.MELODY_DIM, metric="ip", dtype=dtype, connectivity=16)
        index.add(np.arange(len(x)), x, threads=2)
        build = time.perf_counter() - t0
        for ef in (128, 256, 512):
            index.expansion_search = ef
            t0 = time.perf_counter()
            ids = [index.search(qq, a.k_seg, threads=2).keys.astype(np.int64) for qq in qs]
            dt = 1e3 * (time.perf_counter() - t0) / len(hums)
            rec = recall(np.concatenate(ids), song, truth)
            print(f"usearch-{dtype:4s} ef {ef:4d}: recall@{TOP_SONGS} songs {rec:.4f}, {dt:6.1f} ms per hum, "
                  f"{index.memory_usage / len(x):5.1f} B/vector, build {build:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
