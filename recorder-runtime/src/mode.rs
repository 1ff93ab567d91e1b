//! The five recording modes, read from `RECORD_MODE`.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How a test treats the real API.
///
/// ```
/// use recorder_runtime::Mode;
/// assert_eq!("record-if-missing".parse::<Mode>().unwrap(), Mode::RecordIfMissing);
/// assert_eq!(Mode::default(), Mode::Replay);
/// assert!("recrod".parse::<Mode>().unwrap_err().to_string().contains("record-if-missing"));
/// assert!(Mode::Verify.calls_upstream() && !Mode::Verify.writes() && Mode::Verify.compares());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Serve from recordings; a miss fails the test with a clear message.
    #[default]
    Replay,
    /// Replay what exists, record only what is missing.
    RecordIfMissing,
    /// Always call the real API and overwrite.
    Record,
    /// Call the real API, read and write nothing.
    Live,
    /// Call the real API, write nothing, and compare each answer with its recording
    /// as `cargo recordings review` would: a changed status, finish reason or tool
    /// call, or a request with no recording, fails the test; changed text and
    /// numbers are reported.
    Verify,
}

impl Mode {
    /// Every mode, in the order the docs list them.
    pub const ALL: [Mode; 5] = [
        Mode::Replay,
        Mode::RecordIfMissing,
        Mode::Record,
        Mode::Live,
        Mode::Verify,
    ];

    /// The name users write in `RECORD_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Replay => "replay",
            Mode::RecordIfMissing => "record-if-missing",
            Mode::Record => "record",
            Mode::Live => "live",
            Mode::Verify => "verify",
        }
    }

    /// Whether existing recordings are served.
    pub fn reads(self) -> bool {
        matches!(self, Mode::Replay | Mode::RecordIfMissing)
    }

    /// Whether the real API may be called.
    pub fn calls_upstream(self) -> bool {
        !matches!(self, Mode::Replay)
    }

    /// Whether responses are written to disk.
    pub fn writes(self) -> bool {
        matches!(self, Mode::RecordIfMissing | Mode::Record)
    }

    /// Whether answers are compared with the recordings instead of served or
    /// written (`verify`).
    pub fn compares(self) -> bool {
        matches!(self, Mode::Verify)
    }

    /// Whether a test's recordings are loaded: to serve them, or to compare with them.
    pub fn loads(self) -> bool {
        self.reads() || self.compares()
    }

    /// Whether upstream answers are made into recordings (normalized, ids mapped,
    /// scrubbed): to write them, or to compare them with those on disk.
    pub fn records(self) -> bool {
        self.writes() || self.compares()
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        let v = s.trim();
        Mode::ALL
            .into_iter()
            .find(|m| {
                m.as_str().eq_ignore_ascii_case(v)
                    || m.as_str().replace('-', "_").eq_ignore_ascii_case(v)
            })
            .ok_or_else(|| Error::UnknownMode {
                value: s.to_string(),
            })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_five_names() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        assert_eq!(
            "RECORD_IF_MISSING".parse::<Mode>().unwrap(),
            Mode::RecordIfMissing
        );
    }

    #[test]
    fn unknown_value_names_the_five() {
        let msg = "replya".parse::<Mode>().unwrap_err().to_string();
        for m in Mode::ALL {
            assert!(msg.contains(m.as_str()), "{msg}");
        }
        assert!(msg.contains("replya"));
    }

    #[test]
    fn capabilities() {
        assert!(Mode::Replay.reads() && !Mode::Replay.calls_upstream() && !Mode::Replay.writes());
        assert!(Mode::RecordIfMissing.reads() && Mode::RecordIfMissing.writes());
        assert!(!Mode::Record.reads() && Mode::Record.writes());
        assert!(!Mode::Live.reads() && !Mode::Live.writes() && Mode::Live.calls_upstream());
        assert!(!Mode::Live.loads() && !Mode::Live.records() && !Mode::Live.compares());
        // Verify calls upstream and builds recordings like record, serves and writes none.
        let v = Mode::Verify;
        assert!(v.calls_upstream() && v.records() && v.loads() && v.compares());
        assert!(!v.reads() && !v.writes());
        assert_eq!("VERIFY".parse::<Mode>().unwrap(), v);
        for m in [
            Mode::Replay,
            Mode::RecordIfMissing,
            Mode::Record,
            Mode::Live,
        ] {
            assert!(!m.compares(), "{m}");
        }
    }
}
