//! `multipart/form-data` request bodies (file uploads), as identity sees them.
//!
//! The boundary is random, so the raw bytes of the same upload differ on every run.
//! A multipart body is identified, and stored, as its parsed parts instead:
//!
//! ```json
//! { "multipart": [
//!     { "name": "purpose", "text": "assistants" },
//!     { "name": "file", "filename": "notes.txt", "content_type": "text/plain",
//!       "size": 12, "sha256": "…", "text": "hello world\n" }
//! ] }
//! ```
//!
//! - A part without a file name whose content is UTF-8 is a field: its `text` only
//!   (and its `content_type`, when it names one).
//! - A file part (or a field that is not UTF-8) has `size` and the `sha256` of its
//!   content, and the content itself up to [`INLINE_LIMIT`] bytes: as `text` when it is
//!   UTF-8, else as `base64`. Larger files are identified by their sha256 and size alone.
//!
//! Part order counts; the boundary, part headers other than the name, file name and
//! content type, and the transfer details never do.
//!
//! **Secrets.** Each part's content is scrubbed of the test's secrets (as they are,
//! percent-encoded, or inside base64: see [`crate::secrets::Scrubber`]) before it is
//! described: its `text` or `base64`, its `size` and its `sha256` are those of the
//! scrubbed content, so a key inside an uploaded file, text or binary, is neither
//! stored nor hashed, and the same upload replays.
//!
//! **Limits.** A body of more than [`Limits::max_parts`] parts
//! (`RECORDER_MAX_MULTIPART_PARTS`, default [`crate::env::DEFAULT_MAX_MULTIPART_PARTS`])
//! is refused with 413 before the rest is parsed: each part costs time, and no upload
//! API takes thousands.
//!
//! Parsing needs the `multipart` feature (off by default: a test that uploads files
//! turns it on); without it a multipart request is refused with an error naming the
//! feature, and nothing is sent or recorded.
//!
//! ```
//! # #[cfg(feature = "multipart")] {
//! use recorder_runtime::multipart::{boundary_of, describe, Limits};
//! use recorder_runtime::secrets::Scrubber;
//! let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n--XyZ--\r\n";
//! let boundary = boundary_of("multipart/form-data; boundary=XyZ").unwrap();
//! let v = describe(body, &boundary, &Scrubber::default(), &Limits::default()).unwrap();
//! assert_eq!(v, serde_json::json!({"multipart": [{"name": "purpose", "text": "assistants"}]}));
//! # }
//! ```

use crate::error::{Error, Result};
use crate::secrets::Scrubber;
use serde_json::Value;
#[cfg(feature = "multipart")]
use {
    base64::Engine as _,
    bytes::Bytes,
    serde_json::{json, Map},
};

/// Files up to this many bytes (64 KiB) are stored inline in the recording.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// What a multipart body may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most parts (`RECORDER_MAX_MULTIPART_PARTS`); more is refused.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parts: crate::env::DEFAULT_MAX_MULTIPART_PARTS,
        }
    }
}

/// The boundary of a `multipart/form-data` content type, if it is one.
#[cfg(feature = "multipart")]
pub fn boundary_of(content_type: &str) -> Option<String> {
    // Every request with a body passes here: JSON ones leave before the parser.
    let kind = content_type.trim_start().get(..10)?;
    if !kind.eq_ignore_ascii_case("multipart/") {
        return None;
    }
    let mime: mime::Mime = content_type.parse().ok()?;
    (mime.type_() == mime::MULTIPART && mime.subtype() == mime::FORM_DATA)
        .then(|| mime.get_param(mime::BOUNDARY).map(|b| b.to_string()))
        .flatten()
}

/// Whether a content type is `multipart/form-data` (a build without the `multipart`
/// feature cannot parse it, and says so in [`describe`]).
#[cfg(not(feature = "multipart"))]
pub fn boundary_of(content_type: &str) -> Option<String> {
    let base = content_type.split(';').next()?.trim();
    base.eq_ignore_ascii_case("multipart/form-data")
        .then(String::new)
}

/// Refuses: parsing multipart bodies needs the `multipart` feature.
#[cfg(not(feature = "multipart"))]
pub fn describe(
    _body: &[u8],
    _boundary: &str,
    _secrets: &Scrubber,
    _limits: &Limits,
) -> Result<Value> {
    Err(Error::FeatureOff {
        what: "a multipart/form-data request (a file upload)".into(),
        feature: "multipart",
    })
}

/// The parts of a multipart body, as identity sees and recordings store them, each
/// part's content scrubbed of `secrets` first (see the [module docs](self)). A body
/// that is not valid multipart, or has more parts than `limits` allow, is an error
/// saying why.
#[cfg(feature = "multipart")]
pub fn describe(body: &[u8], boundary: &str, secrets: &Scrubber, limits: &Limits) -> Result<Value> {
    let bytes = Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    // Everything is in memory: no future here ever waits.
    let parsed = ready(async {
        let mut parts = Vec::new();
        while let Some(field) = form.next_field().await.map_err(invalid)? {
            if parts.len() == limits.max_parts {
                return Err(Error::TooManyParts {
                    limit: limits.max_parts,
                    var: crate::env::MAX_MULTIPART_PARTS,
                });
            }
            let name = field.name().map(str::to_owned);
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(|m| m.to_string());
            let content = field.bytes().await.map_err(invalid)?;
            parts.push(part(
                name,
                filename,
                content_type,
                &secrets.scrub_bytes(&content),
            ));
        }
        Ok(json!({ "multipart": parts }))
    });
    parsed.unwrap_or_else(|| {
        Err(Error::Body {
            what: "the request's multipart/form-data body could not be parsed in memory".into(),
            source: None,
        })
    })
}

/// The output of a future whose data is all in memory, polled without an executor;
/// `None` if it keeps waiting (it never should).
#[cfg(feature = "multipart")]
fn ready<T>(fut: impl std::future::Future<Output = T>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    (0..64).find_map(|_| match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    })
}

#[cfg(feature = "multipart")]
fn invalid(e: multer::Error) -> Error {
    Error::body(
        format!("the request's multipart/form-data body cannot be parsed ({e}). Send a well-formed body whose parts end with the boundary of its Content-Type"),
        e,
    )
}

#[cfg(feature = "multipart")]
fn part(
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    content: &[u8],
) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), name.map_or(Value::Null, Value::String));
    let text = std::str::from_utf8(content).ok();
    if filename.is_none() {
        if let Some(text) = text {
            if let Some(ct) = content_type {
                p.insert("content_type".into(), ct.into());
            }
            p.insert("text".into(), text.into());
            return Value::Object(p);
        }
    }
    if let Some(f) = filename {
        p.insert("filename".into(), f.into());
    }
    if let Some(ct) = content_type {
        p.insert("content_type".into(), ct.into());
    }
    p.insert("size".into(), content.len().into());
    p.insert("sha256".into(), crate::identity::sha256_hex(content).into());
    if content.len() <= INLINE_LIMIT {
        match text {
            Some(t) => p.insert("text".into(), t.into()),
            None => p.insert(
                "base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(content)
                    .into(),
            ),
        };
    }
    Value::Object(p)
}

#[cfg(all(test, feature = "multipart"))]
mod tests {
    use super::*;

    /// name, file name, content type, content
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    /// Described without secrets, under the default limits.
    fn plain(body: &[u8], boundary: &str) -> Result<Value> {
        describe(body, boundary, &Scrubber::default(), &Limits::default())
    }

    fn body(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, ct, content) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disp = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = file {
                disp.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(disp.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn the_same_parts_under_another_boundary_are_the_same_body() {
        let parts: &[Part<'_>] = &[
            ("purpose", None, None, b"assistants"),
            ("file", Some("a.txt"), Some("text/plain"), b"hello\n"),
            (
                "blob",
                Some("b.bin"),
                Some("application/octet-stream"),
                &[0, 255, 1],
            ),
        ];
        let a = plain(&body("aaa", parts), "aaa").unwrap();
        let b = plain(
            &body("------------------------b7e1", parts),
            "------------------------b7e1",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a["multipart"][0],
            json!({"name": "purpose", "text": "assistants"})
        );
        assert_eq!(a["multipart"][1]["text"], "hello\n");
        assert_eq!(a["multipart"][1]["size"], 6);
        assert_eq!(a["multipart"][2]["base64"], "AP8B");
    }

    #[test]
    fn big_files_are_kept_as_their_hash_and_size() {
        let big = vec![b'x'; INLINE_LIMIT + 1];
        let v = plain(&body("b", &[("file", Some("big.txt"), None, &big)]), "b").unwrap();
        let p = &v["multipart"][0];
        assert_eq!(p["size"], INLINE_LIMIT + 1);
        assert_eq!(p["sha256"], crate::identity::sha256_hex(&big));
        assert!(p.get("text").is_none() && p.get("base64").is_none());
    }

    #[test]
    fn a_key_in_a_part_is_scrubbed_before_it_is_described_and_hashed() {
        let key = "sk-part-0123456789";
        let secrets = Scrubber::new(&[("KEY".into(), key.into())]);
        let mut binary = vec![0u8, 159, 146, 150];
        binary.extend_from_slice(key.as_bytes());
        let text = format!("notes {key} end");
        let parts: &[Part<'_>] = &[
            ("purpose", None, None, key.as_bytes()),
            ("file", Some("a.txt"), Some("text/plain"), text.as_bytes()),
            ("blob", Some("b.bin"), None, &binary),
        ];
        let v = describe(&body("b", parts), "b", &secrets, &Limits::default()).unwrap();
        let p = &v["multipart"];
        assert_eq!(p[0]["text"], "<redacted:KEY>");
        assert_eq!(p[1]["text"], "notes <redacted:KEY> end");
        let scrubbed_text = b"notes <redacted:KEY> end";
        assert_eq!(p[1]["size"], scrubbed_text.len());
        assert_eq!(p[1]["sha256"], crate::identity::sha256_hex(scrubbed_text));
        let stored = base64::engine::general_purpose::STANDARD
            .decode(p[2]["base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(stored, b"\x00\x9f\x92\x96<redacted:KEY>");
        assert_eq!(p[2]["sha256"], crate::identity::sha256_hex(&stored));
        assert!(!v.to_string().contains(key));
    }

    #[test]
    fn too_many_parts_are_refused_naming_the_limit_and_its_variable() {
        let many: Vec<Part<'_>> = (0..5).map(|_| ("f", None, None, &b"x"[..])).collect();
        let limits = Limits { max_parts: 4 };
        let err = describe(&body("b", &many), "b", &Scrubber::default(), &limits).unwrap_err();
        assert_eq!(err.http_status(), 413);
        let msg = err.to_string();
        assert!(
            msg.contains("more than 4 parts") && msg.contains("RECORDER_MAX_MULTIPART_PARTS"),
            "{msg}"
        );
        let limits = Limits { max_parts: 5 };
        assert!(describe(&body("b", &many), "b", &Scrubber::default(), &limits).is_ok());
    }

    #[test]
    fn a_broken_body_is_a_clear_error() {
        let err = plain(
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end",
            "b",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("multipart/form-data body cannot be parsed"),
            "{err}"
        );
        assert_eq!(boundary_of("application/json"), None);
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"q u\"").as_deref(),
            Some("q u")
        );
    }
}
