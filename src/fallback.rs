//! `llm-bridge apply`: the hook's fallback when no daemon is listening.
//!
//! Under the state lock it loads state.json, applies the message with the
//! same [`State::apply`](crate::state::State::apply) the daemon uses, writes
//! state.json and waybar.json atomically and signals Waybar through the same
//! publisher. If the lock is held, a daemon is alive or starting: the
//! message is sent to it instead, retrying until its socket is up.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::history;
use crate::local_time::{utc_offset_secs, wall_clock_ms};
use crate::log::log;
use crate::module;
use crate::paths::Paths;
use crate::publish::Publisher;
use crate::snapshot;
use crate::state_lock::StateLock;
use llm_bridge_hooks::send::{send_datagram, SendError, SEND_TIMEOUT};
use llm_bridge_hooks::wire::Message;
use std::time::{Duration, Instant};

/// How long the fallback keeps trying while the lock is held by a starting daemon.
const HANDOFF_DEADLINE: Duration = Duration::from_secs(2);

/// What happened to the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied to the files directly.
    Applied,
    /// A daemon holds the lock; the message went to its socket.
    SentToDaemon,
}

pub fn apply(paths: &Paths, config: &Config, raw_message: &[u8]) -> Result<Outcome> {
    let message = Message::decode(raw_message).context("invalid message")?;
    paths.ensure_dirs()?;
    let deadline = Instant::now() + HANDOFF_DEADLINE;
    loop {
        let lock = StateLock::try_lock(&paths.lock)
            .with_context(|| format!("cannot open {}", paths.lock.display()))?;
        if let Some(_lock) = lock {
            apply_locked(paths, config, &message)?;
            return Ok(Outcome::Applied);
        }
        match send_datagram(&paths.socket, raw_message, SEND_TIMEOUT) {
            Ok(()) => return Ok(Outcome::SentToDaemon),
            Err(SendError::DaemonDown(_)) if Instant::now() < deadline => {
                // The daemon has the lock but not yet its socket.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                return Err(Error::msg(format!(
                    "the state is locked by a daemon, and {e}"
                )))
            }
        }
    }
}

fn apply_locked(paths: &Paths, config: &Config, message: &Message) -> Result<()> {
    let (mut state, warning) = snapshot::load(&paths.state_json)?;
    if let Some(w) = warning {
        log(format_args!("{w}"));
    }
    let now_ms = wall_clock_ms();
    let effects = state.apply(message, now_ms);
    if !effects.changed {
        return Ok(());
    }
    snapshot::save(&paths.state_json, &state)?;
    if let Some(ended) = &effects.ended {
        history::record(ended, now_ms);
    }
    let mut publisher = Publisher::new(paths, config.signal);
    let rendered = module::render_styled(
        &state,
        utc_offset_secs((now_ms / 1000) as i64),
        &config.module,
    );
    publisher.publish(&rendered, now_ms)?;
    Ok(())
}
