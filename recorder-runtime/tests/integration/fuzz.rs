//! The fuzz properties of `fuzz/` (the recording loader, the SSE and NDJSON parsers,
//! the identity canonicalizer, the HTTP front of the proxy, multipart bodies,
//! compressed bodies, the secrets scrubber), run briefly in the default `cargo test`: every
//! committed regression input (what fuzzing found, fixed, and kept), then a few
//! thousand random inputs per target with bolero's random engine. The long,
//! coverage-guided runs are `scripts/fuzz.sh`.

#[path = "../../../fuzz/src/lib.rs"]
pub(crate) mod props;

/// Random inputs per target in the default run (`FUZZ_ITERATIONS` overrides).
fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn target(name: &'static str) {
    let regressions = props::regressions(name);
    for (path, input) in &regressions {
        let outcome = std::panic::catch_unwind(|| props::check(name, input));
        assert!(
            outcome.is_ok(),
            "the regression input {} fails again",
            path.display()
        );
    }
    bolero::check!()
        .with_iterations(iterations())
        .with_max_len(2048)
        .for_each(|input: &[u8]| props::check(name, input));
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

#[test]
fn http_front() {
    // Each input is a connection to a live proxy: fewer of them.
    let regressions = props::regressions("http_front");
    for (path, input) in &regressions {
        let outcome = std::panic::catch_unwind(|| props::check("http_front", input));
        assert!(
            outcome.is_ok(),
            "the regression input {} fails again",
            path.display()
        );
    }
    bolero::check!()
        .with_iterations(iterations() / 10)
        .with_max_len(1024)
        .for_each(|input: &[u8]| props::check("http_front", input));
}

#[test]
fn multipart() {
    target("multipart");
}

#[test]
fn compressed() {
    target("compressed");
}

#[test]
fn scrubber() {
    target("scrubber");
}

#[test]
fn every_target_has_a_regression_folder() {
    for t in props::TARGETS {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions")
            .join(t);
        assert!(dir.is_dir(), "{} is missing", dir.display());
    }
}
