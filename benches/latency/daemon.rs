//! Fresh daemons, one per scenario: an event's cost as sessions grow, the
//! daemon's part of an event against the C program that makes only its
//! system calls, and what no hook reports (an Esc, a killed client, an
//! answered dialog), with idle wakeups while clients are watched.

use crate::env::{client, BenchEnv};
use crate::figures::{median, ms, now_ns, pct, row};
use crate::procfs::{cpu_ns, ctxt, proc_status, threads};
use crate::{Ctx, Running};
use llm_bridge_core::local_time::wall_clock_ms;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::{Input, State};
use llm_bridge_hooks::send::{send_datagram, SEND_TIMEOUT};
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh daemon holding `n` sessions (`grow-0`...), restored from a
/// snapshot so that its latency figures count only what follows.
fn restored_daemon(bridge: &Path, n: usize) -> Running {
    let env = BenchEnv::new();
    let waybar = env.recorder();
    let mut state = State::default();
    for i in 0..n {
        let mut e = Event::new(EventKind::SessionStart, format!("grow-{i}"));
        e.cwd = Some(format!("/home/u/src/project-{i}"));
        state.apply(&Input::Event(e), wall_clock_ms());
    }
    let state_dir = env.dir.join("llm-bridge");
    // 0700, as the daemon makes it: it refuses a wider one.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&state_dir)
        .unwrap();
    snapshot::save(&state_dir.join("state.json"), &state).unwrap();
    let daemon = env.daemon(bridge);
    assert_eq!(
        env.status()["session_count"].as_u64(),
        Some(n as u64),
        "the daemon did not restore {n} sessions"
    );
    Running {
        daemon,
        waybar,
        env,
    }
}

/// The `i`th of a run of isolated events on session `grow-0`: Submit and
/// Stop alternate, so each changes the module.
fn grow_event(i: usize) -> Vec<u8> {
    let kind = if i.is_multiple_of(2) {
        EventKind::Submit
    } else {
        EventKind::Stop
    };
    let mut e = Event::new(kind, "grow-0");
    e.cwd = Some("/home/u/src/project-0".into());
    Message::Event(e).encode()
}

/// Cost as sessions grow: a fresh daemon holding N sessions, then isolated
/// events on one of them.
pub fn sessions(ctx: &mut Ctx) {
    let quick = ctx.quick;
    for n in [1usize, 10, 100, 1000] {
        let Running {
            mut daemon,
            waybar,
            env,
        } = restored_daemon(&ctx.bridge, n);
        let socket = env.socket();
        let pid = daemon.child.id();
        let events = if quick { 30 } else { 100 };
        let cpu_before = cpu_ns(pid);
        let mut lat = Vec::new();
        for i in 0..events {
            let datagram = grow_event(i);
            let before = waybar.count();
            let t0 = now_ns();
            send_datagram(&socket, &datagram, SEND_TIMEOUT).expect("send");
            let arrivals = waybar.wait_count(before + 1);
            lat.push(Duration::from_nanos((arrivals[before] - t0) as u64));
            std::thread::sleep(Duration::from_millis(25));
        }
        let cpu = cpu_ns(pid) - cpu_before;
        let status = env.status();
        let l = &status["latency"];
        let p50 = |k: &str| l[k]["p50"].as_f64().unwrap_or(f64::NAN);
        let p99 = |k: &str| l[k]["p99"].as_f64().unwrap_or(f64::NAN);
        row(
            &format!("{n} session(s): an event (send → signal; {events} isolated events)"),
            &format!(
                "p50 {} · p99 {} · in the daemon (`status`: datagram arrival → signal sent) \
                 p50 {:.0} µs, **p99 {:.0} µs**: wake-up {:.0}, read → render {:.0}, render {:.0}, \
                 write {:.0}, signal {:.0} µs (p50) · daemon CPU {:.1} µs/event (snapshots \
                 included) · RSS {}",
                ms(median(&mut lat)),
                ms(pct(&mut lat, 99.0)),
                p50("arrival_to_flush_us"),
                p99("arrival_to_flush_us"),
                p50("wake_us"),
                p50("handle_us"),
                p50("render_us"),
                p50("write_us"),
                p50("signal_us"),
                cpu as f64 / 1000.0 / events as f64,
                proc_status(pid, "VmRSS"),
            ),
        );
        daemon.stop();
    }
}

/// The daemon's part of an event (datagram arrival → signal sent) against
/// its floor, `floor_daemon.c`: a static C program making the daemon's
/// system calls for one event (epoll wake-up, recvmsg with the arrival
/// time, a prepared file written and renamed, a pidfd signal) and nothing
/// else. Both run at once, in one runtime directory, and signal the same
/// stand-in Waybar; isolated events alternate between them, so whatever
/// the machine does during the run falls on both alike. The daemon (one
/// session, restored) measures itself, as `status` reports it: from the
/// kernel's arrival stamp on the datagram to its flush done (written and
/// signalled). The floor prints the same span for each event; it is
/// truncated to whole µs, as the daemon's samples are.
pub fn floor(ctx: &mut Ctx) {
    // The daemon keeps its 1024 most recent latencies: a run's events fit.
    let events = if ctx.quick { 100 } else { 1000 };
    let fixture = ctx.fixture("floor_daemon");
    let Running {
        mut daemon,
        waybar,
        env,
    } = restored_daemon(&ctx.bridge, 1);
    let daemon_socket = env.socket();
    let floor_socket = env.dir.join("floor.sock");
    let mut floor = Command::new(&fixture)
        .arg(&floor_socket)
        .arg(env.dir.join("floor.json"))
        .arg(waybar.child.id().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(floor.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n", "floor_daemon did not start");
    // Send → the stand-in Waybar's signal received, timed by this harness
    // alike for both: what a user waits for, whatever each one reports.
    let (mut daemon_e2e, mut floor_e2e) = (Vec::new(), Vec::new());
    for i in 0..events {
        for (socket, e2e) in [
            (&daemon_socket, &mut daemon_e2e),
            (&floor_socket, &mut floor_e2e),
        ] {
            let datagram = grow_event(i);
            let before = waybar.count();
            let sent = now_ns();
            send_datagram(socket, &datagram, SEND_TIMEOUT).expect("send");
            let woke = waybar.wait_count(before + 1)[before];
            e2e.push(Duration::from_micros(
                (woke.saturating_sub(sent) / 1000) as u64,
            ));
            // Past the debounce window: the next event is isolated.
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    send_datagram(&floor_socket, b"quit", SEND_TIMEOUT).expect("send");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    floor.wait().unwrap();
    // Each line: arrival → signal sent, arrival → read, read → the
    // module's write starting; in ns.
    let (mut lat, mut wake, mut handle) = (Vec::new(), Vec::new(), Vec::new());
    for l in rest.lines() {
        let us = |s: Option<&str>| {
            s.and_then(|s| s.parse::<u64>().ok())
                .map(|ns| Duration::from_micros(ns / 1000))
        };
        let mut fields = l.split(' ');
        if let (Some(total), Some(read), Some(to_write)) =
            (us(fields.next()), us(fields.next()), us(fields.next()))
        {
            lat.push(total);
            wake.push(read);
            handle.push(to_write);
        }
    }
    assert_eq!(lat.len(), events, "floor_daemon lost events");
    let status = env.status();
    daemon.stop();
    let l = &status["latency"];
    let p50 = |k: &str| l[k]["p50"].as_f64().unwrap_or(f64::NAN);
    let p99 = |k: &str| l[k]["p99"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(
        l["arrival_to_flush_us"]["samples"].as_u64(),
        Some(events as u64),
        "the daemon's latency samples are not the events sent"
    );
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (f50, f99) = (us(median(&mut lat)), us(pct(&mut lat, 99.0)));
    let fw50 = us(median(&mut wake));
    let fh50 = us(median(&mut handle));
    let (d50, d99) = (p50("arrival_to_flush_us"), p99("arrival_to_flush_us"));
    row(
        &format!(
            "daemon floor: static C program making the daemon's system calls per event \
             (`floor_daemon.c`: epoll wake-up, recvmsg with the arrival time, write + rename, \
             pidfd signal) and the daemon at 1 session (`status`), {events} isolated events \
             each, alternating in one run: datagram arrival → signal sent"
        ),
        &format!(
            "floor p50 {f50:.0} µs · p99 {f99:.0} µs (wake-up {fw50:.0}, read → write {fh50:.0} µs \
             p50) · daemon p50 {d50:.0} µs · p99 {d99:.0} µs \
             (wake-up {:.0}, read → render {:.0}, render {:.0}, write {:.0}, signal {:.0} µs p50) · \
             **the daemon: p50 {:.2}x, p99 {:.2}x the floor**",
            p50("wake_us"),
            p50("handle_us"),
            p50("render_us"),
            p50("write_us"),
            p50("signal_us"),
            d50 / f50,
            d99 / f99,
        ),
    );
    let (e50, e99) = (us(median(&mut daemon_e2e)), us(pct(&mut daemon_e2e, 99.0)));
    let (g50, g99) = (us(median(&mut floor_e2e)), us(pct(&mut floor_e2e, 99.0)));
    row(
        "daemon floor, end to end: the same events, send → the stand-in Waybar's \
         `sigwaitinfo` returned, both timed by the harness",
        &format!(
            "floor p50 {g50:.0} µs · p99 {g99:.0} µs · daemon p50 {e50:.0} µs · p99 {e99:.0} µs \
             · **the daemon: p50 {:.2}x, p99 {:.2}x the floor**",
            e50 / g50,
            e99 / g99,
        ),
    );
}

/// What no hook reports: an Esc appended to a busy session's transcript, a
/// client killed and a dialog answered, each timed to the signal; then idle
/// wakeups with five idle sessions whose clients are watched.
pub fn watchers(ctx: &mut Ctx) {
    let (quick, idle) = (ctx.quick, ctx.idle_secs());
    let env = BenchEnv::new();
    let waybar = env.recorder();
    let mut daemon = env.daemon(&ctx.bridge);
    let socket = env.socket();
    let rounds = if quick { 10 } else { 50 };
    let interrupt = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}}"#;
    let transcript = env.dir.join("esc.jsonl");
    File::create(&transcript).unwrap();
    let mut clients: Vec<Child> = Vec::new();
    let submit_esc = client(&mut clients, "esc", Some(&transcript));
    let mut esc_lat = Vec::new();
    for _ in 0..rounds {
        let before = waybar.count();
        send_datagram(
            &socket,
            &Message::Event(submit_esc.clone()).encode(),
            SEND_TIMEOUT,
        )
        .expect("send");
        waybar.wait_count(before + 1);
        std::thread::sleep(Duration::from_millis(25));
        let before = waybar.count();
        let t0 = now_ns();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&transcript)
            .unwrap();
        writeln!(f, "{interrupt}").unwrap();
        drop(f);
        let arrivals = waybar.wait_count(before + 1);
        esc_lat.push(Duration::from_nanos((arrivals[before] - t0) as u64));
        std::thread::sleep(Duration::from_millis(25));
    }
    row(
        &format!("Esc: interrupt entry appended to the transcript → signal ({rounds} rounds)"),
        &format!(
            "p50 {} · p99 {}",
            ms(median(&mut esc_lat)),
            ms(pct(&mut esc_lat, 99.0))
        ),
    );
    let mut kill_lat = Vec::new();
    for i in 0..rounds {
        let e = client(&mut clients, &format!("kill-{i}"), None);
        let before = waybar.count();
        send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
        waybar.wait_count(before + 1);
        std::thread::sleep(Duration::from_millis(25));
        let victim = clients.last_mut().unwrap();
        let before = waybar.count();
        let t0 = now_ns();
        victim.kill().unwrap();
        let arrivals = waybar.wait_count(before + 1);
        kill_lat.push(Duration::from_nanos((arrivals[before] - t0) as u64));
        victim.wait().unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    row(
        &format!("client killed (SIGKILL) → session gone, signal ({rounds} rounds)"),
        &format!(
            "p50 {} · p99 {}",
            ms(median(&mut kill_lat)),
            ms(pct(&mut kill_lat, 99.0))
        ),
    );
    // A dialog answered "Yes": the client's status file goes from
    // waiting to busy (docs/dialogs.md).
    let config = env.dir.join("claude");
    std::fs::create_dir_all(config.join("projects/p")).unwrap();
    std::fs::create_dir_all(config.join("sessions")).unwrap();
    let mut answer_lat = Vec::new();
    let mut asking = client(&mut clients, "dialog", None);
    asking.transcript_path = Some(config.join("projects/p/dialog.jsonl").display().to_string());
    let status_file = config.join(format!("sessions/{}.json", asking.ppid.unwrap()));
    let write_status = |status: &str| {
        std::fs::write(
            &status_file,
            format!(r#"{{"sessionId":"dialog","status":"{status}"}}"#),
        )
        .unwrap();
    };
    for _ in 0..rounds {
        write_status("waiting");
        let mut e = asking.clone();
        e.kind = EventKind::Permission;
        let before = waybar.count();
        send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
        waybar.wait_count(before + 1);
        std::thread::sleep(Duration::from_millis(25));
        let before = waybar.count();
        let t0 = now_ns();
        write_status("busy");
        let arrivals = waybar.wait_count(before + 1);
        answer_lat.push(Duration::from_nanos((arrivals[before] - t0) as u64));
        std::thread::sleep(Duration::from_millis(25));
    }
    row(
        &format!("dialog answered: client status file waiting → busy → signal ({rounds} rounds)"),
        &format!(
            "p50 {} · p99 {}",
            ms(median(&mut answer_lat)),
            ms(pct(&mut answer_lat, 99.0))
        ),
    );
    let mut e = asking.clone();
    e.kind = EventKind::Stop;
    send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
    // Three idle sessions with watched clients.
    for i in 0..3 {
        let mut e = client(&mut clients, &format!("idle-{i}"), None);
        e.kind = EventKind::SessionStart;
        send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
    }
    let mut e = Event::new(EventKind::Stop, "esc");
    e.cwd = Some("/home/u/src/esc".into());
    send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.status()["watched_processes"].as_u64() != Some(5) {
        assert!(
            Instant::now() < deadline,
            "the daemon never watched 5 clients"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = daemon.child.id();
    std::thread::sleep(Duration::from_millis(300)); // Past the snapshot.
    let (before, threads_before) = (ctxt(pid), threads(pid));
    std::thread::sleep(Duration::from_secs(idle));
    let (after, threads_after) = (ctxt(pid), threads(pid));
    row(
        &format!(
            "daemon wakeups over {idle} s idle with 5 idle sessions' clients watched \
             (context switches, all {threads_after} threads)"
        ),
        &if threads_before == threads_after {
            format!("{}", after - before)
        } else {
            format!("not measured: threads went from {threads_before} to {threads_after}")
        },
    );
    daemon.stop();
    for mut c in clients {
        let _ = c.kill();
        let _ = c.wait();
    }
}
