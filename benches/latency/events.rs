//! Events into the daemon the first scenarios share: isolated and in
//! bursts, timed to the stand-in Waybar's receipt of the signal; parallel
//! senders and hook processes (loss, final state, signals); raw throughput
//! and CPU per event; then the daemon's memory and idle wakeups. Also the
//! real Waybar, measured by the end-to-end script.

use crate::figures::{median, ms, now_ns, pct, row};
use crate::procfs::{cpu_ns, ctxt, proc_status, threads};
use crate::Ctx;
use llm_bridge_hooks::send::{send_datagram, SEND_TIMEOUT};
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::process::Command;
use std::time::{Duration, Instant};

/// Isolated event → signal: hook spawn to the recorder's receipt.
pub fn isolated(ctx: &mut Ctx) {
    let (hook, quick) = (ctx.hook(), ctx.quick);
    let (submit, stop) = (
        ctx.sample("hook-UserPromptSubmit.json"),
        ctx.sample("hook-Stop.json"),
    );
    let shared = ctx.shared();
    let (env, waybar) = (&shared.env, &shared.waybar);
    let isolated = if quick { 50 } else { 200 };
    let mut lat = Vec::new();
    // The hooks above leave a trailing flush up to one window after the last
    // of them: wait for it and one more window, so event #0 is isolated too.
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..isolated {
        let before = waybar.count();
        // Alternate so each event changes the module (Stop first: a tool is running).
        let sample = if i % 2 == 0 { &stop } else { &submit };
        let t0 = now_ns();
        env.run(&hook, &[], sample);
        let arrivals = waybar.wait_count(before + 1);
        let took = Duration::from_nanos((arrivals[before] - t0) as u64);
        if std::env::var_os("LLM_BRIDGE_BENCH_DEBUG").is_some() && took > Duration::from_millis(5) {
            eprintln!("slow isolated event #{i}: {took:?}");
        }
        lat.push(took);
        // Let the debounce window pass so the next event is isolated.
        std::thread::sleep(Duration::from_millis(25));
    }
    row(
        &format!("event → signal, isolated ({isolated} events; hook start to signal arrival)"),
        &format!(
            "p50 {} · p99 {} · max {}",
            ms(median(&mut lat)),
            ms(pct(&mut lat, 99.0)),
            ms(*lat.iter().max().unwrap())
        ),
    );
}

/// Bursts: 10 datagrams back to back, each changing the module; from the
/// burst's first event to the first signal (the leading edge), and from its
/// last event to the signal that follows it (the window's end).
pub fn bursts(ctx: &mut Ctx) {
    let quick = ctx.quick;
    let shared = ctx.shared();
    let (env, waybar) = (&shared.env, &shared.waybar);
    let bursts = if quick { 20 } else { 50 };
    let (mut lead, mut trail) = (Vec::new(), Vec::new());
    let socket = env.socket();
    std::thread::sleep(Duration::from_millis(50));
    for b in 0..bursts {
        let before = waybar.count();
        let first = now_ns();
        let mut last = first;
        for i in 0..10 {
            let mut e = Event::new(EventKind::ToolStart, "8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91");
            e.tool_name = Some(format!("B{b}x{i}"));
            e.tool_use_id = Some(format!("burst-{b}-{i}"));
            last = now_ns();
            send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
        }
        waybar.wait_count(before + 1);
        // Past the 50 ms cap every flush the burst causes has happened.
        std::thread::sleep(Duration::from_millis(70));
        let arrivals = waybar.arrivals();
        lead.push(Duration::from_nanos((arrivals[before] - first) as u64));
        // A burst drained in one wake is flushed once, by the leading edge.
        let covering = arrivals[before..]
            .iter()
            .find(|&&a| a >= last)
            .copied()
            .unwrap_or(arrivals[before]);
        trail.push(Duration::from_nanos(covering.saturating_sub(last) as u64));
    }
    row(
        &format!("event → signal, bursts of 10 ({bursts} bursts): first event → leading flush"),
        &format!(
            "p50 {} · p99 {} · max {}",
            ms(median(&mut lead)),
            ms(pct(&mut lead, 99.0)),
            ms(*lead.iter().max().unwrap())
        ),
    );
    row(
        "… last event of the burst → the first signal after it",
        &format!(
            "p50 {} · p99 {} · max {}",
            ms(median(&mut trail)),
            ms(pct(&mut trail, 99.0)),
            ms(*trail.iter().max().unwrap())
        ),
    );
}

/// Burst: 8 parallel senders × 1000 events.
pub fn senders(ctx: &mut Ctx) {
    let shared = ctx.shared();
    let (env, waybar) = (&shared.env, &shared.waybar);
    let senders = 8;
    let per_sender = 1000;
    let before = waybar.count();
    let start = Instant::now();
    let socket = env.socket();
    std::thread::scope(|scope| {
        for s in 0..senders {
            let socket = &socket;
            scope.spawn(move || {
                for i in 0..per_sender {
                    // Start/end pairs, as Claude Code sends them; the last tool stays running.
                    let kind = if i % 2 == 0 {
                        EventKind::ToolStart
                    } else {
                        EventKind::ToolEnd
                    };
                    let mut e = Event::new(kind, format!("burst-{s}"));
                    e.cwd = Some(format!("/src/burst-{s}"));
                    e.tool_name = Some(format!("T{}", i / 2));
                    e.tool_use_id = Some(format!("b{s}-{}", i / 2));
                    send_datagram(socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
                }
            });
        }
    });
    let send_time = start.elapsed();
    let state_json = env.dir.join("llm-bridge/state.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let text = std::fs::read_to_string(&state_json).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        // Every start counts a tool use; a lost end would leave its tool running.
        let got: u64 = (0..senders)
            .map(|s| {
                let session = &v["sessions"][format!("burst-{s}")];
                let starts = session["tool_uses"].as_u64().unwrap_or(0);
                let running = session["tools"].as_object().map_or(0, |t| t.len() as u64);
                starts + starts.saturating_sub(running)
            })
            .sum();
        if got == (senders * per_sender) as u64 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let module: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(env.dir.join("llm-bridge/waybar.json"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let signals = waybar.count() - before;
    row(
        &format!("burst: {senders} senders × {per_sender} events"),
        &format!(
            "received {received} of {} · {:.0} events/s · {signals} signals · final text `{}`",
            senders * per_sender,
            (senders * per_sender) as f64 / send_time.as_secs_f64(),
            module["text"].as_str().unwrap_or("?")
        ),
    );
}

/// Real hook processes in parallel: 8 workers × 100 hook runs each.
pub fn parallel_hooks(ctx: &mut Ctx) {
    let (hook, quick) = (ctx.hook(), ctx.quick);
    let shared = ctx.shared();
    let (env, waybar) = (&shared.env, &shared.waybar);
    let state_json = env.dir.join("llm-bridge/state.json");
    let workers = 8;
    let per_worker = if quick { 25 } else { 100 };
    let before = waybar.count();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let hook = &hook;
            scope.spawn(move || {
                let input = env.dir.join(format!("worker-{w}.json"));
                for i in 0..per_worker {
                    let payload = format!(
                        r#"{{"session_id":"proc-{w}","hook_event_name":"PreToolUse","cwd":"/src/proc-{w}","tool_name":"T{i}","tool_use_id":"p{w}-{i}","tool_input":{{}}}}"#
                    );
                    std::fs::write(&input, payload).unwrap();
                    env.run(hook, &[], &input);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    let exact = loop {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state_json).unwrap_or_default())
                .unwrap_or_default();
        let ok =
            (0..workers).all(|w| v["sessions"][format!("proc-{w}")]["tool_uses"] == per_worker);
        if ok || Instant::now() > deadline {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    row(
        &format!("{workers} parallel hook processes × {per_worker} events"),
        &format!(
            "{} · {:.0} hook runs/s · {} signals",
            if exact {
                format!(
                    "received {0} of {0}, final state exact",
                    workers * per_worker
                )
            } else {
                "LOST EVENTS".into()
            },
            (workers * per_worker) as f64 / elapsed.as_secs_f64(),
            waybar.count() - before
        ),
    );
}

/// Raw datagram throughput into the daemon, and its CPU per event.
pub fn raw_datagrams(ctx: &mut Ctx) {
    let quick = ctx.quick;
    let shared = ctx.shared();
    let (env, daemon) = (&shared.env, &shared.daemon);
    let socket = env.socket();
    let state_json = env.dir.join("llm-bridge/state.json");
    let raw_events = if quick { 20_000 } else { 100_000 };
    let pid = daemon.child.id();
    let cpu_before = cpu_ns(pid);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for s in 0..4 {
            let socket = &socket;
            scope.spawn(move || {
                let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
                sock.set_write_timeout(Some(Duration::from_secs(1)))
                    .unwrap();
                sock.connect(socket).unwrap();
                let mut e = Event::new(EventKind::Submit, format!("raw-{s}"));
                e.cwd = Some(format!("/src/raw-{s}"));
                let bytes = Message::Event(e).encode();
                for _ in 0..raw_events / 4 {
                    sock.send(&bytes).expect("send");
                }
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state_json).unwrap_or_default())
                .unwrap_or_default();
        let got: u64 = (0..4)
            .map(|s| {
                v["sessions"][format!("raw-{s}")]["prompts"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum();
        if got == raw_events as u64 || Instant::now() > deadline {
            let elapsed = start.elapsed();
            let cpu = cpu_ns(pid) - cpu_before;
            row(
                &format!("raw datagrams into the daemon (4 senders, {raw_events} events)"),
                &format!(
                    "received {got} of {raw_events} · {:.0} events/s · daemon CPU {:.2} µs per event",
                    got as f64 / elapsed.as_secs_f64(),
                    cpu as f64 / 1000.0 / got.max(1) as f64
                ),
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The daemon's memory after the scenarios before it, and its wakeups while
/// idle; then the shared daemon stops.
pub fn daemon_idle(ctx: &mut Ctx) {
    let idle = ctx.idle_secs();
    let pid = ctx.shared().daemon.child.id();
    row(
        "daemon RSS (VmRSS / VmHWM) after the above",
        &format!(
            "{} / {}",
            proc_status(pid, "VmRSS"),
            proc_status(pid, "VmHWM")
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (before, threads_before) = (ctxt(pid), threads(pid));
    std::thread::sleep(Duration::from_secs(idle));
    let (after, threads_after) = (ctxt(pid), threads(pid));
    row(
        &format!(
            "daemon wakeups over {idle} s idle (context switches, all {threads_after} threads)"
        ),
        &if threads_before == threads_after {
            format!("{}", after - before)
        } else {
            format!("not measured: threads went from {threads_before} to {threads_after}")
        },
    );
    ctx.stop_shared();
}

/// With --real-waybar (as root): event → a real Waybar's exec start,
/// measured by the end-to-end script on headless sway.
pub fn real_waybar(ctx: &mut Ctx) {
    // The script runs the static binaries from the release directory.
    let hook = ctx.hook();
    let release = hook.parent().expect("the release directory");
    let out = Command::new(ctx.root.join("tests/e2e/waybar.sh"))
        .arg("--measure")
        .arg(release)
        .output()
        .expect("run tests/e2e/waybar.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    match text
        .lines()
        .find_map(|l| l.strip_prefix("e2e waybar: measure: "))
    {
        Some(line) => {
            let (what, figures) = line.split_once(": ").unwrap_or((line, ""));
            row(what, figures);
        }
        None => row(
            "event → real Waybar exec start",
            "failed: see tests/e2e/waybar.sh --measure",
        ),
    }
}
