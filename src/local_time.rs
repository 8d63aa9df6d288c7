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
