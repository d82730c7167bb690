#!/usr/bin/env bash
# Accuracy, confidence and speed on the development benchmark (../shared/qbh), as reported in the
# README's Benchmarks section. Not part of CI: it needs the benchmark's generator and takes minutes.
#
#   bash benchmarks/qbh.sh medium          # 300 songs (150 queried + 150 distractors), 150 queries
#   bash benchmarks/qbh.sh 750             # 750 songs (5x distractors), 150 queries, seed 5
#   bash benchmarks/qbh.sh val             # a second medium instance (seed 7), held out from tuning
#
# Steps: generate the instance if missing; score it with the benchmark's own scorer driving our CLI
# (`hum-search index` then one `hum-search query --json` call for all queries); then `hum-search
# eval` on the same store for breakdowns and warm query times, and with half of the queried songs
# left out of the index for the out-of-catalogue (confidence) figures.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-medium}
QBH=${QBH:-../shared/qbh}
OUT=${OUT:-/tmp/qbh-$NAME}
WORK=${WORK:-/tmp/hum-search-bench-$NAME}
HS=${HS:-$PWD/.venv/bin/hum-search}
QBH_PY=${QBH_PY:-/tmp/qbh-venv/bin/python}

case "$NAME" in
  medium) GEN=(--preset medium) ;;
  750) GEN=(--songs 150 --distractors 600 --queries-per-profile 150 --seed 5) ;;
  val) GEN=(--preset medium --seed 7) ;;
  *) echo "usage: $0 medium|750|val" >&2; exit 2 ;;
esac

if [ ! -x "$QBH_PY" ]; then
  echo "==> Setting up the benchmark's own virtualenv in ${QBH_PY%/bin/python}"
  python3 -m venv "${QBH_PY%/bin/python}"
  "${QBH_PY%/bin/python}/bin/pip" install -q -r "$QBH/requirements.txt"
fi
if [ ! -f "$OUT/queries.jsonl" ]; then
  echo "==> Generating $NAME into $OUT"
  (cd "$QBH" && "$QBH_PY" generate.py "${GEN[@]}" --out "$OUT")
fi

rm -rf "$WORK" && mkdir -p "$WORK"
echo "==> Scoring with the benchmark's scorer (fresh store: index speed included)"
(cd "$QBH" && "$QBH_PY" score.py --data "$OUT" --name hum-search --store "$WORK/store" \
   --index-cmd "$HS index {music} --store {store}" \
   --query-cmd "$HS query {queries} --top 10 --json --store {store}" \
   --out "$WORK/score.json" --per-query "$WORK/ranks.jsonl")

echo "==> hum-search eval on the same store (breakdowns, warm query times, match positions)"
"$HS" eval --music "$OUT/music" --queries "$OUT/queries.jsonl" --store "$WORK/store" | tee "$WORK/eval.txt"

echo "==> Out of catalogue: half of the queried songs left out of a second index"
"$HS" eval --music "$OUT/music" --queries "$OUT/queries.jsonl" --store "$WORK/store-ooc" --ooc-fraction 0.5 \
  | tee "$WORK/eval-ooc.txt"
echo "==> Reports in $WORK"
