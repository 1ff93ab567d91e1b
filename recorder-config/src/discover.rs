//! Where `recorder.toml` and the Cargo workspace are, seen from a folder.

use std::path::{Path, PathBuf};

use crate::FILE_NAME;

/// The `recorder.toml` that [`Config::discover`](crate::Config::discover) would load from `start`, if any.
///
/// ```
/// let dir = std::env::temp_dir().join("recorder-config-doc-find-file");
/// std::fs::create_dir_all(dir.join("a/b")).unwrap();
/// std::fs::write(dir.join("recorder.toml"), "").unwrap();
/// assert_eq!(recorder_config::find_file(&dir.join("a/b")), Some(dir.join("recorder.toml")));
/// ```
pub fn find_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// The Cargo workspace holding `start`: the nearest folder from `start` upward whose
/// `Cargo.toml` has a `[workspace]` table (a package that is its own workspace
/// counts), as cargo itself resolves it for a member. `None` outside any workspace.
/// The one place the runtime, the macro and `cargo recordings` find it.
///
/// ```
/// let dir = std::env::temp_dir().join("recorder-config-doc-workspace-root");
/// std::fs::create_dir_all(dir.join("member/src")).unwrap();
/// std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"member\"]\n").unwrap();
/// std::fs::write(dir.join("member/Cargo.toml"), "[package]\nname = \"member\"\n").unwrap();
/// assert_eq!(recorder_config::workspace_root(&dir.join("member/src")), Some(dir.clone()));
/// ```
pub fn workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        let table: toml::Table = text.parse().ok()?;
        table.contains_key("workspace").then(|| dir.to_path_buf())
    })
}
