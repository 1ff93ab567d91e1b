//! Suites: named groups of tests by module path (`[suites.<name>]`), and which suite
//! a module belongs to.
//!
//! A suite lists module path prefixes in `roots` and, optionally, modules inside
//! them to leave out in `exclude`. Paths match with or without the crate name
//! (`chat` matches `examples::chat`, the crate `chat` of `tests/chat.rs`, and every
//! module inside them). When several entries match a module, the most specific one
//! (the one covering more of the path) decides: a test in `chat::slow::x` is left
//! out by `exclude = ["chat::slow"]` even though `roots = ["chat"]` matches it, and
//! goes to another suite whose root is `chat::slow`, if any.

use serde::Deserialize;

/// A named group of tests, by module path, with a default setup: `[suites.<name>]`.
///
/// ```
/// let suite = recorder_config::Suite {
///     name: "base".into(),
///     roots: vec!["chat".into()],
///     exclude: vec!["chat::slow".into()],
///     setup: None,
///     description: None,
/// };
/// assert!(suite.contains("examples::chat"));
/// assert!(suite.contains("chat::streaming"));
/// assert!(!suite.contains("examples::chatty"));
/// assert!(!suite.contains("examples::chat::slow::long_answer"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The suite's name: its key under `[suites]`.
    #[serde(skip)]
    pub name: String,
    /// Module path prefixes, with or without the crate name: `chat`, `examples::chat`.
    pub roots: Vec<String>,
    /// Modules inside the roots that are not part of the suite (and everything in
    /// them), e.g. `["chat::slow"]`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The setup used for this suite's tests unless `RECORDER_SETUP` says otherwise.
    #[serde(default)]
    pub setup: Option<String>,
    /// What this suite covers.
    #[serde(default)]
    pub description: Option<String>,
}

/// How much of a module path an entry covers: the number of path segments it
/// matches, and whether it named the crate. Greater is more specific.
pub(crate) type Specificity = (usize, bool);

impl Suite {
    /// Whether a test in module `module_path` (as `module_path!()` gives it) is in
    /// this suite by its own entries: under a root (the path equals it or starts with
    /// `root::`, compared with and without the path's first segment, the crate name)
    /// and not under a more specific `exclude` entry. Which suite a test belongs to
    /// when several contain it is [`crate::Config::suite_for`]'s call.
    pub fn contains(&self, module_path: &str) -> bool {
        self.specificity(module_path).is_some()
    }

    /// How specifically this suite matches `module_path`; `None` when it does not
    /// (no root matches, or an exclude entry at least as specific does).
    pub(crate) fn specificity(&self, module_path: &str) -> Option<Specificity> {
        let best = |entries: &[String]| {
            entries
                .iter()
                .filter_map(|entry| entry_specificity(entry, module_path))
                .max()
        };
        let root = best(&self.roots)?;
        match best(&self.exclude) {
            Some(exclude) if exclude.0 >= root.0 => None,
            _ => Some(root),
        }
    }

    /// The first entry that is not usable, with the key it is under (`roots` or
    /// `exclude`), its index and what is wrong.
    pub(crate) fn problem(&self) -> Option<(&'static str, Option<usize>, String)> {
        if self.roots.is_empty() {
            return Some((
                "roots",
                None,
                "list at least one module path prefix, e.g. roots = [\"chat\"]".into(),
            ));
        }
        for (key, entries) in [("roots", &self.roots), ("exclude", &self.exclude)] {
            for (i, entry) in entries.iter().enumerate() {
                if let Some(message) = module_path_problem(key, entry) {
                    return Some((key, Some(i), message));
                }
            }
        }
        for (i, entry) in self.exclude.iter().enumerate() {
            let entry = clean(entry);
            if self.roots.iter().any(|root| clean(root) == entry) {
                return Some(("exclude", Some(i), format!(
                    "`{entry}` is also a root: it would leave out the whole root; remove it from `roots` instead"
                )));
            }
            if !self.roots.iter().any(|root| inside(entry, clean(root))) {
                let roots: Vec<String> = self
                    .roots
                    .iter()
                    .map(|r| format!("`{}`", clean(r)))
                    .collect();
                return Some(("exclude", Some(i), format!(
                    "`{entry}` is not inside any root of this suite ({}), so it leaves nothing out; exclude a module inside a root, e.g. \"{}::slow\"",
                    roots.join(", "),
                    clean(&self.roots[0]),
                )));
            }
        }
        None
    }
}

/// An entry without surrounding space and leading `::`.
fn clean(entry: &str) -> &str {
    entry.trim().trim_start_matches("::")
}

/// How specifically `entry` matches `module_path`, if it does.
pub(crate) fn entry_specificity(entry: &str, module_path: &str) -> Option<Specificity> {
    let entry = clean(entry);
    if entry.is_empty() {
        return None;
    }
    let depth = entry.split("::").count();
    let named_crate = path_under(module_path, entry).then_some((depth, true));
    let without_crate = module_path
        .split_once("::")
        .filter(|(_, rest)| path_under(rest, entry))
        .map(|_| (depth + 1, false));
    named_crate.max(without_crate)
}

fn path_under(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// Whether some module matched by `exclude` is also matched by `root`: the exclude
/// entry can leave something out. Tried on the entry as written, under some crate,
/// and under the root's first segment (`chat::slow` inside `examples::chat`).
fn inside(exclude: &str, root: &str) -> bool {
    let mut modules = vec![exclude.to_string(), format!("some_crate::{exclude}")];
    if let Some((first, _)) = root.split_once("::") {
        modules.push(format!("{first}::{exclude}"));
    }
    modules
        .iter()
        .any(|module| entry_specificity(root, module).is_some())
}

/// What is wrong with a `roots` or `exclude` entry, if anything.
fn module_path_problem(key: &str, entry: &str) -> Option<String> {
    let path = clean(entry);
    if path.is_empty() {
        return Some("an entry is empty; give a module path such as \"chat\"".into());
    }
    if let Some(rest) = path.strip_prefix('!') {
        return Some(match key {
            "roots" => format!(
                "`{path}`: roots take no `!`; to leave a module out, list it in `exclude = [\"{}\"]`",
                clean(rest)
            ),
            _ => format!("`{path}`: exclude entries take no `!`; write \"{}\"", clean(rest)),
        });
    }
    if path.contains('*') {
        return Some(format!(
            "`{path}`: no wildcards; an entry is a prefix and already covers every module inside it"
        ));
    }
    if path.contains('/') || path.ends_with(".rs") {
        return Some(format!(
            "`{path}` is a file, not a module path: `tests/chat.rs` is the crate `chat`, `src/chat/slow.rs` is `<crate>::chat::slow`"
        ));
    }
    let is_ident = |s: &str| {
        let s = s.strip_prefix("r#").unwrap_or(s);
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
            && s != "_"
    };
    if !path.split("::").all(is_ident) {
        return Some(format!(
            "`{path}` is not a module path such as \"chat\" or \"chat::streaming\""
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(roots: &[&str], exclude: &[&str]) -> Suite {
        Suite {
            name: "s".into(),
            roots: roots.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            setup: None,
            description: None,
        }
    }

    #[test]
    fn exclude_leaves_out_a_module_and_everything_in_it() {
        let s = suite(&["chat"], &["chat::slow"]);
        assert!(s.contains("chat"));
        assert!(s.contains("examples::chat::fast"));
        assert!(!s.contains("chat::slow"));
        assert!(!s.contains("examples::chat::slow"));
        assert!(!s.contains("examples::chat::slow::deeper"));
        assert!(
            s.contains("examples::chat::slower"),
            "by segment, not by text"
        );
    }

    #[test]
    fn a_more_specific_root_takes_back_part_of_an_exclude() {
        let s = suite(&["chat", "chat::slow::fast"], &["chat::slow"]);
        assert!(!s.contains("chat::slow::x"));
        assert!(s.contains("chat::slow::fast"));
        assert!(s.contains("app::chat::slow::fast::y"));
    }

    #[test]
    fn specificity_counts_segments_and_the_crate() {
        assert_eq!(entry_specificity("chat", "chat"), Some((1, true)));
        assert_eq!(
            entry_specificity("chat", "examples::chat"),
            Some((2, false))
        );
        assert_eq!(
            entry_specificity("examples::chat", "examples::chat::x"),
            Some((2, true))
        );
        assert_eq!(entry_specificity("::chat ", "chat::x"), Some((1, true)));
        assert_eq!(entry_specificity("chat", "examples::chatty"), None);
        assert_eq!(entry_specificity("", "chat"), None);
    }

    #[test]
    fn entries_are_checked() {
        let problem = |roots: &[&str], exclude: &[&str]| suite(roots, exclude).problem();
        assert_eq!(problem(&["chat"], &[]), None);
        assert_eq!(problem(&["::chat", "r#mod::x"], &["chat::slow"]), None);
        let (key, index, msg) = problem(&[], &[]).unwrap();
        assert_eq!((key, index), ("roots", None));
        assert!(msg.contains("at least one"), "{msg}");
        let (key, index, msg) = problem(&["chat", "!chat::slow"], &[]).unwrap();
        assert_eq!((key, index), ("roots", Some(1)));
        assert_eq!(
            msg,
            "`!chat::slow`: roots take no `!`; to leave a module out, list it in `exclude = [\"chat::slow\"]`"
        );
        let (key, index, msg) = problem(&["chat"], &["!chat::slow"]).unwrap();
        assert_eq!((key, index), ("exclude", Some(0)));
        assert!(msg.contains("write \"chat::slow\""), "{msg}");
        for bad in [
            "chat::*",
            "tests/chat.rs",
            "chat.rs",
            "chat::",
            "chat-bot",
            " ",
            "a::1b",
        ] {
            assert!(problem(&["ok", bad], &[]).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn exclude_entries_must_leave_something_out() {
        let problem = |roots: &[&str], exclude: &[&str]| suite(roots, exclude).problem();
        let (key, index, msg) =
            problem(&["chat", "embeddings"], &["chat::slow", "retrieval::x"]).unwrap();
        assert_eq!((key, index), ("exclude", Some(1)));
        assert_eq!(
            msg,
            "`retrieval::x` is not inside any root of this suite (`chat`, `embeddings`), so it leaves nothing out; exclude a module inside a root, e.g. \"chat::slow\""
        );
        let (_, _, msg) = problem(&["chat"], &["chat"]).unwrap();
        assert!(msg.contains("also a root"), "{msg}");
        // With or without the crate name, on either side.
        assert_eq!(problem(&["chat"], &["examples::chat::slow"]), None);
        assert_eq!(problem(&["examples::chat"], &["chat::slow"]), None);
        assert_eq!(
            problem(&["examples::chat"], &["examples::chat::slow"]),
            None
        );
    }
}
