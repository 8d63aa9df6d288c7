//! Load with faults (issue 22): many clients' real hook processes under
//! `llm-bridge start`'s supervisor while the daemon is killed (-9) and, a
//! little later, stopped (SIGSTOP) for two seconds. Nothing acknowledged
//! may be lost: every session ends in the history once, with every prompt
//! counted; and no hook may wait beyond its bound.

use crate::env::BenchEnv;
use crate::figures::{ms, pct, row};
use crate::Ctx;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;

/// The daemon's PID from `start`'s PID file, once it differs from `not`.
fn daemon_pid(pid_file: &Path, not: Option<i32>) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|&p| Some(p) != not) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no daemon in {}",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn load(ctx: &mut Ctx) {
    let (hook, bridge) = (ctx.hook(), ctx.bridge.clone());
    // Per client: SessionStart, (runs - 2) / 2 turns, SessionEnd.
    let runs = if ctx.quick { 100 } else { 1000 };
    let turns = (runs - 2) / 2;
    let env = BenchEnv::new();
    let state = env.dir.join("state");
    let command = |program: &Path| -> Command {
        let mut cmd = env.command(program);
        cmd.env("XDG_STATE_HOME", &state)
            .env("HOME", &env.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    assert!(command(&bridge).arg("start").status().unwrap().success());
    let pid_file = env.dir.join("llm-bridge.pid");
    let first = daemon_pid(&pid_file, None);

    let done = AtomicUsize::new(0);
    let total = CLIENTS * runs;
    let start = Instant::now();
    let (mut times, faults) = std::thread::scope(|scope| {
        let faults = scope.spawn(|| {
            let at = |share: usize| {
                while done.load(Ordering::Relaxed) < total * share / 3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            };
            at(1);
            // SAFETY: kill(2) on the daemon's PID, read from its PID file.
            unsafe { libc::kill(first, libc::SIGKILL) };
            let second = daemon_pid(&pid_file, Some(first));
            at(2);
            // SAFETY: as above; the fault schedule's 2 s stop, not a wait.
            unsafe { libc::kill(second, libc::SIGSTOP) };
            std::thread::sleep(Duration::from_secs(2));
            // SAFETY: as above.
            unsafe { libc::kill(second, libc::SIGCONT) };
            second
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (env, hook, done) = (&env, &hook, &done);
                let command = &command;
                scope.spawn(move || {
                    let sid = format!("load-{c}");
                    let input = |event: &str| -> PathBuf {
                        let path = env.dir.join(format!("{sid}-{event}.json"));
                        let payload = format!(
                            r#"{{"session_id":"{sid}","hook_event_name":"{event}","cwd":"/src/p{c}","prompt":"go"}}"#
                        );
                        std::fs::write(&path, payload).unwrap();
                        path
                    };
                    let events = ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"]
                        .map(|e| std::fs::File::open(input(e)).unwrap());
                    let mut times = Vec::with_capacity(runs);
                    let mut run = |i: usize| {
                        let t = Instant::now();
                        let stdin = events[i].try_clone().unwrap();
                        std::io::Seek::rewind(&mut &stdin).unwrap();
                        assert!(command(hook).stdin(stdin).status().unwrap().success());
                        times.push(t.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                    };
                    run(0);
                    for _ in 0..turns {
                        run(1);
                        run(2);
                    }
                    run(3);
                    times
                })
            })
            .collect();
        let times: Vec<Duration> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (times, faults.join().unwrap())
    });
    let elapsed = start.elapsed();

    // Every session in the history once, with every prompt.
    let history = state.join("llm-bridge/sessions.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (lines, exact) = loop {
        let text = std::fs::read_to_string(&history).unwrap_or_default();
        let records: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let exact = records.len() == CLIENTS
            && (0..CLIENTS).all(|c| {
                records
                    .iter()
                    .filter(|r| r["id"] == format!("load-{c}").as_str())
                    .map(|r| r["prompts"].as_u64())
                    .eq([Some(turns as u64)])
            });
        if exact || Instant::now() > deadline {
            break (records.len(), exact);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = env.status();
    let counters = &status["counters"];
    let _ = command(&bridge).arg("stop").status();
    row(
        &format!(
            "load: {CLIENTS} clients × {runs} hook runs (a session each: {turns} turns), under \
             `llm-bridge start`'s supervisor; the daemon killed (-9) after a third, the next one \
             stopped (SIGSTOP) for 2 s after two thirds"
        ),
        &format!(
            "{} · {:.0} hook runs/s over {:.1} s · hook p50 {} · p99 {} · max {} · spooled {} · \
             daemon {first} → {faults}",
            if exact {
                format!("**0 lost**: {CLIENTS} of {CLIENTS} sessions in the history once, every prompt counted")
            } else {
                format!("**LOST**: {lines} history lines, not {CLIENTS} exact ones")
            },
            total as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            ms(crate::figures::median(&mut times)),
            ms(pct(&mut times, 99.0)),
            ms(times.iter().copied().max().unwrap_or_default()),
            counters["spooled"],
        ),
    );
}
