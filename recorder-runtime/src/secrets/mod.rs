//! Secrets kept off disk: every occurrence of a secret's value in a recording is
//! replaced by `<redacted:VAR>` before the file is written.
//!
//! The secrets of a test are the configured API keys (the setup's `api_key_env` and its
//! upstreams', see [`Target::secrets`](crate::engine::Target::secrets)), the
//! credentials that the setup's `env` and `RECORDER_ENV` carry (see
//! [`credentials_given`]), and every credential a request of the test
//! carried itself (an `Authorization`, `x-api-key` or `api-key` header, a `?key=` or
//! `?token=` query parameter): see [`crate::headers`].
//!
//! Where a value can hide, and is scrubbed: any string of a JSON body or stream event
//! (a prompt that quotes the key, an upstream that echoes it), text and binary bodies
//! (compressed answers are stored decoded, so they are scrubbed too), multipart file
//! parts (before they are described and hashed, see [`crate::multipart`]), kept
//! response headers, and spread over a stream's frames, where a model emits it token
//! by token, so that no one frame holds all of it but a client joining the deltas gets
//! it back. In each, a value is found as it is, percent-encoded, and inside base64,
//! where the whole encoded run is decoded, scrubbed and encoded again ([`Scrubber`]).
//! Object keys, the test id and the file's path are never touched: a key equal to
//! `user` or `test` would otherwise rewrite `"role":"user"`. Values shorter than
//! [`MIN_SECRET_LEN`], and well-known placeholders such as `EMPTY` or
//! `sk-no-key-required` ([`NON_SECRETS`]), are not secrets.
//!
//! ```
//! use recorder_runtime::secrets::scrub_frames;
//! use recorder_runtime::stream::Frame;
//! use serde_json::json;
//! let piece = |text: &str| Frame { data: Some(json!({"delta": {"content": text}})), ..Frame::default() };
//! let mut frames = vec![piece("key: sk-ab"), piece("cd12"), piece("34 done")];
//! let secrets = vec![("OPENAI_API_KEY".to_string(), "sk-abcd1234".to_string())];
//! assert_eq!(scrub_frames(&mut frames, &secrets), 1);
//! let joined: String = frames.iter().map(|f| f.data.as_ref().unwrap()["delta"]["content"].as_str().unwrap()).collect();
//! assert_eq!(joined, "key: <redacted:OPENAI_API_KEY> done");
//! ```

mod scrubber;

use crate::recording::Recording;
use crate::stream::Frame;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub use scrubber::{Scrubber, Spelling};

/// Values shorter than this are not treated as secrets: replacing them would mangle
/// ordinary text (a key such as `test` or `user` is common for local servers).
pub const MIN_SECRET_LEN: usize = 8;

/// Values that local servers take as a key but that are not secrets, compared without
/// case: never scrubbed.
pub const NON_SECRETS: &[&str] = &[
    "empty",
    "none",
    "null",
    "dummy",
    "test",
    "fake",
    "unused",
    "placeholder",
    "changeme",
    "not-needed",
    "no-key",
    "nokey",
    "sk-no-key-required",
    "sk-xxx",
    "sk-fake",
    "sk-test",
    "sk-dummy",
    "ollama",
    "lm-studio",
    "anything",
];

/// Whether a value is treated as a secret (see [`MIN_SECRET_LEN`] and [`NON_SECRETS`]).
///
/// ```
/// use recorder_runtime::secrets::is_secret;
/// assert!(is_secret("sk-proj-4f9a8b7c"));
/// assert!(!is_secret("EMPTY") && !is_secret("user") && !is_secret("sk-no-key-required"));
/// ```
pub fn is_secret(value: &str) -> bool {
    value.len() >= MIN_SECRET_LEN && !NON_SECRETS.iter().any(|p| p.eq_ignore_ascii_case(value))
}

/// The configured keys that are secrets. A key that is not (too short, or a
/// well-known placeholder) is still sent upstream; a one-line notice says so, once per
/// variable and process.
pub fn configured(keys: Vec<(String, String)>) -> Vec<(String, String)> {
    static NOTED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    keys.into_iter()
        .filter(|(var, value)| {
            if is_secret(value) {
                return true;
            }
            if NOTED.lock().unwrap().insert(var.clone()) {
                eprintln!(
                    "note: ${var} holds a value of {} characters that is not treated as a secret (under {MIN_SECRET_LEN} characters, or a placeholder such as EMPTY): it is used as it is, and not scrubbed from recordings",
                    value.len()
                );
            }
            false
        })
        .collect()
}

/// The placeholder that replaces a secret of variable `var`.
pub fn placeholder(var: &str) -> String {
    format!("<redacted:{var}>")
}

/// `s` with every secret value replaced, however it is spelled (see [`Scrubber`]).
pub fn scrub_str<'a>(s: &'a str, secrets: &[(String, String)]) -> Cow<'a, str> {
    Scrubber::cached(secrets).scrub_str(s)
}

/// Bytes with every secret value replaced (see [`scrub_str`]).
pub fn scrub_bytes<'a>(b: &'a [u8], secrets: &[(String, String)]) -> Cow<'a, [u8]> {
    Scrubber::cached(secrets).scrub_bytes(b)
}

/// Replaces secret values in every string of `v` (object keys are left alone).
/// Returns how many strings changed.
pub fn scrub_value(v: &mut Value, secrets: &[(String, String)]) -> usize {
    Scrubber::cached(secrets).scrub_value(v)
}

/// `rec` with every secret value replaced: in its request (endpoint and body), in its
/// response's body (JSON, text, or binary), headers and stream events, and across the
/// stream's frames. The test id is never touched.
pub fn scrub(mut rec: Recording, secrets: &[(String, String)]) -> Recording {
    let scrubber = Scrubber::cached(secrets);
    if scrubber.is_empty() {
        return rec;
    }
    if let Cow::Owned(e) = scrubber.scrub_str(&rec.request.endpoint) {
        rec.request.endpoint = e;
    }
    scrubber.scrub_value(&mut rec.request.body);
    let resp = &mut rec.response;
    if let Some(body) = &mut resp.body {
        scrubber.scrub_value(body);
    }
    if let Some(text) = &mut resp.body_text {
        if let Cow::Owned(t) = scrubber.scrub_str(text) {
            *text = t;
        }
    }
    if let Some(hex_body) = &mut resp.body_hex {
        if let Some(bytes) = crate::hex::decode(&*hex_body) {
            if let Cow::Owned(b) = scrubber.scrub_bytes(&bytes) {
                *hex_body = crate::hex::encode(b);
            }
        }
    }
    for value in resp.headers.values_mut() {
        if let Cow::Owned(v) = scrubber.scrub_str(value) {
            *value = v;
        }
    }
    if let Some(stream) = &mut resp.stream {
        // Every string of the frames' data is a piece of its path's joined text.
        frames_scrubbed(&mut stream.frames, &scrubber);
        for frame in &mut stream.frames {
            for field in frame
                .comments
                .iter_mut()
                .chain(&mut frame.event)
                .chain(&mut frame.id)
            {
                if let Cow::Owned(v) = scrubber.scrub_str(field) {
                    *field = v;
                }
            }
        }
    }
    rec
}

/// The credentials that `RECORDER_ENV` and the setup's `env` carry ([`crate::env::Vars::given`]),
/// `(variable, value)`: the value of every variable whose name says it is one
/// ([`crate::env::is_credential`]: `HF_TOKEN`, ...), and the password of every URL with
/// `user:password@` in it. They reach the services the recorder starts, which may send
/// them anywhere and see them echoed, so they are secrets of every test, like the API
/// key. (Variables only the process environment holds are not the recorder's to know:
/// set them through one of those layers to have them kept off disk.)
///
/// ```
/// use std::collections::BTreeMap;
/// use recorder_runtime::{env::Vars, secrets::credentials_given};
/// let env = BTreeMap::from([
///     ("DOC_HF_TOKEN".to_string(), "hf_abcdefghijklmnop".to_string()),
///     ("DOC_DB_URL".to_string(), "postgres://app:s3cret-pw@db:5432/x".to_string()),
///     ("DOC_OLLAMA_URL".to_string(), "http://127.0.0.1:11434".to_string()),
/// ]);
/// let creds = credentials_given(&Vars::for_setup(Some("doc"), &env));
/// assert!(creds.contains(&("DOC_HF_TOKEN".into(), "hf_abcdefghijklmnop".into())));
/// assert!(creds.contains(&("DOC_DB_URL".into(), "s3cret-pw".into())));
/// assert_eq!(creds.len(), 2);
/// ```
pub fn credentials_given(vars: &crate::env::Vars) -> Vec<(String, String)> {
    vars.given()
        .into_iter()
        .filter_map(|(name, value)| {
            if crate::env::is_credential(&name) {
                Some((name, value))
            } else {
                url_password(&value).map(|password| (name, password))
            }
        })
        .collect()
}

/// Where the password of a URL with `user:password@` is, as a byte range of `value`.
fn password_span(value: &str) -> Option<(usize, usize)> {
    let after_scheme = value.find("://")? + 3;
    let rest = &value[after_scheme..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let colon = userinfo.find(':')?;
    let start = after_scheme + colon + 1;
    let end = after_scheme + userinfo.len();
    (end > start).then_some((start, end))
}

/// The password of a URL with `user:password@` in it (percent-decoded), if it has one.
///
/// ```
/// use recorder_runtime::secrets::url_password;
/// assert_eq!(url_password("https://me:p%40ss-word@host:8080/v1").as_deref(), Some("p@ss-word"));
/// assert_eq!(url_password("http://127.0.0.1:11434"), None);
/// ```
pub fn url_password(value: &str) -> Option<String> {
    let (start, end) = password_span(value)?;
    let raw = &value.as_bytes()[start..end];
    let decoded = scrubber::percent_decode(raw);
    Some(String::from_utf8_lossy(decoded.as_deref().unwrap_or(raw)).into_owned())
}

/// `value` with the password of a URL in it masked, for showing it.
///
/// ```
/// use recorder_runtime::secrets::mask_url_password;
/// assert_eq!(mask_url_password("http://me:s3cret@gpu:11434/v1"), "http://me:****@gpu:11434/v1");
/// assert_eq!(mask_url_password("http://gpu:11434"), "http://gpu:11434");
/// ```
pub fn mask_url_password(value: &str) -> Cow<'_, str> {
    match password_span(value) {
        Some((start, end)) => Cow::Owned(format!("{}****{}", &value[..start], &value[end..])),
        None => Cow::Borrowed(value),
    }
}

/// Header names that must never be stored, anywhere in a recording's JSON: the
/// credential headers ([`crate::headers::CREDENTIAL_HEADERS`]) and cookies.
fn is_secret_key(key: &str) -> bool {
    crate::headers::CREDENTIAL_HEADERS
        .iter()
        .chain(&["cookie", "set-cookie"])
        .any(|s| key.eq_ignore_ascii_case(s))
}

/// Everything secret-looking in a recording, as `(where, what)`: the JSON scan of
/// [`find_secrets`], keys a model spelled across stream frames, a key inside a binary
/// body (decoded), and a credential query parameter in the endpoint. Every text is
/// looked at as it is and decoded (percent-encoding, base64 runs), as the
/// [`Scrubber`] looks at it. `configured` are the API keys' `(variable, value)`.
/// `recordings check` reports each.
pub fn findings(
    rec: &Recording,
    json: &Value,
    configured: &[(String, String)],
) -> Vec<(String, String)> {
    let scrubber = Scrubber::new(configured);
    let mut found = Vec::new();
    scan(json, &mut String::new(), &scrubber, &mut found);
    // A key a model emitted token by token is in no single frame, only in the text a
    // client puts together from them.
    if let Some(stream) = &rec.response.stream {
        for (at, text) in stream_texts(&stream.frames) {
            if let Some(what) = in_text(&text, &scrubber) {
                found.push((
                    format!("/response/stream (joined at {at})"),
                    format!("{what}, spelled across frames"),
                ));
            }
        }
    }
    if let Some(hex_body) = &rec.response.body_hex {
        if let Some(bytes) = crate::hex::decode(hex_body) {
            let what = match scrubber.find(&bytes) {
                Some((var, how)) => Some(format!("the value of ${var}{}", how.suffix())),
                None => in_text(&String::from_utf8_lossy(&bytes), &scrubber),
            };
            if let Some(what) = what {
                found.push(("/response/body_hex".into(), what));
            }
        }
    }
    let (_, creds) = crate::headers::strip_credentials(&rec.request.endpoint, &[]);
    for (name, _) in creds {
        found.push((
            "/request/endpoint".into(),
            format!("the credential query parameter `{name}`"),
        ));
    }
    found
}

/// The secret-looking things in a JSON value, as `(JSON pointer, what)`.
pub fn find_secrets(v: &Value, configured: &[(String, String)]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    scan(
        v,
        &mut String::new(),
        &Scrubber::new(configured),
        &mut found,
    );
    found
}

fn scan(v: &Value, at: &mut String, scrubber: &Scrubber, found: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = at.len();
                at.push('/');
                at.push_str(k);
                if is_secret_key(k) {
                    found.push((at.clone(), format!("the header key `{k}`")));
                }
                scan(child, at, scrubber, found);
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                scan(child, at, scrubber, found);
                at.truncate(len);
            }
        }
        Value::String(s) => {
            if let Some(what) = in_text(s, scrubber) {
                found.push((at.clone(), what));
            }
        }
        _ => {}
    }
}

/// What looks like a secret in `s`: a bearer token, an `sk-` key of 16+ characters,
/// or a configured key's value; as it is, percent-encoded, or inside base64.
pub fn secret_in_text(s: &str, configured: &[(String, String)]) -> Option<String> {
    in_text(s, &Scrubber::cached(configured))
}

fn in_text(s: &str, configured: &Scrubber) -> Option<String> {
    if let Some((var, how)) = configured.find(s.as_bytes()) {
        return Some(format!("the value of ${var}{}", how.suffix()));
    }
    if let Some(what) = key_shaped(s) {
        return Some(what.into());
    }
    scrubber::decodings(s)
        .into_iter()
        .find_map(|(how, text)| key_shaped(&text).map(|what| format!("{what}{}", how.suffix())))
}

/// A bearer token or an `sk-` key of 16+ characters in `s`, by what it is.
fn key_shaped(s: &str) -> Option<&'static str> {
    let bytes = s.as_bytes();
    let token_len = |from: usize, extra: &[u8]| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b"-_".contains(b) || extra.contains(b))
            .count()
    };
    let lower = s.to_ascii_lowercase();
    for (i, _) in lower.match_indices("bearer ") {
        if token_len(i + 7, b".~+/=") >= 8 {
            return Some("a bearer token");
        }
    }
    for (i, _) in s.match_indices("sk-") {
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'-');
        if boundary && token_len(i + 3, b"") >= 16 {
            return Some("an `sk-` API key");
        }
    }
    None
}

/// A stream's text as a client puts it together: per JSON path of the frames' data
/// (`/choices/0/delta/content`, ...), every frame's string there, joined in order.
pub fn stream_texts(frames: &[Frame]) -> BTreeMap<String, String> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for frame in frames {
        if let Some(data) = &frame.data {
            strings(data, &mut String::new(), &mut |path, s| {
                joined.entry(path.to_owned()).or_default().push_str(s)
            });
        }
    }
    joined
}

/// Replaces the secret values that a stream spells across frames: per JSON path of
/// the frames' data (`/choices/0/delta/content`, a tool call's arguments, raw text),
/// the strings of all frames are joined in order, as a client joins them, and every
/// occurrence (as it is, percent-encoded or in base64) is cut out of the pieces that
/// hold it; the first of them gets the placeholder. Frames keep their number and order.
/// Returns how many occurrences were replaced (those within one piece included).
pub fn scrub_frames(frames: &mut [Frame], secrets: &[(String, String)]) -> usize {
    frames_scrubbed(frames, &Scrubber::cached(secrets))
}

fn frames_scrubbed(frames: &mut [Frame], scrubber: &Scrubber) -> usize {
    if scrubber.is_empty() {
        return 0;
    }
    // path -> (frame index, string) in frame order
    let mut pieces: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, frame) in frames.iter().enumerate() {
        if let Some(data) = &frame.data {
            strings(data, &mut String::new(), &mut |path, s| {
                pieces
                    .entry(path.to_owned())
                    .or_default()
                    .push((i, s.to_owned()))
            });
        }
    }
    let mut replaced = 0;
    for (path, list) in pieces {
        let (at, before): (Vec<usize>, Vec<String>) = list.into_iter().unzip();
        let Some((texts, n)) = scrubber.scrub_pieces(&before) else {
            continue;
        };
        replaced += n;
        for ((frame, text), old) in at.into_iter().zip(texts).zip(before) {
            if text == old {
                continue;
            }
            let data = frames[frame].data.as_mut().expect("a piece came from data");
            if let Some(slot) = data.pointer_mut(&path) {
                *slot = Value::String(text);
            }
        }
    }
    replaced
}

/// Calls `f` with the JSON pointer and text of every string in `v`.
fn strings(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                strings(item, path, f);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('/');
                // JSON pointer escaping: `~` and `/` in keys.
                path.push_str(&crate::json::escape(k));
                strings(item, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_detection_avoids_ordinary_text() {
        use super::secret_in_text;
        assert!(secret_in_text("task-abcdefghijklmnopqrstuvwxyz", &[]).is_none());
        assert!(secret_in_text("sk-short", &[]).is_none());
        assert!(secret_in_text("the bearer of bad news", &[]).is_none());
        assert!(secret_in_text("Bearer eyJhbGciOiJIUzI1NiJ9", &[]).is_some());
        let configured = [("MY_KEY".to_string(), "s3cr3t-value".to_string())];
        assert_eq!(
            secret_in_text("x s3cr3t-value y", &configured).as_deref(),
            Some("the value of $MY_KEY")
        );
    }

    #[test]
    fn every_credential_header_and_cookies_are_found_as_keys() {
        for key in crate::headers::CREDENTIAL_HEADERS
            .iter()
            .chain(&["Cookie", "set-cookie"])
        {
            let v = serde_json::json!({"response": {"headers": {*key: "x"}}});
            let found = find_secrets(&v, &[]);
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert_eq!(found[0].0, format!("/response/headers/{key}"));
        }
        assert!(find_secrets(&serde_json::json!({"x-request-id": "r"}), &[]).is_empty());
    }
    use super::*;
    use serde_json::json;

    fn frame(data: Value) -> Frame {
        Frame {
            data: Some(data),
            ..Frame::default()
        }
    }

    fn key() -> Vec<(String, String)> {
        vec![("KEY".into(), "sk-0123456789".into())]
    }

    fn contents(frames: &[Frame], pointer: &str) -> String {
        frames
            .iter()
            .filter_map(|f| {
                f.data
                    .as_ref()?
                    .pointer(pointer)?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn a_key_spread_over_many_frames_is_cut_out_of_each() {
        let k = "sk-0123456789";
        let mut frames: Vec<Frame> = std::iter::once("before ".to_string())
            .chain(k.chars().map(String::from))
            .chain([
                "; again ".into(),
                k[..5].into(),
                k[5..].into(),
                " end".into(),
            ])
            .map(|t| frame(json!({"choices": [{"delta": {"content": t}}], "id": "x"})))
            .collect();
        let n = frames.len();
        assert_eq!(scrub_frames(&mut frames, &key()), 2);
        assert_eq!(frames.len(), n, "frames keep their number");
        assert_eq!(
            contents(&frames, "/choices/0/delta/content"),
            "before <redacted:KEY>; again <redacted:KEY> end"
        );
        assert!(frames.iter().all(|f| f.data.as_ref().unwrap()["id"] == "x"));
    }

    #[test]
    fn paths_are_joined_separately_and_raw_text_counts_too() {
        // The key's halves on two different paths are not the key.
        let mut frames = vec![
            frame(json!({"a": "sk-01234", "b": "x"})),
            frame(json!({"a": "y", "b": "56789"})),
        ];
        assert_eq!(scrub_frames(&mut frames, &key()), 0);
        // Non-JSON data (raw text frames) joins like any other string.
        let mut raw = vec![frame(json!("sk-012")), frame(json!("3456789!"))];
        assert_eq!(scrub_frames(&mut raw, &key()), 1);
        assert_eq!(contents(&raw, ""), "<redacted:KEY>!");
    }

    #[test]
    fn short_values_and_keys_with_pointer_characters() {
        let short = vec![("KEY".to_string(), "ab".to_string())];
        let mut frames = vec![frame(json!({"t": "a"})), frame(json!({"t": "b"}))];
        assert_eq!(scrub_frames(&mut frames, &short), 0);
        let mut frames = vec![
            frame(json!({"a/b~c": "sk-0123"})),
            frame(json!({"a/b~c": "456789"})),
        ];
        assert_eq!(scrub_frames(&mut frames, &key()), 1);
        assert_eq!(contents(&frames, "/a~1b~0c"), "<redacted:KEY>");
    }
}
