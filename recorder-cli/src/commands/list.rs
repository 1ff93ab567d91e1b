//! `cargo recordings list` and `show`.

use crate::index::EntryFilter;
use crate::{existing_dir, fresh_index, EXIT_OK};
use crate::{ListArgs, ShowArgs};
use recorder_runtime::store::{self, RecordingKey};
use std::io::Write;
use std::path::PathBuf;

/// `recordings list`: one line per recording, grouped by test.
pub(crate) fn list(
    args: &ListArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let index = fresh_index(&dir, err)?;
    let entries = index.entries(&EntryFilter {
        test: args.test.clone(),
        endpoint: args.endpoint.clone(),
        model: args.model.clone(),
        hash_prefix: None,
    })?;
    // Requests made more than once show which time each file answers: `#1`, `#2`, ...
    let mut times: std::collections::HashMap<(Option<&str>, &str), u32> = Default::default();
    for e in &entries {
        let n = times
            .entry((e.test_id.as_deref(), &e.request_hash))
            .or_default();
        *n = (*n).max(e.occurrence);
    }
    let mut current: Option<Option<String>> = None;
    for e in &entries {
        if current.as_ref() != Some(&e.test_id) {
            let title = e.test_id.as_deref().unwrap_or("(shared model lists)");
            writeln!(out, "{title}")?;
            current = Some(e.test_id.clone());
        }
        let seq = if times[&(e.test_id.as_deref(), e.request_hash.as_str())] > 1 {
            format!(" #{}", e.occurrence)
        } else {
            "   ".to_owned()
        };
        writeln!(
            out,
            "  {}{seq}  {} {} {:<6} {}{}  {}",
            &e.request_hash[..12.min(e.request_hash.len())],
            e.status,
            e.method,
            if e.is_streaming { "stream" } else { "" },
            e.endpoint,
            e.model
                .as_deref()
                .map(|m| format!("  model={m}"))
                .unwrap_or_default(),
            e.recorded_at,
        )?;
    }
    writeln!(out, "{} recording(s)", entries.len())?;
    Ok(EXIT_OK)
}

/// `recordings show <hash prefix | file>`: the recording, readable.
pub(crate) fn show(
    args: &ShowArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let as_file = PathBuf::from(&args.what);
    let paths: Vec<PathBuf> = if as_file.is_file() {
        vec![as_file]
    } else {
        let dir = existing_dir(&args.dir)?;
        let prefix = args.what.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("{} is neither a file nor a hash prefix", args.what);
        }
        let index = fresh_index(&dir, err)?;
        let entries = index.entries(&EntryFilter {
            hash_prefix: Some(prefix),
            ..Default::default()
        })?;
        let mut hashes: Vec<&str> = entries.iter().map(|e| e.request_hash.as_str()).collect();
        hashes.dedup();
        if hashes.is_empty() {
            anyhow::bail!(
                "no recording in {} has a hash starting with {}",
                dir.display(),
                args.what
            );
        }
        if hashes.len() > 1 {
            let mut msg = format!(
                "{} matches {} recordings; give more of the hash:",
                args.what,
                hashes.len()
            );
            for e in &entries {
                msg.push_str(&format!(
                    "\n  {}  {}",
                    e.request_hash,
                    e.file_path.display()
                ));
            }
            anyhow::bail!(msg);
        }
        entries.iter().map(|e| dir.join(&e.file_path)).collect()
    };
    let limit = recorder_runtime::env::max_recording_bytes();
    for path in paths {
        let rec = store::read_recording(&path, limit)?;
        let r = &rec.request;
        let resp = &rec.response;
        writeln!(out, "file:     {}", path.display())?;
        writeln!(out, "hash:     {}", rec.request_hash())?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if let Some(key) = RecordingKey::parse(&name) {
            let others = std::fs::read_dir(path.parent().unwrap_or(std::path::Path::new(".")))
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| RecordingKey::parse(&e.file_name().to_string_lossy()))
                        .filter(|k| k.hash() == rec.request_hash())
                        .count()
                })
                .unwrap_or(1);
            if others > 1 {
                writeln!(
                    out,
                    "occurrence: {} of {others} (the test makes this request {others} times; each file answers one, in order)",
                    key.occurrence()
                )?;
            }
        }
        writeln!(
            out,
            "test:     {}",
            rec.test_id.as_deref().unwrap_or("(shared model list)")
        )?;
        writeln!(out, "request:  {} {}", r.method, r.endpoint)?;
        if let Some(m) = &r.model {
            writeln!(out, "model:    {m}")?;
        }
        if !r.body.is_null() {
            writeln!(
                out,
                "body:\n{}",
                indent(&serde_json::to_string_pretty(&r.body)?)
            )?;
        }
        writeln!(
            out,
            "response: {} {}",
            resp.status,
            resp.content_type.as_deref().unwrap_or("")
        )?;
        for (name, value) in &resp.headers {
            writeln!(out, "  {name}: {value}")?;
        }
        if let Some(s) = &resp.stream {
            writeln!(out, "stream:   {} frames ({:?})", s.frames.len(), s.format)?;
            for f in &s.frames {
                writeln!(out, "  {}", serde_json::to_string(f)?)?;
            }
        } else if let Some(b) = &resp.body {
            writeln!(out, "{}", indent(&serde_json::to_string_pretty(b)?))?;
        } else if let Some(t) = &resp.body_text {
            writeln!(out, "{}", indent(t))?;
        } else if let Some(h) = &resp.body_hex {
            writeln!(out, "  ({} bytes of binary)", h.len() / 2)?;
        }
    }
    Ok(EXIT_OK)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
