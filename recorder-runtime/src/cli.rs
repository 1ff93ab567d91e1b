//! The `recordings` command: what `cargo run -p recorder-runtime --bin recordings -- <command>`
//! runs. The binary is a thin `main` over [`main`]; each command is a function here.
//!
//! Exit codes: [`EXIT_OK`] on success, [`EXIT_PROBLEMS`] when the command ran but found
//! problems (e.g. files skipped as corrupt), [`EXIT_ERROR`] on usage and I/O errors.

use crate::index::Index;
use crate::mode::DIR_VAR;
use crate::store::Store;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Success.
pub const EXIT_OK: i32 = 0;
/// The command ran, but found problems (e.g. corrupt files were skipped).
pub const EXIT_PROBLEMS: i32 = 1;
/// Usage or I/O error: the command could not do its job.
pub const EXIT_ERROR: i32 = 2;

/// Manage the recordings of recorded tests.
#[derive(Debug, Parser)]
#[command(
    name = "recordings",
    version,
    about = "Manage the recordings of recorded tests"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rebuild recordings/index.sqlite from the JSON files.
    Reindex(DirArgs),
}

/// Where the recordings are.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The recordings folder [default: $RECORDING_DIR, else recordings/ at the workspace root]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DirArgs {
    /// The folder given, else the default for the current directory.
    pub fn resolve(&self) -> std::io::Result<PathBuf> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => Ok(default_dir(&std::env::current_dir()?)),
        }
    }
}

/// The default recordings folder seen from `cwd`: `RECORDING_DIR` when set, else
/// `recordings/` in the folder holding `recorder.toml` (searched upward), else in the
/// top-most folder whose `Cargo.toml` has `[workspace]`, else in `cwd`.
pub fn default_dir(cwd: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        return cwd.join(d);
    }
    if let Some(root) = recorder_config::find_file(cwd)
        .as_deref()
        .and_then(Path::parent)
    {
        return root.join("recordings");
    }
    let workspace = cwd
        .ancestors()
        .filter(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .last();
    workspace.unwrap_or(cwd).join("recordings")
}

/// Runs the command line `args` (program name first), writing to `out` and `err`;
/// returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let text = e.render().ansi().to_string();
            let _ = if e.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return code;
        }
    };
    let result = match &cli.command {
        Command::Reindex(args) => reindex(args, out, err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_ERROR
        }
    }
}

/// `recordings reindex [--dir D]`: rebuilds the index from the JSON files and lists
/// the files skipped as unreadable.
pub fn reindex(args: &DirArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = args.resolve()?;
    if !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {}: pass --dir or set {DIR_VAR}",
            dir.display()
        );
    }
    let index = Index::open(&dir)?;
    let report = index.rebuild(&Store::new(&dir))?;
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

/// The binary's `main`: runs [`run`] on the process's arguments and exits with its code.
pub fn main() -> std::process::ExitCode {
    let code = run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::ExitCode::from(code as u8)
}
