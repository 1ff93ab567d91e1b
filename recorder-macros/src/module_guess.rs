//! A best-effort guess of `module_path!()` at expansion time, from the source file.
//!
//! Proc macros cannot see the module path. It only matters at expansion time for
//! one thing: choosing the default setup of the suite a test belongs to
//! (`[suites.<name>] roots = [...]`), which decides the models and so the generated
//! tests. The file layout gives the path of file modules (`tests/chat.rs` is crate
//! `chat`, `src/embeddings/batch.rs` is `<crate>::embeddings::batch`); inline
//! `mod x { ... }` blocks are not seen. The runtime, which knows the real path,
//! checks suites again when the tests run.

use std::path::{Component, Path};

/// The module path of items in `file`, for a crate named `crate_name` whose
/// manifest is in `manifest_dir`. `None` when the file is not under a standard
/// target folder (`src`, `tests`, `examples`, `benches`).
pub fn guess(file: &Path, manifest_dir: &Path, crate_name: &str) -> Option<String> {
    let rel = file.strip_prefix(manifest_dir).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().map(str::to_string),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (first, rest) = parts.split_first()?;
    let modules: &[String] = match (first.as_str(), rest) {
        // src/bin/x.rs and src/bin/x/main.rs are binary crate roots.
        ("src", [bin, _, rest @ ..]) if bin == "bin" && !rest.is_empty() => rest,
        ("src", [bin, _]) if bin == "bin" => &[],
        ("src", rest) => rest,
        // tests/x.rs is a crate root; tests/x/main.rs too, with modules beside it.
        ("tests" | "examples" | "benches", [_]) => &[],
        ("tests" | "examples" | "benches", [_, rest @ ..]) => rest,
        _ => return None,
    };
    let mut path = vec![crate_name.to_string()];
    let count = modules.len();
    for (i, part) in modules.iter().enumerate() {
        let last = i + 1 == count;
        if last {
            let stem = part.strip_suffix(".rs")?;
            if ["lib", "main", "mod"].contains(&stem) {
                continue;
            }
            path.push(stem.to_string());
        } else {
            path.push(part.clone());
        }
    }
    Some(path.join("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(file: &str) -> Option<String> {
        guess(Path::new(file), Path::new("/w/app"), "app")
    }

    #[test]
    fn library_and_binary_files() {
        assert_eq!(g("/w/app/src/lib.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/main.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/chat.rs").as_deref(), Some("app::chat"));
        assert_eq!(g("/w/app/src/chat/mod.rs").as_deref(), Some("app::chat"));
        assert_eq!(
            g("/w/app/src/chat/streaming.rs").as_deref(),
            Some("app::chat::streaming")
        );
        assert_eq!(g("/w/app/src/bin/tool.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/src/bin/tool/main.rs").as_deref(), Some("app"));
        assert_eq!(
            g("/w/app/src/bin/tool/util.rs").as_deref(),
            Some("app::util")
        );
    }

    #[test]
    fn integration_tests() {
        assert_eq!(g("/w/app/tests/chat.rs").as_deref(), Some("app"));
        assert_eq!(g("/w/app/tests/chat/main.rs").as_deref(), Some("app"));
        assert_eq!(
            g("/w/app/tests/chat/streaming.rs").as_deref(),
            Some("app::streaming")
        );
        assert_eq!(g("/w/app/examples/demo.rs").as_deref(), Some("app"));
    }

    #[test]
    fn elsewhere_is_unknown() {
        assert_eq!(g("/w/other/src/lib.rs"), None);
        assert_eq!(g("/w/app/build.rs"), None);
        assert_eq!(g("/w/app/src/data.txt"), None);
    }
}
