//! `llm-bridge status`: the daemon's answer to `QUERY`, gathered from
//! every owner (each keeps its own figures; this only puts them together).

use super::stats::{CounterReport, SessionReport, StatusReport};
use super::Daemon;
use llm_bridge_core::config::Config;
use llm_bridge_core::local_time::wall_clock_ms;

impl Daemon {
    /// Everything `llm-bridge status` shows.
    pub(super) fn status_report(&self) -> StatusReport {
        let now_ms = wall_clock_ms();
        let watched = self.watchers.watched();
        let mute = self.state.mute(now_ms);
        let speech = self.speech.status();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_s: self.life.uptime().as_secs(),
            // Only a file that is there: `status` says "none (defaults)" otherwise.
            config_path: Config::path().filter(|p| p.exists()),
            socket: self.ipc.path().to_path_buf(),
            socket_activated: self.ipc.inherited(),
            supervised: self.ipc.supervised(),
            keeper: self.ipc.keeper(),
            waybar_pids: self.bar.known_pids(),
            subscribers: self.ipc.subscriber_count(),
            watched_processes: watched.processes,
            watched_transcripts: watched.transcripts,
            watched_dialogs: watched.dialogs,
            unwatched_processes: watched.unwatched_processes,
            speech_voice: speech.voice,
            speech_load_ms: speech.load_ms,
            speech_queue: speech.queue,
            speech_first_audio_ms: speech.first_audio_ms,
            notifications: speech.notifications,
            phrase_cache: speech.phrase_cache,
            muted: mute.is_some(),
            muted_until: mute.and_then(|m| m.until),
            rss_kib: own_rss_kib(),
            session_count: self.state.len(),
            sessions: SessionReport::most_urgent(&self.state, now_ms),
            counters: CounterReport {
                transcript_failures: watched.transcript_failures,
                said: speech.said,
                speech_refused: speech.refused,
                speech_failures: speech.failures,
                ..self.stats.counters.clone()
            },
            last_write_error: self.stats.last_write_error.clone(),
            latency: self.stats.latency_report(),
        }
    }
}

/// This process's resident memory (VmRSS), in KiB.
fn own_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}
