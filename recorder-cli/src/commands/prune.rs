//! `cargo recordings prune`.

use crate::index::EntryFilter;
use crate::DryRunArgs;
use crate::{display_path, existing_dir, fresh_index, EXIT_OK};
use recorder_runtime::idmap::IDS_FILE;
use std::io::Write;
use std::path::Path;

/// `recordings prune [--dry-run]`: removes what no test used in its latest run, and
/// stale temporary files of interrupted writes.
pub(crate) fn prune(
    args: &DryRunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    remove_leftover_temp_files(&dir, args.dry_run, out)?;
    let index = fresh_index(&dir, err)?;
    index.ingest_usage()?;
    if index.latest_runs()?.is_empty() {
        writeln!(
            out,
            "No recorded test runs in {}: run the tests (RECORD_MODE=replay) first; nothing pruned",
            index.path().display()
        )?;
        return Ok(EXIT_OK);
    }
    let unused = index.unused_for_latest_runs()?;
    let store = crate::store_at(&dir);
    let total = index.entries(&EntryFilter::default())?.len();
    for path in &unused {
        let shown = display_path(&dir, path);
        if args.dry_run {
            writeln!(out, "Would remove: {shown}")?;
        } else {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("cannot remove {}: {e}", path.display()),
            }
            // The id map must not name a recording that is gone (check would fail).
            if let Some(folder) = path.parent().filter(|f| f.join(IDS_FILE).exists()) {
                store.refresh_ids_file(folder)?;
            }
            remove_empty_parents(&dir, path);
            writeln!(out, "Removed: {shown}")?;
        }
    }
    let verb = if args.dry_run {
        "would be removed"
    } else {
        "removed"
    };
    writeln!(out, "{}/{total} recordings {verb}", unused.len())?;
    if !args.dry_run && !unused.is_empty() {
        index.ensure_fresh(&crate::store_at(&dir))?;
    }
    Ok(EXIT_OK)
}

/// A temporary file this old cannot belong to a write still in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes the temporary files interrupted writes left (only stale ones: a test
/// running now may be about to rename its own).
fn remove_leftover_temp_files(
    dir: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for path in crate::store_at(dir).leftover_temp_files()? {
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_none_or(|a| a < STALE_TEMP) {
            continue;
        }
        let shown = display_path(dir, &path);
        if dry_run {
            writeln!(out, "Would remove: {shown} (left by an interrupted write)")?;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => writeln!(out, "Removed: {shown} (left by an interrupted write)")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot remove {}: {e}", path.display()),
        }
    }
    Ok(())
}

pub(crate) fn remove_empty_parents(root: &Path, file: &Path) {
    let mut cur = file.parent();
    while let Some(d) = cur {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        cur = d.parent();
    }
}
