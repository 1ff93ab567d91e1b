//! The fuzz targets, one per property of fuzz/src/lib.rs.
//!
//! Coverage-guided, on the stable toolchain (libFuzzer without a sanitizer):
//! `cargo bolero test sse_parser --engine libfuzzer --sanitizer NONE -T 60s` (in fuzz/),
//! or all of them for a bounded time: `scripts/fuzz.sh [seconds per target]`.
//! Under plain `cargo test` each runs its regression inputs, then random inputs.

#[path = "../src/lib.rs"]
#[allow(dead_code)]
mod recorder_fuzz;

// `bolero::check!` names the target after the function it is written in, so each
// test calls it directly.
macro_rules! targets {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            for (path, input) in recorder_fuzz::regressions(stringify!($name)) {
                eprintln!("regression {}", path.display());
                recorder_fuzz::check(stringify!($name), &input);
            }
            bolero::check!().with_max_len(4096).for_each(|input: &[u8]| recorder_fuzz::check(stringify!($name), input));
        }
    )*};
}

targets!(
    recording_loader,
    sse_parser,
    ndjson_parser,
    identity,
    http_front,
    multipart,
    compressed,
    scrubber
);
