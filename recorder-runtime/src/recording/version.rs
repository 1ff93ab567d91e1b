//! Which recorder wrote a file: its `format`, and for a recording the request-identity
//! scheme its file name was hashed with; how files of older versions are read today,
//! and how they are upgraded.
//!
//! Every file the recorder writes in a recordings folder (recordings, model lists, a
//! test's `_ids.json`) opens with its format; recordings and model lists also name
//! their identity scheme ([`crate::identity::SCHEME`]), which is stored and never
//! hashed:
//!
//! ```json
//! {
//!   "format": 2,
//!   "identity": 3,
//!   "test_id": "examples::chat::answers[text=smollm2-135m]",
//!   "request": { ... },
//!   "response": { ... }
//! }
//! ```
//!
//! A file without `format` is format 1 and one without `identity` is scheme 1: what
//! every recorder wrote before versions were numbered. Format 2 differs from format 1
//! by these two keys only.
//!
//! # The promise
//! - A file of an older version whose request still hashes to its file name replays
//!   as it is: it is upgraded in memory through [`CHAIN`].
//! - One whose request does not (the canonical form changed since it was written)
//!   cannot be matched. A miss in its test fails naming the file and
//!   `cargo recordings migrate`, never silently.
//! - A file of a newer version fails saying to upgrade the recorder.
//! - `cargo recordings migrate` rewrites older files in the current version, renaming
//!   those whose request hash changed; on current files it changes nothing.
//!
//! # Bumping a version
//! A change of the file format bumps [`FORMAT`] and appends a [`Step`] to
//! [`FORMAT_STEPS`]; a change of canonicalization bumps [`crate::identity::SCHEME`]
//! and appends one to [`IDENTITY_STEPS`]. A step without `upgrade` says that files of
//! the older version read as files of the newer one; a step with one rewrites an older
//! file's JSON (an identity step rewrites the stored request, whose hash, and so file
//! name, is then computed again), or says why it cannot, so that the file must be
//! recorded again.
//!
//! ```
//! use recorder_runtime::recording::version::{FileKind, Version, CHAIN};
//! let mut old: serde_json::Value = serde_json::json!({"test_id": "t", "request": {}, "response": {}});
//! let found = CHAIN.upgrade(FileKind::Recording, old.as_object_mut().unwrap()).unwrap();
//! assert_eq!(found, Version { format: 1, identity: 1 });
//! assert!(old.get("format").is_none(), "the version keys are the writer's to add");
//! ```

use crate::error::Error;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The file format this recorder writes.
pub const FORMAT: u32 = 2;

/// How each format became the next: `FORMAT_STEPS[i]` takes format `i + 1` to `i + 2`.
pub const FORMAT_STEPS: &[Step] = &[Step {
    from: 1,
    what: "every file names its format, and every recording its identity scheme",
    upgrade: None,
}];

/// How each identity scheme became the next: `IDENTITY_STEPS[i]` takes scheme `i + 1`
/// to `i + 2`.
pub const IDENTITY_STEPS: &[Step] = &[
    Step {
        from: 1,
        what: "a server-issued id that a request sends back and no answer of its test issued is hashed as the placeholder derived from the id itself",
        upgrade: Some(derive_unknown_ids),
    },
    Step {
        from: 2,
        what: "every query parameter named like a credential (token, sig, password, X-Amz-Signature, ..., in any case) leaves the endpoint",
        upgrade: Some(strip_query_credentials),
    },
];

/// Identity scheme 2 to 3: the query parameters named like a credential that scheme 2
/// kept in the endpoint (`?token=`, `?sig=`, `?Key=`, ...) leave it, as the engine's
/// `prepare` takes them out now ([`crate::headers::strip_credentials`]). Those a
/// setup's `auth = { query = "..." }` names were taken out already. A file whose
/// endpoint holds none keeps its hash.
fn strip_query_credentials(kind: FileKind, file: &mut Map<String, Value>) -> Result<(), String> {
    if kind != FileKind::Recording {
        return Ok(());
    }
    let Some(request) = file.get_mut("request").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let Some(endpoint) = request.get("endpoint").and_then(Value::as_str) else {
        return Ok(());
    };
    if let (std::borrow::Cow::Owned(e), _) = crate::query::strip_credentials(endpoint, &[]) {
        request.insert("endpoint".into(), Value::String(e));
    }
    Ok(())
}

/// Identity scheme 1 to 2: the ids a stored request still holds raw are those no
/// answer of its test issued (issued ones were stored as their placeholders), and
/// scheme 2 hashes each of them as the placeholder derived from itself
/// ([`crate::idmap::unknown_sent_back`], as the engine's `prepare` finds them). A file
/// whose request holds none keeps its hash. A file of another shape is left for the
/// reader to report.
fn derive_unknown_ids(kind: FileKind, file: &mut Map<String, Value>) -> Result<(), String> {
    if kind != FileKind::Recording {
        return Ok(());
    }
    let Some(request) = file.get_mut("request").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let Some(endpoint) = request.get("endpoint").and_then(Value::as_str) else {
        return Ok(());
    };
    let endpoint = endpoint.to_owned();
    let body = serde_json::to_vec(request.get("body").unwrap_or(&Value::Null))
        .expect("a JSON value serializes");
    let derived =
        crate::idmap::unknown_sent_back(&endpoint, &body, &crate::idmap::IdMap::default());
    if derived.is_empty() {
        return Ok(());
    }
    if let std::borrow::Cow::Owned(e) = derived.substitute_tokens(&endpoint) {
        request.insert("endpoint".into(), Value::String(e));
    }
    if let std::borrow::Cow::Owned(b) = derived.substitute_bytes(&body) {
        let body = serde_json::from_slice(&b)
            .map_err(|e| format!("its request body is not JSON once its ids are replaced ({e})"))?;
        request.insert("body".into(), body);
    }
    Ok(())
}

/// The versions this recorder writes, and how older ones become them.
pub const CHAIN: Chain<'static> = Chain {
    format: FORMAT,
    identity: crate::identity::SCHEME,
    format_steps: FORMAT_STEPS,
    identity_steps: IDENTITY_STEPS,
};

/// A file's format and identity scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// The file format.
    pub format: u32,
    /// The request-identity scheme (for `_ids.json`, which hashes nothing, the
    /// current one).
    pub identity: u32,
}

impl Version {
    /// What this recorder writes.
    pub const CURRENT: Version = Version {
        format: FORMAT,
        identity: crate::identity::SCHEME,
    };
}

/// `format 2, identity scheme 2`.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "format {}, identity scheme {}",
            self.format, self.identity
        )
    }
}

/// What a file holds, for the steps that upgrade it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A recording or a model list: `format` and `identity`.
    Recording,
    /// A test's `_ids.json`: `format` only.
    Ids,
}

/// How a file's version compares with a [`Chain`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// The version the chain writes.
    Current,
    /// Older: upgraded through the chain's steps.
    Older,
    /// Newer in its format or its scheme: only a newer recorder reads it.
    Newer,
}

/// Rewrites a file's JSON object (its version keys removed) from one version to the
/// next, or says why it cannot.
pub type Upgrade = fn(FileKind, &mut Map<String, Value>) -> Result<(), String>;

/// How a file of version `from` becomes one of `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The version it upgrades from.
    pub from: u32,
    /// What changed, for people.
    pub what: &'static str,
    /// Rewrites a file's JSON object (its version keys removed) from version `from` to
    /// `from + 1`, or says why it cannot; `None` when a file of version `from` reads
    /// as one of `from + 1`.
    pub upgrade: Option<Upgrade>,
}

/// The versions a recorder writes and the steps from every older one.
/// [`CHAIN`] is this recorder's.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    /// The file format written.
    pub format: u32,
    /// The identity scheme written.
    pub identity: u32,
    /// `format_steps[i]` upgrades format `i + 1`.
    pub format_steps: &'a [Step],
    /// `identity_steps[i]` upgrades scheme `i + 1`.
    pub identity_steps: &'a [Step],
}

impl Chain<'_> {
    /// The version this chain writes.
    pub fn current(&self) -> Version {
        Version {
            format: self.format,
            identity: self.identity,
        }
    }

    /// How `found` compares with what this chain writes.
    pub fn age(&self, found: Version) -> Age {
        if found.format > self.format || found.identity > self.identity {
            Age::Newer
        } else if found == self.current() {
            Age::Current
        } else {
            Age::Older
        }
    }

    /// The steps from `found` to the current version: format steps first. `None` when
    /// one is missing (a chain with a gap) or `found` is newer.
    fn steps(&self, found: Version) -> Option<Vec<&Step>> {
        if self.age(found) == Age::Newer {
            return None;
        }
        fn pick(steps: &[Step], from: u32, to: u32) -> Option<Vec<&Step>> {
            (from..to)
                .map(|v| {
                    (v as usize)
                        .checked_sub(1)
                        .and_then(|i| steps.get(i))
                        .filter(|s| s.from == v)
                })
                .collect()
        }
        let mut out = pick(self.format_steps, found.format, self.format)?;
        out.extend(pick(self.identity_steps, found.identity, self.identity)?);
        Some(out)
    }

    /// Whether a file of version `found` (not newer) reads as a current one: no step
    /// from it rewrites anything.
    pub fn reads_as_is(&self, found: Version) -> bool {
        self.steps(found)
            .is_some_and(|steps| steps.iter().all(|s| s.upgrade.is_none()))
    }

    /// Upgrades a file's JSON object to the current version in place, its version keys
    /// removed (the writer adds the current ones), and returns the version it had. An
    /// error, saying why, for a file of a newer version, with version keys that are not
    /// versions, or that a step cannot upgrade.
    pub fn upgrade(
        &self,
        kind: FileKind,
        file: &mut Map<String, Value>,
    ) -> Result<Version, String> {
        let found = self.version_of(kind, file)?;
        let Some(steps) = self.steps(found) else {
            return Err(self.newer(found));
        };
        file.shift_remove("format");
        if kind == FileKind::Recording {
            file.shift_remove("identity");
        }
        for step in steps {
            if let Some(upgrade) = step.upgrade {
                upgrade(kind, file).map_err(|why| {
                    format!(
                        "it cannot be upgraded from version {} ({}): {why}; record it again",
                        step.from, step.what
                    )
                })?;
            }
        }
        Ok(found)
    }

    /// The version a file's JSON object names (format 1 and scheme 1 when it names
    /// none; a `_ids.json` has no scheme, and counts as the current one).
    pub fn version_of(&self, kind: FileKind, file: &Map<String, Value>) -> Result<Version, String> {
        let number = |key: &str| -> Result<u32, String> {
            match file.get(key) {
                None => Ok(1),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        format!("its `{key}` is {v}, not a version (a whole number from 1)")
                    }),
            }
        };
        Ok(Version {
            format: number("format")?,
            identity: match kind {
                FileKind::Recording => number("identity")?,
                FileKind::Ids => self.identity,
            },
        })
    }

    /// Why a file of a newer version is not read.
    pub fn newer(&self, found: Version) -> String {
        format!(
            "it was written by a newer recorder ({found}; this one writes {}): upgrade recorder-runtime and cargo-recordings to use it",
            self.current()
        )
    }

    /// Why an older file whose request no longer hashes to its name is not matched.
    pub fn older(&self, found: Version) -> String {
        format!(
            "it is {found}, older than this recorder's {}, and its request no longer hashes to its file name: run `cargo recordings migrate`",
            self.current()
        )
    }
}

/// The error of a file of a newer version, naming it and what to do.
pub(crate) fn newer_file(path: &Path, found: Version) -> Error {
    Error::Format {
        context: "a recording file cannot be read".into(),
        files: vec![(path.to_path_buf(), CHAIN.newer(found))],
    }
}

/// A file's content with the current version keys first.
#[derive(Serialize)]
struct Stamped<'a, T: Serialize> {
    format: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<u32>,
    #[serde(flatten)]
    content: &'a T,
}

/// The bytes of a file of the recordings folder: its content after the current
/// version keys (`format`, and `identity` for a recording), pretty JSON with a
/// two-space indent and a trailing newline. Every writer of the recorder goes through
/// here.
pub(crate) fn file_bytes<T: Serialize>(kind: FileKind, content: &T) -> Vec<u8> {
    let stamped = Stamped {
        format: FORMAT,
        identity: (kind == FileKind::Recording).then_some(crate::identity::SCHEME),
        content,
    };
    let mut out =
        serde_json::to_vec_pretty(&stamped).expect("a file of the recordings folder serializes");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn versions_are_read_from_the_keys_and_default_to_one() {
        let c = CHAIN;
        let v = |j: Value| c.version_of(FileKind::Recording, &obj(j));
        assert_eq!(
            v(json!({})).unwrap(),
            Version {
                format: 1,
                identity: 1
            }
        );
        assert_eq!(
            v(json!({"format": 2, "identity": crate::identity::SCHEME})).unwrap(),
            Version::CURRENT
        );
        for bad in [
            json!({"format": 0}),
            json!({"format": "2"}),
            json!({"identity": -1}),
        ] {
            let e = v(bad.clone()).unwrap_err();
            assert!(e.contains("not a version"), "{bad}: {e}");
        }
        let ids = c
            .version_of(FileKind::Ids, &obj(json!({"identity": 7})))
            .unwrap();
        assert_eq!(
            ids.identity,
            crate::identity::SCHEME,
            "ids files have no scheme"
        );
    }

    #[test]
    fn ages_and_steps() {
        let c = CHAIN;
        assert_eq!(c.age(Version::CURRENT), Age::Current);
        assert_eq!(
            c.age(Version {
                format: 1,
                identity: 1
            }),
            Age::Older
        );
        assert_eq!(
            c.age(Version {
                format: FORMAT + 1,
                identity: 1
            }),
            Age::Newer
        );
        assert_eq!(
            c.age(Version {
                format: 1,
                identity: crate::identity::SCHEME + 1
            }),
            Age::Newer,
            "an older format with a newer scheme is still newer"
        );
        assert!(
            c.reads_as_is(Version {
                format: 1,
                identity: crate::identity::SCHEME
            }),
            "format 2 only added keys"
        );
        assert!(
            !c.reads_as_is(Version {
                format: 1,
                identity: 1
            }),
            "scheme 2 rewrites the ids of a request"
        );
        let mut newer = obj(json!({"format": FORMAT + 1}));
        let e = c.upgrade(FileKind::Recording, &mut newer).unwrap_err();
        assert!(e.contains("newer recorder") && e.contains("upgrade"), "{e}");
        // Each chain has a step from every version before its current one.
        for (i, s) in FORMAT_STEPS.iter().enumerate() {
            assert_eq!(s.from as usize, i + 1);
        }
        assert_eq!(FORMAT_STEPS.len() as u32, FORMAT - 1);
        for (i, s) in IDENTITY_STEPS.iter().enumerate() {
            assert_eq!(s.from as usize, i + 1);
        }
        assert_eq!(IDENTITY_STEPS.len() as u32, crate::identity::SCHEME - 1);
    }

    #[test]
    fn a_step_that_rewrites_runs_and_one_that_cannot_says_so() {
        fn rename_user(_: FileKind, f: &mut Map<String, Value>) -> Result<(), String> {
            let body = f
                .get_mut("request")
                .and_then(|r| r.get_mut("body"))
                .and_then(Value::as_object_mut)
                .ok_or("no request body")?;
            if let Some(u) = body.shift_remove("user") {
                body.insert("end_user".into(), u);
            }
            Ok(())
        }
        static STEPS: [Step; 2] = [
            Step {
                from: 1,
                what: "keys",
                upgrade: None,
            },
            Step {
                from: 2,
                what: "`user` is `end_user`",
                upgrade: Some(rename_user),
            },
        ];
        let chain = Chain {
            format: 3,
            identity: 1,
            format_steps: &STEPS,
            identity_steps: &[],
        };
        assert!(!chain.reads_as_is(Version {
            format: 1,
            identity: 1
        }));
        assert!(chain.reads_as_is(Version {
            format: 3,
            identity: 1
        }));
        let mut f = obj(json!({"format": 2, "identity": 1, "request": {"body": {"user": "u"}}}));
        let found = chain.upgrade(FileKind::Recording, &mut f).unwrap();
        assert_eq!(
            found,
            Version {
                format: 2,
                identity: 1
            }
        );
        assert_eq!(
            Value::Object(f),
            json!({"request": {"body": {"end_user": "u"}}})
        );
        let mut broken = obj(json!({"request": 1}));
        let e = chain.upgrade(FileKind::Recording, &mut broken).unwrap_err();
        assert!(
            e.contains("no request body") && e.contains("record it again"),
            "{e}"
        );
        let gap = Chain {
            format: 3,
            identity: 1,
            format_steps: &STEPS[..1],
            identity_steps: &[],
        };
        assert!(gap
            .upgrade(FileKind::Recording, &mut obj(json!({})))
            .is_err());
    }

    #[test]
    fn scheme_2_hashes_an_id_no_answer_issued_as_its_derived_placeholder() {
        use crate::idmap::derived_placeholder;
        let scheme_1 = |endpoint: &str, body: Value| {
            obj(json!({
                "format": 2, "identity": 1, "test_id": "t",
                "request": {"method": "POST", "endpoint": endpoint, "model": null, "body": body},
                "response": {"status": 200}
            }))
        };
        let body = json!({"messages": [
            {"role": "tool", "tool_call_id": "call_9f8e7d6c5b4a", "content": "42"},
            {"role": "tool", "tool_call_id": "call_rec-0123456789ab", "content": "issued"}
        ]});
        let mut f = scheme_1("/v1/responses/resp_68af0a1b2c3d/cancel", body);
        let found = CHAIN.upgrade(FileKind::Recording, &mut f).unwrap();
        assert_eq!(found.identity, 1);
        let rec: crate::recording::Recording = serde_json::from_value(Value::Object(f)).unwrap();
        assert_eq!(
            rec.request.endpoint,
            format!(
                "/v1/responses/{}/cancel",
                derived_placeholder("resp_68af0a1b2c3d")
            )
        );
        assert_eq!(
            rec.request.body["messages"][0]["tool_call_id"],
            derived_placeholder("call_9f8e7d6c5b4a")
        );
        assert_eq!(
            rec.request.body["messages"][1]["tool_call_id"], "call_rec-0123456789ab",
            "a placeholder stays"
        );
        // A request without such ids, and a `_ids.json`, are left as they were.
        let plain =
            json!({"model": "m", "messages": [{"role": "user", "content": "call_9f8e7d6c5b4a"}]});
        let mut f = scheme_1("/v1/chat/completions", plain.clone());
        CHAIN.upgrade(FileKind::Recording, &mut f).unwrap();
        assert_eq!(f["request"]["body"], plain);
        assert_eq!(f["request"]["endpoint"], "/v1/chat/completions");
        let mut ids = obj(json!({"format": 1, "test_id": "t", "ids": {"call_9f8e7d6c5b4a": {}}}));
        CHAIN.upgrade(FileKind::Ids, &mut ids).unwrap();
        assert_eq!(
            Value::Object(ids),
            json!({"test_id": "t", "ids": {"call_9f8e7d6c5b4a": {}}})
        );
    }

    #[test]
    fn scheme_3_takes_credential_query_parameters_out_of_the_endpoint() {
        let recording = |identity: u32, endpoint: &str| {
            obj(json!({
                "format": 2, "identity": identity, "test_id": "t",
                "request": {"method": "GET", "endpoint": endpoint, "model": null, "body": null},
                "response": {"status": 200}
            }))
        };
        for from in [1, 2] {
            let mut f = recording(
                from,
                "/v1/files/f/content?token=t0k3n&Sig=s1&page_token=p2&api-version=2024-10-21",
            );
            let found = CHAIN.upgrade(FileKind::Recording, &mut f).unwrap();
            assert_eq!(found.identity, from);
            assert_eq!(
                f["request"]["endpoint"],
                "/v1/files/f/content?page_token=p2&api-version=2024-10-21",
                "from scheme {from}"
            );
        }
        let mut only = recording(2, "/v1/x?token=t0k3n");
        CHAIN.upgrade(FileKind::Recording, &mut only).unwrap();
        assert_eq!(only["request"]["endpoint"], "/v1/x");
        // An endpoint without one is left as it was (and so is its hash).
        let mut plain = recording(2, "/v1/models?project_id=p-1");
        CHAIN.upgrade(FileKind::Recording, &mut plain).unwrap();
        assert_eq!(plain["request"]["endpoint"], "/v1/models?project_id=p-1");
        assert!(
            !CHAIN.reads_as_is(Version {
                format: 2,
                identity: 2
            }),
            "scheme 3 rewrites the endpoint of a request"
        );
    }

    #[test]
    fn files_open_with_their_version() {
        let bytes = file_bytes(FileKind::Recording, &json!({"test_id": "t"}));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!(
                "{{\n  \"format\": {FORMAT},\n  \"identity\": {},\n  \"test_id\": \"t\"\n}}\n",
                crate::identity::SCHEME
            )
        );
        let bytes = file_bytes(FileKind::Ids, &json!({"test_id": "t"}));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!("{{\n  \"format\": {FORMAT},\n  \"test_id\": \"t\"\n}}\n")
        );
    }
}
