#!/usr/bin/env bash
# The whole loop against real servers: start the backends, record a subset of the
# example suite into a temporary RECORDING_DIR, stop the backends, replay it
# offline. Exits non-zero if any step fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=$(mktemp -d "${TMPDIR:-/tmp}/recorder-live.XXXXXX")
subset=(--test chat --test embeddings --test retrieval --test async_openai)
trap 'scripts/backends.sh stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

cargo build -q -p examples --tests
scripts/backends.sh start
echo "live round trip: recording into $dir"
RECORD_MODE=record RECORDING_DIR="$dir" cargo test -q -p examples "${subset[@]}"
files=$(find "$dir" -name '*.json' | wc -l)
echo "live round trip: $files recordings written"
[ "$files" -gt 0 ] || { echo "live round trip: nothing was recorded" >&2; exit 1; }
scripts/backends.sh stop
echo "live round trip: replaying offline (backends stopped)"
RECORD_MODE=replay RECORDING_DIR="$dir" cargo test -q -p examples "${subset[@]}"
echo "live round trip: passed"
