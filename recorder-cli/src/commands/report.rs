//! `cargo recordings report --html FILE`: the recorded conversations on one static
//! page, with what differs from git's `HEAD` highlighted.

use crate::git::Repo;
use crate::report;
use crate::review::Review;
use crate::{existing_dir, ReportArgs, EXIT_OK, EXIT_PROBLEMS};
use std::io::Write;

/// `recordings report --html FILE`.
pub(crate) fn report(
    args: &ReportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let review = match Repo::find(&dir)? {
        Some(repo) => Some(Review::collect_in(&repo, &dir)?),
        None => {
            writeln!(
                err,
                "note: {} is not in a git repository: the page shows no changes",
                dir.display()
            )?;
            None
        }
    };
    let report = report::build(&dir, review)?;
    for (path, why) in &report.unreadable {
        writeln!(err, "warning: {path} is unreadable: {why}")?;
    }
    let html = report::page(&report, &dir);
    // Atomically: a page that is being rewritten is never seen half written.
    recorder_runtime::store::write_atomic(&args.html, html.as_bytes())?;
    let differ = report.tests.iter().filter(|t| t.differs()).count();
    let exchanges: usize = report.tests.iter().map(|t| t.exchanges.len()).sum();
    writeln!(
        out,
        "Wrote {}: {}, {}{}",
        args.html.display(),
        report::plural(report.tests.len(), "test"),
        report::plural(exchanges, "exchange"),
        if report.reviewed {
            format!(", {differ} differing from HEAD")
        } else {
            String::new()
        }
    )?;
    Ok(if report.unreadable.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
