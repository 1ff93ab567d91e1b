//! Finding a secret however a text spells it: as it is, percent-encoded (a URL, a
//! form), or inside base64 (a file part, a `data:` URI, an echo of `Basic`
//! credentials), and replacing it without corrupting the encoding around it.
//!
//! A [`Scrubber`] is made once from a test's secrets and runs three passes, each on
//! what the one before left:
//! 1. **as it is**: every occurrence of a value becomes `<redacted:VAR>`;
//! 2. **percent-encoded**: a text with a `%XX` escape (either case) is decoded as a
//!    whole; where a value appears in the decoded text, the encoded span becomes the
//!    placeholder (which decodes to itself);
//! 3. **base64** (standard and URL-safe, padded or not): inside a longer base64 text
//!    a value's encoding depends on where it starts in a 3-byte group, so each value
//!    has three *cores* per alphabet, the characters that encode its bytes alone.
//!    Where one is found, the whole run of base64 characters around it is decoded,
//!    scrubbed (all three passes, once more at most) and encoded again: replacing
//!    inside the encoded text would corrupt it, and a value found by a core but not in
//!    the decoded bytes is left alone.
//!
//! The cost when nothing is found (the hot path): one SIMD substring search per value
//! and per distinct core, with finders built once, and a `memchr` for `%`; only a text
//! that holds a `%XX` escape is decoded (once, whole), and only a base64 run that holds
//! a core. Until nothing changes, at most three rounds: a run encoded again could, in
//! theory, spell a secret as it is.
//!
//! ```
//! use recorder_runtime::secrets::Scrubber;
//! use base64::Engine as _;
//! let b64 = base64::engine::general_purpose::STANDARD;
//! let scrubber = Scrubber::new(&[("KEY".to_string(), "sk-live/0123456789".to_string())]);
//! // As it is, percent-encoded, and inside base64:
//! assert_eq!(scrubber.scrub_str("k=sk-live/0123456789"), "k=<redacted:KEY>");
//! assert_eq!(scrubber.scrub_str("k=sk-live%2F0123456789&x=1"), "k=<redacted:KEY>&x=1");
//! let file = b64.encode("the key: sk-live/0123456789, twice: sk-live/0123456789.");
//! let scrubbed = scrubber.scrub_str(&format!("data:text/plain;base64,{file}")).into_owned();
//! let back = b64.decode(scrubbed.strip_prefix("data:text/plain;base64,").unwrap()).unwrap();
//! assert_eq!(back, b"the key: <redacted:KEY>, twice: <redacted:KEY>.");
//! ```

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use memchr::memmem::Finder;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// How deep base64 inside base64 is looked into.
const MAX_DEPTH: u8 = 2;

/// How a secret was spelled where [`Scrubber::find`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// As it is.
    Plain,
    /// Percent-encoded (at least one `%XX` escape).
    PercentEncoded,
    /// Inside base64.
    Base64,
}

impl Spelling {
    /// How a report says it: `""`, `", percent-encoded"`, `", base64-encoded"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Spelling::Plain => "",
            Spelling::PercentEncoded => ", percent-encoded",
            Spelling::Base64 => ", base64-encoded",
        }
    }
}

/// The secrets of a test, ready to be found and replaced as they are, percent-encoded
/// and inside base64 (see [`crate::secrets`]).
#[derive(Default)]
pub struct Scrubber {
    secrets: Vec<Secret>,
    /// Distinct base64 cores of all secrets.
    cores: Vec<Core>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        let vars: Vec<&str> = self.secrets.iter().map(|s| s.var.as_str()).collect();
        f.debug_struct("Scrubber").field("secrets", &vars).finish()
    }
}

struct Secret {
    var: String,
    placeholder: String,
    finder: Finder<'static>,
}

struct Core {
    finder: Finder<'static>,
    /// Where the core starts in its 4-character group.
    offset: usize,
    /// The alphabets in which the core spells the secret (both, when it holds none of
    /// `+/-_`).
    alphabets: Vec<Alphabet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Standard,
    UrlSafe,
}

impl Alphabet {
    fn holds(self, b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || match self {
                Alphabet::Standard => b == b'+' || b == b'/',
                Alphabet::UrlSafe => b == b'-' || b == b'_',
            }
    }

    /// Decodes with or without padding, ignoring the last character's unused bits.
    fn decoder(self) -> GeneralPurpose {
        let config = GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true);
        GeneralPurpose::new(self.alphabet(), config)
    }

    fn encoder(self, padding: bool) -> GeneralPurpose {
        GeneralPurpose::new(
            self.alphabet(),
            GeneralPurposeConfig::new().with_encode_padding(padding),
        )
    }

    fn alphabet(self) -> &'static base64::alphabet::Alphabet {
        match self {
            Alphabet::Standard => &base64::alphabet::STANDARD,
            Alphabet::UrlSafe => &base64::alphabet::URL_SAFE,
        }
    }
}

/// One replacement: bytes `start..end` become `with`; `secret` is the index of (the
/// first) secret it removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) with: Vec<u8>,
    pub(crate) secret: usize,
}

/// The passes, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Plain,
    Percent,
    Base64,
}

impl Pass {
    pub(crate) const ALL: [Pass; 3] = [Pass::Plain, Pass::Percent, Pass::Base64];
}

impl Scrubber {
    /// A scrubber for these `(variable, value)` pairs; values that are not secrets
    /// ([`super::is_secret`]) are left out.
    pub fn new(secrets: &[(String, String)]) -> Scrubber {
        let mut out = Scrubber::default();
        for (var, value) in secrets {
            if !super::is_secret(value)
                || out
                    .secrets
                    .iter()
                    .any(|s| s.finder.needle() == value.as_bytes())
            {
                continue;
            }
            out.secrets.push(Secret {
                var: var.clone(),
                placeholder: super::placeholder(var),
                finder: Finder::new(value.as_bytes()).into_owned(),
            });
            for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
                for (offset, core) in cores(value.as_bytes(), alphabet) {
                    match out
                        .cores
                        .iter_mut()
                        .find(|c| c.offset == offset && c.finder.needle() == core.as_bytes())
                    {
                        Some(c) => c.alphabets.push(alphabet),
                        None => out.cores.push(Core {
                            finder: Finder::new(core.as_bytes()).into_owned(),
                            offset,
                            alphabets: vec![alphabet],
                        }),
                    }
                }
            }
        }
        out
    }

    /// The scrubber of these secrets, made again only when they differ from the last
    /// ones asked for: the free functions of [`super`] are called with one test's
    /// secrets over and over, and making a scrubber costs more than most scans.
    ///
    /// ```
    /// use recorder_runtime::secrets::Scrubber;
    /// let secrets = [("KEY".to_string(), "sk-cached-0123456789".to_string())];
    /// let a = Scrubber::cached(&secrets);
    /// assert_eq!(a.scrub_str("k: sk-cached-0123456789"), "k: <redacted:KEY>");
    /// ```
    pub fn cached(secrets: &[(String, String)]) -> Arc<Scrubber> {
        type Last = Option<(Vec<(String, String)>, Arc<Scrubber>)>;
        static LAST: Mutex<Last> = Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made_for, scrubber)) = &*last {
            if made_for.as_slice() == secrets {
                return scrubber.clone();
            }
        }
        let scrubber = Arc::new(Scrubber::new(secrets));
        *last = Some((secrets.to_vec(), scrubber.clone()));
        scrubber
    }

    /// Whether there is no secret to look for.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `s` with every secret replaced, however it is spelled.
    pub fn scrub_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        match self.scrub_bytes(s.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(s),
            // Replacements are whole UTF-8 sequences of the text or ASCII.
            Cow::Owned(b) => Cow::Owned(
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Bytes with every secret replaced, however they spell it.
    pub fn scrub_bytes<'a>(&self, b: &'a [u8]) -> Cow<'a, [u8]> {
        self.scrub_at(b, 0)
    }

    /// Replaces secrets in every string of `v` (object keys are left alone); returns
    /// how many strings changed.
    pub fn scrub_value(&self, v: &mut Value) -> usize {
        match v {
            Value::String(s) => match self.scrub_str(s) {
                Cow::Owned(new) => {
                    *s = new;
                    1
                }
                Cow::Borrowed(_) => 0,
            },
            Value::Array(items) => items.iter_mut().map(|i| self.scrub_value(i)).sum(),
            Value::Object(map) => map.values_mut().map(|i| self.scrub_value(i)).sum(),
            _ => 0,
        }
    }

    /// The first secret in `b`, by variable, and how it is spelled there.
    ///
    /// ```
    /// use recorder_runtime::secrets::{Scrubber, Spelling};
    /// let s = Scrubber::new(&[("KEY".to_string(), "sk-find/0123456789".to_string())]);
    /// assert_eq!(s.find(b"q=sk-find%2F0123456789"), Some(("KEY", Spelling::PercentEncoded)));
    /// assert_eq!(s.find(b"nothing here"), None);
    /// ```
    pub fn find(&self, b: &[u8]) -> Option<(&str, Spelling)> {
        if self.is_empty() {
            return None;
        }
        if let Some(s) = self.secrets.iter().find(|s| s.finder.find(b).is_some()) {
            return Some((&s.var, Spelling::Plain));
        }
        let var = |e: &Edit| self.secrets[e.secret].var.as_str();
        if let Some(e) = self.edits(Pass::Percent, b, 0).first() {
            return Some((var(e), Spelling::PercentEncoded));
        }
        self.edits(Pass::Base64, b, 0)
            .first()
            .map(|e| (var(e), Spelling::Base64))
    }

    /// Scrubs strings that a reader joins (a stream's pieces of text, in order): a
    /// secret spelled across pieces is cut out of each, and the first of them gets the
    /// replacement. Returns the new pieces (as many as before) and how many
    /// replacements were made; `None` when nothing changed.
    pub(crate) fn scrub_pieces(&self, pieces: &[String]) -> Option<(Vec<String>, usize)> {
        if self.is_empty() {
            return None;
        }
        let mut current: Cow<'_, [String]> = Cow::Borrowed(pieces);
        let mut count = 0;
        for pass in Pass::ALL {
            for _ in 0..Self::rounds(pass) {
                let joined = current.concat();
                let edits = self.edits(pass, joined.as_bytes(), 0);
                if edits.is_empty() {
                    break;
                }
                count += edits.len();
                let mut next = current.into_owned();
                cut(&mut next, &joined, &edits);
                current = Cow::Owned(next);
            }
        }
        match current {
            Cow::Owned(pieces) => Some((pieces, count)),
            Cow::Borrowed(_) => None,
        }
    }

    /// How many times a pass runs: a base64 run may hold the secrets of another run
    /// found at once (overlapping runs of the two alphabets), so that pass goes again
    /// until nothing changes, a bounded number of times.
    fn rounds(pass: Pass) -> usize {
        if pass == Pass::Base64 {
            4
        } else {
            1
        }
    }

    fn scrub_at<'a>(&self, b: &'a [u8], depth: u8) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(b);
        if self.is_empty() {
            return out;
        }
        // Until nothing changes: a base64 run encoded again could, in theory, spell a
        // secret as it is (a bounded number of rounds).
        for _ in 0..3 {
            let mut changed = false;
            for pass in Pass::ALL {
                for _ in 0..Self::rounds(pass) {
                    let edits = self.edits(pass, &out, depth);
                    if edits.is_empty() {
                        break;
                    }
                    changed = true;
                    out = Cow::Owned(apply(&out, &edits));
                }
            }
            if !changed {
                break;
            }
        }
        out
    }

    /// The replacements one pass makes in `text`: sorted, not overlapping.
    pub(crate) fn edits(&self, pass: Pass, text: &[u8], depth: u8) -> Vec<Edit> {
        match pass {
            Pass::Plain => disjoint(self.plain_edits(text), true),
            Pass::Percent => disjoint(self.percent_edits(text), true),
            // A base64 edit is a whole run encoded again: never merged into another.
            Pass::Base64 if depth < MAX_DEPTH => disjoint(self.base64_edits(text, depth), false),
            Pass::Base64 => Vec::new(),
        }
    }

    fn plain_edits(&self, text: &[u8]) -> Vec<Edit> {
        let mut edits = Vec::new();
        for (i, s) in self.secrets.iter().enumerate() {
            let len = s.finder.needle().len();
            for at in s.finder.find_iter(text) {
                edits.push(Edit {
                    start: at,
                    end: at + len,
                    with: s.placeholder.as_bytes().to_vec(),
                    secret: i,
                });
            }
        }
        edits
    }

    fn percent_edits(&self, text: &[u8]) -> Vec<Edit> {
        let Some(decoded) = percent_decode(text) else {
            return Vec::new();
        };
        let mut spans = Vec::new();
        for (i, s) in self.secrets.iter().enumerate() {
            let len = s.finder.needle().len();
            for at in s.finder.find_iter(&decoded) {
                spans.push((at, at + len, i));
            }
        }
        if spans.is_empty() {
            return Vec::new();
        }
        // Decoded positions back to the text's: walk both once.
        let mut wanted: Vec<usize> = spans.iter().flat_map(|&(a, b, _)| [a, b]).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut at = std::collections::HashMap::with_capacity(wanted.len());
        let (mut i, mut j) = (0, 0);
        let mut next = wanted.iter().peekable();
        while let Some(&&w) = next.peek() {
            if j == w {
                at.insert(w, i);
                next.next();
                continue;
            }
            i += escape_len(text, i);
            j += 1;
        }
        spans
            .into_iter()
            .map(|(a, b, i)| Edit {
                start: at[&a],
                end: at[&b],
                with: self.secrets[i].placeholder.as_bytes().to_vec(),
                secret: i,
            })
            .collect()
    }

    fn base64_edits(&self, text: &[u8], depth: u8) -> Vec<Edit> {
        let mut edits: Vec<Edit> = Vec::new();
        let mut seen: Vec<(usize, Alphabet)> = Vec::new();
        for core in &self.cores {
            for hit in core.finder.find_iter(text) {
                let Some(group) = hit.checked_sub(core.offset) else {
                    continue;
                };
                for (alphabet, start, end) in runs(text, hit, &core.alphabets) {
                    // The characters before the core in its group hold the secret's
                    // first bits: they must be base64 too.
                    if start > group || seen.contains(&(start, alphabet)) {
                        continue;
                    }
                    seen.push((start, alphabet));
                    let run = Run {
                        start,
                        end,
                        group,
                        alphabet,
                    };
                    if let Some(edit) = self.rewrite_run(text, &run, depth) {
                        edits.push(edit);
                        break;
                    }
                }
            }
        }
        edits
    }

    /// A run of base64, decoded from its first 4-character group on the core's grid,
    /// scrubbed and encoded again, if that changes it.
    fn rewrite_run(&self, text: &[u8], run: &Run, depth: u8) -> Option<Edit> {
        // Whole groups before the one that holds the core decode and encode back to the
        // same characters, so decoding starts at the first group of the run.
        let start = run.start + (run.group - run.start) % 4;
        let end = run.end;
        let mut stop = end;
        if (stop - start) % 4 == 1 {
            // Not base64 to its last character: that one stays as it is.
            stop -= 1;
        }
        // Padded as it was; a standard run of whole groups without `=` may come from an
        // encoder that pads (most do: data URIs, `b64_json`, `Basic`), so it is padded if
        // the new text needs it. URL-safe base64 is padded only if it was.
        let padded = stop == end
            && (text.get(end) == Some(&b'=')
                || (run.alphabet == Alphabet::Standard && (end - start).is_multiple_of(4)));
        let decoded = run.alphabet.decoder().decode(&text[start..stop]).ok()?;
        let Cow::Owned(scrubbed) = self.scrub_at(&decoded, depth + 1) else {
            return None;
        };
        let secret = self
            .secrets
            .iter()
            .position(|s| memchr::memmem::find(&scrubbed, s.placeholder.as_bytes()).is_some())
            .unwrap_or(0);
        let mut pad_end = end;
        while padded && pad_end < text.len() && pad_end - end < 2 && text[pad_end] == b'=' {
            pad_end += 1;
        }
        Some(Edit {
            start,
            end: if padded { pad_end } else { stop },
            with: run.alphabet.encoder(padded).encode(scrubbed).into_bytes(),
            secret,
        })
    }
}

/// A run of base64 characters that holds a core.
struct Run {
    start: usize,
    end: usize,
    /// Where the core's 4-character group starts.
    group: usize,
    alphabet: Alphabet,
}

/// The runs of base64 around `at` worth decoding, `(alphabet, start, end)`: the
/// run of characters of either alphabet, in the one alphabet its characters name (in
/// `alphabets`, those a core spells the secret in); when it mixes both (text such as
/// `id-` before standard base64), each alphabet's own run.
fn runs(text: &[u8], at: usize, alphabets: &[Alphabet]) -> Vec<(Alphabet, usize, usize)> {
    let around = |holds: &dyn Fn(u8) -> bool| {
        let mut start = at;
        while start > 0 && holds(text[start - 1]) {
            start -= 1;
        }
        let mut end = at;
        while end < text.len() && holds(text[end]) {
            end += 1;
        }
        (start, end)
    };
    let (start, end) = around(&|b| Alphabet::Standard.holds(b) || Alphabet::UrlSafe.holds(b));
    let run = &text[start..end];
    let standard = run.iter().any(|b| *b == b'+' || *b == b'/');
    let url = run.iter().any(|b| *b == b'-' || *b == b'_');
    let named = match (standard, url) {
        (true, false) => Some(Alphabet::Standard),
        (false, true) => Some(Alphabet::UrlSafe),
        (false, false) => alphabets.first().copied(),
        (true, true) => None,
    };
    match named {
        Some(a) if alphabets.contains(&a) => vec![(a, start, end)],
        Some(_) => Vec::new(),
        None => alphabets
            .iter()
            .map(|&a| {
                let (s, e) = around(&|b| a.holds(b));
                (a, s, e)
            })
            .collect(),
    }
}

/// What a text says once decoded, to find keys nobody configured (`sk-…`, bearer
/// tokens) however they are spelled: the text percent-decoded (when it has an escape),
/// and every run of at least 20 base64 characters decoded from each of its first four
/// characters (the run may start before the base64 does).
pub(crate) fn decodings(text: &str) -> Vec<(Spelling, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    if let Some(decoded) = percent_decode(bytes) {
        out.push((
            Spelling::PercentEncoded,
            String::from_utf8_lossy(&decoded).into_owned(),
        ));
    }
    for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
        let mut i = 0;
        while i < bytes.len() {
            if !alphabet.holds(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && alphabet.holds(bytes[i]) {
                i += 1;
            }
            if i - start < 20 {
                continue;
            }
            for skip in 0..4 {
                let run = &bytes[start + skip..i];
                let whole = run.len() - usize::from(run.len() % 4 == 1);
                if let Ok(decoded) = alphabet.decoder().decode(&run[..whole]) {
                    out.push((
                        Spelling::Base64,
                        String::from_utf8_lossy(&decoded).into_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// The base64 cores of `value` in `alphabet`: for each of the three places it can start
/// in a 3-byte group, the characters that encode its bytes alone, and where they start
/// in their 4-character group.
fn cores(value: &[u8], alphabet: Alphabet) -> Vec<(usize, String)> {
    (0..3)
        .map(|lead| {
            let mut bytes = vec![0u8; lead];
            bytes.extend_from_slice(value);
            let encoded = alphabet.encoder(false).encode(&bytes);
            // Characters that hold bits of the lead bytes, or of what follows the value,
            // are not the value's alone.
            let first = (8 * lead).div_ceil(6);
            let last = 8 * (lead + value.len()) / 6;
            (first % 4, encoded[first..last].to_owned())
        })
        .collect()
}

/// The edits sorted by start, none overlapping: one that overlaps an earlier one is
/// merged into it when `merge` (two secrets sharing text become one cut, with the
/// earlier one's replacement), else left for the next round.
fn disjoint(mut edits: Vec<Edit>, merge: bool) -> Vec<Edit> {
    if edits.len() < 2 {
        return edits;
    }
    edits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits {
        match out.last_mut() {
            Some(last) if e.start < last.end => {
                if merge {
                    last.end = last.end.max(e.end);
                }
            }
            _ => out.push(e),
        }
    }
    out
}

/// Makes `edits` (made on the pieces joined) in the pieces: each piece loses what the
/// edits cut out of it, and the piece where an edit starts gets its replacement.
fn cut(pieces: &mut [String], joined: &str, edits: &[Edit]) {
    let mut start = 0;
    for piece in pieces.iter_mut() {
        let (a, b) = (start, start + piece.len());
        start = b;
        if !edits.iter().any(|e| e.start < b && e.end > a) {
            continue;
        }
        let mut out = String::new();
        let mut pos = a;
        for e in edits {
            if e.end <= a || e.start >= b {
                continue;
            }
            out.push_str(&joined[pos..e.start.max(a)]);
            if e.start >= a {
                // Whole UTF-8 sequences or ASCII (see `Scrubber::scrub_str`).
                out.push_str(&String::from_utf8_lossy(&e.with));
            }
            pos = e.end.min(b);
        }
        out.push_str(&joined[pos..b]);
        *piece = out;
    }
}

/// `text` with `edits` (sorted, disjoint) made.
pub(crate) fn apply(text: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut pos = 0;
    for e in edits {
        out.extend_from_slice(&text[pos..e.start]);
        out.extend_from_slice(&e.with);
        pos = e.end;
    }
    out.extend_from_slice(&text[pos..]);
    out
}

/// How many bytes of `text` at `i` make one decoded byte: 3 for a valid `%XX`, else 1.
fn escape_len(text: &[u8], i: usize) -> usize {
    match text.get(i..i + 3) {
        Some([b'%', h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => 3,
        _ => 1,
    }
}

/// `%XX` (either case) decoded; anything else, `+` included, kept as it is. `None`
/// when the text holds no such escape (a `%` alone, as in "50% off", is none).
pub(crate) fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in memchr::memchr_iter(b'%', text) {
        if at < copied || escape_len(text, at) != 3 {
            continue;
        }
        let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
        out.extend_from_slice(&text[copied..at]);
        out.push(hex(text[at + 1]) << 4 | hex(text[at + 2]));
        copied = at + 3;
    }
    let mut out = out?;
    out.extend_from_slice(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    fn scrubber(value: &str) -> Scrubber {
        Scrubber::new(&[("K".to_string(), value.to_string())])
    }

    #[test]
    fn a_key_inside_base64_is_found_at_every_offset_and_in_both_alphabets() {
        let key = "sk-a?b>c~0123456789"; // `?`, `>` and `~` give `+`/`/` (or `-`/`_`)
        let s = scrubber(key);
        for lead in 0..6 {
            for tail in 0..4 {
                let mut plain = "x".repeat(lead).into_bytes();
                plain.extend_from_slice(key.as_bytes());
                plain.extend(std::iter::repeat_n(b'y', tail));
                let mut expected = "x".repeat(lead).into_bytes();
                expected.extend_from_slice(b"<redacted:K>");
                expected.extend(std::iter::repeat_n(b'y', tail));
                for engine in [STANDARD, URL_SAFE_NO_PAD] {
                    let text = format!("file=[{}] end", engine.encode(&plain));
                    let out = s.scrub_str(&text).into_owned();
                    let inner = &out[6..out.len() - 5];
                    assert_eq!(
                        engine.decode(inner).unwrap(),
                        expected,
                        "lead {lead}, tail {tail}: {out}"
                    );
                    assert!(out.starts_with("file=[") && out.ends_with("] end"), "{out}");
                    assert_eq!(s.find(text.as_bytes()), Some(("K", Spelling::Base64)));
                }
            }
        }
    }

    #[test]
    fn base64_that_only_looks_like_it_is_left_alone() {
        let s = scrubber("sk-0123456789abcdef");
        // Text made of base64 characters that holds no encoded key: unchanged.
        let text = "aGVsbG8gd29ybGQ= c2stMDEyMzQ1Njc4OWFiY2Rl"; // the key without its last byte
        assert!(matches!(s.scrub_str(text), Cow::Borrowed(_)));
        assert_eq!(s.find(text.as_bytes()), None);
        // A run with a letter before it (not on the 4-character grid) still decodes
        // from the grid the core sits on, and what precedes it is kept.
        let enc = STANDARD.encode("key sk-0123456789abcdef!");
        let out = s.scrub_str(&format!("Q{enc}")).into_owned();
        assert!(out.starts_with('Q'), "{out}");
        assert_eq!(STANDARD.decode(&out[1..]).unwrap(), b"key <redacted:K>!");
    }

    #[test]
    fn percent_encoded_keys_are_replaced_whatever_the_escapes() {
        let s = scrubber("sk+a/b=0123456789");
        for text in [
            "q=sk%2Ba%2Fb%3D0123456789&n=1",
            "q=sk%2ba%2fb%3d0123456789&n=1",
            "q=%73k%2Ba/b=0123456789&n=1",
        ] {
            assert_eq!(s.scrub_str(text), "q=<redacted:K>&n=1", "{text}");
            assert_eq!(
                s.find(text.as_bytes()),
                Some(("K", Spelling::PercentEncoded))
            );
        }
        // Escapes that do not spell it change nothing, a broken escape included.
        for text in ["100% sure, 50%off, %zz sk+a/b=012345678", "%"] {
            assert!(matches!(s.scrub_str(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn the_passes_compose_and_bytes_that_are_not_text_work_too() {
        let s = scrubber("sk-0123456789abcdef");
        // Plain and base64 in one text; base64 of a percent-encoded key.
        let b64 = STANDARD.encode("url?k=sk-0123456789abcdef%21");
        let text = format!("sk-0123456789abcdef and {b64}");
        let out = s.scrub_str(&text).into_owned();
        let (head, tail) = out.split_once(" and ").unwrap();
        assert_eq!(head, "<redacted:K>");
        assert_eq!(STANDARD.decode(tail).unwrap(), b"url?k=<redacted:K>%21");
        let mut binary = vec![0u8, 255, 1];
        binary.extend_from_slice(STANDARD.encode("x sk-0123456789abcdef").as_bytes());
        binary.push(0x80);
        let out = s.scrub_bytes(&binary).into_owned();
        assert_eq!(&out[..3], &[0, 255, 1]);
        assert_eq!(
            STANDARD.decode(&out[3..out.len() - 1]).unwrap(),
            b"x <redacted:K>"
        );
    }

    #[test]
    fn no_secret_no_change_and_the_values_never_show_in_debug() {
        let s = Scrubber::new(&[("K".into(), "short".into())]);
        assert!(s.is_empty());
        assert!(matches!(s.scrub_str("short"), Cow::Borrowed(_)));
        let s = scrubber("sk-0123456789abcdef");
        assert!(!format!("{s:?}").contains("0123456789"));
    }
}
