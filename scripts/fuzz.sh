#!/usr/bin/env bash
# Fuzzes the recording loader, the SSE and NDJSON parsers and the identity
# canonicalizer (fuzz/src/lib.rs) for a bounded time per target.
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target...]
#   targets: recording_loader sse_parser ndjson_parser identity http_front multipart
#            compressed scrubber (default: all)
#
# Engine: coverage-guided libFuzzer through cargo-bolero, on the stable toolchain.
# cargo-fuzz's default needs nightly (-Zsanitizer); libFuzzer itself needs only the
# stable `-Cpasses=sancov-module` instrumentation, which `cargo bolero test --engine
# libfuzzer --sanitizer NONE` uses (no AddressSanitizer: safe Rust has no memory
# errors to find, and the properties are checked by assertions).
# FUZZ_ENGINE=random runs bolero's uninstrumented random engine instead (no C++
# compiler or cargo-bolero needed): `cargo test` with FUZZ_ITERATIONS inputs, in
# release (FUZZ_PROFILE=dev reuses `cargo test`'s build, for a quick run).
#
# Inputs found to fail are written to fuzz/artifacts/<target>/; once fixed, copy them
# to fuzz/regressions/<target>/ so that every `cargo test` replays them.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(recording_loader sse_parser ndjson_parser identity http_front multipart compressed scrubber)
engine="${FUZZ_ENGINE:-libfuzzer}"

if [[ "$engine" == "random" ]]; then
    export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-1000000}"
    for t in "${targets[@]}"; do
        echo "== $t: $FUZZ_ITERATIONS random inputs" >&2
        (cd "$root" && cargo test --profile "${FUZZ_PROFILE:-release}" -p recorder-runtime --test integration -- --exact "fuzz::$t")
    done
    exit 0
fi

if ! command -v cargo-bolero >/dev/null; then
    echo "== installing cargo-bolero" >&2
    cargo install cargo-bolero --version '^0.13' --locked
fi

cd "$root/fuzz"
status=0
for t in "${targets[@]}"; do
    echo "== $t: libFuzzer for ${secs}s" >&2
    mkdir -p "corpus/$t" "artifacts/$t"
    # Seed the corpus with the regression inputs.
    cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
    if ! cargo bolero test "$t" --engine libfuzzer --sanitizer NONE \
        --target-dir "$root/target/fuzz" \
        --corpus-dir "corpus/$t" --crashes-dir "artifacts/$t" \
        -T "${secs}s"; then
        echo "!! $t failed: see fuzz/artifacts/$t/" >&2
        status=1
    fi
done
exit $status
