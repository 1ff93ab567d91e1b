//! The fake's deterministic text: answers, embeddings, hashes and dates.

use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// The echo answer to a prompt: at least 14 words.
pub(super) fn answer_text(prompt: &str) -> String {
    format!(
        "Fake answer to \"{}\": this reply comes from the fake upstream, one word at a time.",
        prompt.trim()
    )
}

/// The answer to a prompt that came with images: what the fake "sees" in each.
pub(super) fn vision_answer_text(prompt: &str, seen: &[String]) -> String {
    let count = match seen.len() {
        1 => "1 image".to_string(),
        n => format!("{n} images"),
    };
    format!(
        "Fake answer to \"{}\": the fake upstream sees {count}: {}.",
        prompt.trim(),
        seen.join("; ")
    )
}

/// Words with their trailing space, so that the pieces concatenate to the text.
pub(super) fn pieces(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

/// `text` cut into at most `n` pieces of about equal length (on char boundaries).
pub(super) fn split_even(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

pub(super) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The texts of an embedding input: a string, a list of strings (or of anything else,
/// as JSON text).
pub(super) fn texts(input: Option<&Value>) -> Vec<String> {
    match input {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(other) => vec![other.to_string()],
        None => vec![String::new()],
    }
}

/// A deterministic 8-dimensional vector for a text. Each value is `k / 128` with
/// `k` in -128..128, so it survives f32 and JSON round trips exactly.
pub fn embedding(text: &str) -> Vec<f64> {
    let h = fnv1a(text.as_bytes());
    let h2 = fnv1a(&h.to_le_bytes());
    (0..8)
        .map(|i| {
            if i < 4 {
                (h >> (i * 16)) & 0xff
            } else {
                (h2 >> ((i - 4) * 16)) & 0xff
            }
        })
        .map(|b| (b as f64 - 128.0) / 128.0)
        .collect()
}

pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time as Ollama writes it: RFC 3339, UTC, nanoseconds. (Written
/// here, not taken from `recorder_runtime::time`: the fake shares no code with what
/// it tests.)
pub(super) fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert!(rfc3339_now().ends_with('Z'));
    }

    #[test]
    fn answers_are_long_and_concatenate() {
        let p = pieces(&answer_text("hi"));
        assert!(p.len() >= 10);
        assert_eq!(p.concat(), answer_text("hi"));
        assert_eq!(split_even("abcdefghijk", 4).concat(), "abcdefghijk");
    }

    #[test]
    fn embeddings_are_deterministic_and_exact_in_f32() {
        let a = embedding("hello");
        assert_eq!(a, embedding("hello"));
        assert_ne!(a, embedding("hello!"));
        assert_eq!(a.len(), 8);
        assert!(a
            .iter()
            .all(|v| (*v as f32) as f64 == *v && (-1.0..1.0).contains(v)));
    }
}
