//! Timestamps for humans (UTC, no timezone database needed).

use alloy_primitives::U256;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-21 23:40:00 UTC` for a Unix timestamp.
pub fn fmt_unix(ts: u64) -> String {
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Same as [`fmt_unix`] for a timestamp coming out of the ABI.
pub fn fmt_ts(ts: impl Into<U256>) -> String {
    fmt_unix(ts.into().saturating_to::<u64>())
}

/// `in 5m 3s` / `4m ago`, relative to `now`.
pub fn relative(ts: u64, now: u64) -> String {
    let (d, future) = if ts >= now {
        (ts - now, true)
    } else {
        (now - ts, false)
    };
    let s = if d >= 86_400 {
        format!("{}d {}h", d / 86_400, (d % 86_400) / 3600)
    } else if d >= 3600 {
        format!("{}h {}m", d / 3600, (d % 3600) / 60)
    } else if d >= 60 {
        format!("{}m {}s", d / 60, d % 60)
    } else {
        format!("{d}s")
    };
    if future {
        format!("in {s}")
    } else {
        format!("{s} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(fmt_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_unix(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(fmt_unix(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(160, 100), "in 1m 0s");
        assert_eq!(relative(100, 7300), "2h 0m ago");
    }
}
