//! What git says about the recordings folder: which files differ from `HEAD`, and
//! `HEAD`'s version of them. Through the `git` command line, which every user of
//! `review` has and which reads every repository git itself can (worktrees, sparse
//! checkouts, packed and partial clones, any object format); nothing is written to
//! the repository, its index or its configuration.
//!
//! ```no_run
//! let repo = recorder_cli::git::Repo::find("recordings".as_ref()).unwrap().expect("in a git repository");
//! for file in repo.changes("recordings".as_ref()).unwrap() {
//!     println!("{} (in HEAD: {})", file.path, file.head.is_some());
//! }
//! ```

use anyhow::{bail, Context};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// A git work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

/// A file under the recordings folder that differs from `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// Its path relative to the recordings folder, `/`-separated.
    pub path: String,
    /// Its blob in `HEAD`, when it is there.
    pub head: Option<HeadBlob>,
}

/// A file's entry in `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadBlob {
    /// The object id.
    pub oid: String,
    /// The git file mode (`100644`, `100755`; `120000` is a symlink).
    pub mode: String,
}

impl HeadBlob {
    /// Whether `HEAD` holds a plain file here (not a symlink or a submodule).
    pub fn is_file(&self) -> bool {
        self.mode.starts_with("100")
    }
}

impl Repo {
    /// The repository whose work tree holds `dir` (or, when `dir` does not exist,
    /// its nearest existing parent); `None` when it is in none.
    pub fn find(dir: &Path) -> anyhow::Result<Option<Repo>> {
        let start = existing_ancestor(dir)?;
        let out = git_command(&start)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .map_err(not_installed)?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if why.contains("not a git repository") {
                return Ok(None);
            }
            bail!(
                "git rev-parse in {} failed: {}",
                start.display(),
                why.trim()
            );
        }
        let root = String::from_utf8(out.stdout).context("git printed a path that is not UTF-8")?;
        Ok(Some(Repo {
            root: PathBuf::from(root.trim_end_matches(['\n', '\r'])),
        }))
    }

    /// The work tree's top folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the repository has a `HEAD` commit (a new one has none).
    pub fn has_head(&self) -> anyhow::Result<bool> {
        let status = git_command(&self.root)
            .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(not_installed)?;
        Ok(status.success())
    }

    /// Every file under `dir` that differs from `HEAD`: modified, removed, new
    /// (staged or not; untracked files that `.gitignore` ignores are left out), sorted
    /// by path.
    pub fn changes(&self, dir: &Path) -> anyhow::Result<Vec<Changed>> {
        let rel = self.relative(dir)?;
        let spec = if rel.is_empty() {
            ".".to_owned()
        } else {
            rel.clone()
        };
        let mut files: HashMap<String, Option<HeadBlob>> = HashMap::new();
        if self.has_head()? {
            let raw = self.output(&[
                "diff",
                "--raw",
                "-z",
                "--no-renames",
                "--no-abbrev",
                "--no-ext-diff",
                "--no-textconv",
                "--no-color",
                "--ignore-submodules",
                "HEAD",
                "--",
                &spec,
            ])?;
            for (meta, path) in parse_raw(&raw)? {
                // `:<old mode> <new mode> <old oid> <new oid> <status>`
                let fields: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
                let [old_mode, _, old_oid, _, _status] = fields[..] else {
                    bail!("git diff --raw printed an entry it should not: {meta}");
                };
                let head = (old_mode != "000000").then(|| HeadBlob {
                    oid: old_oid.to_owned(),
                    mode: old_mode.to_owned(),
                });
                files.insert(path, head);
            }
            for path in self.list(&[
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
                "--",
                &spec,
            ])? {
                files.entry(path).or_insert(None);
            }
        } else {
            for path in self.list(&[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                &spec,
            ])? {
                files.insert(path, None);
            }
        }
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut out: Vec<Changed> = files
            .into_iter()
            .filter_map(|(path, head)| {
                let inside = path.strip_prefix(&prefix)?.to_owned();
                Some(Changed { path: inside, head })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The contents of blobs by object id; a blob bigger than `limit` bytes, or
    /// missing, is an error message instead (it is not read into memory).
    pub fn blobs(
        &self,
        oids: &[&str],
        limit: u64,
    ) -> anyhow::Result<HashMap<String, Result<Vec<u8>, String>>> {
        let mut result = HashMap::new();
        if oids.is_empty() {
            return Ok(result);
        }
        let mut child = git_command(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(not_installed)?;
        let mut stdin = child.stdin.take().expect("piped");
        let input: String = oids.iter().map(|o| format!("{o}\n")).collect();
        // Written from another thread: git answers while it reads, and a full pipe
        // either way would stop both.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        for _ in oids {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                break;
            }
            let fields: Vec<&str> = header.trim_end().split(' ').collect();
            match fields[..] {
                [oid, "missing"] => {
                    result.insert(
                        oid.to_owned(),
                        Err("missing from the repository".to_owned()),
                    );
                }
                [oid, _kind, size] => {
                    let size: u64 = size.parse().context("git cat-file printed a bad size")?;
                    let value = if size > limit {
                        std::io::copy(&mut (&mut reader).take(size), &mut std::io::sink())?;
                        Err(format!(
                            "it is {size} bytes in HEAD, over the limit of {limit} (RECORDER_MAX_RECORDING_BYTES)"
                        ))
                    } else {
                        let mut bytes = Vec::with_capacity(size as usize);
                        (&mut reader).take(size).read_to_end(&mut bytes)?;
                        Ok(bytes)
                    };
                    let mut newline = [0u8; 1];
                    reader.read_exact(&mut newline)?;
                    result.insert(oid.to_owned(), value);
                }
                _ => bail!("git cat-file printed {header:?}"),
            }
        }
        drop(reader);
        let _ = writer.join();
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "git cat-file failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(result)
    }

    /// `dir` relative to the work tree's top, `/`-separated (empty for the top).
    fn relative(&self, dir: &Path) -> anyhow::Result<String> {
        let existing = existing_ancestor(dir)?;
        let canonical = existing.canonicalize()?;
        let rest = dir.strip_prefix(&existing).unwrap_or(Path::new(""));
        let full = canonical.join(rest);
        let root = self.root.canonicalize()?;
        let rel = full.strip_prefix(&root).with_context(|| {
            format!(
                "{} is not inside the git work tree {}",
                dir.display(),
                root.display()
            )
        })?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(
                    p.to_str()
                        .with_context(|| format!("{} is not a UTF-8 path", dir.display()))?
                        .to_owned(),
                ),
                Component::CurDir => {}
                _ => bail!(
                    "{} is not a plain path inside {}",
                    dir.display(),
                    root.display()
                ),
            }
        }
        Ok(parts.join("/"))
    }

    fn output(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let out = git_command(&self.root)
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .map_err(not_installed)?;
        if !out.status.success() {
            bail!(
                "git {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }

    fn list(&self, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let out = self.output(args)?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }
}

/// `git` in `dir`: pathspecs taken literally (test folders hold `[` and `]`), and
/// no pager, prompt or optional lock that could make it wait or write.
fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .arg("--literal-pathspecs")
        .arg("--no-pager")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

fn not_installed(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot run git ({e}): review compares the recordings with git's HEAD, so git must be installed and on PATH")
}

/// `dir`, or its nearest parent that exists.
fn existing_ancestor(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    };
    let mut cur = dir.as_path();
    loop {
        if cur.is_dir() {
            return Ok(cur.to_path_buf());
        }
        cur = cur
            .parent()
            .with_context(|| format!("no folder of {} exists", dir.display()))?;
    }
}

/// `git diff --raw -z` output: (meta, path) pairs.
fn parse_raw(raw: &[u8]) -> anyhow::Result<Vec<(String, String)>> {
    let mut fields = raw.split(|b| *b == 0).filter(|f| !f.is_empty());
    let mut out = Vec::new();
    while let Some(meta) = fields.next() {
        let path = fields
            .next()
            .context("git diff --raw printed an entry without a path")?;
        out.push((
            String::from_utf8_lossy(meta).into_owned(),
            String::from_utf8_lossy(path).into_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_entries_pair_meta_and_path() {
        let raw = b":100644 100644 aaa bbb M\0recordings/a b/x.json\0:000000 100644 000 ccc A\0recordings/n.json\0";
        let parsed = parse_raw(raw).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].1, "recordings/a b/x.json");
        assert!(parsed[1].0.starts_with(":000000"));
    }
}
