//! `RECORDER_SUITE` at expansion time: a test outside the selected suite is
//! generated ignored, with the reason; the decision goes by the module the macro
//! places the test in (see [`crate::module_guess`]), and the runtime fails a test
//! placed wrongly rather than letting it pass without running.

use recorder_config::{Config, SUITE_ENV};

use crate::module_guess::Location;

/// What suite `wanted` (`RECORDER_SUITE`) means for function `function` at
/// `location`: `Ok(None)` when it runs (no suite selected, or it belongs),
/// `Ok(Some(reason))` when it is generated ignored, `Err(message)` when the macro
/// cannot tell (functions of that name it cannot tell apart, in and out of the
/// suite). An unknown suite name is not handled here: resolving the configuration
/// fails on it.
pub fn decide(
    config: Option<&Config>,
    wanted: Option<&str>,
    function: &str,
    location: &Location,
) -> Result<Option<String>, String> {
    let (Some(config), Some(wanted)) = (config, wanted) else {
        return Ok(None);
    };
    if config.suite(wanted).is_err() {
        return Ok(None);
    }
    let candidates: Vec<&str> = if location.modules.is_empty() {
        vec![location.module_path()]
    } else {
        location.modules.iter().map(String::as_str).collect()
    };
    let in_wanted = |module: &&str| config.suite_for(module).is_some_and(|s| s.name == wanted);
    if candidates.iter().all(in_wanted) {
        return Ok(None);
    }
    if candidates.iter().any(in_wanted) {
        let modules: Vec<String> = candidates.iter().map(|m| format!("`{m}`")).collect();
        return Err(format!(
            "cannot tell whether `{function}` is in suite `{wanted}` ({SUITE_ENV}={wanted}): its file has #[recorded_test] functions of that name with the same signature and body in modules {}, not all of them in the suite; rename one",
            modules.join(", ")
        ));
    }
    let how = location.how_placed();
    let owners: Vec<String> = candidates
        .iter()
        .map(
            |module| match (config.suite_for(module), module.is_empty()) {
                (_, true) => "no suite (its module is unknown)".to_string(),
                (Some(suite), false) => format!("suite `{}` (module `{module}`{how})", suite.name),
                (None, false) => format!("no suite (module `{module}`{how})"),
            },
        )
        .collect();
    Ok(Some(format!(
        "not in suite `{wanted}` ({SUITE_ENV}={wanted}); it belongs to {}",
        owners.join(" or ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        Config::parse(
            r#"
            [suites.base]
            roots = ["chat", "embeddings"]
            exclude = ["chat::slow"]
            [suites.service]
            roots = ["service"]
            "#,
            Path::new("/p/recorder.toml"),
        )
        .unwrap()
    }

    fn found(file: &str, modules: &[&str]) -> Location {
        Location {
            file_module: Some(file.to_string()),
            modules: modules.iter().map(|m| m.to_string()).collect(),
            crate_name: file.split("::").next().unwrap().to_string(),
        }
    }

    fn decide_for(wanted: &str, location: &Location) -> Result<Option<String>, String> {
        decide(Some(&config()), Some(wanted), "f", location)
    }

    #[test]
    fn no_selection_no_reason() {
        let config = config();
        let chat = found("chat", &["chat"]);
        assert_eq!(decide(Some(&config), None, "f", &chat), Ok(None));
        assert_eq!(decide(None, Some("base"), "f", &chat), Ok(None));
        // Unknown suites are the resolution's error, not a reason.
        assert_eq!(decide(Some(&config), Some("nope"), "f", &chat), Ok(None));
    }

    #[test]
    fn found_functions_are_decided_exactly() {
        assert_eq!(decide_for("base", &found("chat", &["chat"])), Ok(None));
        assert_eq!(
            decide_for("service", &found("chat", &["chat"])).unwrap().as_deref(),
            Some("not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `chat`)")
        );
        // An inline `mod service` in tests/chat.rs is the service suite's.
        assert_eq!(
            decide_for("service", &found("chat", &["chat::service"])),
            Ok(None)
        );
        assert!(decide_for("base", &found("chat", &["chat::service"]))
            .unwrap()
            .is_some());
        assert_eq!(
            decide_for("base", &found("retrieval", &["retrieval"])).unwrap().as_deref(),
            Some("not in suite `base` (RECORDER_SUITE=base); it belongs to no suite (module `retrieval`)")
        );
        // Excluded from `base`.
        assert_eq!(
            decide_for("base", &found("chat", &["chat::slow"])).unwrap().as_deref(),
            Some("not in suite `base` (RECORDER_SUITE=base); it belongs to no suite (module `chat::slow`)")
        );
    }

    #[test]
    fn functions_it_cannot_tell_apart_agree_or_fail_the_build() {
        // All in, or all out: decided.
        assert_eq!(
            decide_for("base", &found("chat", &["chat", "chat::inner"])),
            Ok(None)
        );
        assert_eq!(
            decide_for("service", &found("app", &["app::chat", "app::other"])).unwrap().as_deref(),
            Some("not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `app::chat`) or no suite (module `app::other`)")
        );
        // One in, one out: a compile error saying what to do.
        let err = decide_for("service", &found("chat", &["chat", "chat::service"])).unwrap_err();
        assert_eq!(
            err,
            "cannot tell whether `f` is in suite `service` (RECORDER_SUITE=service): its file has #[recorded_test] functions of that name with the same signature and body in modules `chat`, `chat::service`, not all of them in the suite; rename one"
        );
    }

    #[test]
    fn functions_not_found_are_placed_by_what_the_macro_sees() {
        let by_file = Location {
            file_module: Some("app::chat".into()),
            modules: Vec::new(),
            crate_name: "app".into(),
        };
        assert_eq!(decide_for("base", &by_file), Ok(None));
        let reason = decide_for("service", &by_file).unwrap().unwrap();
        assert_eq!(
            reason,
            "not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `app::chat`, placed by its file: #[recorded_test] did not find the function there (made by macro_rules!?))"
        );
        let by_crate = Location {
            file_module: None,
            modules: Vec::new(),
            crate_name: "service".into(),
        };
        assert_eq!(decide_for("service", &by_crate), Ok(None));
        let reason = decide_for("base", &by_crate).unwrap().unwrap();
        assert!(reason.ends_with("suite `service` (module `service`, the crate root: its file is outside src/, tests/, examples/ and benches/)"), "{reason}");
        let unknown = decide_for("base", &Location::default()).unwrap().unwrap();
        assert!(
            unknown.ends_with("no suite (its module is unknown)"),
            "{unknown}"
        );
    }
}
