//! `llm-bridge mute [on|off|toggle] [--for 30m]`: silence spoken
//! notifications, or speak again. Made for Waybar's `on-click-right`.
//!
//! The mute is part of the state, so the bar shows it (the class `muted`)
//! whether a daemon runs or not: with a daemon it is a `MUTE` request (the
//! phrase playing is cut at once); without one the state files are updated
//! under the lock, as the hook's fallback does, and a daemon started later
//! keeps it.

use crate::control::{request, RequestError};
use llm_bridge_core::apply::apply_input;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::{anyhow, bail, one_line, Result};
use llm_bridge_core::local_time::{utc_offset_secs, wall_clock_ms};
use llm_bridge_core::module::clock;
use llm_bridge_core::paths::Paths;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::Input;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::{Message, MuteAction};
use std::time::Duration;

pub fn mute(paths: &Paths, action: MuteAction, duration: Option<Duration>) -> Result<i32> {
    // A year at most, as the daemon takes it.
    let secs = duration.map(|d| d.as_secs().clamp(1, 366 * 86_400));
    let message = Message::Mute { action, secs };
    // Off (`None`), until unmuted (`Some(None)`), or until a time.
    let mute = match request(paths, &message) {
        Ok(Reply::Mute(mute)) => mute,
        Ok(Reply::Error(why)) => bail!("the daemon refused: {why}"),
        Ok(other) => bail!("unexpected reply to MUTE: {other:?}"),
        Err(RequestError::NotRunning) => {
            let now = wall_clock_ms();
            let until = secs.map(|s| now + s * 1000);
            let config = Config::load().unwrap_or_else(|e| {
                eprintln!(
                    "llm-bridge: {}; the bar is drawn in the default style",
                    one_line(&e)
                );
                Config::default()
            });
            if !apply_input(paths, &config, &Input::Mute { action, until })? {
                return Err(anyhow!(
                    "the daemon is starting (it holds the state lock): try again"
                ));
            }
            let (state, _) = snapshot::load(&paths.state_json)?;
            state.mute(now).map(|m| m.until)
        }
        Err(e) => return Err(e.into()),
    };
    let shown = match mute {
        None => "unmuted".to_string(),
        Some(None) => "muted".to_string(),
        Some(Some(t)) => format!(
            "muted until {}",
            clock(t, utc_offset_secs((t / 1000) as i64))
        ),
    };
    println!("spoken notifications {shown}");
    Ok(0)
}

/// `30m`, `1h`, `90s`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (such as 30m, 1h, 1h30m, 90s)");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("30x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5h3").is_err());
    }
}
