//! `cargo recordings import ogx`.

use crate::OgxArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::store::Store;
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
    let report = crate::ogx::import_dir(&args.folder, &Store::new(&dir))?;
    let taken = report.taken_total();
    writeln!(
        out,
        "Imported {taken} of {} files from {} into {}:",
        taken + report.skipped.len(),
        args.folder.display(),
        dir.display()
    )?;
    for format in crate::ogx::Format::ALL {
        let n = report.taken_in(format);
        if n > 0 {
            writeln!(out, "  {n:>6}  {format}")?;
        }
    }
    if report.model_lists > 0 {
        writeln!(
            out,
            "  of them {} (shared by all tests, merged on replay)",
            plural(report.model_lists, "model list", "model lists")
        )?;
    }
    if !report.repeats.is_empty() {
        writeln!(
            out,
            "  of them {} an earlier file's request and answer (imported once, replayed for both)",
            plural(report.repeats.len(), "repeats", "repeat")
        )?;
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

/// `n` and the noun that goes with it.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
