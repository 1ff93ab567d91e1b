//! `cargo recordings import ogx`.

use crate::OgxArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use std::io::Write;

/// `recordings import ogx <folder>`: converts OGX recordings into the folder. Says per
/// format how many files it took; exits 0 when it took them all, else 1 after naming
/// each file it skipped and why.
pub(crate) fn import_ogx(
    args: &OgxArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    if !args.folder.is_dir() {
        anyhow::bail!("no folder at {}", args.folder.display());
    }
    let dir = args.dir.resolve()?;
    let report = crate::ogx::import_dir(&args.folder, &crate::store_at(&dir))?;
    let taken = report.taken_total();
    writeln!(
        out,
        "Imported {taken} of {} files from {} into {}:",
        taken + report.skipped.len(),
        args.folder.display(),
        dir.display()
    )?;
    for line in report.taken_lines() {
        writeln!(out, "{line}")?;
    }
    if report.skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    for (path, why) in &report.skipped {
        writeln!(err, "skipped {}: {why}", path.display())?;
    }
    writeln!(
        err,
        "{} file(s) skipped: they will not replay (nothing else was lost)",
        report.skipped.len()
    )?;
    Ok(EXIT_PROBLEMS)
}
