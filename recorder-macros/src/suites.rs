//! `RECORDER_SUITE` at expansion time: the tests the macro is sure are outside the
//! selected suite are generated ignored, with the reason. Where it is not sure (a
//! function it did not find in its file, an unknown file), the test is generated
//! as usual and the runtime, which knows the real module path, skips it.

use recorder_config::{Config, SUITE_ENV};

use crate::module_guess::Location;

/// Why a test at `location` is outside suite `wanted` (`RECORDER_SUITE`), when the
/// macro is sure of it; `None` when it belongs, may belong, or no suite is selected.
/// An unknown suite name is not handled here: resolving the configuration fails on it.
pub fn ignore_reason(
    config: Option<&Config>,
    wanted: Option<&str>,
    location: &Location,
) -> Option<String> {
    let (config, wanted) = (config?, wanted?);
    config.suite(wanted).ok()?;
    let head = format!("not in suite `{wanted}` ({SUITE_ENV}={wanted})");
    let belongs = |module: &str| match config.suite_for(module) {
        Some(suite) => format!("suite `{}` (module `{module}`)", suite.name),
        None => format!("no suite (module `{module}`)"),
    };
    if location.modules.is_empty() {
        let module = location.file_module.as_deref()?;
        if config.may_belong_to(wanted, module) {
            return None;
        }
        return Some(format!(
            "{head}; it belongs to {}, and no module inside it to `{wanted}`",
            belongs(module)
        ));
    }
    let in_wanted = |module: &String| config.suite_for(module).is_some_and(|s| s.name == wanted);
    if location.modules.iter().any(in_wanted) {
        return None;
    }
    let owners: Vec<String> = location.modules.iter().map(|m| belongs(m)).collect();
    Some(format!("{head}; it belongs to {}", owners.join(" or ")))
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
        }
    }

    fn not_found(file: &str) -> Location {
        found(file, &[])
    }

    #[test]
    fn no_selection_no_reason() {
        let config = config();
        assert_eq!(
            ignore_reason(Some(&config), None, &found("chat", &["chat"])),
            None
        );
        assert_eq!(
            ignore_reason(None, Some("base"), &found("chat", &["chat"])),
            None
        );
        // Unknown suites are the resolution's error, not a reason.
        assert_eq!(
            ignore_reason(Some(&config), Some("nope"), &found("chat", &["chat"])),
            None
        );
    }

    #[test]
    fn found_functions_are_decided_exactly() {
        let config = config();
        let reason = |wanted: &str, location: &Location| {
            ignore_reason(Some(&config), Some(wanted), location)
        };
        assert_eq!(reason("base", &found("chat", &["chat"])), None);
        assert_eq!(
            reason("service", &found("chat", &["chat"])).as_deref(),
            Some("not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `chat`)")
        );
        // An inline `mod service` in tests/chat.rs is the service suite's.
        assert_eq!(reason("service", &found("chat", &["chat::service"])), None);
        assert!(reason("base", &found("chat", &["chat::service"])).is_some());
        assert_eq!(
            reason("base", &found("retrieval", &["retrieval"])).as_deref(),
            Some("not in suite `base` (RECORDER_SUITE=base); it belongs to no suite (module `retrieval`)")
        );
        // Several functions of that name: ignored only if none belongs.
        assert_eq!(
            reason("service", &found("chat", &["chat", "chat::service"])),
            None
        );
        assert_eq!(
            reason("service", &found("app", &["app::chat", "app::other"])).as_deref(),
            Some("not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `app::chat`) or no suite (module `app::other`)")
        );
    }

    #[test]
    fn functions_not_found_are_ignored_only_when_nothing_nested_can_belong() {
        let config = config();
        let reason = |wanted: &str, location: &Location| {
            ignore_reason(Some(&config), Some(wanted), location)
        };
        // A crate root may hold `mod service { ... }`: not sure.
        assert_eq!(reason("service", &not_found("chat")), None);
        assert_eq!(
            reason("service", &not_found("app::chat")).as_deref(),
            Some("not in suite `service` (RECORDER_SUITE=service); it belongs to suite `base` (module `app::chat`), and no module inside it to `service`")
        );
        assert_eq!(reason("base", &not_found("app::chat")), None);
        assert_eq!(reason("base", &Location::default()), None);
    }
}
