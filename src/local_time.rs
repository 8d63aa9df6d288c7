//! The local UTC offset, for the tooltip's wall-clock times.

/// Seconds east of UTC at `unix_secs` in the local time zone (0 if unknown).
pub fn utc_offset_secs(unix_secs: i64) -> i64 {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// Local `(YYYY-MM-DD, HH:MM)` of a Unix time.
pub fn local_date_time(unix_secs: i64) -> (String, String) {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return ("????-??-??".into(), "??:??".into());
        }
        tm
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
