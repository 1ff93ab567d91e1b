//! The `recorder.toml` a test crate uses, found and parsed once per process: the
//! harness, the context, services and the environment layers all read it from here.

use crate::error::Result;
use recorder_config::{find_file, Config};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

/// `recorder.toml` found from `start` upward, parsed once per process.
pub fn config_for(start: &Path) -> Result<Option<Arc<Config>>> {
    static CONFIGS: LazyLock<Mutex<HashMap<PathBuf, Option<Arc<Config>>>>> =
        LazyLock::new(Default::default);
    if let Some(c) = CONFIGS.lock().unwrap().get(start) {
        return Ok(c.clone());
    }
    let config = Config::discover(start)?.map(Arc::new);
    CONFIGS
        .lock()
        .unwrap()
        .insert(start.to_path_buf(), config.clone());
    Ok(config)
}

/// Whether the `recorder.toml` found from `manifest_dir` now is the one a test was
/// built from (`built_with`, `None` when the macro found none); else what happened
/// and how to rebuild, naming the test's `source_file`.
///
/// Cargo rebuilds the tests when the file the macro read changes or disappears (the
/// macro makes rustc track it), but it cannot watch a file that did not exist: one
/// created after the build where there was none (the tests' models then came from
/// variables), or in a folder nearer the crate than the one read. A test built from
/// one file and run under another would mix the two, so it fails with this instead.
/// No file now is not checked: a file the build used and that is gone makes cargo
/// rebuild by itself.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("recorder-doc-built-from-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// assert!(recorder_runtime::config_cache::built_from(&dir, None, "tests/chat.rs").is_ok());
/// std::fs::write(dir.join("recorder.toml"), "").unwrap();
/// let err = recorder_runtime::config_cache::built_from(&dir, None, "tests/chat.rs").unwrap_err();
/// assert!(err.contains("touch tests/chat.rs"), "{err}");
/// let file = dir.join("recorder.toml");
/// assert!(recorder_runtime::config_cache::built_from(&dir, file.to_str(), "tests/chat.rs").is_ok());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn built_from(
    manifest_dir: &Path,
    built_with: Option<&str>,
    source_file: &str,
) -> std::result::Result<(), String> {
    let Some(now) = find_file(manifest_dir) else {
        return Ok(());
    };
    if built_with.map(Path::new) == Some(now.as_path()) {
        return Ok(());
    }
    let before = match built_with {
        Some(path) => format!("it was built from {path}"),
        None => "it was built when there was no recorder.toml".to_owned(),
    };
    Err(format!(
        "{before}, and {} is the one found now; cargo cannot watch for a file that does not exist yet, so it did not rebuild the tests. Run `touch {source_file}` (or change any source file of this test target), then cargo test again",
        now.display()
    ))
}
