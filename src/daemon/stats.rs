//! What the daemon counts and measures, and the typed report `status` shows.
//!
//! [`StatusReport`] is the one definition of the `QUERY` reply: the daemon
//! serialises it, and `llm-bridge status`, `stop` and the tests deserialise
//! the same struct, so a renamed field is a compile error, not a silent
//! `null`.

use crate::state::{Millis, Session, SessionState, State};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

/// Event → flush latencies kept for `status` (the most recent ones).
const LATENCY_SAMPLES: usize = 1024;

/// The counters and latency samples of one daemon run.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: u64,
    rejected: BTreeMap<&'static str, u64>,
    pub flushes: u64,
    pub writes: u64,
    pub signals: u64,
    pub snapshots: u64,
    pub snapshot_failures: u64,
    /// When each change not yet flushed arrived.
    unflushed: Vec<Instant>,
    latencies_us: VecDeque<u32>,
}

impl Stats {
    /// Counts a rejected datagram of kind `label`; returns how many of that
    /// kind so far (the caller logs the 1st, 2nd, 4th, 8th...).
    pub fn rejected(&mut self, label: &'static str) -> u64 {
        let count = self.rejected.entry(label).or_insert(0);
        *count += 1;
        *count
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// A change that arrived at `arrived` waits for the next flush.
    pub fn changed(&mut self, arrived: Instant) {
        if self.unflushed.len() < LATENCY_SAMPLES {
            self.unflushed.push(arrived);
        }
    }

    /// A flush finished at `done`: every waiting change has its latency.
    pub fn flushed(&mut self, done: Instant) {
        self.flushes += 1;
        for arrived in self.unflushed.drain(..) {
            if self.latencies_us.len() == LATENCY_SAMPLES {
                self.latencies_us.pop_front();
            }
            let us = done.saturating_duration_since(arrived).as_micros();
            self.latencies_us
                .push_back(us.min(u128::from(u32::MAX)) as u32);
        }
    }

    pub fn latency_report(&self) -> LatencyReport {
        let mut sorted: Vec<u32> = self.latencies_us.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| -> Option<f64> {
            let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(idx).map(|us| f64::from(*us) / 1000.0)
        };
        LatencyReport {
            p50: pct(0.5),
            p99: pct(0.99),
            samples: sorted.len(),
        }
    }

    pub fn counter_report(&self) -> CounterReport {
        CounterReport {
            received: self.received,
            rejected: self.rejected_total(),
            rejected_by_kind: self
                .rejected
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            flushes: self.flushes,
            writes: self.writes,
            signals: self.signals,
            snapshots: self.snapshots,
            snapshot_failures: self.snapshot_failures,
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
    pub waybar_pids: Vec<i32>,
    pub subscribers: usize,
    pub sessions: Vec<SessionReport>,
    pub counters: CounterReport,
    pub event_to_flush_ms: LatencyReport,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionReport {
    pub id: String,
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
            project: s.project.clone(),
            state: s.state,
            tool: s.current_tool().map(|t| t.name.clone()),
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

    /// One report per session, in the state's order.
    pub fn all(state: &State, now_ms: Millis) -> Vec<SessionReport> {
        state
            .sessions()
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
}

/// Milliseconds from a datagram's arrival to the end of its flush.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyReport {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub samples: usize,
}
