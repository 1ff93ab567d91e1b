//! Every environment variable the runtime reads, in one place, each turned into a typed
//! setting. (Model and setup selection variables belong to `recorder.toml`'s
//! resolution and live in `recorder_config`.)
//!
//! | variable | setting |
//! |---|---|
//! | `RECORD_MODE` | [`mode`]: `replay` (default), `record-if-missing`, `record`, `live` |
//! | `RECORDING_DIR` | [`recording_dir`]: the recordings folder |
//! | `RECORDER_KEEP_TIMING` | [`keep_timing`]: `1` stores each stream frame's delay |
//! | `RECORDER_REPLAY_TIMING` | [`replay_timing`]: `recorded` replays those delays |
//! | `RECORDER_MAX_RECORDING_BYTES` | [`max_recording_bytes`]: the largest recording file loaded |
//! | `RECORDER_MAX_BODY_BYTES` | [`max_body_bytes`]: the largest request or answer body recorded |
//! | `RECORDER_SETUP` | [`setup`]: the setup of `recorder.toml` to use |
//! | `RECORDER_SUITE` | [`suite`]: run only this suite's tests |
//! | `RECORDER_SERVICE` | [`service`]: the service under test to start or reuse |
//! | `RECORDER_RUN_ID` | [`run_id`]: one name for a whole run across test processes |
//! | the setup's `api_key_env` | [`api_key`]: the real API key, added upstream |
//!
//! ```
//! assert_eq!(recorder_runtime::env::MODE, "RECORD_MODE");
//! ```

use crate::error::Result;
use crate::mode::Mode;
use std::path::PathBuf;

/// `RECORD_MODE`.
pub const MODE: &str = "RECORD_MODE";
/// `RECORDING_DIR`.
pub const RECORDING_DIR: &str = "RECORDING_DIR";
/// `RECORDER_KEEP_TIMING`.
pub const KEEP_TIMING: &str = "RECORDER_KEEP_TIMING";
/// `RECORDER_REPLAY_TIMING`.
pub const REPLAY_TIMING: &str = "RECORDER_REPLAY_TIMING";
/// `RECORDER_MAX_RECORDING_BYTES`.
pub const MAX_RECORDING_BYTES: &str = "RECORDER_MAX_RECORDING_BYTES";
/// `RECORDER_MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: &str = "RECORDER_MAX_BODY_BYTES";
/// `RECORDER_SETUP`.
pub const SETUP: &str = recorder_config::SETUP_ENV;
/// `RECORDER_SUITE`.
pub const SUITE: &str = recorder_config::SUITE_ENV;
/// `RECORDER_SERVICE`.
pub const SERVICE: &str = "RECORDER_SERVICE";
/// `RECORDER_RUN_ID`.
pub const RUN_ID: &str = "RECORDER_RUN_ID";

/// The default of [`max_recording_bytes`]: 256 MiB.
pub const DEFAULT_MAX_RECORDING_BYTES: u64 = 256 << 20;
/// The default of [`max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// A variable's value, `None` when unset, empty or not UTF-8.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `RECORD_MODE`; unset or empty means [`Mode::Replay`], anything else not a mode is
/// an error naming the four.
pub fn mode() -> Result<Mode> {
    match var(MODE) {
        Some(v) => v.parse(),
        None => Ok(Mode::Replay),
    }
}

/// `RECORDING_DIR`, when set.
pub fn recording_dir() -> Option<PathBuf> {
    std::env::var_os(RECORDING_DIR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `RECORDER_SETUP`, when set.
pub fn setup() -> Option<String> {
    var(SETUP).map(|s| s.trim().to_owned())
}

/// `RECORDER_SUITE`, when set.
pub fn suite() -> Option<String> {
    var(SUITE).map(|s| s.trim().to_owned())
}

/// `RECORDER_SERVICE`, when set.
pub fn service() -> Option<String> {
    var(SERVICE).map(|s| s.trim().to_owned())
}

/// `RECORDER_RUN_ID`, when set.
pub fn run_id() -> Option<String> {
    var(RUN_ID)
}

/// The real API key in the variable a setup names (`api_key_env`), when it is set.
pub fn api_key(variable: &str) -> Option<String> {
    var(variable)
}

/// `RECORDER_KEEP_TIMING=1` (or `true`): store each frame's delay when recording.
pub fn keep_timing() -> bool {
    var(KEEP_TIMING).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `RECORDER_REPLAY_TIMING=recorded`: replay streams with their recorded delays.
pub fn replay_timing() -> bool {
    var(REPLAY_TIMING).is_some_and(|v| v.eq_ignore_ascii_case("recorded"))
}

/// `RECORDER_MAX_RECORDING_BYTES` (bytes), else [`DEFAULT_MAX_RECORDING_BYTES`]: a
/// recording file bigger than this is reported, not loaded.
pub fn max_recording_bytes() -> u64 {
    var(MAX_RECORDING_BYTES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_RECORDING_BYTES)
}

/// `RECORDER_MAX_BODY_BYTES` (bytes), else [`DEFAULT_MAX_BODY_BYTES`]: a request
/// body, or an answer (decoded), bigger than this is refused with a clear error and
/// never recorded.
pub fn max_body_bytes() -> usize {
    var(MAX_BODY_BYTES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BODY_BYTES)
}
