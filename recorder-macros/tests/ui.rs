//! Compile errors of `#[recorded_test]`: each `tests/ui/fail/*.rs` has its expected
//! `.stderr` (regenerate with `TRYBUILD=overwrite cargo test -p recorder-macros --test ui`,
//! then read them: each error must point at the offending token).
//!
//! Compile-fail cases only, on purpose: with them alone trybuild checks every case
//! in one `cargo check --keep-going` (metadata only, no code generated or linked).
//! One `pass` case would switch it to a `cargo build` of the runtime and all its
//! dependencies and one cargo run per case. What a pass case would show (the
//! attribute compiles without warnings outside `cargo test`) is
//! `examples/outside_tests.rs`, which `cargo test` and clippy build.
//!
//! Like every test that builds a crate of its own, the name starts with
//! `scratch_crate`: `cargo test --workspace --tests -- --skip scratch_crate` is the fast
//! loop without them (README, "Working on this workspace").

#[test]
fn scratch_crate_compile_errors_match_their_stderr_files() {
    // The expansion reads these; keep the developer's environment out of the
    // expected output. (This binary runs this one test, so nothing races.)
    for var in recorder_config::TRACKED_ENV {
        std::env::remove_var(var);
    }
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
