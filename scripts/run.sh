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

if [ -z "$MUSIC" ]; then
  echo "==> No MUSIC folder given: rendering the demo collection into $DEMO_DIR/"
  "$HS" demo --out "$DEMO_DIR" --engine "$ENGINE"
  MUSIC=$DEMO_DIR  # its hums/ folder (example queries) carries a .hum-search-ignore marker
elif [ ! -d "$MUSIC" ]; then
  echo "error: MUSIC=$MUSIC is not a folder. Fix: give the folder that holds your music, e.g. make run MUSIC=~/Music" >&2
  exit 2
fi

echo "==> Indexing $MUSIC into $STORE"
"$HS" index "$MUSIC" || echo "note: some files could not be indexed (listed above); the others are searchable" >&2

HUM_SEARCH_MUSIC_ROOT="$(cd "$MUSIC" && pwd)"
export HUM_SEARCH_MUSIC_ROOT

echo "==> Starting the web app on http://$HOST:$PORT (Ctrl-C stops it)"
echo "    From a terminal: $HS query <hum.wav>   or   $HS record --seconds 8"
exec "$VENV/bin/streamlit" run app.py --server.address "$HOST" --server.port "$PORT" \
  --server.headless true --browser.gatherUsageStats false
