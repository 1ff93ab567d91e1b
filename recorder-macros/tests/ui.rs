//! Compile errors of `#[recorded_test]`: each `tests/ui/fail/*.rs` has its expected
//! `.stderr` (regenerate with `TRYBUILD=overwrite cargo test -p recorder-macros --test ui`,
//! then read them: each error must point at the offending token).

#[test]
fn ui() {
    // The expansion reads these; keep the developer's environment out of the
    // expected output. (This binary runs this one test, so nothing races.)
    for var in recorder_config::TRACKED_ENV {
        std::env::remove_var(var);
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
