//! A user's crate outside this workspace, written into a temporary folder and built
//! with this workspace's `Cargo.lock` in one shared target folder,
//! `target/outside-crate`: the tests that build such crates (the macro's and the
//! CLI's) then share one build of the runtime and its dependencies, and a second run
//! rebuilds only the scratch crates themselves.
//!
//! ```no_run
//! use recorder_testkit::scratch_crate::{workspace_root, ScratchCrate};
//! let tmp = std::env::temp_dir().join("scratch-example");
//! let runtime = workspace_root().join("recorder-runtime");
//! let krate = ScratchCrate::write(&tmp, "mine", &format!("recorder-runtime = {{ path = {runtime:?} }}"));
//! std::fs::write(krate.dir().join("tests/it.rs"), "#[test]\nfn ok() {}\n").unwrap();
//! let out = krate.cargo(&["test", "--test", "it"]).output().unwrap();
//! assert!(out.status.success());
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace this testkit belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit sits in the workspace")
        .to_path_buf()
}

/// A stand-alone crate (its own `[workspace]`) in a folder of its own.
pub struct ScratchCrate {
    dir: PathBuf,
}

impl ScratchCrate {
    /// Writes `Cargo.toml` (package `name`, the given `[dev-dependencies]` lines,
    /// the workspace's dev profile), an empty `src/lib.rs`, an empty `tests/` and this
    /// workspace's `Cargo.lock` into `dir`: the same versions, so nothing to resolve
    /// or download.
    pub fn write(dir: &Path, name: &str, dev_dependencies: &str) -> ScratchCrate {
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                r#"[package]
name = "{name}"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dev-dependencies]
{dev_dependencies}

[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false
"#
            ),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        ScratchCrate {
            dir: dir.to_path_buf(),
        }
    }

    /// A crate written before, by [`ScratchCrate::write`].
    pub fn at(dir: &Path) -> ScratchCrate {
        ScratchCrate {
            dir: dir.to_path_buf(),
        }
    }

    /// The crate's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `cargo <args>` in the crate's folder, building into `target/outside-crate`,
    /// with none of the recorder's variables and none of those cargo set for the
    /// calling test (see [`clean_cargo_env`]).
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.dir).args(args).env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/outside-crate"),
        );
        clean_cargo_env(&mut cmd);
        cmd
    }
}

/// Removes from `cmd`'s environment what would make a cargo started by a test build
/// differently from one started by a user: the recorder's own variables
/// (`RECORD_MODE`, `RECORDER_*`, `RECORDING_DIR`), and the variables cargo sets for
/// the running test (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). ring's build
/// script reruns when those change, so without this each test binary that builds in
/// the shared target folder rebuilds ring, rustls, reqwest and the runtime after
/// another one (or a shell) did.
pub fn clean_cargo_env(cmd: &mut Command) {
    let set_for_the_test = [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "RECORD",
    ];
    let names: Vec<OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            let name = name.to_string_lossy();
            set_for_the_test.iter().any(|p| name.starts_with(p))
        })
        .collect();
    for name in names {
        cmd.env_remove(name);
    }
}
