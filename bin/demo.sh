#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing (ffmpeg, npm packages), then
# start the demo. Extra arguments go to the demo (e.g. --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "installing ffmpeg (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends ffmpeg
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npm start -- "$@"
