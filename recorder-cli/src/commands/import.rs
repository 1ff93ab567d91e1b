//! `cargo recordings import ogx`.

use crate::OgxArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use std::io::Write;

/// `recordings import ogx <folder>`: converts OGX recordings into the folder.
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
    writeln!(
        out,
        "Imported {} exchanges and {} model lists from {} into {}",
        report.imported,
        report.model_lists,
        args.folder.display(),
        dir.display()
    )?;
    if report.skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    for (path, why) in &report.skipped {
        writeln!(err, "skipped {}: {why}", path.display())?;
    }
    writeln!(err, "{} file(s) skipped", report.skipped.len())?;
    Ok(EXIT_PROBLEMS)
}
