#!/usr/bin/env bash
# Accuracy, confidence and speed on the development benchmark (../shared/qbh), as reported in the
# README's Benchmarks section. Not part of CI: it needs the benchmark's generator and takes minutes.
#
#   bash benchmarks/qbh.sh medium          # 300 songs (150 queried + 150 distractors), 150 queries
#   bash benchmarks/qbh.sh 750             # 750 songs (5x distractors), 150 queries, seed 5
#   bash benchmarks/qbh.sh val             # a second medium instance (seed 7), held out from tuning
#   bash benchmarks/qbh.sh dw              # the medium catalogue with 150 `dev` and 150 `wide` hums (seed 0)
#   bash benchmarks/qbh.sh dw1             # the same with generator seed 1 (other melodies, voices, noises)
#   bash benchmarks/qbh.sh dw2             # ... seed 2, and dw3: seed 3 (fitting the score: docs/melody.md)
#
# Steps: generate the instance if missing; score it with the benchmark's own scorer driving our CLI
# (`hum-search index` then one `hum-search query --json` call for all queries); then `hum-search
# eval` on the same store for breakdowns and warm query times, and with half of the queried songs
# left out of the index for the out-of-catalogue (confidence) figures. An instance with several
# degradation profiles (dw, dw1) gets both `hum-search eval` runs once per profile, from a queries
# file per profile written next to the instance's own (queries-PROFILE.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-medium}
QBH=${QBH:-../shared/qbh}
WORK=${WORK:-/tmp/hum-search-bench-$NAME}
HS=${HS:-$PWD/.venv/bin/hum-search}
QBH_PY=${QBH_PY:-/tmp/qbh-venv/bin/python}

case "$NAME" in
  medium) GEN=(--preset medium) ;;
  750) GEN=(--songs 150 --distractors 600 --queries-per-profile 150 --seed 5) ;;
  val) GEN=(--preset medium --seed 7) ;;
  dw) GEN=(--preset medium --profiles dev,wide); INSTANCE=medium-dw ;;
  dw1) GEN=(--preset medium --profiles dev,wide --seed 1); INSTANCE=medium-dw-s1 ;;
  dw2) GEN=(--preset medium --profiles dev,wide --seed 2); INSTANCE=medium-dw-s2 ;;
  dw3) GEN=(--preset medium --profiles dev,wide --seed 3); INSTANCE=medium-dw-s3 ;;
  *) echo "usage: $0 medium|750|val|dw|dw1|dw2|dw3" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/qbh-${INSTANCE:-$NAME}}

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

PROFILES=$("$QBH_PY" -c 'import json, sys; print(" ".join(sorted({json.loads(l)["profile"] for l in open(sys.argv[1])})))' "$OUT/queries.jsonl")
for P in $PROFILES; do
  Q="$OUT/queries.jsonl" TAG=""
  if [ "$PROFILES" != "$P" ]; then  # several profiles: one queries file (and one report) per profile
    Q="$OUT/queries-$P.jsonl" TAG="-$P"
    "$QBH_PY" -c 'import json, sys; sys.stdout.writelines(l for l in open(sys.argv[1]) if json.loads(l)["profile"] == sys.argv[2])' \
      "$OUT/queries.jsonl" "$P" > "$Q"
  fi
  echo "==> hum-search eval on the same store, $P hums (breakdowns, warm query times, match positions)"
  "$HS" eval --music "$OUT/music" --queries "$Q" --store "$WORK/store" | tee "$WORK/eval$TAG.txt"

  echo "==> Out of catalogue, $P hums: half of the queried songs left out of a second index"
  "$HS" eval --music "$OUT/music" --queries "$Q" --store "$WORK/store-ooc$TAG" --ooc-fraction 0.5 \
    | tee "$WORK/eval-ooc$TAG.txt"
done
echo "==> Reports in $WORK"
