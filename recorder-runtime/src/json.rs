//! Two small helpers on JSON values, shared by the modules that walk them (the id
//! map, the secret scrubber, the tolerance, the diff): a key as a JSON pointer
//! segment, and a value cut short for a message.

use serde_json::Value;

/// A JSON object key as a JSON pointer segment (RFC 6901: `~` -> `~0`, `/` -> `~1`).
pub(crate) fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// A value as compact JSON cut to `max` characters (`…` marks the cut), or
/// `(absent)`.
///
/// ```
/// use recorder_runtime::diff::show_value;
/// assert_eq!(show_value(&Some(serde_json::json!("abcdef")), 4), "\"abc…");
/// assert_eq!(show_value(&None, 4), "(absent)");
/// ```
pub fn show_value(v: &Option<Value>, max: usize) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > max {
                format!("{}…", s.chars().take(max).collect::<String>())
            } else {
                s
            }
        }
    }
}
