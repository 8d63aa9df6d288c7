//! Whole-system latency harness: `cargo bench --bench latency`.
//!
//! Measures, in one run on this machine, what BENCHMARKS.md reports: hook
//! process time next to `/bin/true` and `cat` (interleaved, same stdin), the
//! fallback path, `llm-bridge waybar`, isolated event → signal latency, a
//! burst of parallel senders (loss, final state, signals), daemon RSS and
//! idle wakeups, and next to each hot-path process and to the daemon's own
//! share of an event a static C fixture making the same system calls
//! (`benches/fixtures/`). Prints a markdown table. `-- --quick` runs fewer rounds;
//! `-- --real-waybar` (as root) adds event → real Waybar exec start, measured
//! by tests/e2e/waybar.sh on headless sway. Uses the release daemon and the
//! static release hot-path binaries (built by `scripts/build-release --static-only`).
//!
//! The bench re-executes itself as the Waybar stand-in: with
//! `LLM_BRIDGE_BENCH_ROLE=waybar` it names itself `waybar` and appends the
//! arrival time of each SIGRTMIN+8 to a file.

use llm_bridge_core::local_time::wall_clock_ms;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::{Input, State};
use llm_bridge_hooks::send::{send_datagram, SEND_TIMEOUT};
use llm_bridge_hooks::statusline::input::StatusInput;
use llm_bridge_protocol::json_value::Json;
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROLE: &str = "LLM_BRIDGE_BENCH_ROLE";

fn main() {
    if std::env::var_os(ROLE).is_some_and(|r| r == "waybar") {
        return recorder(&std::env::args().nth(1).expect("log path"));
    }
    // `cargo bench` passes `--bench`; any other argument is a filter we ignore.
    let quick = std::env::args().any(|a| a == "--quick");
    // Only the spoken notifications' rows (they need the test voice).
    let notifications_only = std::env::args().any(|a| a == "--notifications");
    let runs = if quick { 100 } else { 1000 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(root.join("scripts/build-release"))
        .arg("--static-only")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "scripts/build-release --static-only failed"
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let hook = target.join("release/llm-bridge-hook");
    let bridge = PathBuf::from(env!("CARGO_BIN_EXE_llm-bridge"));
    let samples = root.join("tests/samples");
    let submit = samples.join("hook-UserPromptSubmit.json");
    let stop = samples.join("hook-Stop.json");
    let pre_tool = samples.join("hook-PreToolUse-Bash.json");

    println!("llm-bridge latency harness: {}", machine());
    println!();
    println!("| measurement | result |");
    println!("|---|---|");
    if notifications_only {
        let voice = test_voice().expect("the test voice: run scripts/fetch-test-voice");
        let (env, mut child, _) = speaking_daemon(&bridge, &voice);
        notification_latency(&env, &hook, &samples, child.id(), quick);
        // SAFETY: signalling a process this program started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
        return;
    }

    // 1. Process start, interleaved: the C floors, /bin/true, cat, the hook
    // (daemon up).
    let floor = build_fixture(&target, "floor");
    let floor_send = build_fixture(&target, "floor_send");
    let env = BenchEnv::new();
    let waybar = env.recorder();
    let mut daemon = env.daemon(&bridge);
    let true_bin = PathBuf::from("/bin/true");
    let cat_bin = PathBuf::from("/bin/cat");
    let (mut t_floor, mut t_fsend, mut t_true, mut t_cat, mut t_hook) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        t_floor.push(env.time_run(&floor, &[], &pre_tool));
        t_fsend.push(env.time_run(&floor_send, &[], &pre_tool));
        t_true.push(env.time_run(&true_bin, &[], &pre_tool));
        t_cat.push(env.time_run(&cat_bin, &[], &pre_tool));
        t_hook.push(env.time_run(&hook, &[], &pre_tool));
    }
    let m_floor = median(&mut t_floor);
    let m_fsend = median(&mut t_fsend);
    let (m_true, m_cat, m_hook) = (median(&mut t_true), median(&mut t_cat), median(&mut t_hook));
    row(
        "floor: static C program reading stdin (`benches/fixtures/floor.c`; stdin = PreToolUse sample)",
        &format!("median {} · p99 {}", ms(m_floor), ms(pct(&mut t_floor, 99.0))),
    );
    row(
        "static C program reading stdin and sending it (`floor_send.c`: socket + sendto, as the hook)",
        &format!("median {} · {:.2}x floor", ms(m_fsend), ratio(m_fsend, m_floor)),
    );
    row(
        "`/bin/true` (same stdin)",
        &format!(
            "median {} · p99 {} · {:.2}x floor",
            ms(m_true),
            ms(pct(&mut t_true, 99.0)),
            ratio(m_true, m_floor)
        ),
    );
    row(
        "`cat` (same stdin)",
        &format!(
            "median {} · p99 {} · {:.2}x true",
            ms(m_cat),
            ms(pct(&mut t_cat, 99.0)),
            ratio(m_cat, m_true)
        ),
    );
    row(
        "`llm-bridge-hook`, daemon running",
        &format!(
            "median {} · p99 {} · **{:.2}x floor**, {:.2}x floor_send, {:.2}x true",
            ms(m_hook),
            ms(pct(&mut t_hook, 99.0)),
            ratio(m_hook, m_floor),
            ratio(m_hook, m_fsend),
            ratio(m_hook, m_true)
        ),
    );

    // 1b. The statusline, next to cat and the docs' bash + jq script, with
    // the sample rewritten to point into this git checkout (so the branch
    // segment reads .git/HEAD).
    let statusline = target.join("release/llm-bridge-statusline");
    let status_input = env.dir.join("statusline.json");
    let sample = std::fs::read_to_string(samples.join("statusline.json")).unwrap();
    std::fs::write(
        &status_input,
        sample.replace("/home/user/src/waybar-llm", root.to_str().unwrap()),
    )
    .unwrap();
    let jq_script = root.join("benches/statusline-jq.sh");
    let has_jq = Command::new("jq")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // The statusline's own floor: the same files opened, the same STATUS
    // datagram sent, nothing computed in between.
    let floor_statusline = build_fixture(&target, "floor_statusline");
    let status_json = std::fs::read(&status_input).unwrap();
    let status_datagram = StatusInput::from_json(&Json::parse(&status_json).unwrap())
        .to_status()
        .map(|s| Message::Status(s).encode())
        .unwrap();
    let status_datagram = String::from_utf8(status_datagram).unwrap();
    let floor_sl_args = [root.to_str().unwrap(), status_datagram.as_str()];
    let (mut s_floor, mut s_cat, mut s_line, mut s_jq, mut s_fsl) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        s_floor.push(env.time_run(&floor, &[], &status_input));
        s_fsl.push(env.time_run(&floor_statusline, &floor_sl_args, &status_input));
        s_cat.push(env.time_run(&cat_bin, &[], &status_input));
        s_line.push(env.time_run(&statusline, &[], &status_input));
        if has_jq && i < runs / 10 {
            s_jq.push(env.time_run(&jq_script, &[], &status_input));
        }
    }
    let (m_sfloor, m_scat, m_line, m_fsl) = (
        median(&mut s_floor),
        median(&mut s_cat),
        median(&mut s_line),
        median(&mut s_fsl),
    );
    row(
        "floor and `cat` (stdin = statusline.json)",
        &format!("median {} · {}", ms(m_sfloor), ms(m_scat)),
    );
    row(
        "statusline floor: static C program making the statusline's system calls \
         (`floor_statusline.c`: config file, `.git` climb, HEAD, one line out, the same STATUS datagram)",
        &format!(
            "median {} · {:.2}x floor",
            ms(m_fsl),
            ratio(m_fsl, m_sfloor)
        ),
    );
    row(
        "`llm-bridge-statusline` (inside a git checkout, daemon running)",
        &format!(
            "median {} · p99 {} · **{:.2}x the statusline floor**, {:.2}x floor, {:.2}x cat",
            ms(m_line),
            ms(pct(&mut s_line, 99.0)),
            ratio(m_line, m_fsl),
            ratio(m_line, m_sfloor),
            ratio(m_line, m_scat)
        ),
    );
    if has_jq {
        let m_jq = median(&mut s_jq);
        row(
            "docs' bash + jq statusline (`benches/statusline-jq.sh`)",
            &format!(
                "median {} · {:.0}x cat · {:.0}x llm-bridge-statusline",
                ms(m_jq),
                ratio(m_jq, m_scat),
                ratio(m_jq, m_line)
            ),
        );
    } else {
        row("docs' bash + jq statusline", "skipped: jq is not installed");
    }

    // 2. Isolated event -> signal: hook spawn to the recorder's receipt.
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

    // 2b. Bursts: 10 datagrams back to back, each changing the module; from
    // the burst's first event to the first signal (the leading edge), and
    // from its last event to the signal that follows it (the window's end).
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

    // 3. Waybar's exec (what Waybar forks per signal): the static
    // llm-bridge-waybar README's module runs, and `llm-bridge waybar`.
    let waybar_exec = target.join("release/llm-bridge-waybar");
    let (mut w_floor, mut w_small, mut w_main) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs / 2 {
        w_floor.push(env.time_run(&floor, &[], &pre_tool));
        w_small.push(env.time_run(&waybar_exec, &[], &pre_tool));
        w_main.push(env.time_run(&bridge, &["waybar"], &pre_tool));
    }
    let (m_wfloor, m_small, m_main) = (
        median(&mut w_floor),
        median(&mut w_small),
        median(&mut w_main),
    );
    row(
        "`llm-bridge-waybar` (Waybar's exec, README's module)",
        &format!(
            "median {} · p99 {} · **{:.2}x floor**",
            ms(m_small),
            ms(pct(&mut w_small, 99.0)),
            ratio(m_small, m_wfloor)
        ),
    );
    row(
        "`llm-bridge waybar` (the same from the daemon's binary)",
        &format!(
            "median {} · {:.2}x floor · {:.2}x llm-bridge-waybar",
            ms(m_main),
            ratio(m_main, m_wfloor),
            ratio(m_main, m_small)
        ),
    );

    // 4. Burst: 8 parallel senders x 1000 events.
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

    // 4b. Real hook processes in parallel: 8 workers x 100 hook runs each.
    let workers = 8;
    let per_worker = if quick { 25 } else { 100 };
    let before = waybar.count();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (env, hook) = (&env, &hook);
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

    // 4c. Raw datagram throughput into the daemon, and its CPU per event.
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

    // 5. Daemon memory, and wakeups while idle.
    row(
        "daemon RSS (VmRSS / VmHWM) after the above",
        &format!(
            "{} / {}",
            proc_status(pid, "VmRSS"),
            proc_status(pid, "VmHWM")
        ),
    );
    let idle = if quick { 2 } else { 10 };
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
    daemon.stop();

    // 5c. Cost as sessions grow: a fresh daemon holding N sessions (restored
    // from a snapshot, so that its latency figures count only what
    // follows), then isolated events on one of them (each changes the
    // module).
    let mut daemon_at_1 = None;
    for n in [1usize, 10, 100, 1000] {
        let env = BenchEnv::new();
        let waybar = env.recorder();
        let mut state = State::default();
        for i in 0..n {
            let mut e = Event::new(EventKind::SessionStart, format!("grow-{i}"));
            e.cwd = Some(format!("/home/u/src/project-{i}"));
            state.apply(&Input::Event(e), wall_clock_ms());
        }
        let state_dir = env.dir.join("llm-bridge");
        std::fs::create_dir_all(&state_dir).unwrap();
        snapshot::save(&state_dir.join("state.json"), &state).unwrap();
        let mut daemon = env.daemon(&bridge);
        let socket = env.socket();
        assert_eq!(
            env.status()["session_count"].as_u64(),
            Some(n as u64),
            "the daemon did not restore {n} sessions"
        );
        let pid = daemon.child.id();
        let events = if quick { 30 } else { 100 };
        let cpu_before = cpu_ns(pid);
        let mut lat = Vec::new();
        for i in 0..events {
            let kind = if i % 2 == 0 {
                EventKind::Submit
            } else {
                EventKind::Stop
            };
            let mut e = Event::new(kind, "grow-0");
            e.cwd = Some("/home/u/src/project-0".into());
            let before = waybar.count();
            let t0 = now_ns();
            send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
            let arrivals = waybar.wait_count(before + 1);
            lat.push(Duration::from_nanos((arrivals[before] - t0) as u64));
            std::thread::sleep(Duration::from_millis(25));
        }
        let cpu = cpu_ns(pid) - cpu_before;
        let status = env.status();
        let l = &status["latency"];
        let p50 = |k: &str| l[k]["p50"].as_f64().unwrap_or(f64::NAN);
        let p99 = |k: &str| l[k]["p99"].as_f64().unwrap_or(f64::NAN);
        if n == 1 {
            daemon_at_1 = Some((p50("arrival_to_flush_us"), p99("arrival_to_flush_us")));
        }
        row(
            &format!("{n} session(s): an event (send → signal; {events} isolated events)"),
            &format!(
                "p50 {} · p99 {} · in the daemon (`status`: datagram arrival → signal sent) \
                 p50 {:.0} µs, **p99 {:.0} µs**: wake-up {:.0}, render {:.0}, write {:.0}, \
                 signal {:.0} µs (p50) · daemon CPU {:.1} µs/event (snapshots included) · RSS {}",
                ms(median(&mut lat)),
                ms(pct(&mut lat, 99.0)),
                p50("arrival_to_flush_us"),
                p99("arrival_to_flush_us"),
                p50("wake_us"),
                p50("render_us"),
                p50("write_us"),
                p50("signal_us"),
                cpu as f64 / 1000.0 / events as f64,
                proc_status(pid, "VmRSS"),
            ),
        );
        daemon.stop();
    }

    // 5d. The daemon's floor: a static C program making the daemon's system
    // calls for one event (epoll wake-up, recvmsg with the arrival time, a
    // prepared file written and renamed, a pidfd signal), the same isolated
    // events, the same stand-in Waybar.
    {
        let env = BenchEnv::new();
        let waybar = env.recorder();
        let fixture = build_fixture(&target, "floor_daemon");
        let socket = env.dir.join("floor.sock");
        let mut floor = Command::new(&fixture)
            .arg(&socket)
            .arg(env.dir.join("floor.json"))
            .arg(waybar.child.id().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(floor.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, "ready\n", "floor_daemon did not start");
        let events = if quick { 30 } else { 100 };
        for i in 0..events {
            let kind = if i % 2 == 0 {
                EventKind::Submit
            } else {
                EventKind::Stop
            };
            let before = waybar.count();
            send_datagram(
                &socket,
                &Message::Event(Event::new(kind, "grow-0")).encode(),
                SEND_TIMEOUT,
            )
            .expect("send");
            waybar.wait_count(before + 1);
            std::thread::sleep(Duration::from_millis(25));
        }
        send_datagram(&socket, b"quit", SEND_TIMEOUT).expect("send");
        let mut rest = String::new();
        Read::read_to_string(&mut out, &mut rest).unwrap();
        floor.wait().unwrap();
        let mut lat: Vec<Duration> = rest
            .lines()
            .filter_map(|l| l.parse().ok())
            .map(Duration::from_nanos)
            .collect();
        assert_eq!(lat.len(), events, "floor_daemon lost events");
        let (f50, f99) = (median(&mut lat), pct(&mut lat, 99.0));
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let (d50, d99) = daemon_at_1.unwrap_or((f64::NAN, f64::NAN));
        row(
            &format!(
                "daemon floor: static C program making the daemon's system calls per event \
                 (`floor_daemon.c`: epoll wake-up, recvmsg with the arrival time, write + rename, \
                 pidfd signal; {events} isolated events): datagram arrival → signal sent"
            ),
            &format!(
                "p50 {:.0} µs · p99 {:.0} µs · the daemon at 1 session: p50 {:.2}x, p99 {:.2}x",
                us(f50),
                us(f99),
                d50 / us(f50),
                d99 / us(f99)
            ),
        );
    }

    // 5e. What no hook reports: an Esc appended to a busy session's
    // transcript, and a client killed, each timed to the signal; then idle
    // wakeups with three idle sessions whose clients are watched.
    {
        let env = BenchEnv::new();
        let waybar = env.recorder();
        let mut daemon = env.daemon(&bridge);
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
            &format!(
                "dialog answered: client status file waiting → busy → signal ({rounds} rounds)"
            ),
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

    // 5d. Speech never delays the bar: isolated event -> signal with the
    // speech worker idle and synthesizing flat out, in alternating blocks.
    match test_voice() {
        None => row(
            "event → signal while speech synthesizes",
            "not measured: no test voice (run scripts/fetch-test-voice)",
        ),
        Some(voice) => {
            let env = BenchEnv::new();
            std::fs::write(
                env.dir.join("none.toml"),
                format!("[speech]\nvoice = \"{}\"\n", voice.display()),
            )
            .unwrap();
            let waybar = env.recorder();
            let mut daemon = env.daemon(&bridge);
            let socket = env.socket();
            let text = "This sentence keeps the speech worker busy. ".repeat(12);
            let wav = env.dir.join("busy.wav");
            let busy = std::sync::atomic::AtomicBool::new(false);
            let done = std::sync::atomic::AtomicBool::new(false);
            let (mut idle_lat, mut busy_lat) = (Vec::new(), Vec::new());
            let rounds = if quick { 3 } else { 8 };
            std::thread::scope(|scope| {
                // Keeps the daemon's worker synthesizing into a WAV file
                // (a SAY request with `out`: `say -o` synthesizes in its own
                // process) whenever `busy` is set.
                scope.spawn(|| {
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        if busy.load(std::sync::atomic::Ordering::SeqCst) {
                            env.say_to_file(&text, &wav);
                        } else {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                });
                for round in 0..rounds * 2 {
                    let synthesizing = round % 2 == 1;
                    busy.store(synthesizing, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    for i in 0..20 {
                        let kind = if i % 2 == 0 {
                            EventKind::Submit
                        } else {
                            EventKind::Stop
                        };
                        let e = Event::new(kind, "speech-bench");
                        let before = waybar.count();
                        let t0 = now_ns();
                        send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT)
                            .expect("send");
                        let arrivals = waybar.wait_count(before + 1);
                        let took = Duration::from_nanos((arrivals[before] - t0) as u64);
                        if synthesizing {
                            busy_lat.push(took);
                        } else {
                            idle_lat.push(took);
                        }
                        std::thread::sleep(Duration::from_millis(25));
                    }
                }
                busy.store(false, std::sync::atomic::Ordering::SeqCst);
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let said = env.status()["counters"]["said"].as_u64().unwrap_or(0);
            let (m_idle, m_busy) = (median(&mut idle_lat), median(&mut busy_lat));
            row(
                &format!(
                    "event → signal, speech idle vs synthesizing flat out ({} + {} events, {said} say jobs, alternating blocks)",
                    idle_lat.len(),
                    busy_lat.len()
                ),
                &format!(
                    "idle p50 {} · p99 {} · synthesizing p50 {} · p99 {} · **{:.2}x**",
                    ms(m_idle),
                    ms(pct(&mut idle_lat, 99.0)),
                    ms(m_busy),
                    ms(pct(&mut busy_lat, 99.0)),
                    ratio(m_busy, m_idle)
                ),
            );
            row(
                "daemon RSS with the voice loaded (VmRSS / VmHWM)",
                &format!(
                    "{} / {}",
                    proc_status(daemon.child.id(), "VmRSS"),
                    proc_status(daemon.child.id(), "VmHWM")
                ),
            );
            daemon.stop();

            // Time to first audio: `[speech] enabled` (the voice loaded at
            // start), five words, `say --wait`, the audio on a captured ALSA
            // device (a file); the daemon's own figure is from the request's
            // arrival to its first samples handed to the device.
            let (env, mut child, alsa) = speaking_daemon(&bridge, &voice);
            let load_ms = env.status()["speech_load_ms"].as_u64().unwrap_or(0);
            let (mut first, mut wall) = (Vec::new(), Vec::new());
            for _ in 0..if quick { 3 } else { 10 } {
                let t0 = Instant::now();
                let ok = env
                    .command(&bridge)
                    .args(["say", "--wait", "The build is done now."])
                    .env("ALSA_CONFIG_PATH", &alsa)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "say --wait failed");
                wall.push(t0.elapsed());
                let ms = env.status()["speech_first_audio_ms"].as_u64().unwrap_or(0);
                first.push(Duration::from_millis(ms));
            }
            row(
                "speech, daemon warm (`[speech] enabled`): `say --wait` five words → first audio at the device (captured ALSA)",
                &format!(
                    "p50 {} · max {} (`status`: request → first samples to the device) · \
                     the whole `say --wait` p50 {} · voice load at start {load_ms} ms",
                    ms(median(&mut first)),
                    ms(*first.iter().max().unwrap()),
                    ms(median(&mut wall)),
                ),
            );
            notification_latency(&env, &hook, &samples, child.id(), quick);
            // SAFETY: signalling a process this program started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    // 5b. With --real-waybar (as root): event -> a real Waybar's exec start,
    // measured by the end-to-end script on headless sway.
    if std::env::args().any(|a| a == "--real-waybar") {
        let out = Command::new(root.join("tests/e2e/waybar.sh"))
            .arg("--measure")
            .arg(target.join("release"))
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

    // 6. The fallback: no daemon, the hook execs `llm-bridge-apply`.
    let fallback_env = BenchEnv::new();
    let _waybar2 = fallback_env.recorder();
    let mut t_fb = Vec::new();
    let mut t_true2 = Vec::new();
    for i in 0..runs / 4 {
        t_true2.push(fallback_env.time_run(&true_bin, &[], &pre_tool));
        let sample = if i % 2 == 0 { &submit } else { &stop };
        t_fb.push(fallback_env.time_run(&hook, &[], sample));
    }
    let m_fb = median(&mut t_fb);
    row(
        "fallback: hook → `llm-bridge-apply` (no daemon; state.json, waybar.json, signal)",
        &format!(
            "median {} · p99 {} · {:.1}x true",
            ms(m_fb),
            ms(pct(&mut t_fb, 99.0)),
            ratio(m_fb, median(&mut t_true2))
        ),
    );
}

/// A daemon with `[speech] enabled` (the voice loaded at start) whose
/// audio goes to a captured ALSA device (`captured.raw` in its runtime
/// directory); returns it once the voice is loaded, with the value of
/// `ALSA_CONFIG_PATH`.
fn speaking_daemon(bridge: &Path, voice: &Path) -> (BenchEnv, Child, String) {
    let env = BenchEnv::new();
    std::fs::write(
        env.dir.join("none.toml"),
        format!(
            "[speech]\nenabled = true\nvoice = \"{}\"\n",
            voice.display()
        ),
    )
    .unwrap();
    let conf = env.dir.join("asound.conf");
    std::fs::write(
        &conf,
        format!(
            "pcm.!default {{\n type plug\n slave {{ pcm \"cap\" format S16_LE channels 1 rate 22050 }}\n}}\n\
             pcm.cap {{\n type file\n slave.pcm \"null\"\n file \"{}\"\n format \"raw\"\n}}\n",
            env.dir.join("captured.raw").display()
        ),
    )
    .unwrap();
    // ALSA's own definitions first (the `null` plugin), then ours.
    let alsa = format!("/usr/share/alsa/alsa.conf:{}", conf.display());
    let child = env
        .command(bridge)
        .arg("daemon")
        .env("ALSA_CONFIG_PATH", &alsa)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.status()["speech_load_ms"].as_u64().is_none() {
        assert!(Instant::now() < deadline, "the voice never loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    (env, child, alsa)
}

/// Spoken notifications, with the daemon of `env` (`[speech] enabled`, its
/// audio on the captured ALSA device `captured.raw`): the time from the
/// hook's start (PermissionRequest) to the first loud sample of the phrase
/// at the device, rendered ahead (SessionStart named the project) and not
/// (a new project each time), interleaved; then the daemon's memory with
/// its phrase cache, and its wakeups once speech has ended.
fn notification_latency(env: &BenchEnv, hook: &Path, samples: &Path, pid: u32, quick: bool) {
    let capture = env.dir.join("captured.raw");
    let figure = |path: &[&str]| {
        let mut v = env.status();
        for key in path {
            v = v[*key].clone();
        }
        v.as_u64().unwrap_or(0)
    };
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let rendered = || figure(&["phrase_cache", "rendered"]);
    let input = env.dir.join("hook-input.json");
    // The session starts: its phrases are rendered ahead.
    let before = rendered();
    env.run(hook, &[], &samples.join("hook-SessionStart.json"));
    wait("the phrases rendered ahead", &|| rendered() >= before + 6);
    let template = std::fs::read_to_string(samples.join("hook-PermissionRequest.json")).unwrap();
    let (mut ahead, mut fresh, mut daemon_ahead) = (Vec::new(), Vec::new(), Vec::new());
    let rounds = if quick { 3 } else { 10 };
    let mut cold = None;
    for i in 0..=rounds * 2 {
        // The last round finds the audio device closed (`close_after_secs`
        // of silence): it is opened for the phrase.
        let closed = i == rounds * 2;
        if closed {
            std::thread::sleep(Duration::from_secs(7));
        }
        let prerendered = i % 2 == 0;
        let project = if prerendered {
            "waybar-llm".to_string()
        } else {
            format!("fresh-project-{i}")
        };
        let json = template
            .replace(
                "8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91",
                &format!("bench-{i}"),
            )
            .replace(
                "/home/user/src/waybar-llm",
                &format!("/home/user/src/{project}"),
            );
        std::fs::write(&input, json).unwrap();
        let played = figure(&["notifications", "played"]);
        let rendered_before = rendered();
        // Read only what the device gets from now on: the file plugin is
        // not paced, so an open device writes silence into it quickly.
        let mut file = File::open(&capture).ok();
        if let Some(f) = &mut file {
            f.seek(std::io::SeekFrom::End(0)).unwrap();
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut odd: Option<u8> = None;
        let t0 = Instant::now();
        env.run(hook, &[], &input);
        let took = 'heard: loop {
            if file.is_none() {
                file = File::open(&capture).ok();
            }
            if let Some(f) = &mut file {
                // A device opened again truncates its file: read it anew.
                let at = f.stream_position().unwrap_or(0);
                if f.metadata().map_or(0, |m| m.len()) < at {
                    f.seek(std::io::SeekFrom::Start(0)).unwrap();
                    odd = None;
                }
                loop {
                    let n = f.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    let mut bytes: Vec<u8> = odd.take().into_iter().collect();
                    bytes.extend_from_slice(&buf[..n]);
                    if bytes.len() % 2 == 1 {
                        odd = bytes.pop();
                    }
                    let loud = bytes
                        .chunks_exact(2)
                        .any(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > 1000);
                    if loud {
                        break 'heard t0.elapsed();
                    }
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the phrase was never heard"
            );
            std::thread::sleep(Duration::from_micros(100));
        };
        // Played to its end, and (a new project) its session's phrases
        // rendered ahead, so that the next round starts from a quiet worker.
        wait("the phrase to end", &|| {
            figure(&["notifications", "played"]) > played
        });
        if closed {
            let share = figure(&["notifications", "last_first_audio_ms"]);
            cold = Some((took, share));
        } else if prerendered {
            ahead.push(took);
            daemon_ahead.push(Duration::from_millis(figure(&[
                "notifications",
                "last_first_audio_ms",
            ])));
        } else {
            fresh.push(took);
            wait("a new project's phrases", &|| {
                rendered() >= rendered_before + 6
            });
        }
    }
    row(
        "spoken notification: the hook's start (PermissionRequest) → first loud sample of \"waybar llm needs permission for Bash\" at the device (captured ALSA), **rendered ahead**",
        &format!(
            "p50 {} · max {} · daemon's share (queued → handed to the device) p50 {}",
            ms(median(&mut ahead)),
            ms(*ahead.iter().max().unwrap()),
            ms(median(&mut daemon_ahead)),
        ),
    );
    row(
        "the same, rendered ahead, the audio device closed (after 5 s of silence)",
        &{
            let (took, share) = cold.expect("measured");
            format!("{} (one round) · daemon's share {share} ms", ms(took))
        },
    );
    row(
        "the same, not rendered ahead (a new project each time: synthesized on the spot)",
        &format!(
            "p50 {} · max {}",
            ms(median(&mut fresh)),
            ms(*fresh.iter().max().unwrap()),
        ),
    );
    let v = env.status();
    row(
        "daemon RSS with the voice and the phrase cache (VmRSS / VmHWM)",
        &format!(
            "{} / {} · cache: {} KiB in memory (bound 4096), {} files / {} KiB on disk",
            proc_status(pid, "VmRSS"),
            proc_status(pid, "VmHWM"),
            v["phrase_cache"]["memory_bytes"].as_u64().unwrap_or(0) / 1024,
            v["phrase_cache"]["disk_files"],
            v["phrase_cache"]["disk_bytes"].as_u64().unwrap_or(0) / 1024,
        ),
    );
    // Speech over: once the device is closed (`close_after_secs`, 5 s) the
    // daemon sleeps, every thread of it.
    std::thread::sleep(Duration::from_secs(7));
    let idle = if quick { 2 } else { 10 };
    let (before, threads_before) = (ctxt(pid), threads(pid));
    std::thread::sleep(Duration::from_secs(idle));
    let (after, threads_after) = (ctxt(pid), threads(pid));
    assert_eq!(threads_before, threads_after, "a thread came or went");
    row(
        &format!(
            "daemon wakeups over {idle} s after speech ended (context switches, all {threads_after} threads)"
        ),
        &format!("{}", after - before),
    );
}

/// A stand-in client (`sleep 600`, kept in `clients`) and a Submit that
/// names it by PID and start time, as the hook does.
fn client(clients: &mut Vec<Child>, sid: &str, transcript: Option<&Path>) -> Event {
    let child = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let stat = llm_bridge_hooks::proc_stat::read(pid).expect("its stat");
    clients.push(child);
    let mut e = Event::new(EventKind::Submit, sid);
    e.cwd = Some(format!("/home/u/src/{sid}"));
    e.ppid = Some(pid);
    e.pstart = Some(stat.start_time);
    e.transcript_path = transcript.map(|t| t.display().to_string());
    e
}

/// The speech tests' voice, if scripts/fetch-test-voice fetched it.
fn test_voice() -> Option<PathBuf> {
    let path = std::env::var_os("LLM_BRIDGE_TEST_VOICE")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("llm-bridge-test/voice/en_US-joe-medium.onnx"))
        })?;
    path.is_file().then_some(path)
}

/// Compiles `benches/fixtures/NAME.c` statically (`cc -O2 -static`).
fn build_fixture(target: &Path, name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = target.join("bench-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(root.join(format!("benches/fixtures/{name}.c")))
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed for {name}.c");
    out
}

fn row(what: &str, result: &str) {
    println!("| {what} | {result} |");
}

struct BenchEnv {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl BenchEnv {
    /// A private runtime directory on tmpfs, as `XDG_RUNTIME_DIR`
    /// (`/run/user/UID`) is on a desktop: /dev/shm, else /tmp.
    fn new() -> BenchEnv {
        let base = if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        };
        let tmp = tempfile::Builder::new()
            .prefix("lbb")
            .tempdir_in(base)
            .unwrap();
        let dir = tmp.path().to_path_buf();
        BenchEnv { _tmp: tmp, dir }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("llm-bridge.sock")
    }

    /// `llm-bridge status --json` for the daemon of this environment.
    fn status(&self) -> serde_json::Value {
        let bridge = PathBuf::from(env!("CARGO_BIN_EXE_llm-bridge"));
        let out = self
            .command(&bridge)
            .args(["status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.dir)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env_remove("CACHE_DIRECTORY")
            .env_remove("LLM_BRIDGE_SOCKET")
            .env("LLM_BRIDGE_CONFIG", self.dir.join("none.toml"));
        cmd
    }

    fn daemon(&self, bridge: &Path) -> Daemon {
        let child = self
            .command(bridge)
            .arg("daemon")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixDatagram::unbound()
            .unwrap()
            .connect(self.socket())
            .is_err()
        {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Daemon { child }
    }

    fn recorder(&self) -> Recorder {
        let log = self.dir.join("signals.log");
        File::create(&log).unwrap();
        let child = self
            .command(&std::env::current_exe().unwrap())
            .env(ROLE, "waybar")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let ready = self.dir.join("signals.log.ready");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "recorder did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Recorder { child, log }
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &Path) {
        let status = self
            .command(program)
            .args(args)
            .stdin(File::open(stdin).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Asks the daemon to synthesize `text` into `wav` and waits for it
    /// (the SAY request `say -o` no longer sends: it writes files itself).
    fn say_to_file(&self, text: &str, wav: &Path) {
        let path = self.dir.join("llm-bridge/client-bench.sock");
        let _ = std::fs::remove_file(&path);
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.connect(self.socket()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let request = Message::Say {
            text: text.to_string(),
            out: Some(wav.to_str().unwrap().to_string()),
            tuning: Default::default(),
        };
        sock.send(&request.encode()).unwrap();
        let mut buf = [0u8; 4096];
        // QUEUED, then OK (or an error) once the file is written.
        for _ in 0..2 {
            if sock.recv(&mut buf).is_err() {
                break;
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    fn time_run(&self, program: &Path, args: &[&str], stdin: &Path) -> Duration {
        let start = Instant::now();
        self.run(program, args, stdin);
        start.elapsed()
    }
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn stop(&mut self) {
        // SAFETY: signalling a process this program started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Recorder {
    child: Child,
    log: PathBuf,
}

impl Recorder {
    fn arrivals(&self) -> Vec<u128> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    fn count(&self) -> usize {
        self.arrivals().len()
    }

    fn wait_count(&self, n: usize) -> Vec<u128> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let a = self.arrivals();
            if a.len() >= n {
                return a;
            }
            assert!(Instant::now() < deadline, "no signal arrived");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Waybar stand-in: records the arrival of each SIGRTMIN+8.
fn recorder(log: &str) {
    extern "C" fn noop(_: libc::c_int) {}
    let signal = libc::SIGRTMIN() + 8;
    // SAFETY: plain libc calls on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"waybar".as_ptr());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = noop as *const () as usize;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
    std::fs::write(format!("{log}.ready"), b"").unwrap();
    let mut out = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    loop {
        // SAFETY: waiting for the blocked signal.
        let got = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigwaitinfo(&set, std::ptr::null_mut())
        };
        if got == signal {
            let _ = writeln!(out, "{}", now_ns());
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn median(v: &mut [Duration]) -> Duration {
    pct(v, 50.0)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let idx = ((v.len() as f64 - 1.0) * p / 100.0).round() as usize;
    v[idx]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn proc_status(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map_or("?".into(), |v| v.trim().replace(" kB", " KiB"))
}

/// Time the process has spent on a CPU, in ns (/proc/PID/schedstat).
fn cpu_ns(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Context switches summed over every thread of `pid`: a worker thread that
/// wakes counts as much as the main one. The caller checks that the thread
/// count did not change, so no thread's switches went missing.
fn ctxt(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|task| {
            std::fs::read_to_string(task.path().join("status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// How many threads `pid` has now.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}
