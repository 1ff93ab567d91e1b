//! `cargo recordings normalize [--dry-run]`: re-applies the id map and the
//! normalization to every test's recordings (see
//! [`recorder_runtime::normalize::normalize_scope`]): ids get their placeholders,
//! requests that send them back follow, files whose request changed are renamed, and
//! each test's `_ids.json` is rewritten. Model lists get the timestamp rules.

use crate::{display_path, existing_dir, progress, DryRunArgs, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::idmap::IDS_FILE;
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{self, MODELS_DIR};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What normalizing one folder changes.
struct Change {
    /// The file written (or to be written).
    path: PathBuf,
    /// The file it replaces, when the name changed.
    replaces: Option<PathBuf>,
    bytes: Vec<u8>,
}

pub(crate) fn normalize(
    args: &DryRunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let store = crate::store_at(&dir);
    let files = store.files()?;
    let bar = progress(files.len(), "normalizing");
    let mut skipped = 0usize;
    let mut folders: BTreeMap<PathBuf, Vec<(String, Recording)>> = BTreeMap::new();
    let mut changes: Vec<Change> = Vec::new();
    for path in &files {
        bar.inc(1);
        let rec = match store.read_recording(path) {
            Ok(r) => r,
            Err(e) => {
                bar.suspend(|| writeln!(err, "skipped {}: {e}", path.display()))?;
                skipped += 1;
                continue;
            }
        };
        let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if folder.file_name().is_some_and(|n| n == MODELS_DIR) {
            let mut new = rec.clone();
            new.response
                .for_each_json_mut(recorder_runtime::normalize::normalize_timestamps);
            if new != rec {
                changes.push(Change {
                    path: path.clone(),
                    replaces: None,
                    bytes: new.to_pretty_bytes(),
                });
            }
            continue;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        folders.entry(folder).or_default().push((name, rec));
    }
    let mut ids_files: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
    for (folder, recordings) in folders {
        let test_id = recordings[0].1.test_id.clone().unwrap_or_default();
        let before: BTreeMap<String, Recording> = recordings.iter().cloned().collect();
        let renamed = match recorder_runtime::normalize::normalize_scope(recordings) {
            Ok(r) => r,
            Err(e) => {
                bar.suspend(|| writeln!(err, "skipped {}: {e}", folder.display()))?;
                skipped += 1;
                continue;
            }
        };
        let mut inputs = Vec::new();
        for r in renamed {
            let path = folder.join(&r.name);
            let changed = r.name != r.old_name || before.get(&r.old_name) != Some(&r.recording);
            inputs.push((
                r.name.clone(),
                store::request_text(&r.recording.request),
                serde_json::to_value(&r.recording).expect("a recording is JSON"),
            ));
            if changed {
                changes.push(Change {
                    replaces: (r.name != r.old_name).then(|| folder.join(&r.old_name)),
                    path,
                    bytes: r.recording.to_pretty_bytes(),
                });
            }
        }
        let ids_path = folder.join(IDS_FILE);
        let expected = store::ids_file_bytes(&test_id, &inputs);
        // Through the safe reader: something that is not a plain file there (a FIFO,
        // a symlink) is replaced or removed, never read.
        let present = std::fs::symlink_metadata(&ids_path).is_ok();
        let on_disk = store.read_file(&ids_path).ok();
        if on_disk != expected || (present && on_disk.is_none()) {
            ids_files.push((ids_path, expected));
        }
    }
    bar.finish_and_clear();
    let verb = if args.dry_run {
        "Would normalize"
    } else {
        "Normalized"
    };
    for change in &changes {
        let shown = display_path(&dir, &change.path);
        match &change.replaces {
            Some(old) => writeln!(out, "{verb}: {} -> {shown}", display_path(&dir, old))?,
            None => writeln!(out, "{verb}: {shown}")?,
        }
    }
    for (path, bytes) in &ids_files {
        let what = if bytes.is_some() { "update" } else { "remove" };
        let verb = if args.dry_run {
            format!("Would {what}")
        } else {
            format!("{}d", capitalize(what))
        };
        writeln!(out, "{verb}: {}", display_path(&dir, path))?;
    }
    if !args.dry_run {
        // New files first, then the ones they replace: an interruption never loses a
        // recording (at worst it leaves one under both names).
        for change in &changes {
            store.write_file(&change.path, &change.bytes)?;
        }
        for change in &changes {
            if let Some(old) = &change.replaces {
                if !changes.iter().any(|c| &c.path == old) {
                    std::fs::remove_file(old)
                        .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", old.display()))?;
                }
            }
        }
        for (path, bytes) in &ids_files {
            match bytes {
                Some(b) => store.write_file(path, b)?,
                None => std::fs::remove_file(path)
                    .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?,
            }
        }
    }
    let verb = if args.dry_run {
        "would be modified"
    } else {
        "modified"
    };
    writeln!(out, "{}/{} files {verb}", changes.len(), files.len())?;
    Ok(if skipped > 0 { EXIT_PROBLEMS } else { EXIT_OK })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
