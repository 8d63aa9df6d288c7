//! Wall-clock time and the local time zone, for the tooltip, the history and
//! the state's timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn wall_clock_ms() -> crate::state::Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as crate::state::Millis)
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// The broken-down local time of a Unix time, if the C library knows it.
fn local_tm(unix_secs: i64) -> Option<libc::tm> {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    }
}

/// Seconds east of UTC at `unix_secs` in the local time zone (0 if unknown).
pub fn utc_offset_secs(unix_secs: i64) -> i64 {
    local_tm(unix_secs).map_or(0, |tm| tm.tm_gmtoff)
}

/// Local `(YYYY-MM-DD, HH:MM)` of a Unix time.
pub fn local_date_time(unix_secs: i64) -> (String, String) {
    let Some(tm) = local_tm(unix_secs) else {
        return ("????-??-??".into(), "??:??".into());
    };
    (
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        ),
        format!("{:02}:{:02}", tm.tm_hour, tm.tm_min),
    )
}
