//! `llm-bridge status [--json] [--watch]`.

use crate::control::{request, RequestError};
use crate::datagram;
use crate::error::{Context, Error, Result};
use crate::paths::Paths;
use llm_bridge_hooks::wire::{reply, Message, MAX_DATAGRAM};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write;
use std::os::fd::AsRawFd;

/// The status JSON out of a `QUERY` reply.
pub fn parse_reply(reply_bytes: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(reply_bytes).context("the daemon's reply is not UTF-8")?;
    let body = text.strip_prefix(reply::STATUS).ok_or_else(|| {
        Error::msg(format!(
            "unexpected reply: {}",
            text.lines().next().unwrap_or("")
        ))
    })?;
    serde_json::from_str(body).context("the daemon's status is not JSON")
}

/// Exit 0 running, 1 not running, 2 error.
pub fn status(paths: &Paths, json: bool) -> i32 {
    let value = match request(&paths.socket, &Message::Query) {
        Ok(r) => match parse_reply(&r) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("llm-bridge: {e}");
                return 2;
            }
        },
        Err(RequestError::NotRunning) => {
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
        println!("{value}");
    } else {
        print!("{}", human(&value));
    }
    0
}

/// The status as a few lines of text.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    let up = v["uptime_s"].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "llm-bridge {} running (pid {}, up {}){}",
        v["version"].as_str().unwrap_or("?"),
        v["pid"],
        duration(up),
        if v["socket_activated"].as_bool() == Some(true) {
            ", socket-activated"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "config: {}",
        v["config_path"].as_str().unwrap_or("(none)")
    );
    let pids: Vec<String> = v["waybar_pids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.to_string())
        .collect();
    let _ = writeln!(
        out,
        "waybar: {}",
        if pids.is_empty() {
            "none found yet".to_string()
        } else {
            format!("pid {}", pids.join(", "))
        }
    );
    let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "sessions: {}", sessions.len());
    for s in &sessions {
        let mut line = format!(
            "  {:<20} {:<8} {:<10} {} prompts, {} tool uses",
            s["project"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
            s["tool"].as_str().unwrap_or("-"),
            s["prompts"],
            s["tool_uses"]
        );
        if s["subagents"].as_u64().unwrap_or(0) > 0 {
            let _ = write!(line, ", {} subagents", s["subagents"]);
        }
        if let Some(m) = s["model"].as_str() {
            let _ = write!(line, ", {m}");
        }
        if let Some(c) = s["cost_usd"].as_f64() {
            let _ = write!(line, ", ${c:.2}");
        }
        if let Some(p) = s["context_pct"].as_f64() {
            let _ = write!(line, ", {p:.0}% context");
        }
        let _ = write!(
            line,
            ", last event {} ago",
            duration(s["last_event_age_s"].as_u64().unwrap_or(0))
        );
        let _ = writeln!(out, "{line}");
    }
    let c = &v["counters"];
    let _ = writeln!(
        out,
        "datagrams: {} received, {} rejected · {} flushes, {} writes, {} signals sent",
        c["received"], c["rejected"], c["flushes"], c["writes"], c["signals"]
    );
    let l = &v["event_to_flush_ms"];
    match (l["p50"].as_f64(), l["p99"].as_f64()) {
        (Some(p50), Some(p99)) => {
            let _ = writeln!(
                out,
                "event → flush: p50 {p50:.3} ms, p99 {p99:.3} ms ({} events)",
                l["samples"]
            );
        }
        _ => {
            let _ = writeln!(out, "event → flush: no event yet");
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
/// module's text and tooltip on every change, until interrupted.
pub fn watch(paths: &Paths) -> Result<i32> {
    let sock = std::os::unix::net::UnixDatagram::unbound().context("cannot create a socket")?;
    datagram::autobind(sock.as_raw_fd()).context("cannot bind a reply address")?;
    if sock
        .send_to(&Message::Subscribe.encode(), &paths.socket)
        .is_err()
    {
        eprintln!("llm-bridge: the daemon is not running");
        return Ok(1);
    }
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let n = sock
            .recv(&mut buf)
            .context("cannot receive from the daemon")?;
        let Some(body) = buf[..n].strip_prefix(reply::MODULE.as_bytes()) else {
            continue;
        };
        let Ok(module) = serde_json::from_slice::<Value>(body) else {
            continue;
        };
        let clock = crate::module::clock_now();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{clock} {}", module["text"].as_str().unwrap_or("?"));
        for line in module["tooltip"].as_str().unwrap_or("").lines() {
            let _ = writeln!(out, "         {line}");
        }
        if out.flush().is_err() {
            return Ok(0);
        }
    }
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
            "event_to_flush_ms": {"p50": 0.05, "p99": 16.2, "samples": 9}
        });
        let text = human(&v);
        for want in [
            "llm-bridge 0.1.0 running (pid 42, up 1h02m)",
            "config: /c.toml",
            "waybar: pid 7",
            "app",
            "working",
            "Bash",
            "2 prompts, 5 tool uses, 1 subagents, Opus, $1.50, 40% context, last event 3s ago",
            "10 received, 1 rejected",
            "p50 0.050 ms, p99 16.200 ms",
        ] {
            assert!(text.contains(want), "{want:?} missing in:\n{text}");
        }
    }
}
