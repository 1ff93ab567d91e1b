#!/usr/bin/env bash
# The proof that MCP over Streamable HTTP and over stdio records and replays through
# `cargo recordings serve`, with clients and a server nobody here wrote (the `mcp` PyPI
# package, 2.3.0):
#
#   1. record: scripts/mcp-server.py (started by scripts/backends.sh) behind `serve
#      --mode record`, driven by scripts/mcp-client.py: a session with the initialize
#      handshake (Mcp-Session-Id, answers as SSE, 202 for notifications, the GET
#      stream, DELETE), one with the 2026-07-28 protocol (server/discover, per-request
#      MCP headers, JSON answers), and two identical sessions in one test (occurrences);
#      and over stdio, the SDK's stdio client launching `cargo recordings mcp-stdio --
#      scripts/mcp-server.py stdio` in the server's place (the test mcp_proof::stdio);
#   2. replay with the MCP server stopped and the stdio server's command replaced by
#      one that fails: every transcript equals the recorded one, and the stdio server
#      was never started;
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
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
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

# Over stdio: the Python SDK's stdio client launches `cargo recordings mcp-stdio` as its
# server, which launches the real one, $work/stdio-server (counting its starts in
# $work/stdio-started), when the mode calls upstream. The SDK gives a server only a
# few variables of its environment: the recorder's URL and test id go as options.
stdio_up() { # the real server, counted
  printf '#!/bin/sh\necho started >>"%s"\nexec "%s" "%s" stdio\n' \
    "$work/stdio-started" "$python" "$root/scripts/mcp-server.py" >"$work/stdio-server"
  chmod +x "$work/stdio-server"
}
stdio_down() { # a server that is not there: a start is counted, and fails
  printf '#!/bin/sh\necho started >>"%s"\necho "mcp-proof: the stdio server was started in replay" >&2\nexit 1\n' \
    "$work/stdio-started" >"$work/stdio-server"
}
stdio_starts() { if [ -f "$work/stdio-started" ]; then wc -l <"$work/stdio-started" | tr -d ' '; else echo 0; fi; }
stdio_client() { # phase
  "$python" scripts/mcp-client.py --hold 0 --stdio -- \
    "$bin" mcp-stdio --url "$serve_url" --test-id mcp_proof::stdio -- "$work/stdio-server" \
    >"$work/$1-stdio.jsonl" \
    || die "$1: the stdio client failed for mcp_proof::stdio (its error is above; --keep DIR keeps its transcript, $1-stdio.jsonl)"
}

say "1. record through serve ($upstream; over stdio, scripts/mcp-server.py stdio)"
stdio_up
serve_start record "$work/rec1"
clients record
stdio_client record
serve_stop record
[ "$(stdio_starts)" = 1 ] || die "record: the stdio server was started $(stdio_starts) times, not once"
grep -rqs '"endpoint": "/up/mcp"' "$work/rec1/mcp_proof/stdio" || die "record: no stdio session recorded at /up/mcp in mcp_proof/stdio"

say "2. replay with the MCP server stopped and no stdio server"
scripts/backends.sh stop mcp >/dev/null
if (exec 3<>"/dev/tcp/127.0.0.1/$mcp_port") 2>/dev/null; then die "something still answers on port $mcp_port"; fi
stdio_down
serve_start replay "$work/rec1"
clients replay
stdio_client replay
serve_stop replay
[ "$(stdio_starts)" = 1 ] || die "replay started the stdio server (it must answer from the recordings alone)"
for case in "${cases[@]}" "stdio"; do
  read -r name _ <<<"$case"
  diff -u "$work/record-$name.jsonl" "$work/replay-$name.jsonl" >&2 || die "the replayed transcript of $name differs from the recorded one (above)"
done

say "3. record again: byte for byte the same files"
scripts/backends.sh start mcp >/dev/null
stdio_up
serve_start record "$work/rec2"
clients rerecord
stdio_client rerecord
serve_stop "record again"
[ "$(stdio_starts)" = 2 ] || die "record again: the stdio server was started $(( $(stdio_starts) - 1 )) times, not once"
diff -r -x .usage "$work/rec1" "$work/rec2" >&2 || die "recording again changed the files (above)"

say "OK: $(find "$work/rec1" -name '*.json' -not -path '*/.usage/*' | wc -l) recordings ($(find "$work/rec1/mcp_proof/stdio" -name '*.json' | wc -l) over stdio); replayed offline with identical transcripts, the stdio server never started; recorded again byte for byte"
