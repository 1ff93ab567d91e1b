//! RFC 3339 UTC text of times, written without a date crate: usage logs, the index
//! and the fakes all sort and compare these as text.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use recorder_runtime::time::{rfc3339, rfc3339_millis, rfc3339_nanos};
//! assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
//! let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
//! assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
//! assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.123Z");
//! assert_eq!(rfc3339_nanos(leap), "2000-02-29T00:00:00.123000000Z");
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// To the second: `2025-01-31T12:00:00Z`. Times before 1970 clamp to it.
pub fn rfc3339(t: SystemTime) -> String {
    let (date, clock, _) = parts(t);
    format!("{date}T{clock}Z")
}

/// To the millisecond: `2025-01-31T12:00:00.123Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (date, clock, nanos) = parts(t);
    format!("{date}T{clock}.{:03}Z", nanos / 1_000_000)
}

/// To the nanosecond, as Ollama writes `created_at`: `2025-01-31T12:00:00.123456789Z`.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let (date, clock, nanos) = parts(t);
    format!("{date}T{clock}.{nanos:09}Z")
}

/// `(YYYY-MM-DD, hh:mm:ss, nanoseconds)`.
fn parts(t: SystemTime) -> (String, String, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (
        format!("{y:04}-{m:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
        d.subsec_nanos(),
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
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
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
