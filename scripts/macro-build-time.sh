#!/usr/bin/env bash
# Build time of #[recorded_test] against plain #[tokio::test].
#
# Generates two throwaway crates under target/macro-build-time/:
#   annotated: 100 `#[recorded_test(models = "text")]` fns, built with
#              RECORDER_TEXT_MODELS=a,b, so 200 generated tests;
#   plain:     200 `#[tokio::test]` fns doing the same trivial work.
# Both share one target dir and this workspace's Cargo.lock. After a warm-up build
# of their dependencies, each crate's test target is rebuilt (source touched,
# `cargo test --no-run`) RUNS times; the best time of each is printed, then
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
unset RECORDER_SETUP RECORDER_SUITE RECORDER_VISION_MODELS RECORDER_EMBEDDING_MODELS \
  RECORDER_RERANK_MODELS RECORDER_SAFETY_MODELS RECORDER_JUDGE_MODELS RECORDER_EMBEDDING_DIMENSION
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
write_crate plain "$tokio_dep"

body='let v: Vec<u64> = (0..16).map(|i| i * i).collect();
    assert_eq!(v.iter().sum::<u64>(), 1240);
    tokio::task::yield_now().await;'

{
  echo 'use recorder_runtime::{recorded_test, Model};'
  for i in $(seq -w 0 99); do
    printf '\n#[recorded_test(models = "text")]\nasync fn t%s(model: Model) {\n    assert_eq!(model.kind(), "text");\n    %s\n}\n' "$i" "$body"
  done
} >"$out/annotated/tests/bench.rs"

{
  for i in $(seq -w 0 99); do
    for m in a b; do
      printf '\n#[tokio::test]\nasync fn t%s_%s() {\n    let model = "%s";\n    assert!(!model.is_empty());\n    %s\n}\n' "$i" "$m" "$m" "$body"
    done
  done
} >"$out/plain/tests/bench.rs"

build() { # crate
  local dir="$out/$1"
  (cd "$dir" && cargo test --no-run -q >/dev/null 2>"$out/$1.log") || {
    cat "$out/$1.log" >&2
    exit 1
  }
}

echo "warming up (dependencies of both crates)..." >&2
build annotated
build plain

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
echo "annotated: ${annotated}s ($(count annotated) tests from 100 #[recorded_test] fns)"
echo "plain:     ${plain}s ($(count plain) #[tokio::test] fns)"
awk -v a="$annotated" -v p="$plain" 'BEGIN { printf "ratio: %.2f\n", a / p }'
