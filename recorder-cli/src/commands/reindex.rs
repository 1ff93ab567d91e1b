//! `cargo recordings reindex`.

use crate::index::Index;
use crate::DirArgs;
use crate::{existing_dir, EXIT_OK, EXIT_PROBLEMS};
use std::io::Write;

/// `recordings reindex [--dir D]`: rebuilds the index from the JSON files and lists
/// the files skipped as unreadable.
pub(crate) fn reindex(
    args: &DirArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(args)?;
    let index = Index::open(&dir)?;
    let report = index.rebuild(&crate::store_at(&dir))?;
    writeln!(
        out,
        "Indexed {} recordings from {}",
        report.indexed,
        dir.display()
    )?;
    if report.skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    for s in &report.skipped {
        writeln!(err, "skipped {}: {}", s.path.display(), s.reason)?;
    }
    writeln!(
        err,
        "{} file(s) skipped: fix or delete them, then re-record with RECORD_MODE=record-if-missing",
        report.skipped.len()
    )?;
    Ok(EXIT_PROBLEMS)
}
