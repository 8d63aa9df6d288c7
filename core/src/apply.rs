//! `llm-bridge apply`: the hook's fallback when no daemon is listening.
//!
//! Under the state lock it loads state.json, applies the message with the
//! same [`State::apply`](crate::state::State::apply) the daemon uses, writes
//! state.json and waybar.json atomically and signals Waybar through the same
//! publisher. If the lock is held, another fallback is at work (for a few
//! milliseconds) or a daemon is alive or starting: the message goes to the
//! daemon's socket if it answers, else the lock is tried again, for at most
//! [`HANDOFF_DEADLINE`]. With the hook's own [`SEND_TIMEOUT`] that bounds
//! everything a hook can wait far below Claude Code's hook timeout (2 s).

use crate::client::name_client;
use crate::config::Config;
use crate::error::{anyhow, Context, Result};
use crate::history;
use crate::journal::Journal;
use crate::local_time::{utc_offset_secs, wall_clock_ms};
use crate::log::log;
use crate::module;
use crate::paths::Paths;
use crate::publish::Publisher;
use crate::snapshot;
use crate::state::Input;
use crate::state_lock::StateLock;
use llm_bridge_hooks::send::{send_datagram, SendError, SEND_TIMEOUT};
use llm_bridge_protocol::wire::{Message, MAX_DATAGRAM};
use std::io::Read;
use std::time::{Duration, Instant};

/// How long the fallback keeps trying while the lock is held and no daemon
/// answers: a hook waits at most [`SEND_TIMEOUT`] plus this, then drops
/// the event with a line on stderr.
pub const HANDOFF_DEADLINE: Duration = Duration::from_millis(200);

/// What happened to the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied to the files directly.
    Applied,
    /// A daemon holds the lock; the message went to its socket.
    SentToDaemon,
    /// The daemon holds the state but takes no event in time (stopped, or
    /// starting): the event waits in the spool, which it replays.
    Spooled,
}

/// Reads one encoded message from `input` (the hook writes it to a pipe):
/// at most [`MAX_DATAGRAM`] bytes.
pub fn read_message(input: impl Read) -> Result<Vec<u8>> {
    let mut message = Vec::with_capacity(1024);
    input
        .take(MAX_DATAGRAM as u64 + 1)
        .read_to_end(&mut message)
        .context("cannot read the message on stdin")?;
    if message.len() > MAX_DATAGRAM {
        return Err(anyhow!(
            "the message on stdin is longer than {MAX_DATAGRAM} bytes"
        ));
    }
    Ok(message)
}

pub fn apply(paths: &Paths, config: &Config, raw_message: &[u8]) -> Result<Outcome> {
    let mut message = Message::decode(raw_message).context("invalid message")?;
    // Only an event is worth keeping for later (a status is sent again).
    let mut spool_stamp = None;
    if let Message::Event(event) = &mut message {
        // No watch is kept here: the process is always read.
        name_client(event, None);
        spool_stamp = Some(
            event
                .sent_at_ns
                .unwrap_or_else(crate::local_time::wall_clock_ns),
        );
    }
    let spool = |why: String| -> Result<Outcome> {
        let Some(stamp) = spool_stamp else {
            return Err(anyhow!("status dropped: {why}"));
        };
        llm_bridge_hooks::spool::put(raw_message, stamp)
            .map(|_| Outcome::Spooled)
            .map_err(|e| anyhow!("event dropped: {why}, and it cannot be spooled: {e}"))
    };
    let input = Input::from_message(message)
        .ok_or_else(|| anyhow!("invalid message: apply takes an EVENT or a STATUS"))?;
    paths.ensure_dirs()?;
    let deadline = Instant::now() + HANDOFF_DEADLINE;
    loop {
        let lock = StateLock::try_lock(&paths.lock)
            .with_context(|| format!("cannot open {}", paths.lock.display()))?;
        if let Some(_lock) = lock {
            apply_locked(paths, config, &input)?;
            return Ok(Outcome::Applied);
        }
        match send_datagram(&paths.socket, raw_message, SEND_TIMEOUT) {
            Ok(()) => return Ok(Outcome::SentToDaemon),
            Err(SendError::DaemonDown(_)) if Instant::now() < deadline => {
                // Another fallback holds the lock, or a daemon that has not
                // bound its socket yet.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(SendError::DaemonDown(_)) => {
                return spool(format!(
                    "the state stayed locked for {} ms and no daemon answers",
                    HANDOFF_DEADLINE.as_millis()
                ))
            }
            Err(e) => return spool(format!("the state is locked by a daemon and {e}")),
        }
    }
}

/// Applies `input` to the state files if no daemon holds the lock; `false`
/// if one does (or is starting): then the caller asks the daemon.
pub fn apply_input(paths: &Paths, config: &Config, input: &Input) -> Result<bool> {
    paths.ensure_dirs()?;
    let lock = StateLock::try_lock(&paths.lock)
        .with_context(|| format!("cannot open {}", paths.lock.display()))?;
    match lock {
        Some(_lock) => {
            apply_locked(paths, config, input)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn apply_locked(paths: &Paths, config: &Config, input: &Input) -> Result<()> {
    let (mut state, warning) = snapshot::load(&paths.state_json)?;
    if let Some(w) = warning {
        log(format_args!("{w}"));
    }
    state.set_limit(config.max_sessions);
    // What a daemon killed since its last snapshot had taken: applied again
    // first, at the time each came, its ended sessions recorded once.
    let (mut journal, pending) = match Journal::open(&paths.journal, &state) {
        Ok((journal, pending)) => (Some(journal), pending),
        Err(e) => {
            log(format_args!(
                "cannot read the journal {}: {e}",
                paths.journal.display()
            ));
            (None, Vec::new())
        }
    };
    let recorded = match history::path() {
        Some(history) if !pending.is_empty() => history::recently_ended(&history, 64 * 1024),
        _ => Default::default(),
    };
    let mut publish = false;
    for record in &pending {
        let Some(event) = record.event() else {
            continue;
        };
        let effects = state.apply(&Input::Event(event), record.arrived_ms);
        for ended in &effects.ended {
            if !recorded.contains(&(ended.session.id.clone(), ended.session.started)) {
                let _ = history::record(ended, record.arrived_ms);
            }
        }
        publish |= effects.publish;
    }
    let now_ms = wall_clock_ms();
    let effects = state.apply(input, now_ms);
    // The history first, then the snapshot that drops the ended sessions:
    // a crash in between leaves a session the daemon's start recognises as
    // recorded (and the reader reads once), never one that ended unrecorded.
    for ended in &effects.ended {
        // Logged with its cause; the state goes on whatever the disk says.
        let _ = history::record(ended, now_ms);
    }
    if effects.snapshot || !pending.is_empty() {
        if let Some(journal) = &journal {
            state.set_journal_seq(journal.last_seq());
        }
        snapshot::save(&paths.state_json, &state)?;
        if let Some(journal) = &mut journal {
            if let Err(e) = journal.held_up_to(state.journal_seq()) {
                log(format_args!(
                    "cannot empty the journal {}: {e}",
                    paths.journal.display()
                ));
            }
        }
    }
    if !(effects.publish || publish) {
        return Ok(());
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
