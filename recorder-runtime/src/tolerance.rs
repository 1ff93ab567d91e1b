//! Whether a recording made again holds the same answer as the file on disk, floats
//! aside: then the file is kept byte for byte, so that re-recording on another
//! machine shows only real changes in git.
//!
//! What is compared is what would be written (normalized, ids mapped, scrubbed) with
//! what is on disk. Floats (any JSON number written with a fraction or exponent, in
//! bodies and stream frames: embeddings, log probabilities, scores) may differ
//! within the setup's [`Tolerance`]; everything else is a real change: text,
//! integers (token counts), an integer that became a float, keys, array lengths,
//! status, headers. Key order does not count. A stream frame's recorded delay
//! (`RECORDER_KEEP_TIMING`) is a measurement, not content: it does not count when
//! both files have one.
//!
//! ```
//! use recorder_runtime::tolerance::{compare, Tolerance, Verdict};
//! use serde_json::json;
//! let t = Tolerance::default();
//! let old = json!({"data": [{"embedding": [0.0412, -0.0133]}], "usage": {"total_tokens": 4}});
//! let noisy = json!({"data": [{"embedding": [0.0431, -0.0131]}], "usage": {"total_tokens": 4}});
//! assert!(matches!(compare(&old, &noisy, &t), Verdict::Within { .. }));
//! let more_tokens = json!({"data": [{"embedding": [0.0412, -0.0133]}], "usage": {"total_tokens": 5}});
//! let Verdict::Changed(d) = compare(&old, &more_tokens, &t) else { panic!() };
//! assert_eq!(d.path, "/usage/total_tokens");
//! ```

use crate::recording::Recording;
pub use recorder_config::Tolerance;
use serde_json::{Number, Value};

/// How a new value compares with an old one.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The same JSON (key order aside).
    Equal,
    /// The same but for floats, each within the tolerance; `largest` is the largest
    /// absolute difference seen.
    Within {
        /// The largest absolute difference between two floats.
        largest: f64,
    },
    /// A real change; the first one found, depth first.
    Changed(Difference),
}

/// What [`crate::store::Store::save`] asks of the setup's tolerance: the verdict of
/// [`compare_recordings`], a change in words.
impl crate::store::SameAnswer for Tolerance {
    fn same_answer(&self, old: &Recording, new: &Recording) -> Result<f64, String> {
        match compare_recordings(old, new, self) {
            Verdict::Equal => Ok(0.0),
            Verdict::Within { largest } => Ok(largest),
            Verdict::Changed(difference) => Err(difference.to_string()),
        }
    }
}

/// A real change between an old and a new value.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Where, as a JSON pointer (`/response/body/usage/total_tokens`).
    pub path: String,
    /// The old value (`None`: absent).
    pub old: Option<Value>,
    /// The new value (`None`: absent).
    pub new: Option<Value>,
}

impl std::fmt::Display for Difference {
    /// `/path: old -> new`, each value cut to 60 characters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| crate::json::show_value(v, 60);
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// Compares `new` with `old` under `tolerance` (see the module's documentation).
pub fn compare(old: &Value, new: &Value, tolerance: &Tolerance) -> Verdict {
    let mut largest: Option<f64> = None;
    match walk(&mut String::new(), old, new, tolerance, &mut largest) {
        Some(difference) => Verdict::Changed(difference),
        None => match largest {
            Some(largest) => Verdict::Within { largest },
            None => Verdict::Equal,
        },
    }
}

/// [`compare`] for two recordings of one request: the whole file (test id, request,
/// response), stream delays aside.
///
/// ```
/// use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
/// use recorder_runtime::tolerance::{compare_recordings, Tolerance, Verdict};
/// let rec = |body: &[u8]| Recording {
///     test_id: Some("t".into()),
///     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/embeddings".into(), model: None, body: serde_json::json!({}) },
///     response: RecordedResponse::plain(200, Some("application/json"), body),
/// };
/// let t = Tolerance::default();
/// let v = compare_recordings(&rec(br#"{"e":[0.25]}"#), &rec(br#"{"e":[0.2514]}"#), &t);
/// assert!(matches!(v, Verdict::Within { .. }));
/// let v = compare_recordings(&rec(br#"{"e":[0.25]}"#), &rec(br#"{"e":[0.35]}"#), &t);
/// assert!(matches!(v, Verdict::Changed(_)));
/// ```
pub fn compare_recordings(old: &Recording, new: &Recording, tolerance: &Tolerance) -> Verdict {
    let mut new = new.clone();
    if let (Some(a), Some(b)) = (&old.response.stream, &mut new.response.stream) {
        for (fa, fb) in a.frames.iter().zip(b.frames.iter_mut()) {
            if fa.delay_ms.is_some() && fb.delay_ms.is_some() {
                fb.delay_ms = fa.delay_ms;
            }
        }
    }
    let to_value = |r: &Recording| serde_json::to_value(r).expect("a recording serializes");
    compare(&to_value(old), &to_value(&new), tolerance)
}

/// The first real difference under `path`, recording the largest float difference
/// allowed on the way.
fn walk(
    path: &mut String,
    old: &Value,
    new: &Value,
    tolerance: &Tolerance,
    largest: &mut Option<f64>,
) -> Option<Difference> {
    let changed = |path: &str, old: Option<&Value>, new: Option<&Value>| Difference {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        old: old.cloned(),
        new: new.cloned(),
    };
    let len = path.len();
    let mut child = |path: &mut String, key: &str, a: Option<&Value>, b: Option<&Value>| {
        path.push('/');
        path.push_str(&crate::json::escape(key));
        let found = match (a, b) {
            (Some(a), Some(b)) => walk(path, a, b, tolerance, largest),
            (a, b) => Some(changed(path, a, b)),
        };
        path.truncate(len);
        found
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a {
                if let Some(d) = child(path, key, Some(va), b.get(key)) {
                    return Some(d);
                }
            }
            b.iter()
                .find(|(key, _)| !a.contains_key(*key))
                .and_then(|(key, vb)| child(path, key, None, Some(vb)))
        }
        (Value::Array(a), Value::Array(b)) => {
            (0..a.len().max(b.len())).find_map(|i| child(path, &i.to_string(), a.get(i), b.get(i)))
        }
        (Value::Number(a), Value::Number(b)) => match (float(a), float(b)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(x), Some(y)) if tolerance.close(x, y) => {
                let diff = (x - y).abs();
                *largest = Some(largest.map_or(diff, |l| l.max(diff)));
                None
            }
            (None, None) if a == b => None,
            _ => Some(changed(path, Some(old), Some(new))),
        },
        (a, b) if a == b => None,
        _ => Some(changed(path, Some(old), Some(new))),
    }
}

/// The value of a number written as a float; `None` for integers, which must be
/// equal.
fn float(n: &Number) -> Option<f64> {
    if n.is_f64() {
        n.as_f64()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{RecordedRequest, RecordedResponse};
    use crate::stream::{Frame, StreamFormat};
    use serde_json::json;

    const T: Tolerance = Tolerance {
        abs: 1e-3,
        rel: 1e-2,
    };

    fn changed_at(old: Value, new: Value) -> String {
        match compare(&old, &new, &T) {
            Verdict::Changed(d) => d.path,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn floats_within_absolute_or_relative_tolerance() {
        assert_eq!(compare(&json!(0.5), &json!(0.5), &T), Verdict::Equal);
        let Verdict::Within { largest } = compare(&json!([0.5, 0.1]), &json!([0.5009, 0.1002]), &T)
        else {
            panic!()
        };
        assert!((largest - 9e-4).abs() < 1e-9, "{largest}");
        // 1% of 250.0 is 2.5.
        assert!(matches!(
            compare(&json!(250.0), &json!(252.4), &T),
            Verdict::Within { .. }
        ));
        assert_eq!(changed_at(json!(250.0), json!(252.6)), "/");
        // 0.007 is more than 1e-3 and more than 1% of 0.507.
        assert_eq!(changed_at(json!({"x": 0.5}), json!({"x": 0.507})), "/x");
        assert_eq!(changed_at(json!(-0.0005), json!(0.0006)), "/");
    }

    #[test]
    fn integers_and_types_are_real_changes() {
        assert_eq!(changed_at(json!({"n": 7}), json!({"n": 8})), "/n");
        // An integer never tolerates: token counts, indices, status codes.
        assert_eq!(changed_at(json!(1000000), json!(1000001)), "/");
        // An integer that became a float, or the other way round.
        assert_eq!(changed_at(json!(1), json!(1.0)), "/");
        assert_eq!(changed_at(json!(1.0), json!(1)), "/");
        assert_eq!(changed_at(json!("0.5"), json!(0.5)), "/");
        assert_eq!(changed_at(json!(null), json!(0.0)), "/");
        assert_eq!(
            changed_at(json!({"t": "hello"}), json!({"t": "hello!"})),
            "/t"
        );
        assert_eq!(
            compare(&json!([true, null]), &json!([true, null]), &T),
            Verdict::Equal
        );
    }

    #[test]
    fn structure_is_compared_exactly_and_key_order_does_not_count() {
        assert_eq!(changed_at(json!([0.1, 0.2]), json!([0.1, 0.2, 0.3])), "/2");
        assert_eq!(changed_at(json!([0.1, 0.2, 0.3]), json!([0.1, 0.2])), "/2");
        assert_eq!(changed_at(json!({"a": 1}), json!({"a": 1, "b": 2})), "/b");
        assert_eq!(changed_at(json!({"a": 1, "b": 2}), json!({"a": 1})), "/b");
        assert_eq!(changed_at(json!({"a": [1]}), json!({"a": {"0": 1}})), "/a");
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": [0.25]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": [0.2501], "x": 1}"#).unwrap();
        assert!(matches!(compare(&a, &b, &T), Verdict::Within { .. }));
    }

    #[test]
    fn nested_differences_name_their_path() {
        let old =
            json!({"data": [{"embedding": [0.1, 0.2]}, {"embedding": [0.3, 0.4]}], "a/b~": 0});
        let mut new = old.clone();
        new["data"][1]["embedding"][1] = json!(0.41);
        let Verdict::Changed(d) = compare(&old, &new, &T) else {
            panic!()
        };
        assert_eq!(d.path, "/data/1/embedding/1");
        assert_eq!((d.old, d.new), (Some(json!(0.4)), Some(json!(0.41))));
        assert_eq!(
            Difference {
                path: "/x".into(),
                old: Some(json!("a".repeat(70))),
                new: None
            }
            .to_string(),
            format!("/x: \"{}… -> (absent)", "a".repeat(59))
        );
        let mut new = old.clone();
        new["a/b~"] = json!(1);
        assert_eq!(changed_at(old, new), "/a~1b~0");
    }

    fn streamed(values: &[f64], delays: Option<u64>) -> Recording {
        let frames = values
            .iter()
            .map(|v| Frame {
                data: Some(json!({"choices": [{"logprobs": {"content": [{"logprob": v}]}}]})),
                delay_ms: delays,
                ..Frame::default()
            })
            .collect();
        Recording {
            test_id: Some("t".into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: "/v1/chat/completions".into(),
                model: None,
                body: json!({"stream": true}),
            },
            response: RecordedResponse::streamed(200, StreamFormat::Sse, frames),
        }
    }

    #[test]
    fn stream_frames_tolerate_floats_and_delays() {
        let t = Tolerance::default();
        let old = streamed(&[-0.25, -12.5], Some(3));
        assert_eq!(compare_recordings(&old, &old, &t), Verdict::Equal);
        let noisy = streamed(&[-0.2512, -12.51], Some(40));
        assert!(matches!(
            compare_recordings(&old, &noisy, &t),
            Verdict::Within { .. }
        ));
        let Verdict::Changed(d) = compare_recordings(&old, &streamed(&[-0.25, -13.5], Some(3)), &t)
        else {
            panic!()
        };
        assert_eq!(
            d.path,
            "/response/stream/frames/1/data/choices/0/logprobs/content/0/logprob"
        );
        // Timings that appear or go away are a change.
        let Verdict::Changed(d) = compare_recordings(&old, &streamed(&[-0.25, -12.5], None), &t)
        else {
            panic!()
        };
        assert_eq!(d.path, "/response/stream/frames/0/delay_ms");
        // One more frame.
        let Verdict::Changed(d) =
            compare_recordings(&old, &streamed(&[-0.25, -12.5, 0.0], Some(3)), &t)
        else {
            panic!()
        };
        assert_eq!(d.path, "/response/stream/frames/2");
    }
}
