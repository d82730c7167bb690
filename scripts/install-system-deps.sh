#!/usr/bin/env bash
# Install the Debian/Ubuntu packages hum-search needs, only those that are missing.
#
#   scripts/install-system-deps.sh          # runtime: ffmpeg, fluidsynth, GM soundfont, libsndfile, PortAudio
#   scripts/install-system-deps.sh --test   # the same plus chromium and a font (for the browser test)
#
# Uses apt-get as root, or through sudo when not root and sudo exists. Does nothing when everything
# is installed. On a system without dpkg/apt (macOS, Fedora, ...) it only says what to install and
# exits 0: the renderer falls back to its built-in synthesizer without fluidsynth, but ffmpeg is
# needed to read and write mp3/m4a.
set -euo pipefail

runtime_pkgs=(ffmpeg fluidsynth fluid-soundfont-gm libsndfile1 libportaudio2)
test_pkgs=(chromium fonts-liberation)

want=("${runtime_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install-system-deps: unknown option $arg (use --test)" >&2; exit 2 ;;
  esac
done

# A Debian python3 without ensurepip cannot create the virtualenv: add python3-venv then.
if command -v python3 >/dev/null 2>&1 && [ "$(command -v python3)" = /usr/bin/python3 ] \
   && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  want+=(python3-venv)
fi

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  missing_cmds=()
  for cmd in ffmpeg fluidsynth; do
    command -v "$cmd" >/dev/null 2>&1 || missing_cmds+=("$cmd")
  done
  if [ ${#missing_cmds[@]} -gt 0 ]; then
    echo "install-system-deps: no apt-get here; please install: ${missing_cmds[*]}" \
         "(e.g. brew install ffmpeg fluid-synth), plus libsndfile and portaudio" >&2
  fi
  exit 0
fi

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-system-deps: missing packages: ${missing[*]}" >&2
  echo "install-system-deps: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
