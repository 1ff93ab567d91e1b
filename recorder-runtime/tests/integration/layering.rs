//! The runtime's modules import downwards only. [`LAYERS`] declares the top-level
//! modules of `src/` in layers, lowest first; a module may use (`crate::x`, or a name
//! the crate root re-exports, like `crate::Error`) only modules of its own layer or
//! of a lower one, and the modules of one layer never import in a cycle. A module's
//! files count together, its unit tests and comments left out.
//!
//! A failure names the offending line and what to do. A new module goes into the
//! lowest layer that holds everything it imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `recorder-runtime/src`, lowest first: a name saying what the layer
/// is, and its top-level modules (`x` for `x.rs` or `x/`).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations: the error, encodings, small values",
        &["error", "hex", "json", "query", "time", "mode", "model"],
    ),
    (
        "formats: what a request, a stream, a body and a recording are, and the ids it holds",
        &["stream", "body", "identity", "idmap", "recording", "answer"],
    ),
    (
        "rewrites before a recording is stored: ids, headers, volatile fields",
        &["mcp", "headers", "normalize"],
    ),
    ("the recordings folder", &["store"]),
    (
        "settings: recorder.toml and the variables",
        &["config_cache", "env"],
    ),
    (
        "what the engine makes of a request and a recording",
        &["compression", "multipart", "secrets", "tolerance", "usage"],
    ),
    (
        "explaining differences",
        &["diff", "compare", "describe", "drift", "report"],
    ),
    ("the engine", &["engine"]),
    (
        "ways into the engine for one test: the fixture client, the in-process transports, stdio servers",
        &["client", "transport", "stdio"],
    ),
    (
        "the running tests and their loopback server",
        &["registry", "control", "proxy", "propagate"],
    ),
    ("a test's context", &["context"]),
    ("services under test", &["service"]),
    (
        "what the macro's expansion calls",
        &["harness", "__private"],
    ),
];

/// One `crate::` path in a module's code: where, and the line.
#[derive(Debug, Clone, PartialEq)]
struct Use {
    /// `src/`-relative file and line number, `store/write.rs:11`.
    at: String,
    /// The line, trimmed.
    line: String,
}

type Graph = BTreeMap<String, BTreeMap<String, Vec<Use>>>;

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

/// The first name after each `crate::` in `line` (a module, or a name the root
/// re-exports).
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
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The names `lib.rs` re-exports at the root, and the module each comes from
/// (`pub use error::{Error, Result};` -> `Error` and `Result` are `error`'s).
fn root_exports(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    for line in lib.lines() {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = path.trim_end_matches(';').split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.rsplit(" as ").next().unwrap().rsplit("::").next();
            if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
                out.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

/// Module -> (module it imports -> the lines that do).
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let exports = root_exports(src);
    let mut graph = Graph::new();
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
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for name in crate_refs(line) {
                let target = exports.get(&name).cloned().unwrap_or(name);
                if target != top {
                    edges.entry(target).or_default().push(Use {
                        at: format!("{}:{}", rel.display(), n + 1),
                        line: line.trim().to_string(),
                    });
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
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &Graph,
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

/// The layer (index into `layers`) of each module.
fn layer_of<'a>(layers: &[(&str, &[&'a str])]) -> BTreeMap<&'a str, usize> {
    let mut out = BTreeMap::new();
    for (i, (_, modules)) in layers.iter().enumerate() {
        for m in *modules {
            out.insert(*m, i);
        }
    }
    out
}

/// What is wrong with the layers of `graph`'s modules, one paragraph each: a module
/// in no layer or in two, a layer naming a module that does not exist, an import
/// from a higher layer. Empty when all is well.
fn layer_problems(graph: &Graph, layers: &[(&str, &[&str])]) -> Vec<String> {
    let mut problems = Vec::new();
    let where_ = "LAYERS in recorder-runtime/tests/integration/layering.rs";
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, modules) in layers {
        for m in *modules {
            *count.entry(m).or_default() += 1;
        }
    }
    for (m, n) in &count {
        if !graph.contains_key(*m) {
            problems.push(format!(
                "`{m}` is in {where_} but there is no src/{m}.rs or src/{m}/: remove it from its layer"
            ));
        } else if *n > 1 {
            problems.push(format!(
                "`{m}` is in {n} layers of {where_}: keep it in one"
            ));
        }
    }
    let layer = layer_of(layers);
    let name = |i: usize| format!("layer {}, {}", i + 1, layers[i].0);
    for (module, edges) in graph {
        let Some(&own) = layer.get(module.as_str()) else {
            let lowest = edges
                .keys()
                .filter_map(|t| layer.get(t.as_str()))
                .max()
                .copied()
                .unwrap_or(0);
            problems.push(format!(
                "src/{module} is in no layer of {where_}: add it to the lowest layer that holds \
                 everything it imports, here: {}",
                name(lowest)
            ));
            continue;
        };
        for (target, uses) in edges {
            let Some(&theirs) = layer.get(target.as_str()) else {
                continue;
            };
            if theirs > own {
                let lines: Vec<String> = uses
                    .iter()
                    .map(|u| format!("    src/{}: {}", u.at, u.line))
                    .collect();
                problems.push(format!(
                    "`{module}` ({}) imports `{target}` ({}), a higher layer:\n{}",
                    name(own),
                    name(theirs),
                    lines.join("\n")
                ));
            }
        }
    }
    problems
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_import_downwards_only() {
    let graph = graph(&src());
    assert!(graph.contains_key("engine") && graph["context"].contains_key("engine"));
    let problems = layer_problems(&graph, LAYERS);
    assert!(
        problems.is_empty(),
        "the runtime's modules break their declared layers (LAYERS in \
         recorder-runtime/tests/integration/layering.rs, lowest first; a module may import only from \
         its own layer or a lower one):\n\n{}\n\nFor an upward import: move what the lower \
         module needs down (into its own layer, or a small module below both, as `json` \
         holds `escape` for the id map, the scrubber, the tolerance and the diff), or pass it \
         in (an argument, or a trait of the lower module that the higher one implements, as \
         `store::SameAnswer` is for the tolerance). Move the module itself to a higher layer \
         only if it truly belongs there.",
        problems.join("\n\n")
    );
}

#[test]
fn modules_import_one_way() {
    let graph = graph(&src());
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            let mut lines = Vec::new();
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                let first = &graph[from][to][0];
                lines.push(format!(
                    "  {from} -> {to}  (src/{}: {})",
                    first.at, first.line
                ));
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
        "stdio",
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

#[test]
fn the_scanner_sees_an_upward_import_a_stray_module_and_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lib.rs"),
        "mod low;\nmod high;\npub use high::{Top, Other as Renamed};\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("high.rs"), "use crate::low::f;\n").unwrap();
    // An upward import through a name the root re-exports, and a stray module.
    std::fs::write(dir.path().join("low.rs"), "\n\nfn g() -> crate::Top {}\n").unwrap();
    std::fs::write(dir.path().join("new.rs"), "use crate::high::x;\n").unwrap();
    let graph = graph(dir.path());
    let layers: &[(&str, &[&str])] = &[("bottom", &["low", "gone"]), ("top", &["high"])];
    let problems = layer_problems(&graph, layers);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("`gone` is in LAYERS") && problems[0].contains("remove it"));
    assert_eq!(
        problems[1],
        "`low` (layer 1, bottom) imports `high` (layer 2, top), a higher layer:\n    \
         src/low.rs:3: fn g() -> crate::Top {}"
    );
    assert!(
        problems[2].starts_with("src/new is in no layer")
            && problems[2].ends_with("here: layer 2, top"),
        "{}",
        problems[2]
    );
    // Downward imports are fine.
    let fixed: &[(&str, &[&str])] = &[("bottom", &["low", "high", "new"])];
    assert!(layer_problems(&graph, fixed).is_empty());
    assert_eq!(root_exports(dir.path())["Renamed"], "high");
}
