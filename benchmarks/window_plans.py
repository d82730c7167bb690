#!/usr/bin/env python3
"""How many query windows the first stage needs: accuracy of window plans with the exact kNN.

    .venv/bin/python benchmarks/window_plans.py --store STORE --queries /tmp/qbh-medium [--max-queries N]
    # the fine pass's hit regions on a grown store, with the store's own first stage
    .venv/bin/python benchmarks/window_plans.py --store /tmp/hum-search-scale/store-10000 \
        --queries /tmp/qbh-medium --mode auto --plans 6:32 --fine-regions 0,3,2,1

A plan is (number of tempo ratios from 0.7 to 1.4, cap on windows per hum, songs per coarse window),
written TEMPI:CAP[:K[:COARSE_SONGS]]; the hop between
window offsets follows from the cap (melody.query_windows). Each plan runs the whole pipeline
(coarse pass with the store's exact kNN, fine pass, alignment re-rank) on the same hums; reported: top-1,
MRR, windows per hum, the share of each hum's target songs that reach the re-rank, and p50/p95 of
the first stage + re-rank per hum (warm). ``--mode exact`` (the default) makes a small store search
exactly (the one-pass plan); ``auto`` lets a large store use its approximate index and two passes.
``--fine-regions`` repeats every plan with ``candidates.FINE_REGIONS`` set to each value.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from scale import load_queries  # noqa: E402

from hum_search.config import Settings  # noqa: E402
from hum_search.engine import open_engine  # noqa: E402
from hum_search.features import melody  # noqa: E402
from hum_search.features.extract import analyze_query  # noqa: E402
from hum_search.search import candidates, rerank  # noqa: E402

PLANS = [(6, 32, 20), (6, 32, 60), (5, 32, 60)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--max-queries", type=int)
    ap.add_argument("--plans", help="e.g. 11:200,5:32")
    ap.add_argument("--mode", choices=("exact", "auto", "ann"), default="exact")
    ap.add_argument("--fine-regions", help="e.g. 0,3 (default: the module's FINE_REGIONS)")
    a = ap.parse_args()
    plans = [tuple(int(x) for x in p.split(":")) for p in a.plans.split(",")] if a.plans else PLANS
    plans = [(*p, candidates.COARSE_K, candidates.COARSE_SONGS)[:4] if len(p) < 4 else p for p in plans]
    plans = [p if len(p) == 4 else (*p, candidates.COARSE_SONGS) for p in plans]
    engine = open_engine(Settings.from_env(), sound="off", location=a.store)
    engine.store.search_mode = a.mode
    queries = load_queries(a.queries, a.max_queries)
    analyses = [analyze_query(h) for h, _ in queries]
    regions = [int(x) for x in a.fine_regions.split(",")] if a.fine_regions else [candidates.FINE_REGIONS]
    for n_tempi, cap, k, n_coarse, n_regions in [(*p, r) for p in plans for r in regions]:
        candidates.FINE_REGIONS = n_regions
        melody.MAX_QUERY_WINDOWS = cap
        candidates.COARSE_K = k
        candidates.COARSE_SONGS = n_coarse
        tempi = tuple(float(t) for t in np.geomspace(0.7, 1.4, n_tempi))
        ranks, n_windows, reached, ms = [], [], [], []
        for qa, (_, target) in zip(analyses, queries):
            qa.windows = melody.query_windows(qa.contour, tempi)
            n_windows.append(len(qa.windows.vectors))
            t0 = time.perf_counter()
            cands = candidates.candidates(engine.store, qa, None)
            results = rerank.rerank(engine.store, qa, cands)[:10]
            ms.append(1e3 * (time.perf_counter() - t0))
            meta = engine.store.get([c.song_id for c in cands], melody=False)
            reached.append(any(meta[c.song_id].meta.path.endswith("/" + target) for c in cands if c.song_id in meta))
            ranks.append(next((r.rank for r in results if r.song.path.endswith("/" + target)), None))
        found = [r for r in ranks if r]
        print(f"tempi {n_tempi:2d} cap {cap:3d} k {k:3d} coarse {n_coarse:3d} regions {n_regions}: "
              f"windows/hum {np.mean(n_windows):5.1f} "
              f"(max {max(n_windows)}), "
              f"top-1 {sum(r == 1 for r in found) / len(ranks):.3f}, MRR {sum(1 / r for r in found) / len(ranks):.3f}, "
              f"target reaches re-rank {np.mean(reached):.3f}, "
              f"p50/p95 {np.percentile(ms, 50):.0f}/{np.percentile(ms, 95):.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
