#!/usr/bin/env bash
# The steps of the re-recording workflow (examples/ci/rerecord.yml), kept out of the
# YAML so that they run, and are tested, anywhere:
#
#   ci-rerecord.sh plan     check the selectors and print the setup and the cargo command
#   ci-rerecord.sh resolve  find the branch or pull request to record for (needs gh)
#   ci-rerecord.sh record   record the selection, check the recordings, collect them
#   ci-rerecord.sh publish  commit the collected recordings to the branch and push, or
#                           explain how to apply them by hand (exit 3)
#   ci-rerecord.sh all      record, then publish (one job, e.g. on a trusted runner)
#   ci-rerecord.sh apply DIR  copy a downloaded artifact's recordings into this checkout
#   ci-rerecord.sh check-branch NAME  refuse a branch name the workflow does not take
#
# `scripts/ci-rerecord.sh --help` lists the selectors and variables. Written for bash
# 3.2 and later (macOS runs `plan` and `apply` through scripts/rerecord-remote.sh).
set -euo pipefail

prog=ci-rerecord
# Exit codes
EXIT_OK=0
EXIT_FAILED=1      # recording, the check or the replay failed; or git/gh failed
EXIT_USAGE=2       # a selector, an input or the configuration is wrong: nothing was recorded
EXIT_NOT_PUSHED=3  # recorded and checked, but not pushed: apply the artifact by hand

usage() {
  cat <<'EOF'
Usage: scripts/ci-rerecord.sh COMMAND [SELECTORS]

Re-records chosen recorded tests and commits the recordings back to a branch. These
are the steps of examples/ci/rerecord.yml; users start it with
scripts/rerecord-remote.sh. Run in the project folder of a git checkout (where
recorder.toml and recordings/ are; usually the repository root).

Commands:
  plan          check the selectors and print the setup and the exact cargo command
  resolve       find what to record for: RERECORD_TARGET (a branch name, a pull request
                number, or empty for GITHUB_REF_NAME) in GITHUB_REPOSITORY (uses gh)
  record        record the selection (starting scripts/backends.sh for local setups),
                run `cargo recordings check`, replay the selection offline, and collect
                the changed recordings into RERECORD_ARTIFACT_DIR
  publish       commit the collected recordings (only the recordings folder) on the
                checked-out commit and push them to RERECORD_BRANCH; when that is not
                possible, print how to apply the artifact by hand and exit 3
  all           record, then publish
  apply DIR     copy an artifact folder's recordings into this checkout (no commit)
  check-branch NAME  exit 2, saying why, if the workflow refuses NAME as a branch name

Selectors (flags, or the variables in brackets):
  --tests 'ARGS'     what `cargo test` runs [RERECORD_TESTS]: cargo options (-p/--package,
                     --test, --bin, --example, --lib, --tests, --features, --workspace ...),
                     test name filters (any number), and after `--` libtest options
                     (--exact, --skip NAME, --ignored, --include-ignored, --test-threads N).
                     Example: '--test chat answers_in_json streams_an_answer'
  --suite NAME       RECORDER_SUITE: a suite of recorder.toml [RERECORD_SUITE]
  --setup NAME       RECORDER_SETUP: a setup of recorder.toml [RERECORD_SETUP]
                     (default: the suite's setup, else recorder.toml's default_setup)
  --models 'K=A,B'   model overrides, space- or ;-separated, K one of text, vision,
                     embedding, rerank, safety, judge [RERECORD_MODELS]
                     Example: 'text=gpt-4o-mini,gpt-4o embedding=text-embedding-3-small'
  --mode MODE        record-if-missing (default) or record [RERECORD_MODE]
  --package NAME     the package when --tests names none [RERECORD_PACKAGE]

Other variables:
  RERECORD_BACKEND_SETUPS  setups served by the backends script (default: local)
  RERECORD_BACKENDS        the backends script (default: scripts/backends.sh)
  RERECORD_CARGO           the cargo program (default: cargo)
  RERECORD_RECORDINGS      the recordings command (default: cargo run -q -p recorder-cli --
                           in a workspace that has recorder-cli, else cargo-recordings)
  RERECORD_REPLAY          1 (default): replay the selection after recording; 0: skip
  RERECORD_ARTIFACT_DIR    where `record` collects the recordings (default:
                           target/rerecord-artifact)
  RERECORD_ARTIFACT_NAME   the artifact's name in the workflow run, for the instructions
  RECORDING_DIR            the recordings folder, inside the repository: absolute, or
                           relative to the repository root (default: recordings)
  publish: RERECORD_BRANCH (branch to push to), RERECORD_HEAD_REPO (owner/name),
    RERECORD_PUSH_URL (default: $GITHUB_SERVER_URL/$RERECORD_HEAD_REPO.git),
    RERECORD_PUSH_TOKEN (given to git through a credential helper, never in a URL),
    RERECORD_BASE_SHA (the commit recorded from: HEAD must be it), RERECORD_COMMIT
    (false: artifact only), RERECORD_CAN_PUSH / RERECORD_CANNOT_PUSH_REASON (from
    resolve), RERECORD_REQUEST_ID (a trailer in the commit message)
  resolve: RERECORD_TARGET, RERECORD_EXPECTED_SHA (refuse if the head moved),
    RERECORD_HAVE_PUSH_TOKEN (true when a token that can push to forks is configured)
  plan and record, in the workflow: RERECORD_TRUSTED_REF (the workflow's own commit),
    RERECORD_TRUSTED_SETUP and RERECORD_TRUSTED_API_KEY_ENV (what `plan` decided on
    that commit's recorder.toml): refuse when this checkout's recorder.toml resolves
    to another setup or key; RERECORD_TRUSTED_UPSTREAM_KEY_ENVS (the key variables
    of the setup's upstreams that `plan` found there); RERECORD_API_KEY (the key,
    given to the tests under the setup's api_key_env name only; for a setup whose
    upstreams need keys, one VAR=key line per key variable `plan` lists)

Exit codes:
  0  done (also when nothing changed)
  1  recording, the check, the replay or a git/gh command failed
  2  a selector, an input or the configuration is wrong: nothing was recorded
  3  recorded and checked, but not pushed: the output says how to apply the artifact
EOF
}

say() { printf '%s: %s\n' "$prog" "$*"; }
warn() {
  printf '%s: warning: %s\n' "$prog" "$*" >&2
  if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::warning::%s\n' "$*"; fi
}
fail() { # code message
  local code=$1; shift
  printf '%s: error: %s\n' "$prog" "$*" >&2
  if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::error::%s\n' "$*"; fi
  exit "$code"
}
die() { fail "$EXIT_FAILED" "$@"; }
usage_error() { fail "$EXIT_USAGE" "$@"; }
output() { # name value: one line, so that no value can add outputs of its own
  case $2 in *$'\n'* | *$'\r'*) die "the output $1 would span several lines: $(printf '%q' "$2")" ;; esac
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"; fi; }
quoted() { # the arguments as one shell-quoted line
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_:./=,+@%-]+$ ]]; then out="$out $a"; else out="$out $(printf '%q' "$a")"; fi
  done
  printf '%s' "${out# }"
}
no_newline() { # name value
  case $2 in *$'\n'* | *$'\r'*) usage_error "$1 must be one line" ;; esac
}

# ---------------------------------------------------------------------------
# Selectors
tests=${RERECORD_TESTS-}
suite=${RERECORD_SUITE-}
setup=${RERECORD_SETUP-}
models=${RERECORD_MODELS-}
mode=${RERECORD_MODE:-record-if-missing}
package=${RERECORD_PACKAGE-}

parse_flags() {
  while [ $# -gt 0 ]; do
    case $1 in
      --tests | --suite | --setup | --models | --mode | --package)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case $1 in
          --tests) tests=$2 ;; --suite) suite=$2 ;; --setup) setup=$2 ;;
          --models) models=$2 ;; --mode) mode=$2 ;; --package) package=$2 ;;
        esac
        shift 2 ;;
      --tests=* | --suite=* | --setup=* | --models=* | --mode=* | --package=*)
        local name=${1%%=*} value=${1#*=}
        case $name in
          --tests) tests=$value ;; --suite) suite=$value ;; --setup) setup=$value ;;
          --models) models=$value ;; --mode) mode=$value ;; --package) package=$value ;;
        esac
        shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage_error "unknown argument '$1' (run $0 --help)" ;;
    esac
  done
}

# A word of --tests: test names, paths, package names, features. No quotes, spaces,
# globs or shell syntax: the input comes from a form and is split on spaces only.
word_re='^[A-Za-z0-9_:./=,+@-]+$'
name_re='^[A-Za-z0-9_.-]+$'
model_list_re='^[A-Za-z0-9_:./@+-]+(,[A-Za-z0-9_:./@+-]+)*$'

cargo_opts=()
harness_opts=()
filters=()
env_vars=()   # NAME=VALUE for the record command
effective_setup=""
setup_source=""
api_key_env=""
upstream_keys=""  # the key variables of the setup's upstreams, besides its own (space-separated)
is_local=false

allowed_cargo="-p/--package NAME, --test NAME, --bin NAME, --example NAME, --features F, -F F, --workspace, --lib, --tests, --bins, --examples, --all-features, --no-default-features, --release"
allowed_harness="--exact, --ignored, --include-ignored, --nocapture, --skip NAME, --test-threads N"

parse_tests() {
  no_newline "the tests selector" "$tests"
  local words=() w v i=0 n after=false has_package=false
  read -r -a words <<<"$tests" || true
  n=${#words[@]}
  while [ "$i" -lt "$n" ]; do
    w=${words[$i]}
    [[ $w =~ $word_re ]] || usage_error "'$w' in the tests selector is not a cargo option or a test name (letters, digits and _ : . / = , + @ - only; no quotes or shell syntax)"
    if ! $after; then
      case $w in
        --) after=true ;;
        -p | --package | --test | --bin | --example | --features | -F)
          i=$((i + 1))
          [ "$i" -lt "$n" ] || usage_error "$w in the tests selector needs a value"
          v=${words[$i]}
          case $v in -*) usage_error "$w in the tests selector needs a value, not '$v'" ;; esac
          [[ $v =~ $word_re ]] || usage_error "'$v' after $w is not a name"
          cargo_opts+=("$w" "$v")
          case $w in -p | --package) has_package=true ;; esac ;;
        --package=* | --test=* | --bin=* | --example=* | --features=*)
          cargo_opts+=("$w")
          case $w in --package=*) has_package=true ;; esac ;;
        --workspace | --all) cargo_opts+=("$w"); has_package=true ;;
        --lib | --tests | --bins | --examples | --all-features | --no-default-features | --release)
          cargo_opts+=("$w") ;;
        -*) usage_error "'$w' is not a cargo test option the workflow passes on (allowed: $allowed_cargo; libtest options go after --)" ;;
        *) filters+=("$w") ;;
      esac
    else
      case $w in
        --exact | --ignored | --include-ignored | --nocapture) harness_opts+=("$w") ;;
        --skip | --test-threads)
          i=$((i + 1))
          [ "$i" -lt "$n" ] || usage_error "$w needs a value"
          harness_opts+=("$w" "${words[$i]}") ;;
        --skip=* | --test-threads=*) harness_opts+=("$w") ;;
        -*) usage_error "'$w' is not a libtest option the workflow passes on (allowed after --: $allowed_harness)" ;;
        *) filters+=("$w") ;;
      esac
    fi
    i=$((i + 1))
  done
  if ! $has_package && [ -n "$package" ]; then
    [[ $package =~ $word_re ]] || usage_error "the package '$package' is not a package name"
    cargo_opts=(-p "$package" ${cargo_opts[@]+"${cargo_opts[@]}"})
  fi
}

parse_models() {
  no_newline "the models selector" "$models"
  local items=() item kind list seen=" "
  IFS=$' \t;' read -r -a items <<<"$models" || true
  for item in ${items[@]+"${items[@]}"}; do
    kind=${item%%=*}
    list=${item#*=}
    [ "$kind" != "$item" ] && [ -n "$list" ] || usage_error "'$item' in the models selector is not KIND=MODEL[,MODEL...] (e.g. text=gpt-4o-mini,gpt-4o)"
    kind=$(printf '%s' "$kind" | tr '[:lower:]' '[:upper:]')
    case $kind in
      TEXT | VISION | EMBEDDING | RERANK | SAFETY | JUDGE) ;;
      *) usage_error "'${item%%=*}' in the models selector is not a model kind (kinds: text, vision, embedding, rerank, safety, judge)" ;;
    esac
    [[ $list =~ $model_list_re ]] || usage_error "'$list' is not a comma-separated list of model ids"
    case $seen in *" $kind "*) usage_error "the models selector names ${item%%=*} twice: put its models in one comma-separated list" ;; esac
    seen="$seen$kind "
    env_vars+=("RECORDER_${kind}_MODELS=$list")
  done
}

# recorder.toml, read with awk: the names of [PREFIX.NAME] sections, and one key's
# value in a section ("" for the top level).
config=recorder.toml
toml_sections() {
  awk -v prefix="$1" '
    /^[[:space:]]*\[/ {
      s = $0; sub(/^[[:space:]]*\[[[:space:]]*/, "", s); sub(/[[:space:]]*\].*$/, "", s); gsub(/"/, "", s)
      if (index(s, prefix ".") == 1) print substr(s, length(prefix) + 2)
    }' "$config"
}
toml_get() {
  awk -v want="$1" -v key="$2" '
    /^[[:space:]]*\[/ {
      s = $0; sub(/^[[:space:]]*\[+[[:space:]]*/, "", s); sub(/[[:space:]]*\]+.*$/, "", s); gsub(/"/, "", s)
      sect = s; next
    }
    sect == want && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      v = $0; sub(/^[^=]*=[[:space:]]*/, "", v)
      if (v ~ /^"/) { sub(/^"/, "", v); sub(/".*$/, "", v) } else { sub(/[[:space:]]*(#.*)?$/, "", v) }
      print v; exit
    }' "$config"
}
one_line() { tr '\n' ' ' | sed 's/ *$//; s/ /, /g'; }
# The api_key_env of every upstream of setup $1, one per line: in its `upstreams = {
# ... }` (also over several lines, or as dotted keys), and in [setups.NAME.upstreams]
# and [setups.NAME.upstreams.UP] sections.
toml_upstream_keys() {
  awk -v setup="setups.$1" '
    function grab(text,   v) {
      while (match(text, /api_key_env[[:space:]]*=[[:space:]]*"[^"]*"/)) {
        v = substr(text, RSTART, RLENGTH); sub(/^[^"]*"/, "", v); sub(/"$/, "", v)
        print v
        text = substr(text, RSTART + RLENGTH)
      }
    }
    /^[[:space:]]*\[/ {
      s = $0; sub(/^[[:space:]]*\[+[[:space:]]*/, "", s); sub(/[[:space:]]*\]+.*$/, "", s); gsub(/"/, "", s)
      gsub(/[[:space:]]*\.[[:space:]]*/, ".", s)
      sect = s; inup = 0; depth = 0; next
    }
    # The line without its comment (a # outside double quotes).
    {
      line = ""; q = 0
      for (i = 1; i <= length($0); i++) {
        c = substr($0, i, 1)
        if (c == "\"" && substr($0, i - 1, 1) != "\\") q = !q
        if (c == "#" && !q) break
        line = line c
      }
    }
    sect == setup ".upstreams" || index(sect, setup ".upstreams.") == 1 { grab(line); next }
    sect == setup {
      if (!inup && line ~ /^[[:space:]]*upstreams[[:space:]]*[.=]/) { inup = 1; depth = 0 }
      if (inup) {
        grab(line)
        depth += gsub(/\{/, "{", line) - gsub(/\}/, "}", line)
        if (depth <= 0) inup = 0
      }
    }' "$config"
}

resolve_setup() {
  local setups suites
  if [ -n "$suite" ]; then [[ $suite =~ $name_re ]] || usage_error "'$suite' is not a suite name"; fi
  if [ -n "$setup" ]; then [[ $setup =~ $name_re ]] || usage_error "'$setup' is not a setup name"; fi
  if [ ! -f "$config" ]; then
    warn "no $config here ($(pwd)): the setup and suite names are not checked"
    effective_setup=$setup
    setup_source="the setup input"
  else
    setups=$(toml_sections setups)
    suites=$(toml_sections suites)
    if [ -n "$suite" ] && ! grep -qxF -- "$suite" <<<"$suites"; then
      usage_error "suite '$suite' is not in $config (suites: $(printf '%s\n' "$suites" | one_line))"
    fi
    if [ -n "$setup" ] && ! grep -qxF -- "$setup" <<<"$setups"; then
      usage_error "setup '$setup' is not in $config (setups: $(printf '%s\n' "$setups" | one_line))"
    fi
    effective_setup=$setup
    setup_source="the setup input"
    if [ -z "$effective_setup" ] && [ -n "$suite" ]; then
      effective_setup=$(toml_get "suites.$suite" setup)
      setup_source="suite $suite's setup"
    fi
    if [ -z "$effective_setup" ]; then
      effective_setup=$(toml_get "" default_setup)
      setup_source="$config's default_setup"
    fi
    if [ -n "$effective_setup" ]; then
      api_key_env=$(toml_get "setups.$effective_setup" api_key_env)
      local var
      for var in $(toml_upstream_keys "$effective_setup" | LC_ALL=C sort -u); do
        [[ $var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || usage_error "an upstream of setup $effective_setup has the api_key_env $(printf '%q' "$var"), which is not a variable name"
        [ "$var" = "$api_key_env" ] || upstream_keys="${upstream_keys:+$upstream_keys }$var"
      done
    fi
  fi
  case ",${RERECORD_BACKEND_SETUPS-local}," in
    *",$effective_setup,"*) [ -n "$effective_setup" ] && is_local=true ;;
  esac
  return 0
}

build_plan() {
  case $mode in
    record-if-missing | record) ;;
    *) usage_error "mode '$mode' does not re-record: use record-if-missing (record what is missing) or record (re-record everything selected)" ;;
  esac
  no_newline "the suite" "$suite"
  no_newline "the setup" "$setup"
  parse_tests
  parse_models
  resolve_setup
  if [ -n "$api_key_env" ]; then
    [[ $api_key_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || usage_error "setup $effective_setup's api_key_env $(printf '%q' "$api_key_env") is not a variable name"
  fi
  check_trusted_plan
  local base=()
  [ -n "$setup" ] && base+=("RECORDER_SETUP=$setup")
  [ -n "$suite" ] && base+=("RECORDER_SUITE=$suite")
  env_vars=(${base[@]+"${base[@]}"} ${env_vars[@]+"${env_vars[@]}"})
}

# The key a hosted setup gets in the workflow: the secret RERECORD_API_KEY of the
# GitHub environment named after the setup's api_key_env ("" when none is given). A
# setup whose upstreams need keys gets them all from one secret too, RERECORD_API_KEY
# of the environment rerecord-setup-<setup>, one VAR=key line per variable of
# key_vars (never a secret chosen by name at run time: GitHub would send them all).
key_environment() {
  if [ -n "$upstream_keys" ]; then
    printf 'rerecord-setup-%s' "$effective_setup"
  elif [ -n "$api_key_env" ] && ! $is_local; then
    printf 'rerecord-%s' "$api_key_env"
  fi
}
# The variables whose keys the tests get: the setup's own (not for a local setup) and
# its upstreams', space-separated.
key_vars() {
  local own=""
  if [ -n "$api_key_env" ] && ! $is_local; then own=$api_key_env; fi
  printf '%s' "$own${own:+${upstream_keys:+ }}$upstream_keys"
}

# In the workflow, the job that runs the code being recorded gets the one key that the
# workflow's own ref chose: the resolve job ran `plan` on that ref's recorder.toml with
# the same inputs and passed its setup and api_key_env on (RERECORD_TRUSTED_*). The
# code being recorded cannot choose another key; when its recorder.toml resolves to
# another setup or names another key, the run stops here, before anything is built.
check_trusted_plan() {
  [ -n "${RERECORD_TRUSTED_REF:-}" ] || return 0
  local ref=$RERECORD_TRUSTED_REF want_setup=${RERECORD_TRUSTED_SETUP-} want_key=${RERECORD_TRUSTED_API_KEY_ENV-}
  if [ "$effective_setup" != "$want_setup" ]; then
    usage_error "the code being recorded resolves the setup to '${effective_setup:-(none)}' (from $setup_source), but the workflow's own ref ($ref) resolves it to '${want_setup:-(none)}', and that decides which API key the run gets: name the setup in the setup input, or merge the change to $config into the workflow's branch first"
  fi
  if [ "$api_key_env" != "$want_key" ]; then
    usage_error "setup $effective_setup's api_key_env is '${api_key_env:-(none)}' in the $config of the code being recorded, but '${want_key:-(none)}' in the workflow's own ref ($ref): the code being recorded cannot choose which API key it gets. Merge the change to $config into the workflow's branch first, then record"
  fi
  local want_up=${RERECORD_TRUSTED_UPSTREAM_KEY_ENVS-}
  if [ "${upstream_keys// /,}" != "$want_up" ]; then
    usage_error "setup $effective_setup's upstreams need the keys '${upstream_keys:-(none)}' in the $config of the code being recorded, but '${want_up//,/ }' in the workflow's own ref ($ref): the code being recorded cannot choose which keys it gets. Merge the change to $config into the workflow's branch first, then record"
  fi
}

# cargo test with the selection; $1: the mode
test_command() {
  local run=(env "RECORD_MODE=$1" ${env_vars[@]+"${env_vars[@]}"} "${cargo_bin[@]}" test
    ${cargo_opts[@]+"${cargo_opts[@]}"} --no-fail-fast)
  if [ ${#filters[@]} -gt 0 ] || [ ${#harness_opts[@]} -gt 0 ]; then
    run+=(-- ${filters[@]+"${filters[@]}"} ${harness_opts[@]+"${harness_opts[@]}"})
  fi
  printf '%s\0' "${run[@]}"
}
read_command() { # into the array `cmdline`, from test_command's NUL-separated output
  cmdline=()
  local w
  while IFS= read -r -d '' w; do cmdline+=("$w"); done < <(test_command "$1")
}

selection_label() { # one line naming the selection, for messages and the commit
  local what=${tests:-all tests}
  [ -z "$package" ] || case " $tests " in *" -p "* | *" --package"* | *" --workspace "*) ;; *) what="-p $package $what" ;; esac
  local parts="setup ${effective_setup:-(none)}"
  [ -z "$suite" ] || parts="$parts, suite $suite"
  [ -z "$models" ] || parts="$parts, models $models"
  printf '%s (%s, %s)' "$what" "$parts" "$mode"
}

cargo_bin=()
read -r -a cargo_bin <<<"${RERECORD_CARGO:-cargo}"

cmd_plan() {
  build_plan
  local cmdline what="${effective_setup:-(none: the recorder default)} (from $setup_source)"
  read_command "$mode"
  if $is_local; then
    what="$what; local: starts ${RERECORD_BACKENDS:-scripts/backends.sh}"
  elif [ -n "$api_key_env" ] && [ -z "$upstream_keys" ]; then
    what="$what; hosted: needs $api_key_env (in the workflow: the secret RERECORD_API_KEY of the environment $(key_environment))"
  fi
  if [ -n "$upstream_keys" ]; then
    what="$what; its upstreams need keys: needs $(key_vars) (in the workflow: one line VAR=key for each in the secret RERECORD_API_KEY of the environment $(key_environment))"
  fi
  say "setup: $what"
  say "selection: $(selection_label)"
  say "command: $(quoted "${cmdline[@]:1}")"
  output setup "$effective_setup"
  output api_key_env "$api_key_env"
  output upstream_key_envs "${upstream_keys// /,}"
  output local "$is_local"
  output key_environment "$(key_environment)"
  output selection "$(selection_label)"
}

# ---------------------------------------------------------------------------
# resolve: what to record for, and whether the workflow can push there

sha_re='^([0-9a-f]{40}|[0-9a-f]{64})$'
repo_re='^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'

# Why a branch name is refused ("" when it is taken). Git takes names such as
# fix$(touch${IFS}x) or -x; a branch name reaches git's command line and the shell
# commands that say how to apply the recordings by hand, so only a conservative
# subset of git's names is taken: letters, digits and . _ / + -, in path components
# that neither are empty nor start with - or . (and no .lock at the end).
branch_problem() { # name
  local n=$1
  if [ -z "$n" ]; then
    printf 'it is empty'
  elif ! [[ $n =~ ^[A-Za-z0-9._/+-]+$ ]]; then
    printf 'it has characters other than letters, digits and . _ / + -'
  else
    case /$n/ in
      */-*) printf 'a part of it starts with -' ;;
      */.*) printf 'a part of it starts with .' ;;
      *//*) printf 'it has an empty part (a / at the start or end, or //)' ;;
      *..* | *.lock/) printf 'it has .. or ends in .lock' ;;
    esac
  fi
}
# Refuses (exit 2) a branch name that branch_problem refuses, naming where it came from.
check_branch() { # name where
  local why
  why=$(branch_problem "$1")
  [ -z "$why" ] || usage_error "$2 $(printf '%q' "$1") is refused: $why. Branch names reach shell commands (the instructions to apply the recordings by hand) and git's command line, so the workflow takes only plain names: push the branch under one (letters, digits and . _ / + -) and record for that"
}

cmd_resolve() {
  local repo=${GITHUB_REPOSITORY:-} target=${RERECORD_TARGET:-} expected=${RERECORD_EXPECTED_SHA:-}
  local head_repo head_ref head_sha pr="" is_fork=false can_push=true reason="" label line
  [ -n "$repo" ] || usage_error "GITHUB_REPOSITORY is not set (owner/name of the repository whose workflow runs)"
  no_newline "the target" "$target"
  target=${target#\#}
  case $target in */pull/*) target=${target##*/pull/}; target=${target%%/*} ;; esac
  if [ -n "$expected" ] && ! [[ $expected =~ $sha_re ]]; then
    usage_error "expected_sha '$expected' is not a full commit hash"
  fi
  command -v gh >/dev/null || die "gh (GitHub CLI) is not installed; it is on GitHub's runners (https://cli.github.com)"
  if [ -z "$target" ]; then
    head_ref=${GITHUB_REF_NAME:-}
    [ -n "$head_ref" ] || usage_error "no target and no GITHUB_REF_NAME: name a branch or a pull request number"
    check_branch "$head_ref" "the branch this runs on,"
    head_repo=$repo
    head_sha=${GITHUB_SHA:-}
    [ -n "$head_sha" ] || head_sha=$(gh api "repos/$repo/git/ref/heads/$head_ref" --jq .object.sha) \
      || die "cannot read branch $head_ref of $repo"
    label="branch $head_ref"
  elif [[ $target =~ ^[0-9]+$ ]]; then
    pr=$target
    line=$(gh pr view "$pr" --repo "$repo" \
      --json state,headRefName,headRefOid,headRepository,headRepositoryOwner,isCrossRepository,maintainerCanModify \
      --jq '[.state, .headRefName, .headRefOid, (.headRepositoryOwner.login + "/" + (.headRepository.name // "")), .isCrossRepository, .maintainerCanModify] | @tsv') \
      || die "cannot read pull request #$pr of $repo (does it exist? gh's error is above)"
    local state cross modify
    IFS=$'\t' read -r state head_ref head_sha head_repo cross modify <<<"$line"
    case $state in
      MERGED) usage_error "pull request #$pr is merged: recordings cannot be committed to it any more; record on a new branch" ;;
      CLOSED) warn "pull request #$pr is closed; recording for its branch anyway" ;;
    esac
    case $head_repo in */) die "pull request #$pr's head repository is gone (the fork was deleted)" ;; esac
    [[ $head_repo =~ $repo_re ]] || die "GitHub answered $(printf '%q' "$head_repo") for the head repository of pull request #$pr"
    check_branch "$head_ref" "pull request #$pr's head branch"
    [ "$cross" = true ] && is_fork=true
    if $is_fork; then
      if [ "$modify" != true ]; then
        can_push=false
        reason="pull request #$pr comes from the fork $head_repo, whose author did not allow edits from maintainers"
      elif [ "${RERECORD_HAVE_PUSH_TOKEN:-false}" != true ]; then
        can_push=false
        reason="pull request #$pr comes from the fork $head_repo and no RERECORD_PUSH_TOKEN secret is configured (the workflow's GITHUB_TOKEN cannot push to forks)"
      fi
    fi
    label="pull request #$pr ($head_repo:$head_ref)"
  else
    [[ $target =~ ^[A-Za-z0-9._/+-]+$ ]] || usage_error "$(printf '%q' "$target") is neither a pull request number nor a branch name"
    check_branch "$target" "the branch"
    head_ref=$target
    head_repo=$repo
    head_sha=$(gh api "repos/$repo/git/ref/heads/$head_ref" --jq .object.sha) \
      || usage_error "branch '$head_ref' is not in $repo: push it first (git push -u origin $head_ref), or give the pull request number if it lives in a fork"
    label="branch $head_ref"
  fi
  [[ $head_sha =~ $sha_re ]] || die "GitHub answered '$head_sha' for the head commit of $label"
  if [ -n "$expected" ] && [ "$expected" != "$head_sha" ]; then
    usage_error "$label is at $head_sha, not at $expected as when the run was asked for: someone pushed in between. Review the new commits, then start the run again"
  fi
  say "recording for $label at $head_sha"
  if ! $can_push; then warn "$reason: the recordings will be uploaded as an artifact, with instructions to apply them"; fi
  output head_repo "$head_repo"
  output head_ref "$head_ref"
  output head_sha "$head_sha"
  output pr "$pr"
  output is_fork "$is_fork"
  output can_push "$can_push"
  output cannot_push_reason "$reason"
  output label "$label"
  summary "### Re-recording $label" "" "Commit: \`$head_sha\`"
}

# ---------------------------------------------------------------------------
# record

# Everything runs in the project folder (the current one: where recorder.toml and
# recordings/ are, usually the repository root), which must be in a git checkout.
require_checkout() {
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || die "$(pwd) is not in a git checkout: run from the project to record (where recorder.toml is)"
}

# The recordings folder relative to the repository root.
rec_dir=""
set_rec_dir() {
  local d=${RECORDING_DIR:-recordings} root
  root=$(pwd -P)
  case $d in
    /*)
      mkdir -p "$d"
      d=$(cd "$d" && pwd -P)
      case $d in "$root"/*) d=${d#"$root"/} ;; *) usage_error "the recordings folder $d is outside the repository $root: it cannot be committed" ;; esac ;;
  esac
  d=${d%/}
  case /$d/ in */../* | */./* | //) usage_error "the recordings folder '$d' must be a plain path inside the repository" ;; esac
  rec_dir=$d
  # The tests run in their package's folder: give them the folder as an absolute path.
  if [ -n "${RECORDING_DIR:-}" ]; then export RECORDING_DIR="$root/$d"; fi
}

artifact_dir() {
  local d=${RERECORD_ARTIFACT_DIR:-target/rerecord-artifact}
  case $d in /*) ;; *) d="$(pwd)/$d" ;; esac
  printf '%s' "$d"
}

recordings_command=()
set_recordings_command() {
  if [ -n "${RERECORD_RECORDINGS:-}" ]; then
    read -r -a recordings_command <<<"$RERECORD_RECORDINGS"
  elif [ -f recorder-cli/Cargo.toml ]; then
    recordings_command=("${cargo_bin[@]}" run -q -p recorder-cli --)
  elif command -v cargo-recordings >/dev/null; then
    recordings_command=(cargo-recordings)
  else
    die "no recordings command: install it (cargo install recorder-cli --locked) or set RERECORD_RECORDINGS"
  fi
}

backends_started=false
stop_backends() {
  if $backends_started; then
    backends_started=false
    say "stopping the backends"
    "${backends_command[@]}" stop || warn "the backends did not stop cleanly"
  fi
}

# Changed files under the recordings folder, relative to it: written (new or
# modified) and removed. The derived index and temporary files never count.
changed_files() { # written|removed
  local flags
  if [ "$1" = removed ]; then flags=(--deleted); else flags=(--others --modified --exclude-standard); fi
  git ls-files -z "${flags[@]}" -- "$rec_dir" | while IFS= read -r -d '' f; do
    f=${f#"$rec_dir"/}
    case ${f##*/} in index.sqlite* | *.tmp) continue ;; esac
    if [ "$1" = written ]; then [ -e "$rec_dir/$f" ] || continue; fi
    printf '%s\n' "$f"
  done | sort -u
}

# What the recording changed, in words, for the run's summary and the artifact
# (REVIEW.md): `cargo recordings review` escapes the markdown itself, since the
# recordings come from the code being recorded.
review_summary() { # artifact folder
  local md rc=0
  md=$("${recordings_command[@]}" review --format markdown --dir "$rec_dir") || rc=$?
  if [ -z "$md" ]; then
    warn "cargo recordings review printed nothing (exit $rc): the run summary has no review"
    return 0
  fi
  printf '%s\n' "$md" >"$1/REVIEW.md"
  summary "" "$md"
}

commit_message() { # written removed base
  local subject
  subject="recordings: re-record $(selection_label)"
  printf '%s\n\n' "$subject"
  printf 'Re-recorded by scripts/ci-rerecord.sh.\n\n'
  printf '  tests:  %s\n' "${tests:-(all)}"
  [ -z "$package" ] || printf '  package (default): %s\n' "$package"
  printf '  suite:  %s\n' "${suite:-(none)}"
  printf '  setup:  %s\n' "${effective_setup:-(none)}$([ -n "$setup" ] || [ -z "$effective_setup" ] || printf ' (%s)' "$setup_source")"
  printf '  models: %s\n' "${models:-(from the setup)}"
  printf '  mode:   %s\n' "$mode"
  printf '  files:  %s written, %s removed\n' "$1" "$2"
  printf '  recorded from: %s\n' "$3"
  if [ -n "${GITHUB_RUN_ID:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
    printf '  workflow run: %s/%s/actions/runs/%s\n' "${GITHUB_SERVER_URL:-https://github.com}" "$GITHUB_REPOSITORY" "$GITHUB_RUN_ID"
  fi
  if [ -n "${RERECORD_REQUEST_ID:-}" ]; then
    printf '\nRerecord-Request: %s\n' "$RERECORD_REQUEST_ID"
  fi
}

# A setup whose upstreams need keys: RERECORD_API_KEY (the environment's one secret)
# holds one VAR=key line per variable of key_vars; each is exported under its name and
# nothing else is. No message shows a line's text (a malformed line may be a key); in
# GitHub Actions every key is masked in the log first. Outside the workflow the
# variables may be set directly instead.
export_key_lines() {
  local env needed line n=0 name value var missing=""
  env=$(key_environment)
  needed=" $(key_vars) "
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [ -n "$line" ] || continue
    name=${line%%=*}
    value=${line#*=}
    if [ "$name" = "$line" ] || [ -z "$value" ] || [[ $needed != *" $name "* ]]; then
      usage_error "line $n of the secret RERECORD_API_KEY of the environment $env is not VAR=key with VAR one of$needed(setup $effective_setup's keys; the line is not shown)"
    fi
    if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::add-mask::%s\n' "$value"; fi
    export "$name=$value"
  done <<<"${RERECORD_API_KEY:-}"
  for var in $needed; do
    [ -n "$(printenv "$var" || true)" ] || missing="$missing $var"
  done
  if [ -n "$missing" ]; then
    usage_error "setup $effective_setup needs$missing, which $([ "${missing# * }" = "$missing" ] && echo is || echo are) empty: for the workflow, put one line VAR=key for each of$needed(its own key and its upstreams') in the secret RERECORD_API_KEY of the environment $env (Settings > Environments); elsewhere, set them"
  fi
}

cmd_record() {
  require_checkout
  build_plan
  set_rec_dir
  set_recordings_command
  local art base cmdline rc=0 written removed nwritten nremoved f
  art=$(artifact_dir)
  base=$(git rev-parse HEAD)
  case $art in "$(pwd -P)/$rec_dir" | "$(pwd -P)/$rec_dir"/*) usage_error "RERECORD_ARTIFACT_DIR cannot be inside the recordings folder" ;; esac
  if [ -n "$(changed_files written)$(changed_files removed)" ]; then
    die "$rec_dir has uncommitted changes already: commit or discard them first (git status $rec_dir), so that only what this run records is collected"
  fi
  if [ -n "$upstream_keys" ]; then
    export_key_lines
  elif [ -n "$api_key_env" ] && ! $is_local; then
    # The workflow passes the key as RERECORD_API_KEY (the environment's secret); the
    # recorder reads it under the name recorder.toml gives, and under that name only.
    if [ -n "${RERECORD_API_KEY:-}" ]; then export "$api_key_env=$RERECORD_API_KEY"; fi
    if [ -z "$(printenv "$api_key_env" || true)" ]; then
      usage_error "setup $effective_setup needs $api_key_env, which is empty: for the workflow, add the key as the secret RERECORD_API_KEY of the environment $(key_environment) (Settings > Environments); elsewhere, set $api_key_env; or pick a local setup"
    fi
  fi
  unset RERECORD_API_KEY

  backends_command=()
  read -r -a backends_command <<<"${RERECORD_BACKENDS:-scripts/backends.sh}"
  trap stop_backends EXIT
  if $is_local; then
    say "setup $effective_setup is local: starting the backends"
    "${backends_command[@]}" start || die "the backends did not start (${backends_command[*]} start); its log is above"
    backends_started=true
  fi

  read_command "$mode"
  say "recording $(selection_label)"
  say "running: $(quoted "${cmdline[@]:1}")"
  "${cmdline[@]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "the tests failed while recording (exit $rc): the recordings are collected for inspection but not committed"
  fi
  stop_backends

  if [ "$rc" -eq 0 ]; then
    say "checking the recordings: $(quoted "${recordings_command[@]}") check"
    "${recordings_command[@]}" check || rc=$?
    [ "$rc" -eq 0 ] || say "cargo recordings check found problems (exit $rc): nothing will be committed"
  fi
  if [ "$rc" -eq 0 ] && [ "${RERECORD_REPLAY:-1}" != 0 ]; then
    read_command replay
    # Without the backends and without the API key: the selection must replay offline.
    local keys
    keys=$(printf '%s' "$api_key_env $upstream_keys" | xargs)
    say "replaying the selection offline: $(quoted "${cmdline[@]:1}")${keys:+ (without $keys)}"
    (
      for var in $keys; do unset "$var"; done
      "${cmdline[@]}"
    ) || rc=$?
    [ "$rc" -eq 0 ] || say "the selection does not replay from the new recordings (exit $rc): nothing will be committed"
  fi

  # Collect what changed into the artifact folder.
  rm -rf "$art"
  mkdir -p "$art/recordings"
  written=$(changed_files written)
  removed=$(changed_files removed)
  nwritten=0
  nremoved=0
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    [ -f "$rec_dir/$f" ] && [ ! -L "$rec_dir/$f" ] || die "$rec_dir/$f is not a regular file: recordings are plain files"
    mkdir -p "$art/recordings/$(dirname "$f")"
    cp "$rec_dir/$f" "$art/recordings/$f"
    nwritten=$((nwritten + 1))
  done <<<"$written"
  : >"$art/deleted.txt"
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    printf '%s\n' "$f" >>"$art/deleted.txt"
    nremoved=$((nremoved + 1))
  done <<<"$removed"
  commit_message "$nwritten" "$nremoved" "$base" >"$art/commit-message.txt"
  {
    printf 'base_sha=%s\n' "$base"
    printf 'recordings_dir=%s\n' "$rec_dir"
    printf 'written=%s\nremoved=%s\nstatus=%s\n' "$nwritten" "$nremoved" "$rc"
  } >"$art/rerecord.env"
  output changed $((nwritten + nremoved))
  output artifact "$art"
  summary "Selection: \`$(selection_label)\`" "" "Recordings: $nwritten written, $nremoved removed"
  review_summary "$art"
  if [ "$rc" -ne 0 ]; then
    summary "" "**Recording failed** (exit $rc): see the log; the artifact holds what was recorded."
    exit "$EXIT_FAILED"
  fi
  say "recorded and checked: $nwritten written, $nremoved removed; collected in $art"
}

# ---------------------------------------------------------------------------
# apply and publish

# Copies an artifact folder's recordings into this checkout's recordings folder and
# removes the files it lists as removed.
apply_artifact() { # dir
  local dir=$1 f
  [ -f "$dir/commit-message.txt" ] && [ -d "$dir/recordings" ] \
    || die "$dir is not a re-recording artifact (no commit-message.txt and recordings/ in it): download the artifact and unzip it into one folder"
  if [ "$(sed -n 's/^status=//p' "$dir/rerecord.env" 2>/dev/null)" != 0 ]; then
    die "$dir holds a failed recording (rerecord.env says status is not 0): not applying it"
  fi
  if [ -n "$(find "$dir/recordings" ! -type f ! -type d -print -quit)" ]; then
    die "$dir/recordings holds something other than plain files and folders: not applying it"
  fi
  # The artifact is data: it must not reach outside the recordings folder through a
  # symlink in the checkout (e.g. into .git/hooks).
  local part="" p parts=()
  IFS=/ read -r -a parts <<<"$rec_dir"
  for p in "${parts[@]}"; do
    part="${part:+$part/}$p"
    [ ! -L "$part" ] || die "$part is a symlink in this checkout: not writing recordings through it"
  done
  if [ -d "$rec_dir" ] && [ -n "$(find "$rec_dir" -type l -print -quit)" ]; then
    die "$rec_dir holds symlinks ($(find "$rec_dir" -type l | head -3 | one_line)): not writing recordings there"
  fi
  mkdir -p "$rec_dir"
  cp -R "$dir/recordings/." "$rec_dir/"
  if [ -f "$dir/deleted.txt" ]; then
    while IFS= read -r f; do
      [ -n "$f" ] || continue
      case /$f/ in */../* | //*) die "$dir/deleted.txt names '$f', which is not inside the recordings folder" ;; esac
      rm -f -- "$rec_dir/$f"
    done <"$dir/deleted.txt"
  fi
}

cmd_apply() {
  [ $# -eq 1 ] || usage_error "apply needs the artifact folder: $0 apply DIR"
  local dir
  dir=$(cd "$1" 2>/dev/null && pwd) || usage_error "no folder $1"
  require_checkout
  set_rec_dir
  apply_artifact "$dir"
  say "applied $dir to $rec_dir:"
  git status --short -- "$rec_dir"
  say "commit them with: git add -A -- $(quoted "$rec_dir") && git commit -F $(quoted "$dir/commit-message.txt") && git push"
}

# How to apply the artifact by hand; printed, kept as APPLY.md and shown in the run's
# summary. Whoever applies it pastes the commands into a shell: every value in them is
# shell-quoted (quoted), the branch comes after -- so that it is never an option, and
# the commands are one && chain, so that nothing is committed or pushed after a step
# failed (e.g. on another branch than the recorded one).
instructions() { # art reason
  local art=$1 reason=$2 branch=${RERECORD_BRANCH:-} repo=${GITHUB_REPOSITORY:-}
  local name=${RERECORD_ARTIFACT_NAME:-} run=${GITHUB_RUN_ID:-} base q_art q_rec shown="the branch"
  base=$(sed -n 's/^base_sha=//p' "$art/rerecord.env" 2>/dev/null || true)
  # Quoted in the text too: nothing in a name can start a code block of its own above.
  [ -z "$branch" ] || shown=$(quoted "$branch")
  printf '## Recordings not pushed\n\n'
  printf 'The recordings were made and checked, but not pushed to %s%s: %s.\n\n' \
    "${RERECORD_HEAD_REPO:+$RERECORD_HEAD_REPO }" "$shown" "$reason"
  printf 'Apply them on your checkout of %s (recorded from %s):\n\n' "$shown" "${base:-its head}"
  printf '```sh\n'
  if [ -n "$branch" ]; then
    printf 'git switch -- %s &&\n  git pull --ff-only &&\n  ' "$(quoted "$branch")"
  fi
  if [ -n "$run" ] && [ -n "$name" ]; then
    art="rerecord-$run"
    printf 'gh run download %s --repo %s --name %s --dir %s &&\n  ' \
      "$(quoted "$run")" "$(quoted "$repo")" "$(quoted "$name")" "$(quoted "$art")"
  fi
  q_art=$(quoted "$art")
  q_rec=$(quoted "$rec_dir")
  printf 'cp -R %s/recordings/. %s/ &&\n' "$q_art" "$q_rec"
  printf '  while IFS= read -r f; do git rm -q --ignore-unmatch -- %s/"$f"; done <%s/deleted.txt &&\n' "$q_rec" "$q_art"
  printf '  git add -A -- %s && git commit -F %s/commit-message.txt && git push\n' "$q_rec" "$q_art"
  printf '```\n\n'
  if [ -n "$run" ] && [ -n "$name" ]; then
    printf 'Without gh: download the artifact `%s` from %s/%s/actions/runs/%s and unzip it into a folder `%s`.\n' \
      "$name" "${GITHUB_SERVER_URL:-https://github.com}" "$repo" "$run" "$art"
  fi
  printf '`scripts/ci-rerecord.sh apply %s` does the copying and removing; `scripts/rerecord-remote.sh --apply-run RUN_ID` also downloads.\n' "$q_art"
}

not_pushed() { # art reason
  local text
  text=$(instructions "$1" "$2")
  printf '%s\n' "$text" >"$1/APPLY.md"
  printf '%s\n' "$text" >&2
  summary "" "$text"
  if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::warning::recordings not pushed: %s (the run summary says how to apply them)\n' "$2"; fi
  output pushed false
  say "not pushed: $2; instructions in $1/APPLY.md"
  exit "$EXIT_NOT_PUSHED"
}

cmd_publish() {
  require_checkout
  set_rec_dir
  local art branch=${RERECORD_BRANCH:-} base=${RERECORD_BASE_SHA:-} head status written removed url staged err
  art=$(artifact_dir)
  [ -f "$art/rerecord.env" ] || die "no recordings collected in $art: run \`$0 record\` first (or point RERECORD_ARTIFACT_DIR at the downloaded artifact)"
  status=$(sed -n 's/^status=//p' "$art/rerecord.env")
  [ "$status" = 0 ] || die "the recording in $art failed (status $status): not publishing it"
  written=$(sed -n 's/^written=//p' "$art/rerecord.env")
  removed=$(sed -n 's/^removed=//p' "$art/rerecord.env")
  if [ "$written" = 0 ] && [ "$removed" = 0 ]; then
    say "nothing changed: the selection's recordings were already up to date"
    output pushed false
    summary "" "Nothing changed: no commit."
    return 0
  fi
  head=$(git rev-parse HEAD)
  if [ -n "$base" ] && [ "$head" != "$base" ]; then
    die "this checkout is at $head, not at $base where the recordings were made: check out $base"
  fi
  if [ "${RERECORD_COMMIT:-true}" = false ]; then
    printf '%s\n' "$(instructions "$art" "commit=false was asked")" >"$art/APPLY.md"
    summary "" "$(cat "$art/APPLY.md")"
    say "commit=false: not committing; the artifact is the result ($art/APPLY.md says how to apply it)"
    output pushed false
    return 0
  fi
  if [ "${RERECORD_CAN_PUSH:-true}" != true ]; then
    not_pushed "$art" "${RERECORD_CANNOT_PUSH_REASON:-the workflow cannot push to that branch}"
  fi
  [ -n "$branch" ] || usage_error "RERECORD_BRANCH is not set: the branch to push the recordings to"
  local why
  why=$(branch_problem "$branch")
  [ -z "$why" ] || not_pushed "$art" "the workflow pushes only to plain branch names, and this one is refused ($why)"

  apply_artifact "$art"
  git add -A -- "$rec_dir" ":(exclude)$rec_dir/**/index.sqlite*" ":(exclude)$rec_dir/index.sqlite*" ":(exclude)$rec_dir/**/*.tmp"
  staged=$(git diff --cached --name-only)
  if [ -z "$staged" ]; then
    say "nothing to commit: $branch already has these recordings"
    output pushed false
    return 0
  fi
  local outside
  outside=$(printf '%s\n' "$staged" | awk -v p="$(git rev-parse --show-prefix)$rec_dir/" 'index($0, p) != 1')
  if [ -n "$outside" ]; then
    die "files outside $rec_dir are staged: $(printf '%s\n' "$outside" | head -5 | one_line); not committing"
  fi
  # No hooks of the checkout run (its code is not trusted here), neither on commit nor on push.
  git -c core.hooksPath=/dev/null -c user.name="${RERECORD_AUTHOR_NAME:-github-actions[bot]}" \
    -c user.email="${RERECORD_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}" \
    commit -q --no-verify -F "$art/commit-message.txt" || die "git commit failed"
  say "committed $(git rev-parse --short HEAD): $(git log -1 --format=%s)"

  url=${RERECORD_PUSH_URL:-}
  if [ -z "$url" ]; then
    [ -n "${RERECORD_HEAD_REPO:-}" ] || usage_error "RERECORD_HEAD_REPO (owner/name) or RERECORD_PUSH_URL is needed to push"
    url="${GITHUB_SERVER_URL:-https://github.com}/$RERECORD_HEAD_REPO.git"
  fi
  local git_push=(git -c core.hooksPath=/dev/null)
  if [ -n "${RERECORD_PUSH_TOKEN:-}" ]; then
    # The token reaches git through a credential helper reading the environment: it
    # is never part of a URL or a command line, so no error message can show it.
    export RERECORD_PUSH_TOKEN
    git_push+=(-c credential.helper= -c 'credential.helper=!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=$RERECORD_PUSH_TOKEN"; }; f')
  fi
  say "pushing to $branch"
  if err=$("${git_push[@]}" push --porcelain "$url" "HEAD:refs/heads/$branch" 2>&1); then
    say "pushed $(git rev-parse HEAD) to $branch"
    output pushed true
    output commit "$(git rev-parse HEAD)"
    summary "" "Pushed \`$(git rev-parse --short HEAD)\` to \`$branch\`: $(git log -1 --format=%s)"
    return 0
  fi
  err=$(printf '%s\n' "$err" | sed -E 's#(https?://)[^/@[:space:]]*@#\1***@#g')
  printf '%s\n' "$err" >&2
  local reason
  case $err in
    *"non-fast-forward"* | *"fetch first"* | *"stale info"*)
      reason="$branch moved while recording (someone pushed): the recordings belong to the older commit; start the run again, or apply them and resolve" ;;
    *"hook declined"* | *"protected branch"* | *"GH006"*)
      reason="the remote refused the push (a protected branch or a server hook)" ;;
    *"403"* | *"ermission"* | *"denied"* | *"Authentication failed"* | *"could not read Username"* | *"read-only"* | *"read only"*)
      reason="no right to push to $branch with this token" ;;
    *) reason="git push failed" ;;
  esac
  not_pushed "$art" "$reason"
}

cmd_all() {
  # (Not `( cmd_record ) || exit`: bash ignores set -e inside a command whose status is tested.)
  cmd_record
  cmd_publish
}

# ---------------------------------------------------------------------------

[ $# -gt 0 ] || { usage >&2; exit "$EXIT_USAGE"; }
sub=$1
shift
case $sub in
  -h | --help) usage ;;
  plan) parse_flags "$@"; cmd_plan ;;
  resolve) parse_flags "$@"; cmd_resolve ;;
  record) parse_flags "$@"; cmd_record ;;
  publish) [ $# -eq 0 ] || usage_error "publish takes no arguments: it publishes what \`record\` collected"; cmd_publish ;;
  all) parse_flags "$@"; cmd_all ;;
  apply) cmd_apply "$@" ;;
  check-branch) [ $# -eq 1 ] || usage_error "check-branch needs one branch name"; check_branch "$1" "the branch" ;;
  *) usage_error "unknown command '$sub' (plan, resolve, record, publish, all, apply, check-branch; --help)" ;;
esac
