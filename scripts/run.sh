#!/usr/bin/env bash
# `make run` after `make setup`: index MUSIC (or render and index the demo collection), then start
# the web app on HOST:PORT. Configuration comes from the environment (the Makefile passes it on):
#   MUSIC     music folder (default: $HUM_SEARCH_MUSIC_ROOT; empty: render the demo into DEMO_DIR)
#   STORE     index folder or Elasticsearch URL (default: $HUM_SEARCH_STORE, $HUM_SEARCH_ES_URL, .hum-search/index)
#   HOST PORT DEMO_DIR ENGINE VENV
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
HS="$VENV/bin/hum-search"
MUSIC=${MUSIC:-${HUM_SEARCH_MUSIC_ROOT:-}}
STORE=${STORE:-${HUM_SEARCH_STORE:-${HUM_SEARCH_ES_URL:-.hum-search/index}}}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8501}
DEMO_DIR=${DEMO_DIR:-demo-music}
ENGINE=${ENGINE:-auto}
export HUM_SEARCH_STORE="$STORE"

if [ ! -x "$HS" ]; then
  echo "error: $HS is missing. Fix: run 'make setup' first" >&2
  exit 1
fi

folders=()
if [ -z "$MUSIC" ]; then
  echo "==> No MUSIC folder given: rendering the demo collection into $DEMO_DIR/"
  "$HS" demo --out "$DEMO_DIR" --engine "$ENGINE"
  MUSIC=$DEMO_DIR
  # the genre folders only: $DEMO_DIR/hums holds example queries, not songs
  for d in "$DEMO_DIR"/*/; do
    [ "$(basename "$d")" = hums ] || folders+=("${d%/}")
  done
else
  if [ ! -d "$MUSIC" ]; then
    echo "error: MUSIC=$MUSIC is not a folder. Fix: give the folder that holds your music, e.g. make run MUSIC=~/Music" >&2
    exit 2
  fi
  folders=("$MUSIC")
fi

if "$HS" index --help >/dev/null 2>&1; then
  echo "==> Indexing ${folders[*]} into $STORE"
  "$HS" index "${folders[@]}"
else
  echo "note: this version of hum-search has no 'index' command yet; not indexing" >&2
fi

HUM_SEARCH_MUSIC_ROOT="$(cd "$MUSIC" && pwd)"
export HUM_SEARCH_MUSIC_ROOT

if [ -f app.py ]; then
  echo "==> Starting the web app on http://$HOST:$PORT (Ctrl-C stops it)"
  exec "$VENV/bin/streamlit" run app.py --server.address "$HOST" --server.port "$PORT" \
    --server.headless true --browser.gatherUsageStats false
fi

example=""
if [ -f "$MUSIC/hums/twinkle-twinkle.wav" ]; then
  example="$MUSIC/hums/twinkle-twinkle.wav"
elif [ -d "$MUSIC/hums" ]; then
  example=$(ls "$MUSIC"/hums/*.wav 2>/dev/null | head -n 1 || true)
fi
echo
echo "The web app is not part of this version yet. Query from the command line, e.g.:"
echo "  HUM_SEARCH_STORE=$STORE $HS query ${example:-path/to/your-hum.wav}"
echo "or record a hum with the microphone:"
echo "  HUM_SEARCH_STORE=$STORE $HS record --seconds 8"
