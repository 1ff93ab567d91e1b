//! The fuzz targets, one per property of `recorder_fuzz` (fuzz/src/lib.rs).
//!
//! Coverage-guided, on the stable toolchain (libFuzzer without a sanitizer):
//! `cargo bolero test sse_parser --manifest-path fuzz/Cargo.toml --engine libfuzzer --sanitizer NONE -T 60s`
//! or all of them for a bounded time: `scripts/fuzz.sh [seconds per target]`.
//! Under plain `cargo test` each runs its regression inputs and random inputs.

fn target(name: &'static str) {
    for (path, input) in recorder_fuzz::regressions(name) {
        eprintln!("regression {}", path.display());
        recorder_fuzz::check(name, &input);
    }
    bolero::check!()
        .with_max_len(4096)
        .for_each(|input: &[u8]| recorder_fuzz::check(name, input));
}

#[test]
fn recording_loader() {
    target("recording_loader");
}

#[test]
fn sse_parser() {
    target("sse_parser");
}

#[test]
fn ndjson_parser() {
    target("ndjson_parser");
}

#[test]
fn identity() {
    target("identity");
}
