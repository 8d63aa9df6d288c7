//! The figures a row shows: percentiles of durations, their ratios and
//! formatting, the wall clock the recorder and the scenarios share, and the
//! markdown row itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prints one row of the markdown table.
pub fn row(what: &str, result: &str) {
    println!("| {what} | {result} |");
}

/// The wall clock in ns since the epoch: the recorder's stamps and the
/// scenarios' start times are read from the same clock.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The 50th percentile; sorts `v`.
pub fn median(v: &mut [Duration]) -> Duration {
    pct(v, 50.0)
}

/// The `p`th percentile, the nearest rank (the daemon's `status` reads its
/// samples the same way); sorts `v`.
pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let idx = ((v.len() as f64 - 1.0) * p / 100.0).round() as usize;
    v[idx]
}

/// `a` over `b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// A duration in ms with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
