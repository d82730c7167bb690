#!/usr/bin/env python3
"""Out-of-catalogue hums the search answers confidently, and whether the answer holds the same tune.

    .venv/bin/python benchmarks/false_accepts.py --instance /tmp/qbh-medium-dw-s1=/tmp/st1 \\
        --pool ../shared/qbh/pool/melodies-v1.jsonl.gz [--profile dev]
    # a store grown by benchmarks/scale.py: its distractors' melodies are found from its recipe
    .venv/bin/python benchmarks/false_accepts.py --instance /tmp/qbh-medium-dw=/tmp/scale-work/store-10000 \\
        --pool ../shared/qbh/pool/melodies-v1.jsonl.gz

Every hum of a development-benchmark instance (indexed: hum-search index DIR/music --store STORE)
is searched as benchmarks/fit_score.py's "out" rows are: with its own song taken out of the first
stage's candidates. For each confident answer (a false accept) this prints the answer and two costs
from the generator's ground truth, which code under test never reads: the notes actually sung
(meta/query_notes.jsonl, wrong and drifting notes included) aligned with their own song where
they were hummed, and with the answer around where the search put the match (every key in thirds
of a semitone, TEMPI tempo ratios; ``align.py``'s cost, semitones per voiced frame); and, from the
melody pool the catalogue was made from (``--pool``), whether the answer's melody holds the hummed
passage.

**The same tune.** The pool holds many tunes more than once under other titles: a hymn tune in
the Essen folk collection and in the Bach chorales that harmonize it ("Vater unser" and BWV 102.7,
"O Traurigkeit" and BWV 404), two chorales on one melody (BWV 261 and 33.6), two settings of one
reel. No melody search can tell those apart, and a catalogue that holds them puts a floor under the
false accepts, rising with its size. Settings differ in passing notes, ornaments and repeated
notes, so the test compares pitches, not intervals: the passage's notes (repeated pitches joined)
against a run of the answer's, at the best transposition, with a note changed, added or left out
costing 1 (a passing note: one added note; an interval measure counts it twice). The distance
(edits per passage note) is then judged against the passage's chance level: its distances to
every other melody of the pool (about 6,000). The answer holds the same tune when it is closer than
all but the closest SAME_TUNE_QUANTILE of them (about 6: one tune's other settings are few; the
search picks its answer out of the whole catalogue, so a plain "closer than most" would flatter an
unrelated answer). A passage short enough that many melodies hold it exactly never is the same
tune (it counts as a false accept). Stop 35 used at most 10 % of the passage's intervals changed:
that called none of the 750-song instance's 13 answers the same tune, among them "Strop the Razor
-- Jig" answered by "Strop the Razor", and BWV 261 by BWV 33.6 (one chorale melody); this test
calls 8 of them the same tune, each the closest or second-closest of the pool's melodies to its
passage, and the 5 others rank 347th-810th or tie with many.
"""

from __future__ import annotations

import argparse
import gzip
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
from hum_search.jit import Compiled  # noqa: E402
from hum_search.search import align, candidates, rerank, scoring  # noqa: E402

import distractors  # noqa: E402  (benchmarks/)

TEMPI = np.geomspace(0.5, 2.0, 25)  # x the span's own ratio of song seconds to sung seconds
KEYS = np.arange(0.0, 12.0, 1 / 3)  # semitones
SAME_TUNE_QUANTILE = 0.001  # the share of the pool's melodies allowed as close as a same-tune answer
MAX_SHIFT = 36  # semitones: transpositions tried between a passage and a melody


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
    with gzip.open(pool, "rt") as f:
        return {m["id"]: [n[0] for n in m["notes"]] for m in map(json.loads, f)}


def joined(pitches: list[int]) -> np.ndarray:
    """The pitches with each run of one repeated pitch joined into one note."""
    p = np.asarray(pitches, np.int64)
    return p[np.concatenate([[True], p[1:] != p[:-1]])] if len(p) else p


def _edits(a, b, shifts):  # pragma: no cover - compiled
    """The fewest notes changed, added or left out that turn ``a`` + a shift of ``shifts`` into a
    run of ``b`` (semi-global: the run may start and end anywhere in ``b``)."""
    best = len(a)
    prev = np.zeros(len(b) + 1, np.int64)
    cur = np.zeros(len(b) + 1, np.int64)
    for k in shifts:
        prev[:] = 0
        for i in range(1, len(a) + 1):
            cur[0] = i
            x = a[i - 1] + k
            for j in range(1, len(b) + 1):
                c = prev[j - 1] + (1 if x != b[j - 1] else 0)
                c = min(c, prev[j] + 1)
                cur[j] = min(c, cur[j - 1] + 1)
            prev, cur = cur, prev
        best = min(best, prev.min())
    return best


_compiled_edits = Compiled(_edits)


def tune_distance(passage: np.ndarray, pitches: np.ndarray) -> float:
    """Edits per note (``_edits``, every transposition within MAX_SHIFT) between a passage and the
    nearest run of a melody, both with repeated pitches joined."""
    passage, pitches = joined(passage), joined(pitches)
    if len(passage) == 0 or len(pitches) == 0:
        return 1.0
    shifts = np.arange(-MAX_SHIFT, MAX_SHIFT + 1, dtype=np.int64)
    shifts = shifts[[bool(np.isin(passage + k, pitches).any()) for k in shifts]]
    if len(shifts) == 0:
        return 1.0
    return _compiled_edits(passage, pitches, shifts) / len(passage)


def chance_distances(passage: np.ndarray, tunes: dict[str, np.ndarray], own: str) -> np.ndarray:
    """The passage's ``tune_distance`` to every pool melody but its own."""
    return np.array([tune_distance(passage, t) for m, t in tunes.items() if m != own])


def chance_level(chance: np.ndarray) -> float:
    """The distance that all but the pool's closest SAME_TUNE_QUANTILE of melodies stay above."""
    return float(np.quantile(chance, SAME_TUNE_QUANTILE))


def same_tune(distance: float, chance: np.ndarray) -> bool:
    """Whether an answer at ``distance`` holds the passage: closer than all but the pool's few
    closest melodies (a passage short enough that many melodies hold it exactly never is)."""
    return bool(distance < chance_level(chance))


def song_melodies(instance: str, store_dir: str) -> dict[str, str]:
    """The pool melody id of each song of the store, by song path: the instance's songs (by file
    name) and, in a store grown by scale.py, its distractors (by their recipe)."""
    out = {os.path.basename(s["path"]): s["melody_id"]
           for s in map(json.loads, open(os.path.join(instance, "meta", "songs.jsonl")))}
    recipe_file = Path(store_dir) / "distractors.json"
    if recipe_file.exists():
        recipe = json.loads(recipe_file.read_text())
        if recipe.get("pool"):
            pool = distractors.load_pool(recipe["pool"], tuple(recipe["exclude"]))
            for i in range(recipe["n"]):
                mel = distractors.distractor_melody(np.random.default_rng([recipe["seed"], i]), pool)
                out[f"{distractors.distractor_id(i, recipe['seed'], True)}.mp3"] = mel["id"]
    return out


def false_accepts(instance: str, store_dir: str, profile: str | None,
                  tunes: dict[str, np.ndarray]) -> tuple[list[dict], dict[str, int]]:
    """The confident answers of the instance's hums searched out of the catalogue, and the number
    of hums searched per profile."""
    sung = {json.loads(line)["id"]: json.loads(line)["notes"] for line in open(os.path.join(instance, "meta", "query_notes.jsonl"))}
    melody_of = song_melodies(instance, store_dir)
    out, searched = [], {}
    engine = open_engine(sound="off", location=store_dir)
    try:
        ids = {os.path.basename(p): s.song_id for p, s in engine.store.file_states().items()}
        for line in open(os.path.join(instance, "queries.jsonl")):
            q = json.loads(line)
            kind = q.get("profile", "dev")
            if profile and kind != profile:
                continue
            searched[kind] = searched.get(kind, 0) + 1
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
            own_melody = melody_of[os.path.basename(q["song"])]
            passage = joined(tunes[own_melody][q["start_note_index"]:q["start_note_index"] + q["n_notes"]])
            chance = chance_distances(passage, tunes, own_melody)
            distance = tune_distance(passage, tunes[melody_of[os.path.basename(top.song.path)]])
            out.append(dict(
                distance=distance, chance=chance_level(chance), same=same_tune(distance, chance), notes=len(passage),
                query=q["query"], profile=kind, score=top.score, cost=top.cost,
                song=q["song"], answer=top.song.path,
                sung_own=best_cost(engine.store, contour, own, q["start_s"], q["duration_s"]),
                sung_answer=best_cost(engine.store, contour, top.song.song_id, top.match_start_s,
                                      top.match_end_s - top.match_start_s)))
    finally:
        engine.close()
    return out, searched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", action="append", required=True, metavar="DIR=STORE",
                    help="a generated instance and the store its music/ is indexed in (repeat)")
    ap.add_argument("--pool", required=True, help="the melody pool the instances were generated from")
    ap.add_argument("--profile", default=None, help="only this degradation profile's hums")
    a = ap.parse_args()
    tunes = {k: np.asarray(v, np.int64) for k, v in melodies(a.pool).items()}
    for spec in a.instance:
        instance, _, store_dir = spec.partition("=")
        rows, searched = false_accepts(instance, store_dir, a.profile, tunes)
        for r in rows:
            print(f"{r['query']} ({r['profile']}) score {r['score']:.2f}, hum cost {r['cost']:.3f} | "
                  f"sung notes: own song {r['sung_own']:.3f}, answer {r['sung_answer']:.3f} | answer's melody: "
                  f"{r['distance']:.2f} edits per note of the passage's {r['notes']}, chance {r['chance']:.2f}"
                  f"{'  SAME TUNE' if r['same'] else ''} | {os.path.basename(r['song'])} -> {os.path.basename(r['answer'])}")
        for kind, n in sorted(searched.items()):
            mine = [r for r in rows if r["profile"] == kind]
            other = sum(not r["same"] for r in mine)
            print(f"{Path(instance).name} on {Path(store_dir).name}, {kind}: {n} hums out of the catalogue, "
                  f"{len(mine)} confident ({100 * len(mine) / n:.1f} %), {len(mine) - other} of them the same tune; "
                  f"another tune: {other} ({100 * other / n:.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
