#!/usr/bin/env bash
# The proof that MCP over Streamable HTTP records and replays through `cargo recordings
# serve`, with clients and a server nobody here wrote (the `mcp` PyPI package, 2.3.0):
#
#   1. record: scripts/mcp-server.py (started by scripts/backends.sh) behind `serve
#      --mode record`, driven by scripts/mcp-client.py: a session with the initialize
#      handshake (Mcp-Session-Id, answers as SSE, 202 for notifications, the GET
#      stream, DELETE), one with the 2026-07-28 protocol (server/discover, per-request
#      MCP headers, JSON answers), and two identical sessions in one test (occurrences);
#   2. replay with the MCP server stopped: every transcript equals the recorded one;
#   3. record again into a fresh folder: the recordings are byte for byte the first ones.
#
# `serve` must exit 0 each time (it exits 1 after any problem), and the client fails on
# any HTTP error status or a GET stream it had to reopen.
#
#   scripts/mcp-proof.sh [--keep DIR]     (DIR keeps the recordings and transcripts)
#
# Needs cargo and what `scripts/backends.sh install mcp` installs. Leaves the MCP
# server as it found it (running or not). RECORDER_MCP_PORT picks its port.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mcp_port=${RECORDER_MCP_PORT:-18097}
upstream="http://127.0.0.1:$mcp_port"
python="$root/target/backends/mcp-venv/bin/python"
keep=""
while [ $# -gt 0 ]; do
  case $1 in
    --keep) keep=${2:?--keep needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "mcp-proof: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'mcp-proof: %s\n' "$*"; }
die() { printf 'mcp-proof: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
serve_pid=""
was_running=false
status=$(scripts/backends.sh status 2>/dev/null || true)
[[ $status == *"mcp running"* ]] && was_running=true
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if $was_running; then scripts/backends.sh start mcp >/dev/null || true; else scripts/backends.sh stop mcp >/dev/null || true; fi
  if [ -n "$keep" ]; then mkdir -p "$keep" && cp -r "$work"/. "$keep"/ && say "kept in $keep"; fi
  rm -rf "$work"
}
trap cleanup EXIT

say "building cargo-recordings"
cargo build -q -p recorder-cli || die "cargo build -p recorder-cli failed"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/cargo-recordings"
scripts/backends.sh start mcp >/dev/null || die "scripts/backends.sh start mcp failed"

serve_url=""
serve_start() { # mode dir
  local args=(serve --mode "$1" --port 0 --dir "$2")
  [ "$1" = replay ] || args+=(--upstream "$upstream")
  "$bin" "${args[@]}" >"$work/serve.out" 2>"$work/serve.err" &
  serve_pid=$!
  for _ in $(seq 1 100); do
    serve_url=$(sed -n 's/^listening on //p' "$work/serve.out")
    [ -n "$serve_url" ] && return 0
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; die "serve exited at start"; }
    sleep 0.1
  done
  die "serve did not say where it listens"
}
serve_stop() { # what
  local rc=0
  kill -TERM "$serve_pid"
  wait "$serve_pid" || rc=$?
  serve_pid=""
  if [ "$rc" -ne 0 ]; then
    cat "$work/serve.err" >&2
    die "$1: serve exited $rc (its problems are above)"
  fi
}

# name test-id client-options...
cases=("legacy mcp_proof::legacy --protocol legacy"
       "modern mcp_proof::modern --protocol auto"
       "two_sessions mcp_proof::two_sessions --protocol legacy --sessions 2")
clients() { # phase
  local case name id opts
  for case in "${cases[@]}"; do
    read -r name id opts <<<"$case"
    # shellcheck disable=SC2086 # opts are words
    "$python" scripts/mcp-client.py "$serve_url/mcp" --test-id "$id" $opts >"$work/$1-$name.jsonl" \
      || die "$1: the client failed for $id (its error is above; --keep DIR keeps its transcript, $1-$name.jsonl)"
  done
}

say "1. record through serve ($upstream)"
serve_start record "$work/rec1"
clients record
serve_stop record

say "2. replay with the MCP server stopped"
scripts/backends.sh stop mcp >/dev/null
if (exec 3<>"/dev/tcp/127.0.0.1/$mcp_port") 2>/dev/null; then die "something still answers on port $mcp_port"; fi
serve_start replay "$work/rec1"
clients replay
serve_stop replay
for case in "${cases[@]}"; do
  read -r name _ <<<"$case"
  diff -u "$work/record-$name.jsonl" "$work/replay-$name.jsonl" >&2 || die "the replayed transcript of $name differs from the recorded one (above)"
done

say "3. record again: byte for byte the same files"
scripts/backends.sh start mcp >/dev/null
serve_start record "$work/rec2"
clients rerecord
serve_stop "record again"
diff -r -x .usage "$work/rec1" "$work/rec2" >&2 || die "recording again changed the files (above)"

say "OK: $(find "$work/rec1" -name '*.json' -not -path '*/.usage/*' | wc -l) recordings; replayed offline with identical transcripts; recorded again byte for byte"
