//! Compile errors of `#[recorded_test]`: each `tests/ui/fail/*.rs` has its expected
//! `.stderr` (regenerate with `TRYBUILD=overwrite cargo test -p recorder-macros --test ui`,
//! then read them: each error must point at the offending token).

#[test]
fn ui() {
    // The expansion reads these; keep the developer's environment out of the
    // expected output. (This binary runs this one test, so nothing races.)
    for var in recorder_config_vars() {
        std::env::remove_var(var);
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

fn recorder_config_vars() -> [&'static str; 9] {
    [
        "RECORDER_SETUP",
        "RECORDER_SUITE",
        "RECORDER_TEXT_MODELS",
        "RECORDER_VISION_MODELS",
        "RECORDER_EMBEDDING_MODELS",
        "RECORDER_RERANK_MODELS",
        "RECORDER_SAFETY_MODELS",
        "RECORDER_JUDGE_MODELS",
        "RECORDER_EMBEDDING_DIMENSION",
    ]
}
