//! `recorder_runtime::env::VARIABLES` is the one list of variables: every
//! `RECORD_*`/`RECORDING_*`/`RECORDER_*` name in a string literal of the workspace's
//! non-test Rust sources is in it, and the README documents every entry.

use recorder_runtime::env::VARIABLES;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["tests", "benches", "target"].contains(&name.as_str()) {
                rust_sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The `RECORD...` names that start a string literal in `text`, outside comments and
/// `#[cfg(test)]` modules.
fn names_in(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    let mut out = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("\"RECORD") {
            let tail = &rest[i + 1..];
            let end = tail
                .find(|c: char| {
                    !(c.is_ascii_uppercase() || c.is_ascii_digit() || "_<>".contains(c))
                })
                .unwrap_or(tail.len());
            let name = &tail[..end];
            if name.starts_with("RECORD_")
                || name.starts_with("RECORDER_")
                || name.starts_with("RECORDING_")
            {
                out.push(name.to_owned());
            }
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn the_scanner_finds_literals_and_skips_tests_and_comments() {
    let text = "let a = \"RECORDER_X\"; f(\"RECORD_MODE={v}\");\n// \"RECORDER_COMMENT\"\nlet t = \"RECORDER_SERVICE_<NAME>_URL\";\n#[cfg(test)]\nmod tests { \"RECORDER_IN_TEST\" }";
    assert_eq!(
        names_in(text),
        ["RECORDER_X", "RECORD_MODE", "RECORDER_SERVICE_<NAME>_URL"]
    );
}

#[test]
fn every_variable_in_the_sources_is_in_the_table() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("recorder-") || name == "examples" {
            rust_sources(&dir.join("src"), &mut files);
        }
    }
    assert!(
        files.len() > 50,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in &files {
        for name in names_in(&std::fs::read_to_string(file).unwrap()) {
            seen += 1;
            if !VARIABLES.iter().any(|v| v.name == name) {
                missing.push(format!("{name} ({})", file.display()));
            }
        }
    }
    assert!(seen > 10, "the scan found only {seen} names");
    assert!(
        missing.is_empty(),
        "variables read but missing from recorder_runtime::env::VARIABLES: {missing:#?}"
    );
}

#[test]
fn the_table_has_one_row_per_variable_each_described_and_documented() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let options = readme
        .split("\n## Options")
        .nth(1)
        .expect("README.md has an \"## Options\" section");
    let options = options.split("\n## ").next().unwrap();
    for (i, v) in VARIABLES.iter().enumerate() {
        assert!(
            !VARIABLES[..i].iter().any(|w| w.name == v.name),
            "{} twice",
            v.name
        );
        assert!(
            !v.description.is_empty() && !v.description.contains('\n'),
            "{}",
            v.name
        );
        assert!(
            options.contains(&format!("`{}`", v.name)),
            "README.md's Options section does not document `{}`",
            v.name
        );
    }
    for name in recorder_config::TRACKED_ENV {
        assert!(VARIABLES.iter().any(|v| v.name == *name), "{name}");
    }
}
