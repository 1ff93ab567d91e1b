#!/usr/bin/env bash
# What depending on recorder-runtime costs a user: clean build time and crate count of
# a crate with one recorded test, against the same test written by hand.
#
# Generates two throwaway crates under target/build-cost/ (each its own workspace,
# its own target folder, this workspace's Cargo.lock so versions match):
#   recorded: one `#[recorded_test(models = "text")]` using the fixture client, with
#             recorder-runtime's default features and nothing else;
#   plain:    the same request with `#[tokio::test]` + reqwest (rustls) + serde_json.
#             reqwest uses the TLS stack the runtime uses (rustls with ring), so
#             the comparison is of the recorder, not of two TLS libraries.
# Each is built from clean (`cargo test --no-run`, target folder removed first),
# RUNS times, alternating; every pair's times and ratio, the best times, the number
# of crates compiled (distinct packages cargo reports as built), then the median
# pair ratio and the crate ratio with whether they meet the targets: time <= 1.3x,
# crates <= 1.3x. Needs the crates already
# downloaded or crates.io reachable.
#
# Usage: scripts/build-cost.sh [RUNS]   (default 1; JOBS=n sets cargo's -j)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-1}
out="$root/target/build-cost"
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
unset RUSTFLAGS RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
# The scratch crates sit under this workspace, so the macro would read its
# recorder.toml and the caller's variables: pin what it generates (one test, one
# model) whatever the environment holds.
for var in $(compgen -v | grep -E '^(RECORDER_|RECORD_|RECORDING_DIR$)' || true); do unset "$var"; done
export RECORDER_TEXT_MODELS=m
jobs=()
[ -n "${JOBS:-}" ] && jobs=(-j "$JOBS")

write_crate() { # name, dev-dependencies, test source
  local dir="$out/$1"
  rm -rf "$dir"
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
EOF
  : >"$dir/src/lib.rs"
  printf '%s\n' "$3" >"$dir/tests/answers.rs"
  cp "$root/Cargo.lock" "$dir/Cargo.lock"
}

write_crate recorded "recorder-runtime = { path = \"$root/recorder-runtime\" }" '
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Model};

#[recorded_test(models = "text")]
async fn answers_a_question(client: Client, text_model: Model) {
    let answer = client
        .chat(&ChatRequest::new(text_model.id()).message(Message::user("Capital of France?")).max_tokens(24))
        .await
        .unwrap();
    assert_eq!(answer.choices[0].message.role, "assistant");
}'

write_crate plain 'tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
reqwest = { version = "0.13", default-features = false, features = ["rustls-no-provider", "http2", "json"] }
rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
serde_json = "1"' '
#[tokio::test]
async fn answers_a_question() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/v1".into());
    let body = serde_json::json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "max_tokens": 24,
    });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
}'

build() { # crate -> "seconds crates"
  local dir="$out/$1" start end
  rm -rf "$dir/target"
  start=$(date +%s.%N)
  (cd "$dir" && cargo test --no-run "${jobs[@]}" --message-format=json >"$out/$1.json" 2>"$out/$1.log") || {
    cat "$out/$1.log" >&2
    exit 1
  }
  end=$(date +%s.%N)
  local crates
  crates=$(grep '"reason":"compiler-artifact"' "$out/$1.json" |
    sed -E 's/.*"package_id":"([^"]*)".*/\1/' | sort -u | wc -l)
  awk -v a="$start" -v b="$end" -v c="$crates" 'BEGIN { printf "%.1f %d\n", b - a, c }'
}

# Runs alternate (recorded, plain, recorded, ...) so that both see the same drift in
# the machine's load; each pair gives a ratio, and the median pair ratio is judged
# (the best times are printed too).
echo "building from clean, $runs alternating pair(s) (cores: $(nproc))..." >&2
ratios=() rts=() pts=()
for i in $(seq "$runs"); do
  read -r rt rc <<<"$(build recorded)"
  read -r pt pc <<<"$(build plain)"
  rts+=("$rt") pts+=("$pt")
  ratio=$(awk -v r="$rt" -v p="$pt" 'BEGIN { printf "%.2f", r / p }')
  ratios+=("$ratio")
  echo "pair $i: recorded ${rt}s, plain ${pt}s, ratio $ratio"
done
min() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
rt=$(min "${rts[@]}") pt=$(min "${pts[@]}") mr=$(median "${ratios[@]}")
echo "recorded: best ${rt}s, ${rc} crates  (one #[recorded_test], recorder-runtime default features)"
echo "plain:    best ${pt}s, ${pc} crates  (tokio + reqwest (rustls, ring) + serde_json)"
awk -v mr="$mr" -v rt="$rt" -v pt="$pt" -v rc="$rc" -v pc="$pc" 'BEGIN {
  cr = rc / pc
  printf "time ratio:  %.2f median of pairs, %.2f of best times (target <= 1.3) %s\n", mr, rt / pt, (mr <= 1.3 ? "met" : "NOT MET")
  printf "crate ratio: %.2f (target <= 1.3) %s\n", cr, (cr <= 1.3 ? "met" : "NOT MET")
}'
