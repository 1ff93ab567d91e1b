//! The runtime's modules import one way: no cycle among the top-level modules of
//! `src/` (a module's files together, its unit tests and comments left out). A new
//! `crate::x` that closes a loop fails here with the loop and the lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The names `crate::<name>` refers to in `line`.
fn crate_refs(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .filter(|(i, _)| {
            // `recorder_crate::` and the like are other paths.
            line[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .map(|(i, m)| {
            line[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Module -> (module it imports -> the first line that does).
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let edges = graph.entry(top.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for target in crate_refs(line) {
                if target != top {
                    edges
                        .entry(target)
                        .or_insert_with(|| format!("{}: {}", rel.display(), line.trim()));
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|target, _| modules.contains(target));
    }
    graph
}

/// A cycle through `start`, if there is one: the modules in order.
fn cycle_from(
    graph: &BTreeMap<String, BTreeMap<String, String>>,
    start: &str,
) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph[at].keys() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.contains_key("engine") && graph["context"].contains_key("engine"));
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            let mut lines = Vec::new();
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                lines.push(format!("  {from} -> {to}  ({})", graph[from][to]));
            }
            panic!(
                "the runtime's modules import in a cycle; make one side stop importing the other:\n{}",
                lines.join("\n")
            );
        }
    }
}

#[test]
fn the_scanner_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::X;\n").unwrap();
    std::fs::write(
        dir.path().join("b/mod.rs"),
        "// crate::c in a comment does not count\npub fn f() { crate::a::g() }\n#[cfg(test)]\nmod tests { use crate::c; }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.rs"), "use crate::b;\n").unwrap();
    let graph = graph(dir.path());
    assert_eq!(
        cycle_from(&graph, "a"),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert!(!graph["b"].contains_key("c"));
    assert_eq!(cycle_from(&graph, "c"), None);
}

/// The modules lib.rs declares `pub` for every user (not through `support!`).
fn public_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect()
}

/// What a user's `cargo doc` shows is a decision about the public API: a new module
/// is public only when it is listed here too, else it goes in `support!(mods ...)`.
#[test]
fn only_the_user_facing_modules_are_public_without_support() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let expected = [
        "client",
        "context",
        "error",
        "mcp",
        "mode",
        "model",
        "propagate",
        "service",
        "transport",
        "__private",
    ];
    assert_eq!(
        public_modules(&lib),
        expected,
        "recorder-runtime/src/lib.rs declares other modules public than a test needs. A \
         module only cargo-recordings, the tests, fuzz/ or bench/peers use goes in lib.rs's \
         `support!(mods ...)` (public with the `_support` feature alone); a module a user's \
         test needs goes in this list, in the crate docs' \"Public surface\" and in the \
         README's Layout"
    );
}

#[test]
fn the_public_module_scanner_skips_support_and_private_modules() {
    let lib = "pub mod a;\nsupport!(mods\n    b,\n);\nmod c;\n#[cfg(feature = \"x\")]\npub mod d;\n        pub mod $name;\n";
    assert_eq!(public_modules(lib), ["a", "d"]);
}
