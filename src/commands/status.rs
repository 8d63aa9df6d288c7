//! `llm-bridge status [--json] [--watch]`.

use crate::control::{request, RequestError};
use crate::daemon::StatusReport;
use crate::subscription::Subscription;
use llm_bridge_core::error::{bail, one_line, Context, Result};
use llm_bridge_core::local_time::{utc_offset_secs, wall_clock_ms};
use llm_bridge_core::module;
use llm_bridge_core::paths::Paths;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::Message;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write;

/// The status out of a `QUERY` reply.
pub fn parse_reply(reply: Reply) -> Result<StatusReport> {
    let Reply::Status(body) = reply else {
        bail!("unexpected reply to QUERY: {reply:?}");
    };
    serde_json::from_str(&body).context("the daemon's status is not what this version expects")
}

/// Asks the daemon for its status.
pub fn query(paths: &Paths) -> Result<StatusReport, RequestError> {
    let reply = request(paths, &Message::Query)?;
    parse_reply(reply).map_err(|e| RequestError::Invalid(one_line(&e)))
}

/// Exit 0 running, 1 not running, 2 error.
pub fn status(paths: &Paths, json: bool) -> i32 {
    let report = match query(paths) {
        Ok(r) => r,
        Err(RequestError::NotRunning) => {
            if let Some(pid) = crate::commands::lifecycle::unreachable_daemon(paths) {
                let why = crate::commands::lifecycle::unreachable_text(paths, pid);
                if json {
                    let v = serde_json::json!({"running": true, "reachable": false, "pid": pid, "problem": why});
                    println!("{v}");
                } else {
                    println!("llm-bridge: {why}");
                }
                return 2;
            }
            if json {
                println!("{{\"running\":false}}");
            } else {
                println!("llm-bridge daemon is not running");
            }
            return 1;
        }
        Err(e) => {
            eprintln!("llm-bridge: {e}");
            return 2;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("status serializes")
        );
    } else {
        print!("{}", human(&report));
    }
    0
}

/// The status as a few lines of text.
pub fn human(r: &StatusReport) -> String {
    let mut out = String::new();
    let kept = r
        .keeper
        .map(|k| format!(", restarted by its socket's keeper (pid {k}) if killed"));
    let _ = writeln!(
        out,
        "llm-bridge {} running (pid {}, up {}){}",
        r.version,
        r.pid,
        duration(r.uptime_s),
        if r.socket_activated {
            ", socket-activated"
        } else if r.supervised {
            ", restarted by its supervisor if killed"
        } else {
            kept.as_deref().unwrap_or("")
        }
    );
    let _ = writeln!(
        out,
        "config: {}",
        r.config_path
            .as_ref()
            .map_or("none (defaults)".to_string(), |p| p.display().to_string())
    );
    let pids: Vec<String> = r.waybar_pids.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(
        out,
        "waybar: {}",
        if pids.is_empty() {
            "none found yet".to_string()
        } else {
            format!("pid {}", pids.join(", "))
        }
    );
    if r.session_count > r.sessions.len() {
        let _ = writeln!(
            out,
            "sessions: {} (the {} most urgent:)",
            r.session_count,
            r.sessions.len()
        );
    } else {
        let _ = writeln!(out, "sessions: {}", r.sessions.len());
    }
    for s in &r.sessions {
        let mut line = format!(
            "  {:<20} {:<8} {:<10} {} prompts, {} tool uses",
            s.project,
            s.state.as_str(),
            s.tool.as_deref().unwrap_or("-"),
            s.prompts,
            s.tool_uses
        );
        if s.subagents > 0 {
            let _ = write!(line, ", {} subagents", s.subagents);
        }
        // Claude Code's sessions go unnamed, as in the bar's tooltip.
        if s.agent != llm_bridge_protocol::agent::Agent::Claude {
            let _ = write!(line, ", {}", s.agent.title());
        }
        if let Some(m) = &s.model {
            let _ = write!(line, ", {m}");
        }
        if let Some(c) = s.cost_usd {
            let _ = write!(line, ", ${c:.2}");
        }
        if let Some(p) = s.context_pct {
            let _ = write!(line, ", {p:.0}% context");
        }
        let _ = write!(line, ", last event {} ago", duration(s.last_event_age_s));
        let _ = writeln!(out, "{line}");
    }
    let c = &r.counters;
    let _ = writeln!(
        out,
        "datagrams: {} received, {} rejected, {} from other users (dropped) · {} flushes, \
         {} writes, {} signals sent",
        c.received, c.rejected, c.foreign, c.flushes, c.writes, c.signals
    );
    let _ = writeln!(
        out,
        "watching: {} agent processes, {} transcripts, {} dialogs · {} exited, \
         {} interrupted (Esc), {} dialogs answered, {} evicted",
        r.watched_processes,
        r.watched_transcripts,
        r.watched_dialogs,
        c.exited,
        c.interrupted,
        c.answered,
        c.evicted
    );
    if r.unwatched_processes > 0 {
        let _ = writeln!(
            out,
            "not watched: {} agent processes (no file descriptor free; their sessions \
             stay and are watched once one is: raise `ulimit -n`)",
            r.unwatched_processes
        );
    }
    if c.transcript_failures > 0 {
        let _ = writeln!(
            out,
            "transcripts: {} could not be watched (see the daemon's log)",
            c.transcript_failures
        );
    }
    if let Some(voice) = &r.speech_voice {
        let loaded = r.speech_load_ms.map_or_else(
            || "not loaded".to_string(),
            |ms| format!("loaded in {ms} ms"),
        );
        let first = r.speech_first_audio_ms.map_or_else(String::new, |ms| {
            format!(", last first audio after {ms} ms")
        });
        let _ = writeln!(
            out,
            "speech: {} ({loaded}) · {} queued · {} said, {} refused, {} failed{first}",
            voice.display(),
            r.speech_queue,
            c.said,
            c.speech_refused,
            c.speech_failures
        );
    }
    let n = &r.notifications;
    if r.muted || n.queued + n.muted + n.quiet_hours + n.repeated > 0 {
        let mute = match (r.muted, r.muted_until) {
            (true, Some(t)) => format!(
                "muted until {} · ",
                module::clock(t, utc_offset_secs((t / 1000) as i64))
            ),
            (true, None) => "muted · ".to_string(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "notifications: {mute}{} played ({} from the cache), {} cut for a more urgent one, \
             {} dropped; not said: {} muted, {} in quiet hours, {} repeated, {} short turns",
            n.played,
            n.from_cache,
            n.preempted,
            n.hushed + n.dropped,
            n.muted,
            n.quiet_hours,
            n.repeated,
            n.short_turn
        );
    }
    if let Some(kib) = r.rss_kib {
        let _ = writeln!(out, "memory: {:.1} MiB resident", kib as f64 / 1024.0);
    }
    if let Some(why) = &r.last_write_error {
        let _ = writeln!(
            out,
            "writes: {} failed, the last one: {why}",
            c.write_failures
        );
    }
    if c.snapshot_failures > 0 {
        let _ = writeln!(
            out,
            "state.json: {} writes failed (see the daemon's log)",
            c.snapshot_failures
        );
    }
    let l = &r.latency;
    match (l.arrival_to_flush_us.p50, l.arrival_to_flush_us.p99) {
        (Some(p50), Some(p99)) => {
            let _ = writeln!(
                out,
                "datagram → flushed: p50 {p50:.0} µs, p99 {p99:.0} µs ({} events)",
                l.arrival_to_flush_us.samples
            );
            if let (Some(p50), Some(p99)) = (l.hook_to_flush_ms.p50, l.hook_to_flush_ms.p99) {
                let _ = writeln!(
                    out,
                    "hook start → flushed: p50 {p50:.3} ms, p99 {p99:.3} ms"
                );
            }
            let phase = |r: &crate::daemon::LatencyReport| {
                r.p50.map_or("-".to_string(), |v| format!("{v:.0} µs"))
            };
            let _ = writeln!(
                out,
                "where it goes (p50): wake-up {}, read → render {}; a flush: render {}, write {}, \
                 signal {}",
                phase(&l.wake_us),
                phase(&l.handle_us),
                phase(&l.render_us),
                phase(&l.write_us),
                phase(&l.signal_us)
            );
        }
        _ => {
            let _ = writeln!(out, "datagram → flushed: no event yet");
        }
    }
    out
}

fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

/// Streams changes: subscribes like `waybar --follow` and prints the
/// module's text and tooltip (plain text, not Pango markup) on every change,
/// until interrupted; follows a restarted daemon.
pub fn watch(paths: &Paths) -> Result<i32> {
    let mut subscription = Subscription::new(paths)?;
    if !subscription.daemon_answers() {
        eprintln!("llm-bridge: the daemon is not running");
        return Ok(1);
    }
    let mut last = None;
    while let Some(line) = subscription.next_module()? {
        if last.as_ref() == Some(&line) {
            continue;
        }
        let Ok(module) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let now = wall_clock_ms();
        let clock = module::clock(now, utc_offset_secs((now / 1000) as i64));
        let text = |key: &str| module::markup_to_text(module[key].as_str().unwrap_or(""));
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{clock} {}", text("text"));
        for tooltip_line in text("tooltip").lines() {
            let _ = writeln!(out, "         {tooltip_line}");
        }
        if out.flush().is_err() {
            return Ok(0);
        }
        last = Some(line);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_names_everything() {
        let v = serde_json::json!({
            "version": "0.1.0", "pid": 42, "uptime_s": 3725, "config_path": "/c.toml",
            "socket_activated": false, "waybar_pids": [7], "subscribers": 0,
            "sessions": [{"project": "app", "state": "working", "tool": "Bash", "prompts": 2,
                          "tool_uses": 5, "subagents": 1, "model": "Opus", "cost_usd": 1.5,
                          "context_pct": 40.0, "last_event_age_s": 3}],
            "counters": {"received": 10, "rejected": 1, "flushes": 4, "writes": 3, "signals": 3},
            "latency": {"arrival_to_flush_us": {"p50": 45.0, "p99": 98.0, "samples": 9},
                        "hook_to_flush_ms": {"p50": 0.4, "p99": 0.9, "samples": 9},
                        "wake_us": {"p50": 12.0, "p99": 30.0, "samples": 9},
                        "handle_us": {"p50": 7.0, "p99": 11.0, "samples": 4},
                        "render_us": {"p50": 3.0, "p99": 5.0, "samples": 4},
                        "write_us": {"p50": 20.0, "p99": 30.0, "samples": 4},
                        "signal_us": {"p50": 8.0, "p99": 9.0, "samples": 4}}
        });
        let report: StatusReport = serde_json::from_value(v).unwrap();
        let text = human(&report);
        for want in [
            "llm-bridge 0.1.0 running (pid 42, up 1h02m)",
            "config: /c.toml",
            "waybar: pid 7",
            "app",
            "working",
            "Bash",
            "2 prompts, 5 tool uses, 1 subagents, Opus, $1.50, 40% context, last event 3s ago",
            "10 received, 1 rejected",
            "datagram → flushed: p50 45 µs, p99 98 µs (9 events)",
            "hook start → flushed: p50 0.400 ms, p99 0.900 ms",
            "wake-up 12 µs, read → render 7 µs; a flush: render 3 µs, write 20 µs, signal 8 µs",
        ] {
            assert!(text.contains(want), "{want:?} missing in:\n{text}");
        }
    }
}
