//! `cargo recordings migrate [--dry-run]`: rewrites every file of an older format or
//! identity scheme in the current one (see [`recorder_runtime::recording::version`]),
//! and changes nothing on current files.
//!
//! - Each file goes through the version chain's steps, then is written in the current
//!   version (`format`, `identity`).
//! - A test whose recordings' request hashes changed (a new canonicalization) is
//!   renamed as `normalize` renames one: placeholders derived from a hash follow it,
//!   requests that send them back follow those, and its `_ids.json` is derived again.
//!   A model list whose hash changed gets the name of its new hash.
//! - The record of use follows renamed hashes (`recordings/.usage/*.jsonl` and
//!   `index.sqlite`), so `prune` does not take migrated recordings for unused.
//! - A `_ids.json` of an older format is written in the current one, entries as they
//!   were.
//! - Files it cannot migrate (a newer version, unreadable, a step that cannot upgrade
//!   them) are reported, and their test folder is left as it is. New files are written
//!   before the files they replace are removed: an interruption never loses a
//!   recording.

use crate::{display_path, existing_dir, DryRunArgs, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::idmap::{IdsFile, IDS_FILE};
use recorder_runtime::recording::version::{Chain, FileKind, Version};
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{self, RecordingKey, Store, MODELS_DIR};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file `migrate` rewrites (or would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The file as it was.
    pub from: PathBuf,
    /// The file written: `from`, or its new name when its request hash changed.
    pub to: PathBuf,
    /// The version it had.
    pub found: Version,
}

/// What [`migrate_dir`] did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct Migration {
    /// How many files were looked at (recordings, model lists, `_ids.json`).
    pub files: usize,
    /// The files rewritten, in path order.
    pub migrated: Vec<Migrated>,
    /// The request hashes renamed, old to new.
    pub renamed_hashes: BTreeMap<String, String>,
    /// The usage logs rewritten for renamed hashes.
    pub usage_logs: Vec<PathBuf>,
    /// Rows of the index's record of use renamed.
    pub index_rows: usize,
    /// The files that could not be migrated, and why (their folder is left as it is).
    pub problems: Vec<(PathBuf, String)>,
}

/// One recording or model list, read and upgraded.
struct Item {
    path: PathBuf,
    name: String,
    found: Version,
    rec: Recording,
}

/// A file to write, and what it replaces.
struct Planned {
    path: PathBuf,
    bytes: Vec<u8>,
    replaces: Option<PathBuf>,
    found: Version,
    from: PathBuf,
}

/// Reads a file of the folder and upgrades it through `chain`: its content (version
/// keys removed) and the version it had.
fn read_upgraded(
    store: &Store,
    chain: &Chain,
    kind: FileKind,
    path: &Path,
) -> Result<(Value, Version), String> {
    let bytes = store.read_file(path).map_err(|e| e.to_string())?;
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("it is not JSON ({e})"))?;
    let file = value
        .as_object_mut()
        .ok_or_else(|| "it is not a JSON object".to_owned())?;
    let found = chain.upgrade(kind, file)?;
    Ok((value, found))
}

/// A test's `_ids.json`, read through `chain`: the map and the version it had.
pub(crate) fn read_ids_file(
    store: &Store,
    chain: &Chain,
    path: &Path,
) -> Result<(IdsFile, Version), String> {
    let (value, found) = read_upgraded(store, chain, FileKind::Ids, path)?;
    let ids = serde_json::from_value(value).map_err(|e| format!("it is not an id map ({e})"))?;
    Ok((ids, found))
}

/// The request hash of a test's recording file name.
fn named_hash(name: &str) -> Option<String> {
    RecordingKey::parse(name).map(|k| k.hash().to_owned())
}

/// Migrates the recordings folder `dir` to `chain`'s current version (see the module
/// docs); with `dry_run`, writes nothing. `chain` is
/// [`recorder_runtime::recording::version::CHAIN`] but in tests of the machinery; its
/// current version must be the one this recorder writes.
///
/// ```
/// use recorder_runtime::recording::version::CHAIN;
/// let dir = tempfile::tempdir().unwrap();
/// let m = recorder_cli::migrate_dir(dir.path(), &CHAIN, false).unwrap();
/// assert!(m.migrated.is_empty() && m.problems.is_empty());
/// ```
pub fn migrate_dir(dir: &Path, chain: &Chain, dry_run: bool) -> anyhow::Result<Migration> {
    anyhow::ensure!(
        chain.current() == Version::CURRENT,
        "a chain to {} cannot be written by this recorder ({})",
        chain.current(),
        Version::CURRENT
    );
    let store = crate::store_at(dir);
    let mut m = Migration::default();
    let mut folders: BTreeMap<PathBuf, Vec<Item>> = BTreeMap::new();
    let mut blocked: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for path in store.files()? {
        m.files += 1;
        let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let read =
            read_upgraded(&store, chain, FileKind::Recording, &path).and_then(|(value, found)| {
                let rec = serde_json::from_value::<Recording>(value).map_err(|e| {
                    format!("it is not a recording once upgraded from {found} ({e})")
                })?;
                Ok((rec, found))
            });
        match read {
            Ok((rec, found)) => {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                folders.entry(folder).or_default().push(Item {
                    path,
                    name,
                    found,
                    rec,
                });
            }
            Err(why) => {
                m.problems.push((path, why));
                blocked.insert(folder, ());
            }
        }
    }
    let mut writes: Vec<Planned> = Vec::new();
    let mut removes: Vec<PathBuf> = Vec::new();
    for (folder, items) in folders {
        if blocked.contains_key(&folder) {
            continue;
        }
        if folder.file_name().is_some_and(|n| n == MODELS_DIR) {
            for item in items {
                let hash = item.rec.request_hash();
                let named = crate::index::file_hash(&item.path);
                let renamed = named.as_ref().is_some_and(|h| *h != hash);
                if item.found == chain.current() && !renamed {
                    continue;
                }
                let to = if renamed {
                    if let Some(old) = named {
                        m.renamed_hashes.insert(old, hash.clone());
                    }
                    store.model_list_path(&hash, &store::model_set_digest(&item.rec.response))
                } else {
                    item.path.clone()
                };
                writes.push(Planned {
                    bytes: item.rec.to_pretty_bytes(),
                    replaces: (to != item.path).then(|| item.path.clone()),
                    from: item.path,
                    path: to,
                    found: item.found,
                });
            }
            continue;
        }
        let ids_path = folder.join(IDS_FILE);
        if ids_path.exists() {
            m.files += 1;
        }
        let renames = items
            .iter()
            .any(|i| crate::index::file_hash(&i.path).is_some_and(|h| h != i.rec.request_hash()));
        if renames {
            // Hashes changed: rename as `normalize` does, placeholders and all.
            let found: BTreeMap<String, (Version, PathBuf)> = items
                .iter()
                .map(|i| (i.name.clone(), (i.found, i.path.clone())))
                .collect();
            let test_id = items[0].rec.test_id.clone().unwrap_or_default();
            let renamed = match recorder_runtime::normalize::normalize_scope(
                items.into_iter().map(|i| (i.name, i.rec)).collect(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    m.problems.push((folder, e.to_string()));
                    continue;
                }
            };
            let mut inputs = Vec::new();
            for r in renamed {
                let (version, from) = found[&r.old_name].clone();
                if let (Some(old), Some(new)) = (named_hash(&r.old_name), named_hash(&r.name)) {
                    if old != new {
                        m.renamed_hashes.entry(old).or_insert(new);
                    }
                }
                let bytes = r.recording.to_pretty_bytes();
                inputs.push((
                    r.name.clone(),
                    store::request_text(&r.recording.request),
                    serde_json::to_value(&r.recording).expect("a recording is JSON"),
                ));
                let path = folder.join(&r.name);
                let on_disk = store.read_file(&from).ok();
                if path == from && on_disk.as_ref() == Some(&bytes) {
                    continue;
                }
                writes.push(Planned {
                    replaces: (path != from).then(|| from.clone()),
                    path,
                    bytes,
                    found: version,
                    from,
                });
            }
            let expected = store::ids_file_bytes(&test_id, &inputs);
            let on_disk = store.read_file(&ids_path).ok();
            if on_disk != expected {
                let version = match read_ids_file(&store, chain, &ids_path) {
                    Ok((_, v)) => v,
                    Err(_) => chain.current(),
                };
                match expected {
                    Some(bytes) => writes.push(Planned {
                        path: ids_path.clone(),
                        bytes,
                        replaces: None,
                        found: version,
                        from: ids_path,
                    }),
                    None => removes.push(ids_path),
                }
            }
            continue;
        }
        for item in items {
            if item.found == chain.current() {
                continue;
            }
            writes.push(Planned {
                bytes: item.rec.to_pretty_bytes(),
                path: item.path.clone(),
                replaces: None,
                found: item.found,
                from: item.path,
            });
        }
        if ids_path.exists() {
            match read_ids_file(&store, chain, &ids_path) {
                Ok((_, found)) if found == chain.current() => {}
                Ok((ids, found)) => writes.push(Planned {
                    path: ids_path.clone(),
                    bytes: ids.to_pretty_bytes(),
                    replaces: None,
                    found,
                    from: ids_path,
                }),
                Err(why) => m.problems.push((ids_path, why)),
            }
        }
    }
    // A file some write replaces is removed only if nothing else is written there.
    for w in &writes {
        if let Some(old) = &w.replaces {
            if !writes.iter().any(|other| &other.path == old) {
                removes.push(old.clone());
            }
        }
    }
    if !dry_run {
        // New files first, then the ones they replace: an interruption never loses a
        // recording (at worst it leaves one under both names).
        for w in &writes {
            store.write_file(&w.path, &w.bytes)?;
        }
        for path in &removes {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    anyhow::bail!("cannot remove {}: {e}", path.display())
                }
                _ => {}
            }
        }
        if !m.renamed_hashes.is_empty() {
            m.usage_logs = recorder_runtime::usage::rename_hashes(dir, &m.renamed_hashes)?;
            if dir.join(crate::index::INDEX_FILE).exists() {
                let index = crate::index::Index::open(dir)?;
                m.index_rows = index.rename_hashes(&m.renamed_hashes)?;
            }
        }
    }
    m.migrated = writes
        .into_iter()
        .map(|w| Migrated {
            from: w.from,
            to: w.path,
            found: w.found,
        })
        .collect();
    m.migrated.sort_by(|a, b| a.from.cmp(&b.from));
    m.problems.sort();
    Ok(m)
}

/// `cargo recordings migrate [--dry-run]`: says what it rewrites; exit 1 when some
/// files could not be migrated.
pub(crate) fn migrate(
    args: &DryRunArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let chain = recorder_runtime::recording::version::CHAIN;
    let m = migrate_dir(&dir, &chain, args.dry_run)?;
    let verb = if args.dry_run {
        "Would migrate"
    } else {
        "Migrated"
    };
    for f in &m.migrated {
        let from = display_path(&dir, &f.from);
        let names = if f.to == f.from {
            from
        } else {
            format!("{from} -> {}", display_path(&dir, &f.to))
        };
        writeln!(out, "{verb}: {names} ({} -> {})", f.found, chain.current())?;
    }
    if args.dry_run && !m.renamed_hashes.is_empty() {
        writeln!(
            out,
            "Would rename {} request hashes in the record of use (recordings/.usage/, index.sqlite)",
            m.renamed_hashes.len()
        )?;
    }
    for log in &m.usage_logs {
        writeln!(
            out,
            "Updated: {} (renamed request hashes)",
            display_path(&dir, log)
        )?;
    }
    if m.index_rows > 0 {
        writeln!(
            out,
            "Updated: {} ({} uses of renamed request hashes)",
            crate::index::INDEX_FILE,
            m.index_rows
        )?;
    }
    for (path, why) in &m.problems {
        let advice = if why.contains("newer recorder") {
            ""
        } else {
            "; fix or record it again, then run migrate again"
        };
        writeln!(
            out,
            "Not migrated: {}: {why}{advice}",
            display_path(&dir, path)
        )?;
    }
    let verb = if args.dry_run {
        "would be migrated"
    } else {
        "migrated"
    };
    writeln!(
        out,
        "{}/{} files {verb} to {}",
        m.migrated.len(),
        m.files,
        chain.current()
    )?;
    Ok(if m.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
