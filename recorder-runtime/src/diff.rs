//! A small structural JSON diff, for explaining replay misses.

use crate::json::escape;
pub use crate::json::show_value;
use serde_json::Value;

/// One difference between two JSON values, at a JSON-pointer-like path.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where, e.g. `/messages/0/content`.
    pub path: String,
    /// The value in the recording (`None`: absent).
    pub recorded: Option<Value>,
    /// The value in the new request (`None`: absent).
    pub requested: Option<Value>,
}

/// Every difference between `recorded` and `requested`, depth first, keys in order.
///
/// ```
/// use recorder_runtime::diff::diff;
/// use serde_json::json;
/// let changes = diff(&json!({"a": 1, "b": [1, 2]}), &json!({"a": 2, "b": [1]}));
/// assert_eq!(changes.len(), 2);
/// assert_eq!(changes[0].path, "/a");
/// assert_eq!(changes[1].path, "/b/1");
/// ```
pub fn diff(recorded: &Value, requested: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(recorded), Some(requested), &mut out);
    out
}

fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Change>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x
                .keys()
                .chain(y.keys().filter(|k| !x.contains_key(*k)))
                .collect();
            keys.dedup();
            for k in keys {
                walk(format!("{path}/{}", escape(k)), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(format!("{path}/{i}"), x.get(i), y.get(i), out);
            }
        }
        (a, b) if numbers_equal(a, b) => {}
        (a, b) => out.push(Change {
            path: if path.is_empty() { "/".into() } else { path },
            recorded: a.cloned(),
            requested: b.cloned(),
        }),
    }
}

fn numbers_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (a, b) => a == b,
    }
}

/// The changes as indented lines, at most `limit` of them.
pub fn render(changes: &[Change], limit: usize) -> String {
    let show = |v: &Option<Value>| show_value(v, 120);
    let mut out = String::new();
    for c in changes.iter().take(limit) {
        out.push_str(&format!(
            "      {}: recorded {} | requested {}\n",
            c.path,
            show(&c.recorded),
            show(&c.requested)
        ));
    }
    if changes.len() > limit {
        out.push_str(&format!("      … and {} more\n", changes.len() - limit));
    }
    out
}
