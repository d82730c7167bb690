#!/usr/bin/env python3
"""Out-of-catalogue hums the search answers confidently, and whether the answer holds the same tune.

    .venv/bin/python benchmarks/false_accepts.py --instance /tmp/qbh-medium-dw-s1=/tmp/st1 \\
        --pool ../shared/qbh/pool/melodies-v1.jsonl.gz [--profile dev]

Every hum of a development-benchmark instance (indexed: hum-search index DIR/music --store STORE)
is searched as benchmarks/fit_score.py's "out" rows are: with its own song taken out of the first
stage's candidates. For each confident answer (a false accept) this prints the answer and two costs
from the generator's ground truth, which code under test never reads: the notes actually sung
(meta/query_notes.jsonl, wrong and drifting notes included) aligned with their own song where
they were hummed, and with the answer around where the search put the match (every key in thirds
of a semitone, TEMPI tempo ratios; ``align.py``'s cost, semitones per voiced frame); and, from the
melody pool the catalogue was made from (``--pool``), whether the answer's melody holds the hummed
passage: its run of intervals (in semitones) somewhere in the answer's notes, at most
SAME_TUNE_MAX_EDITS of them changed, added or left out (an ornament or a passing note). Such an answer holds the same tune (one chorale
melody harmonized in two cantatas, one reel under two names): no melody search can tell those
apart, and a catalogue that holds them puts a floor under the false accepts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hum_search.engine import open_engine  # noqa: E402
from hum_search.errors import HumSearchError  # noqa: E402
from hum_search.features import melody  # noqa: E402
from hum_search.features.extract import analyze_query  # noqa: E402
from hum_search.search import align, candidates, rerank, scoring  # noqa: E402

TEMPI = np.geomspace(0.5, 2.0, 25)  # x the span's own ratio of song seconds to sung seconds
KEYS = np.arange(0.0, 12.0, 1 / 3)  # semitones
SAME_TUNE_MAX_EDITS = 0.1  # x the passage's intervals: edits the answer's melody may need to hold it


def sung_contour(notes: list) -> np.ndarray:
    """The sung notes ([start s, end s, MIDI pitch, kind]) as a contour from the first note's start."""
    t0 = notes[0][0]
    out = np.full(int((max(n[1] for n in notes) - t0) * melody.CONTOUR_FPS) + 1, np.nan, np.float32)
    for start, end, pitch, _ in notes:
        out[int((start - t0) * melody.CONTOUR_FPS):int((end - t0) * melody.CONTOUR_FPS)] = pitch
    return out


def best_cost(store, contour: np.ndarray, song_id: str, start_s: float, span_s: float) -> float:
    """The lowest alignment cost of ``contour`` against the song around ``start_s``, over TEMPI x KEYS."""
    song = store.get([song_id], melody=True, sound=False, segments=False)[song_id].melody.contour
    query, seconds = align.hum_query(contour), len(contour) / melody.CONTOUR_FPS
    regions = [r for f in TEMPI for k in KEYS
               if (r := rerank._region(song_id, song, start_s, span_s / seconds * f, k, seconds)) is not None]
    ds = max(align.DOWNSAMPLE, int(np.ceil(len(query) / rerank.MAX_ALIGN_FRAMES)))
    return float(align.align(query[::ds], rerank._matrix(regions, 0.0, ds)).cost.min())


def melodies(pool: str) -> dict[str, list[int]]:
    """Each pool melody's pitches (MIDI numbers), by melody id."""
    import gzip

    with gzip.open(pool, "rt") as f:
        return {m["id"]: [n[0] for n in m["notes"]] for m in map(json.loads, f)}


def passage_differences(passage: list[int], melody_pitches: list[int]) -> int:
    """The fewest edits (an interval changed, added or left out) that turn the intervals of
    ``passage`` into a run of the intervals of ``melody_pitches`` (a semi-global edit distance: the
    run may start and end anywhere)."""
    a, b = np.diff(passage), np.diff(melody_pitches)
    prev = np.zeros(len(b) + 1, np.int64)  # the run may start anywhere: no cost before it
    for i in range(1, len(a) + 1):
        cur = np.empty_like(prev)
        cur[0] = i
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j - 1] + (a[i - 1] != b[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return int(prev.min())


def false_accepts(instance: str, store_dir: str, profile: str | None, tunes: dict[str, list[int]]) -> list[dict]:
    sung = {json.loads(line)["id"]: json.loads(line)["notes"] for line in open(os.path.join(instance, "meta", "query_notes.jsonl"))}
    melody_of = {os.path.basename(s["path"]): s["melody_id"]
                 for s in map(json.loads, open(os.path.join(instance, "meta", "songs.jsonl")))}
    out = []
    engine = open_engine(sound="off", location=store_dir)
    try:
        ids = {os.path.basename(p): s.song_id for p, s in engine.store.file_states().items()}
        for line in open(os.path.join(instance, "queries.jsonl")):
            q = json.loads(line)
            if profile and q.get("profile", "dev") != profile:
                continue
            try:
                qa = analyze_query(os.path.join(instance, q["query"]))
            except HumSearchError:
                continue
            own = ids[os.path.basename(q["song"])]
            cands = [c for c in candidates.candidates(engine.store, qa, None) if c.song_id != own]
            results = rerank.rerank(engine.store, qa, cands)
            if not results or results[0].score < scoring.CONFIDENT_MIN_SCORE:
                continue
            top, contour = results[0], sung_contour(sung[q["id"]])
            hummed = tunes[melody_of[os.path.basename(q["song"])]]
            passage = hummed[q["start_note_index"]:q["start_note_index"] + q["n_notes"]]
            out.append(dict(
                different=passage_differences(passage, tunes[melody_of[os.path.basename(top.song.path)]]),
                intervals=len(passage) - 1,
                query=q["query"], profile=q.get("profile", "dev"), score=top.score, cost=top.cost,
                song=q["song"], answer=top.song.path,
                sung_own=best_cost(engine.store, contour, own, q["start_s"], q["duration_s"]),
                sung_answer=best_cost(engine.store, contour, top.song.song_id, top.match_start_s,
                                      top.match_end_s - top.match_start_s)))
    finally:
        engine.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", action="append", required=True, metavar="DIR=STORE",
                    help="a generated instance and the store its music/ is indexed in (repeat)")
    ap.add_argument("--pool", required=True, help="the melody pool the instances were generated from")
    ap.add_argument("--profile", default=None, help="only this degradation profile's hums")
    a = ap.parse_args()
    tunes = melodies(a.pool)
    for spec in a.instance:
        instance, _, store_dir = spec.partition("=")
        rows = false_accepts(instance, store_dir, a.profile, tunes)
        same = 0
        for r in rows:
            tie = r["different"] <= SAME_TUNE_MAX_EDITS * r["intervals"]
            same += tie
            print(f"{r['query']} ({r['profile']}) score {r['score']:.2f}, hum cost {r['cost']:.3f} | "
                  f"sung notes: own song {r['sung_own']:.3f}, answer {r['sung_answer']:.3f} | answer's melody: "
                  f"{r['different']} edits of the passage's {r['intervals']} intervals{'  SAME TUNE' if tie else ''}"
                  f" | {os.path.basename(r['song'])} -> {os.path.basename(r['answer'])}")
        print(f"{Path(instance).name}: {len(rows)} confident answers out of the catalogue, {same} of them the same tune")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
