#!/usr/bin/env bash
# Build time of #[recorded_test] against plain #[tokio::test].
#
# Generates two throwaway crates under target/macro-build-time/:
#   annotated: 100 `#[recorded_test(models = "text")]` fns, built with
#              RECORDER_TEXT_MODELS=a,b, so 200 generated tests;
#   plain:     200 `#[tokio::test]` fns doing the same trivial work, each making
#              its model by hand (`recorder_runtime::Model::new`);
#   tokio_only: the same 200 fns with a string for a model and no runtime
#              dependency (shows the fixed cost of depending on the runtime).
# All share one target dir and this workspace's Cargo.lock. `ratio` compares
# annotated with plain: same dependencies, so only the macro's cost differs. After a warm-up build
# of their dependencies, each crate's test target is rebuilt from scratch (source
# touched, incremental compilation off, `cargo test --no-run`) RUNS times; the best time of each is printed, then
# `ratio: <annotated / plain>`. The aim is a ratio of at most 1.3.
#
# Usage: scripts/macro-build-time.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-3}
out="$root/target/macro-build-time"
export CARGO_TARGET_DIR="$out/target"
export CARGO_TERM_COLOR=never
# Touching a file is not a change for incremental compilation, which would then
# reuse nearly everything: measure the crate's whole compile instead.
export CARGO_INCREMENTAL=0
for var in $(compgen -v | grep -E '^(RECORDER_|RECORD_|RECORDING_DIR$)' || true); do unset "$var"; done
export RECORDER_TEXT_MODELS=a,b

write_crate() { # name, dependencies
  local dir="$out/$1"
  mkdir -p "$dir/src" "$dir/tests"
  cat >"$dir/Cargo.toml" <<EOF
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dev-dependencies]
$2

[profile.dev.package."*"]
debug = false
EOF
  : >"$dir/src/lib.rs"
  cp "$root/Cargo.lock" "$dir/Cargo.lock"
}

runtime_dep="recorder-runtime = { path = \"$root/recorder-runtime\" }"
tokio_dep='tokio = { version = "1", features = ["full"] }'
write_crate annotated "$runtime_dep
$tokio_dep"
write_crate plain "$runtime_dep
$tokio_dep"
write_crate tokio_only "$tokio_dep"

body='let v: Vec<u64> = (0..16).map(|i| i * i).collect();
    assert_eq!(v.iter().sum::<u64>(), 1240);
    tokio::task::yield_now().await;'

{
  echo 'use recorder_runtime::{recorded_test, Model};'
  for i in $(seq -w 0 99); do
    printf '\n#[recorded_test(models = "text")]\nasync fn t%s(model: Model) {\n    assert!(!model.is_empty());\n    %s\n}\n' "$i" "$body"
  done
} >"$out/annotated/tests/bench.rs"

plain_tests() { # how each test gets its model
  for i in $(seq -w 0 99); do
    for m in a b; do
      printf '\n#[tokio::test]\nasync fn t%s_%s() {\n    let model = %s;\n    assert!(!model.is_empty());\n    %s\n}\n' "$i" "$m" "$(printf "$1" "$m")" "$body"
    done
  done
}
plain_tests 'recorder_runtime::Model::new("text", "%s")' >"$out/plain/tests/bench.rs"
plain_tests '"%s"' >"$out/tokio_only/tests/bench.rs"

build() { # crate
  local dir="$out/$1"
  (cd "$dir" && cargo test --no-run -q >/dev/null 2>"$out/$1.log") || {
    cat "$out/$1.log" >&2
    exit 1
  }
}

echo "warming up (dependencies of the crates)..." >&2
build annotated
build plain
build tokio_only

time_build() { # crate -> best of $runs, seconds
  local best=""
  for _ in $(seq "$runs"); do
    touch "$out/$1/tests/bench.rs"
    local start end t
    start=$(date +%s.%N)
    build "$1"
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}

count() { # crate -> number of tests
  (cd "$out/$1" && cargo test -q --test bench -- --list --format terse 2>/dev/null | grep -c ': test$')
}

annotated=$(time_build annotated)
plain=$(time_build plain)
tokio_only=$(time_build tokio_only)
echo "annotated:  ${annotated}s ($(count annotated) tests from 100 #[recorded_test] fns)"
echo "plain:      ${plain}s ($(count plain) #[tokio::test] fns, same deps)"
echo "tokio only: ${tokio_only}s ($(count tokio_only) #[tokio::test] fns, no runtime dependency)"
awk -v a="$annotated" -v t="$tokio_only" 'BEGIN { printf "ratio to tokio only (includes linking the runtime): %.2f\n", a / t }'
awk -v a="$annotated" -v p="$plain" 'BEGIN { printf "ratio: %.2f\n", a / p }'
