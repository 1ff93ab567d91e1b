#!/usr/bin/env bash
# Replays the same recorded chat completion (plain, and streamed as 100 chunks) with
# every peer in one run, and prints the ratios as its last lines:
#
#   vs vcrpy: <x>x                  our replayed requests per second (async-openai through
#                                   the loopback proxy) over vcrpy + openai-python's
#   vs bare hyper: <x>x             our p50 latency through the proxy over the floor's
#                                   (async-openai against a bare hyper server, same bytes)
#   vs reqwest-vcr: <x>x            our req/s in process (reqwest-middleware) over
#                                   reqwest-vcr 0.4's, plain
#   vs reqwest-vcr (stream): <x>x   the same for the 100-chunk stream, its bytes read to
#                                   the end (ours: 101 chunks, one per event; theirs: one)
#   vs reqwest-vcr (stream, SSE events typed): <x>x
#                                   the stream read as SSE clients read it (eventsource-stream,
#                                   each event parsed into async-openai's chunk type)
#   vs reqwest-vcr (async-openai client): plain <x>x, stream <y>x
#                                   async-openai in process on ours (ctx.openai_service())
#                                   over async-openai on reqwest-vcr (a tower service over
#                                   its reqwest-middleware client)
#   vs reqwest-vcr (stream, time to first chunk, p50): <x>x
#                                   how much sooner our first chunk reaches the client
#   in-process (fixture client) over parsing alone: plain <x>x, stream <y>x
#                                   ctx.client() typed into async-openai's structs, over
#                                   the same structs parsing the recorded bytes (no I/O)
#   reqwest's own cost of 101 chunks over 1 (no recorder): <x>x
#                                   the floor under the stream ratio: reqwest-middleware
#                                   answering at once, chunked as ours vs in one piece
#
# Usage: scripts/compare-peers.sh [seconds per peer, default 3]
# Needs python3 with venv and access to PyPI (vcrpy and openai are installed into
# target/peers/venv) and crates.io (bench/peers builds into target/peers).
# SKIP_VCRPY=1 leaves the Python peer out. PEERS_PROFILE=dev builds unoptimized, with
# CARGO_TARGET_DIR if set (CI's smoke run: it shows that every peer builds and runs;
# its numbers mean nothing).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-3}"
peers_target="$root/target/peers"
mkdir -p "$peers_target"
profile="${PEERS_PROFILE:-release}"
target_dir="$peers_target"
profile_dir=release
if [[ "$profile" != release ]]; then
    target_dir="${CARGO_TARGET_DIR:-$peers_target}"
    profile_dir=$([[ "$profile" == dev ]] && echo debug || echo "$profile")
fi

echo "== building bench/peers ($profile)" >&2
(cd "$root/bench/peers" && CARGO_TARGET_DIR="$target_dir" cargo build --profile "$profile" --quiet)
bin="$target_dir/$profile_dir/recorder-peers"

args=(--seconds "$secs" --work "$peers_target/work")
if [[ "${SKIP_VCRPY:-0}" != "1" ]]; then
    venv="$peers_target/venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "== creating $venv" >&2
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import vcr, openai; assert vcr.__version__ == '9.4.2' and openai.__version__ == '3.57.0'" 2>/dev/null; then
        echo "== installing vcrpy and openai from PyPI" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check vcrpy==9.4.2 openai==3.57.0
    fi
    args+=(--python "$venv/bin/python" --vcrpy "$root/bench/peers/vcrpy_bench.py")
fi

echo "== running the peers ($secs s each)" >&2
"$bin" "${args[@]}"
