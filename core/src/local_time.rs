//! Wall-clock time and the local time zone, for the tooltip, the history and
//! the state's timestamps.

use std::cell::Cell;
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

/// The local UTC offset for a clock that moves forward, looked up again
/// only when the wall-clock minute changes: the offsets in use today change
/// on whole minutes, and the C library's lookup (`localtime_r`) costs more
/// than the rest of rendering the module.
#[derive(Debug, Default)]
pub struct UtcOffsetCache {
    /// The minute (Unix seconds / 60) last looked up, and its offset.
    last: Cell<Option<(i64, i64)>>,
}

impl UtcOffsetCache {
    /// Seconds east of UTC at `unix_secs`, as [`utc_offset_secs`] says.
    pub fn at(&self, unix_secs: i64) -> i64 {
        let minute = unix_secs.div_euclid(60);
        match self.last.get() {
            Some((m, offset)) if m == minute => offset,
            _ => {
                let offset = utc_offset_secs(unix_secs);
                self.last.set(Some((minute, offset)));
                offset
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_offset_is_the_looked_up_one() {
        let cache = UtcOffsetCache::default();
        // A summer and a winter instant, and each again from the cache.
        for secs in [1_782_000_000, 1_798_000_000, 1_782_000_059, 1_798_000_000] {
            assert_eq!(cache.at(secs), utc_offset_secs(secs), "at {secs}");
        }
    }
}
