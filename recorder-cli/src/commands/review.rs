//! `cargo recordings review`: what a re-record changed against git's `HEAD`, per
//! test; on a terminal it asks to accept, reject or skip each test, otherwise it
//! prints (`--format`) or applies `--accept`/`--reject [FILTER]`.

use crate::review::render::{self, Decision};
use crate::review::Review;
use crate::{Console, ReviewArgs, EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS};
use std::io::Write;

/// What to do with each test.
enum Mode<'a> {
    /// Print in a format; change nothing.
    Print,
    /// Accept (`true`) or reject the tests the filter selects.
    Batch { accept: bool, filter: &'a str },
    /// Ask per test.
    Ask,
}

/// `recordings review`.
pub(crate) fn review(
    args: &ReviewArgs,
    console: &mut dyn Console,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = args.dir.resolve()?;
    let review = Review::collect(&dir)?;
    let mode = match (&args.accept, &args.reject) {
        (Some(filter), _) => Mode::Batch {
            accept: true,
            filter,
        },
        (_, Some(filter)) => Mode::Batch {
            accept: false,
            filter,
        },
        _ if args.format.is_none() && console.interactive() && !review.tests.is_empty() => {
            Mode::Ask
        }
        _ => Mode::Print,
    };
    let format = args.format.as_deref().unwrap_or("text");
    let code = if review.counts().unreadable > 0 {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    };
    match mode {
        Mode::Print => {
            print(&review, format, &[], console.colors(), out)?;
            if format == "text" && !review.tests.is_empty() {
                writeln!(
                    err,
                    "review: nothing changed on disk; in a terminal `cargo recordings review` asks per test, or pass --accept [FILTER] / --reject [FILTER]"
                )?;
            }
            Ok(code)
        }
        Mode::Batch { accept, filter } => {
            let mut decisions = Vec::new();
            let mut failed = false;
            for t in &review.tests {
                let d = if !t.matches(filter) {
                    None
                } else if accept {
                    Some(Decision::Accepted)
                } else {
                    match t.reject(&review.dir) {
                        Ok((restored, deleted)) => Some(Decision::Rejected { restored, deleted }),
                        Err(e) => {
                            writeln!(err, "error: {}: {e:#}", render::visible(t.name()))?;
                            failed = true;
                            None
                        }
                    }
                };
                decisions.push(d);
            }
            if decisions.iter().all(Option::is_none) && !failed && !review.tests.is_empty() {
                writeln!(
                    err,
                    "review: no changed test's id contains {filter:?}: nothing {}",
                    if accept { "accepted" } else { "rejected" }
                )?;
            }
            print(&review, format, &decisions, console.colors(), out)?;
            if format == "text" {
                print_decisions(&review, &decisions, out)?;
            }
            Ok(if failed { EXIT_ERROR } else { code })
        }
        Mode::Ask => {
            ask(&review, console, out, err)?;
            Ok(code)
        }
    }
}

fn print(
    review: &Review,
    format: &str,
    decisions: &[Option<Decision>],
    color: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        "markdown" => write!(out, "{}", render::markdown(review))?,
        "json" => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&render::json(review, decisions))?
        )?,
        _ => write!(out, "{}", render::text(review, color))?,
    }
    Ok(())
}

fn print_decisions(
    review: &Review,
    decisions: &[Option<Decision>],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut any = false;
    for (t, d) in review.tests.iter().zip(decisions) {
        let Some(d) = d else { continue };
        if !any {
            writeln!(out)?;
            any = true;
        }
        writeln!(out, "{}: {}", describe(d), render::visible(t.name()))?;
    }
    if any {
        writeln!(out, "{}", NOTHING_STAGED)?;
    }
    Ok(())
}

const NOTHING_STAGED: &str = "Nothing was staged or committed: accepted tests are the working tree's files as they are (commit them with `git add` and `git commit`); rejected ones are HEAD's again.";

fn describe(d: &Decision) -> String {
    match d {
        Decision::Accepted => "accepted".into(),
        Decision::Skipped => "skipped".into(),
        Decision::Rejected { restored, deleted } => {
            format!("rejected ({restored} restored from HEAD, {deleted} new removed)")
        }
    }
}

/// Shows each test and asks what to do with it.
fn ask(
    review: &Review,
    console: &mut dyn Console,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Vec<Option<Decision>>> {
    let color = console.colors();
    let total = review.tests.len();
    writeln!(out, "{}", render::headline(review))?;
    let mut decisions: Vec<Option<Decision>> = Vec::new();
    'tests: for (i, t) in review.tests.iter().enumerate() {
        writeln!(out, "\n[{}/{total}] {}", i + 1, render::test_text(t, color))?;
        loop {
            write!(
                out,
                "accept (a: keep the new files), reject (r: restore HEAD's), skip (s), quit (q)? "
            )?;
            out.flush()?;
            let Some(answer) = console.read_line()? else {
                writeln!(out)?;
                break 'tests;
            };
            let d = match answer.trim().to_ascii_lowercase().as_str() {
                "a" | "accept" => Decision::Accepted,
                "s" | "skip" | "" => Decision::Skipped,
                "q" | "quit" => break 'tests,
                "r" | "reject" => match t.reject(&review.dir) {
                    Ok((restored, deleted)) => Decision::Rejected { restored, deleted },
                    Err(e) => {
                        writeln!(err, "error: {e:#}")?;
                        continue;
                    }
                },
                other => {
                    writeln!(out, "{other:?} is not one of a, r, s, q")?;
                    continue;
                }
            };
            writeln!(out, "{}", describe(&d))?;
            decisions.push(Some(d));
            continue 'tests;
        }
    }
    let count = |f: fn(&Decision) -> bool| decisions.iter().flatten().filter(|d| f(d)).count();
    let accepted = count(|d| matches!(d, Decision::Accepted));
    let rejected = count(|d| matches!(d, Decision::Rejected { .. }));
    let left = total - accepted - rejected;
    writeln!(
        out,
        "\n{accepted} accepted, {rejected} rejected, {left} left as they are (run review again to see them)."
    )?;
    writeln!(out, "{NOTHING_STAGED}")?;
    Ok(decisions)
}
