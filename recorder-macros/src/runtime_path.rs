//! How generated code names the runtime crate.
//!
//! Like tokio's `#[tokio::test(crate = "...")]`, an explicit `crate = "rr"` option
//! wins. Without it, the macro reads the annotated crate's `Cargo.toml` (and the
//! workspace's, for `workspace = true` entries) to find the name under which it
//! depends on `recorder-runtime`, so a renamed dependency
//! (`rr = { package = "recorder-runtime", ... }`) works without the option; this is
//! what `proc-macro-crate` does, in a few lines. When nothing is found:
//! `::recorder_runtime`.

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::Ident;

/// The runtime's package name.
pub const PACKAGE: &str = "recorder-runtime";

/// The path used when no `crate = "..."` option is given, for the crate being
/// compiled (from `CARGO_MANIFEST_DIR`).
pub fn from_environment() -> syn::Path {
    let name = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| dependency_name(&dir))
        .unwrap_or_else(|| PACKAGE.replace('-', "_"));
    extern_path(&name)
}

/// `::name`, the path of an extern crate.
pub fn extern_path(name: &str) -> syn::Path {
    let ident = Ident::new(name, Span::call_site());
    syn::parse_quote!(::#ident)
}

/// The crate name (`-` turned into `_`) under which the package in `manifest_dir`
/// depends on the runtime; `None` if its manifest does not mention it.
pub fn dependency_name(manifest_dir: &Path) -> Option<String> {
    let manifest = read_toml(&manifest_dir.join("Cargo.toml"))?;
    let workspace = || workspace_dependencies(manifest_dir, &manifest);
    name_in_manifest(&manifest, workspace)
}

fn read_toml(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

/// `[workspace.dependencies]` of the workspace holding `manifest_dir`.
fn workspace_dependencies(manifest_dir: &Path, manifest: &toml::Table) -> Option<toml::Table> {
    let deps_of = |table: &toml::Table| {
        table
            .get("workspace")?
            .get("dependencies")?
            .as_table()
            .cloned()
    };
    if manifest.contains_key("workspace") {
        return deps_of(manifest);
    }
    let root = recorder_config::workspace_root(manifest_dir)?;
    Some(deps_of(&read_toml(&root.join("Cargo.toml"))?).unwrap_or_default())
}

/// Looks through every dependency table of `manifest` (normal, dev, build, and
/// their `[target.*]` forms) for the runtime. An entry under its own name wins over
/// a renamed one.
pub fn name_in_manifest(
    manifest: &toml::Table,
    workspace_deps: impl FnOnce() -> Option<toml::Table>,
) -> Option<String> {
    let package_name = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str());
    if package_name == Some(PACKAGE) {
        return Some(PACKAGE.replace('-', "_"));
    }

    let mut tables: Vec<&toml::Table> = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        if let Some(table) = manifest.get(kind).and_then(|t| t.as_table()) {
            tables.push(table);
        }
    }
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        for target in targets.values() {
            for kind in kinds {
                if let Some(table) = target.get(kind).and_then(|t| t.as_table()) {
                    tables.push(table);
                }
            }
        }
    }

    let mut workspace_deps = Some(workspace_deps);
    let mut workspace: Option<Option<toml::Table>> = None;
    let mut renamed: Option<String> = None;
    for table in tables {
        for (key, value) in table {
            let mut package = value.get("package").and_then(|p| p.as_str());
            let inherits = value.get("workspace").and_then(|w| w.as_bool()) == Some(true);
            if package.is_none() && inherits {
                let ws = workspace.get_or_insert_with(|| workspace_deps.take().and_then(|f| f()));
                package = ws
                    .as_ref()
                    .and_then(|deps| deps.get(key))
                    .and_then(|dep| dep.get("package"))
                    .and_then(|p| p.as_str());
            }
            match package {
                None if key == PACKAGE => return Some(key.replace('-', "_")),
                Some(PACKAGE) if key == PACKAGE => return Some(key.replace('-', "_")),
                Some(PACKAGE) if renamed.is_none() => renamed = Some(key.replace('-', "_")),
                _ => {}
            }
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(manifest: &str) -> Option<String> {
        name_in_manifest(&manifest.parse().unwrap(), || None)
    }

    #[test]
    fn plain_dependency() {
        assert_eq!(
            name("[dependencies]\nrecorder-runtime = { path = \"../r\" }").as_deref(),
            Some("recorder_runtime")
        );
        assert_eq!(
            name("[dev-dependencies]\nrecorder-runtime = \"0.1\"").as_deref(),
            Some("recorder_runtime")
        );
    }

    #[test]
    fn renamed_dependency() {
        assert_eq!(
            name("[dev-dependencies]\nrr = { package = \"recorder-runtime\", path = \"x\" }")
                .as_deref(),
            Some("rr")
        );
        assert_eq!(
            name("[target.'cfg(unix)'.dependencies]\nmy-rt = { package = \"recorder-runtime\", version = \"0.1\" }")
                .as_deref(),
            Some("my_rt")
        );
    }

    #[test]
    fn own_name_wins_over_a_rename() {
        assert_eq!(
            name("[dependencies]\nrr = { package = \"recorder-runtime\", version = \"0.1\" }\n[dev-dependencies]\nrecorder-runtime = \"0.1\"")
                .as_deref(),
            Some("recorder_runtime")
        );
    }

    #[test]
    fn not_a_dependency() {
        assert_eq!(name("[dependencies]\nserde = \"1\""), None);
        assert_eq!(name(""), None);
        assert_eq!(
            name("[dependencies]\nrecorder-runtime-extras = \"1\""),
            None
        );
    }

    #[test]
    fn the_runtime_itself() {
        assert_eq!(
            name("[package]\nname = \"recorder-runtime\"").as_deref(),
            Some("recorder_runtime")
        );
    }

    #[test]
    fn workspace_inherited_rename() {
        let manifest: toml::Table = "[dev-dependencies]\nrr = { workspace = true }"
            .parse()
            .unwrap();
        let ws: toml::Table = "rr = { package = \"recorder-runtime\", path = \"x\" }"
            .parse()
            .unwrap();
        assert_eq!(
            name_in_manifest(&manifest, || Some(ws)).as_deref(),
            Some("rr")
        );
        let manifest: toml::Table = "[dev-dependencies]\nrecorder-runtime.workspace = true"
            .parse()
            .unwrap();
        assert_eq!(
            name_in_manifest(&manifest, || None).as_deref(),
            Some("recorder_runtime")
        );
    }

    #[test]
    fn reads_files_and_the_workspace_root() {
        let dir =
            std::env::temp_dir().join(format!("recorder-macros-rtpath-{}", std::process::id()));
        let member = dir.join("member");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"member\"]\n[workspace.dependencies]\nrt = { package = \"recorder-runtime\", path = \"x\" }\n",
        )
        .unwrap();
        std::fs::write(
            member.join("Cargo.toml"),
            "[package]\nname = \"member\"\n[dev-dependencies]\nrt.workspace = true\n",
        )
        .unwrap();
        assert_eq!(dependency_name(&member).as_deref(), Some("rt"));
        assert_eq!(dependency_name(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extern_paths() {
        let path = extern_path("rr");
        assert_eq!(quote::quote!(#path).to_string(), ":: rr");
    }
}
