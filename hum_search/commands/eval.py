"""``hum-search eval --music DIR --queries FILE.jsonl``: accuracy, confidence and speed figures."""

from __future__ import annotations

import argparse
import json
import sys

from ..evaluate import EvalReport, run_eval
from ._common import add_store_arg, non_negative_int, settings_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="measure accuracy on labelled queries",
        description="Index DIR (unless the store already holds it), run every query of the queries file "
                    "and report top-1/5/10, MRR, breakdowns per profile, SNR and what the queries file says "
                    "of each recording (noise, voice, syllable, format, sr), match-position "
                    "accuracy, confidence (true/false accepts), query p50/p95 and index speed. The queries "
                    "file has one JSON object per line with \"query\" and \"song\" paths (relative to the "
                    "file's folder and to DIR), as in the development benchmark.")
    p.add_argument("--music", required=True, metavar="DIR", help="the music folder (the catalogue)")
    p.add_argument("--queries", required=True, metavar="FILE.jsonl", help="labelled queries")
    add_store_arg(p)
    p.add_argument("--ooc-fraction", type=fraction, default=0.0, metavar="F",
                   help="leave this share of the queried songs out of the index, so their queries "
                        "measure out-of-catalogue behaviour (default 0; its own store by default)")
    p.add_argument("--workers", type=non_negative_int, default=None, help="indexing processes")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--worst", type=int, default=10, metavar="N", help="list the N worst queries (default 10)")
    p.set_defaults(func=run)


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be at least 0 and below 1")
    return value


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    progress = _Progress() if sys.stderr.isatty() and not args.json else None
    report = run_eval(args.music, args.queries, store_location=args.store, ooc_fraction=args.ooc_fraction,
                      settings=settings, workers=args.workers, progress=progress)
    if progress:
        progress.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report, args.worst)
    return 0


class _Progress:
    def __init__(self):
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage not in self.bars:
            for bar in self.bars.values():
                bar.close()
            self.bars[stage] = tqdm(total=total, desc=stage, unit="file" if stage == "index" else "query",
                                    file=sys.stderr, leave=False)
        bar = self.bars[stage]
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _pct(x) -> str:
    return "  n/a" if x is None else f"{100 * x:5.1f}%"


def _row(name: str, m: dict) -> str:
    if not m.get("n"):
        return f"  {name:<18} {'-':>5}"
    return (f"  {name:<18} {m['n']:>5}  {_pct(m['top1'])}  {_pct(m['top5'])}  {_pct(m['top10'])}  "
            f"{m['mrr']:.3f}")


def print_report(report: EvalReport, worst: int) -> None:
    s = report.summary()
    print(f"music: {report.music}   store: {report.store}   songs indexed: {s['songs_indexed']}")
    if report.index_songs_per_hour is not None:
        print(f"indexing: {report.index_seconds:.0f} s, {report.index_songs_per_hour:,.0f} songs/hour")
    else:
        print("indexing: nothing new to index (store reused; run on a fresh --store to measure speed)")
    print(f"queries: {s['queries']} ({s['in_catalogue']} in the catalogue, {s['out_of_catalogue']} out, "
          f"{s['errors']} errors)")
    print()
    print(f"  {'':<18} {'n':>5}  {'top-1':>6}  {'top-5':>6}  {'top-10':>6}  MRR")
    print(_row("all", s))
    for name, m in s["by_profile"].items():
        print(_row(f"profile {name}", m))
    for name, m in s["by_snr"].items():
        print(_row(f"SNR {name}", m))
    for factor, groups in s["by_factor"].items():
        for name, m in groups.items():
            print(_row(f"{factor} {name}", m))
    print()
    if s["position_accuracy"] is not None:
        print(f"match position within 3 s (top-1 hits): {_pct(s['position_accuracy'])}")
    print(f"confident & right (true accepts, in catalogue): {_pct(s['true_accept_rate'])}")
    print(f"confident but wrong (in catalogue):            {_pct(s['in_catalogue_wrong_but_confident'])}")
    print(f"confident, out of catalogue (false accepts):   {_pct(s['false_accept_rate'])}")
    if s["query_ms_p50"] is not None:
        print(f"query time: p50 {s['query_ms_p50']:.0f} ms, p95 {s['query_ms_p95']:.0f} ms (models warm)")
    bad = [o for o in report.worst(worst) if o.rank != 1]
    if bad:
        print(f"\nworst {len(bad)} in-catalogue queries:")
        for o in bad:
            rank = "miss" if o.rank is None else f"#{o.rank}"
            extra = ", ".join(f"{k}={v}" for k, v in o.info.items())
            print(f"  {rank:>5}  {o.query}  ->  {o.song}  score={o.top_score if o.top_score is None else round(o.top_score, 3)}"
                  f"  {o.error or ''} {extra}")
