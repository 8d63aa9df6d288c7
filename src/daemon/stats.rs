//! What the daemon counts and measures, and the typed report `status` shows.
//!
//! [`StatusReport`] is the one definition of the `QUERY` reply: the daemon
//! serialises it, and `llm-bridge status`, `stop` and the tests deserialise
//! the same struct, so a renamed field is a compile error, not a silent
//! `null`.

use llm_bridge_core::state::{Input, Millis, Session, SessionState, State};
use llm_bridge_protocol::agent::Agent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

/// The most sessions a status report lists (it counts them all).
pub const MAX_REPORTED_SESSIONS: usize = 100;

/// Latencies kept for `status` (the most recent ones, of each kind).
const LATENCY_SAMPLES: usize = 1024;

/// The most recent `LATENCY_SAMPLES` durations of one kind, in µs.
#[derive(Debug, Default)]
struct Samples(VecDeque<u32>);

impl Samples {
    fn push(&mut self, us: u64) {
        if self.0.len() == LATENCY_SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(us.min(u64::from(u32::MAX)) as u32);
    }

    /// p50 and p99, scaled by `unit` µs (1000 for ms).
    fn report(&self, unit: f64) -> LatencyReport {
        let mut sorted: Vec<u32> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| -> Option<f64> {
            let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(idx).map(|us| f64::from(*us) / unit)
        };
        LatencyReport {
            p50: pct(0.5),
            p99: pct(0.99),
            samples: sorted.len(),
        }
    }
}

/// A change waiting for its flush: when its datagram arrived (kernel
/// time) and when the hook that sent it started, both ns since the epoch.
#[derive(Debug, Clone, Copy)]
struct Pending {
    arrived_ns: u64,
    hook_ns: Option<u64>,
}

/// The counters and latency samples of one daemon run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every counter, declared once: `status` reports this very struct.
    pub counters: CounterReport,
    /// The last write that failed (history, waybar.json), with its cause.
    pub last_write_error: Option<String>,
    /// The changes not flushed yet.
    unflushed: Vec<Pending>,
    arrival_to_flush: Samples,
    hook_to_flush: Samples,
    wake: Samples,
    /// When this wake read its first datagram (wall-clock ns), until the
    /// wake ends: a flush in the same wake times read → render start.
    read_in_wake: Option<u64>,
    handle: Samples,
    render: Samples,
    write: Samples,
    signal: Samples,
}

impl Stats {
    /// Counts a rejected datagram of kind `label`; returns how many of that
    /// kind so far (the caller logs the 1st, 2nd, 4th, 8th...).
    pub fn rejected(&mut self, label: &'static str) -> u64 {
        self.counters.rejected += 1;
        let count = match self.counters.rejected_by_kind.get_mut(label) {
            Some(count) => count,
            None => self
                .counters
                .rejected_by_kind
                .entry(label.to_string())
                .or_insert(0),
        };
        *count += 1;
        *count
    }

    /// A file could not be written: counted, and its cause kept for
    /// `status` (a full or read-only disk says so there, not only in the log).
    pub fn write_failed(&mut self, what: &str, e: &llm_bridge_core::error::Error) {
        self.counters.write_failures += 1;
        self.last_write_error = Some(format!("{what}: {}", llm_bridge_core::error::one_line(e)));
    }

    /// Counts an input to the core that no datagram carried.
    pub fn input(&mut self, input: &Input) {
        match input {
            Input::Exited { .. } => self.counters.exited += 1,
            Input::Interrupted { .. } => self.counters.interrupted += 1,
            Input::Answered { .. } => self.counters.answered += 1,
            _ => {}
        }
    }

    /// A datagram that arrived at `arrived_ns` was read at `read_ns`: the
    /// time the daemon took to wake up and get to it.
    pub fn read(&mut self, arrived_ns: u64, read_ns: u64) {
        self.wake.push(read_ns.saturating_sub(arrived_ns) / 1000);
        self.read_in_wake.get_or_insert(read_ns);
    }

    /// The loop goes back to waiting: a later flush (the debounce's) no
    /// longer times a read made before (in the last wake, or at start-up).
    pub fn wake_ended(&mut self) {
        self.read_in_wake = None;
    }

    /// A change whose datagram arrived at `arrived_ns`, sent by a hook
    /// that started at `hook_ns`, waits for the next flush.
    pub fn changed(&mut self, arrived_ns: u64, hook_ns: Option<u64>) {
        if self.unflushed.len() < LATENCY_SAMPLES {
            self.unflushed.push(Pending {
                arrived_ns,
                hook_ns,
            });
        }
    }

    /// A flush ended at `done_ns` (written and signalled): every waiting
    /// change gets its latencies; the flush its phases.
    pub fn flushed(&mut self, done_ns: u64, phases: FlushPhases) {
        self.counters.flushes += 1;
        // Drained, not taken: the next change finds the buffer there.
        for p in self.unflushed.drain(..) {
            self.arrival_to_flush
                .push(done_ns.saturating_sub(p.arrived_ns) / 1000);
            // A hook's clock is the same wall clock; a stamp from the future
            // (another host's, a bad one) is not a latency.
            if let Some(hook) = p.hook_ns.filter(|h| *h <= done_ns) {
                self.hook_to_flush.push((done_ns - hook) / 1000);
            }
        }
        if let Some(read_ns) = self.read_in_wake.take() {
            self.handle
                .push(phases.started_ns.saturating_sub(read_ns) / 1000);
        }
        let us = |d: Duration| d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.render.push(us(phases.render));
        if let Some(write) = phases.write {
            self.write.push(us(write));
        }
        if let Some(signal) = phases.signal {
            self.signal.push(us(signal));
        }
    }

    pub fn latency_report(&self) -> Latencies {
        Latencies {
            arrival_to_flush_us: self.arrival_to_flush.report(1.0),
            hook_to_flush_ms: self.hook_to_flush.report(1000.0),
            wake_us: self.wake.report(1.0),
            handle_us: self.handle.report(1.0),
            render_us: self.render.report(1.0),
            write_us: self.write.report(1.0),
            signal_us: self.signal.report(1.0),
        }
    }
}

/// The daemon's answer to `QUERY`: everything `llm-bridge status` shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub uptime_s: u64,
    pub config_path: Option<PathBuf>,
    pub socket: PathBuf,
    /// The socket came from systemd (it is never unlinked).
    pub socket_activated: bool,
    /// The socket is held by `start`'s supervisor too, which starts another
    /// daemon on it if this one is killed.
    pub supervised: bool,
    /// The keeper of the socket this daemon bound itself (`llm-bridge
    /// daemon` by hand), which starts another daemon on it if this one is
    /// killed.
    #[serde(default)]
    pub keeper: Option<u32>,
    pub waybar_pids: Vec<i32>,
    pub subscribers: usize,
    /// Claude Code processes watched (pidfds), and busy sessions'
    /// transcripts watched (inotify).
    #[serde(default)]
    pub watched_processes: usize,
    #[serde(default)]
    pub watched_transcripts: usize,
    /// Waiting sessions whose client status file is watched (dialogs).
    #[serde(default)]
    pub watched_dialogs: usize,
    /// Sessions whose live client is not watched yet: no file descriptor
    /// was free (it is watched once one is; the session stays meanwhile).
    #[serde(default)]
    pub unwatched_processes: usize,
    /// The voice `say` uses, if one is configured.
    pub speech_voice: Option<PathBuf>,
    /// How long the voice took to load (`None`: not loaded yet).
    #[serde(default)]
    pub speech_load_ms: Option<u64>,
    /// `say` requests queued or playing.
    #[serde(default)]
    pub speech_queue: usize,
    /// The last `say`'s time from its request to its first audio.
    #[serde(default)]
    pub speech_first_audio_ms: Option<u64>,
    /// Spoken notifications: what was said, and why the rest was not.
    #[serde(default)]
    pub notifications: super::NotificationCounters,
    /// The phrase cache (`None`: not used yet).
    #[serde(default)]
    pub phrase_cache: Option<super::CacheFigures>,
    /// `llm-bridge mute`: whether notifications are muted, and until when
    /// (wall-clock ms; `None`: until unmuted).
    #[serde(default)]
    pub muted: bool,
    #[serde(default)]
    pub muted_until: Option<Millis>,
    /// The daemon's resident memory (VmRSS), KiB.
    #[serde(default)]
    pub rss_kib: Option<u64>,
    /// Every session the daemon holds.
    pub session_count: usize,
    /// The most urgent of them, at most `MAX_REPORTED_SESSIONS`.
    pub sessions: Vec<SessionReport>,
    pub counters: CounterReport,
    /// The last write that failed, with its cause (`None`: none failed).
    #[serde(default)]
    pub last_write_error: Option<String>,
    pub latency: Latencies,
}

/// How long one flush's parts took.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlushPhases {
    /// When rendering started (wall-clock ns).
    pub started_ns: u64,
    pub render: Duration,
    /// `None` when the module had not changed (nothing written or signalled).
    pub write: Option<Duration>,
    pub signal: Option<Duration>,
}

/// Where an event's time goes, most recent events first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latencies {
    /// The datagram's arrival in the kernel → its flush done (written and
    /// signalled): the daemon's whole share, wake-up included.
    pub arrival_to_flush_us: LatencyReport,
    /// The hook's own start → the flush done: what a user waits for, minus
    /// Waybar's part.
    pub hook_to_flush_ms: LatencyReport,
    /// The datagram's arrival → the daemon reading it (waking up included).
    pub wake_us: LatencyReport,
    /// The datagram read → its flush starts rendering, when both happen in
    /// one wake: journaling, decoding and applying it.
    pub handle_us: LatencyReport,
    /// The flush's phases: rendering the module, writing waybar.json,
    /// signalling Waybar.
    pub render_us: LatencyReport,
    pub write_us: LatencyReport,
    pub signal_us: LatencyReport,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionReport {
    pub id: String,
    /// The coding agent (`claude`, `gemini`, `codex`, `qwen`).
    #[serde(with = "llm_bridge_core::agent_serde")]
    pub agent: Agent,
    pub project: String,
    pub state: SessionState,
    pub tool: Option<String>,
    pub prompts: u64,
    pub tool_uses: u64,
    pub subagents: usize,
    pub model: Option<String>,
    pub cost_usd: Option<f64>,
    pub context_pct: Option<f64>,
    pub last_event_age_s: u64,
    /// Wall-clock ms since the epoch.
    pub state_since: Millis,
}

impl SessionReport {
    pub fn new(s: &Session, now_ms: Millis) -> SessionReport {
        SessionReport {
            id: s.id.clone(),
            agent: s.agent,
            project: s.project.clone(),
            state: s.state,
            tool: s.shown_tool().map(str::to_string),
            prompts: s.prompts,
            tool_uses: s.tool_uses,
            subagents: s.subagents.len(),
            model: s.model.clone(),
            cost_usd: s.cost_usd,
            context_pct: s.context_pct,
            last_event_age_s: now_ms.saturating_sub(s.last_event) / 1000,
            state_since: s.state_since,
        }
    }

    /// Reports for the `MAX_REPORTED_SESSIONS` most urgent sessions (so
    /// the reply fits in one datagram however many sessions there are).
    pub fn most_urgent(state: &State, now_ms: Millis) -> Vec<SessionReport> {
        let mut sessions: Vec<&Session> = state.sessions().collect();
        let key = |s: &Session| (std::cmp::Reverse(s.state.priority()), s.last_event);
        if sessions.len() > MAX_REPORTED_SESSIONS {
            sessions.select_nth_unstable_by_key(MAX_REPORTED_SESSIONS - 1, |s| key(s));
            sessions.truncate(MAX_REPORTED_SESSIONS);
        }
        sessions.sort_by_key(|s| key(s));
        sessions
            .into_iter()
            .map(|s| SessionReport::new(s, now_ms))
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CounterReport {
    /// Datagrams received, good or bad.
    pub received: u64,
    pub rejected: u64,
    pub rejected_by_kind: BTreeMap<String, u64>,
    pub flushes: u64,
    pub writes: u64,
    pub signals: u64,
    pub snapshots: u64,
    pub snapshot_failures: u64,
    /// `say` requests queued, refused (no voice, busy) and failed.
    pub said: u64,
    pub speech_refused: u64,
    pub speech_failures: u64,
    /// Sessions ended because their process exited; turns ended by an Esc
    /// read from the transcript; sessions evicted over `max_sessions`.
    #[serde(default)]
    pub exited: u64,
    #[serde(default)]
    pub interrupted: u64,
    #[serde(default)]
    pub evicted: u64,
    /// Permission dialogs seen answered in the client's status file.
    #[serde(default)]
    pub answered: u64,
    /// Events whose Claude Code process was read from /proc (the hook's
    /// parent was not the session's known process: a first event, or a
    /// wrapper between Claude Code and the hook).
    #[serde(default)]
    pub clients_read: u64,
    /// Datagrams dropped because another user sent them (the socket is
    /// 0600: only a socket opened up by hand lets one through).
    #[serde(default)]
    pub foreign: u64,
    /// Writes that failed (history lines, waybar.json); the last one's
    /// cause is `last_write_error` in the status.
    #[serde(default)]
    pub write_failures: u64,
    /// Events replayed from the spool (hooks wrote them there when the
    /// daemon took none in time: stopped, or starting).
    #[serde(default)]
    pub spooled: u64,
    /// Events applied again at start from the journal (a daemon was killed
    /// before its snapshot held them).
    #[serde(default)]
    pub journal_replayed: u64,
    /// Transcripts that could not be watched (missing, not a regular file).
    #[serde(default)]
    pub transcript_failures: u64,
}

/// Percentiles of one kind of latency, in the unit its field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyReport {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub samples: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases(started_ns: u64) -> FlushPhases {
        FlushPhases {
            started_ns,
            ..FlushPhases::default()
        }
    }

    #[test]
    fn read_to_render_is_timed_only_within_one_wake() {
        let mut stats = Stats::default();
        // Read at 10 µs after its arrival; rendering starts 7 µs later.
        stats.read(1_000_000, 1_010_000);
        stats.read(1_002_000, 1_012_000);
        stats.changed(1_000_000, None);
        stats.flushed(1_030_000, phases(1_017_000));
        let report = stats.latency_report();
        assert_eq!(report.wake_us.p50, Some(10.0));
        assert_eq!(
            report.handle_us.p50,
            Some(7.0),
            "from the wake's first read"
        );
        assert_eq!(report.handle_us.samples, 1);
        // A read whose flush comes in a later wake (the debounce's) is not
        // a read → render figure.
        stats.read(2_000_000, 2_010_000);
        stats.changed(2_000_000, None);
        stats.wake_ended();
        stats.flushed(18_000_000, phases(17_990_000));
        assert_eq!(stats.latency_report().handle_us.samples, 1);
        assert_eq!(stats.latency_report().arrival_to_flush_us.samples, 2);
    }
}
