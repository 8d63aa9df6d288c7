//! Faults the daemon must ride out without losing anything: too few file
//! descriptors, and (more to come) kills, stops, a deleted socket, a full
//! disk.

use crate::support::*;
use llm_bridge_hooks::proc_stat;
use llm_bridge_protocol::wire::EventKind;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// `llm-bridge daemon` with a hard limit of `files` open files.
#[track_caller]
fn daemon_with_file_limit(env: &Env, files: u64) -> Daemon {
    let log = env.runtime().join("daemon.log");
    let mut cmd = env.command(&bridge_bin());
    cmd.arg("daemon")
        .arg("--no-keeper")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let daemon = Daemon {
        child: cmd.spawn().unwrap(),
        log,
    };
    let socket = env.socket();
    wait_until("the daemon's socket", || {
        std::os::unix::net::UnixDatagram::unbound()
            .unwrap()
            .connect(&socket)
            .is_ok()
    });
    daemon
}

/// A session whose client is `child`.
fn start_session(env: &Env, sid: &str, child: &Child) {
    let mut e = event(EventKind::SessionStart, sid, "/src/fd");
    e.ppid = Some(child.id());
    e.pstart = Some(proc_stat::read(child.id()).unwrap().start_time);
    env.send(e);
}

fn figure(env: &Env, path: &[&str]) -> u64 {
    let mut v = status_json(env);
    for key in path {
        v = v[*key].take();
    }
    v.as_u64().unwrap_or(u64::MAX)
}

#[test]
fn short_of_descriptors_no_live_session_is_ended_and_each_is_watched_once_one_is_free() {
    let env = Env::new();
    // 96 files: 64 stay free for the daemon's own work, so 32 pidfds.
    let daemon = daemon_with_file_limit(&env, 96);
    let mut clients: Vec<Child> = (0..48)
        .map(|_| Command::new("sleep").arg("600").spawn().unwrap())
        .collect();
    for (i, client) in clients.iter().enumerate() {
        start_session(&env, &format!("s{i:02}"), client);
    }
    wait_until("48 sessions", || figure(&env, &["session_count"]) == 48);
    assert_eq!(figure(&env, &["watched_processes"]), 32);
    assert_eq!(figure(&env, &["unwatched_processes"]), 16);
    assert_eq!(figure(&env, &["counters", "exited"]), 0, "none ended");
    let human = env.bridge(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("not watched: 16 agent processes"), "{human}");

    // Descriptors come free as watched clients exit: the waiting sessions
    // are watched in their turn, and a client that exits then is seen.
    for client in &mut clients[..20] {
        client.kill().unwrap();
        client.wait().unwrap();
    }
    wait_until("the 20 killed clients' sessions to end", || {
        figure(&env, &["session_count"]) == 28
    });
    assert_eq!(figure(&env, &["watched_processes"]), 28);
    assert_eq!(figure(&env, &["unwatched_processes"]), 0);
    assert_eq!(figure(&env, &["counters", "exited"]), 20);
    let last = clients.last_mut().unwrap();
    last.kill().unwrap();
    last.wait().unwrap();
    wait_until("the last client's session to end", || {
        figure(&env, &["session_count"]) == 27
    });
    for client in &mut clients[20..] {
        let _ = client.kill();
        let _ = client.wait();
    }
    daemon.stop();
}

#[test]
fn a_removed_or_replaced_socket_is_bound_again_and_the_next_hook_reaches_the_bar() {
    let env = Env::new();
    let daemon = env.daemon();
    let answers = |env: &Env| {
        std::os::unix::net::UnixDatagram::unbound()
            .unwrap()
            .connect(env.socket())
            .is_ok()
    };
    // Removed (a cleanup script).
    std::fs::remove_file(env.socket()).unwrap();
    wait_until("the socket to be bound again", || answers(&env));
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    // Replaced by a dead socket of someone else's (a stale path "fixed"),
    // renamed over the daemon's in one step.
    let other = env.runtime().join("other.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&other).unwrap());
    std::fs::rename(&other, env.socket()).unwrap();
    wait_until("the socket to be bound again", || answers(&env));
    env.hook(&sample("Stop"));
    env.wait_text("idle");
    let status = status_json(&env);
    // Both hooks and this query reached the daemon (not the fallback).
    assert_eq!(status["counters"]["received"], 3);
    let mode = std::fs::metadata(env.socket()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let log = daemon.stop();
    assert_eq!(
        log.matches("was removed or replaced: bound again").count(),
        2,
        "{log}"
    );
    assert!(
        !env.socket().exists(),
        "a clean exit removes the socket it bound"
    );
}

/// The hook sample `kind` for session `sid` instead of the recorded one.
fn hook_input(kind: &str, sid: &str) -> Vec<u8> {
    let text = String::from_utf8(sample(kind)).unwrap();
    text.replace("8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91", sid)
        .into_bytes()
}

#[test]
fn a_stopped_daemon_loses_no_event_and_replays_the_spool_in_order() {
    let env = Env::new();
    let daemon = env.daemon();
    let pid = daemon.child.id() as i32;
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // More events than the socket's queue holds (net.unix.max_dgram_qlen,
    // 10 by default): the first wait in the queue, the rest in the spool.
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10);
    let sessions = qlen + 6;
    let mut spooled = 0;
    for i in 0..sessions {
        let out = env.hook(&hook_input("UserPromptSubmit", &format!("s{i:03}")));
        if String::from_utf8_lossy(&out.stderr).contains("spooled") {
            spooled += 1;
        }
    }
    // A later event for the first spooled session: replayed after it.
    let first_spooled = format!("s{:03}", sessions - spooled);
    let out = env.hook(&hook_input("Stop", &first_spooled));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spooled"));
    assert!(spooled >= 1, "the queue never filled");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    wait_until("every session", || {
        figure(&env, &["session_count"]) == sessions as u64
    });
    let status = status_json(&env);
    let states: Vec<(String, String)> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (id, state) in &states {
        let want = if *id == first_spooled {
            "idle"
        } else {
            "working"
        };
        assert_eq!(state, want, "{id}: {states:?}");
    }
    assert_eq!(status["counters"]["spooled"], spooled as u64 + 1);
    let log = daemon.stop();
    assert!(log.contains("replayed the spool"), "{log}");
}

/// A tmpfs of `kib` KiB at `dir` (0700), unmounted on drop.
struct TinyDisk {
    dir: std::path::PathBuf,
}

impl TinyDisk {
    #[track_caller]
    fn mount(dir: &std::path::Path, kib: u32) -> TinyDisk {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={kib}k,mode=0700"))
            .arg("tmpfs")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs at {}", dir.display());
        TinyDisk {
            dir: dir.to_path_buf(),
        }
    }

    /// Fills the disk but for about `room` bytes; returns the filler.
    fn fill(&self, room: u64) -> std::path::PathBuf {
        let filler = self.dir.join("filler");
        let _ = std::fs::remove_file(&filler);
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![b'x'; 4096];
        while std::io::Write::write_all(&mut file, &block).is_ok() {}
        drop(file);
        // Give back what is asked (tmpfs counts whole pages).
        let len = std::fs::metadata(&filler).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap();
        file.set_len(len.saturating_sub(room)).unwrap();
        filler
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_loses_no_history_line_and_the_bar_catches_up_when_space_returns() {
    if !running_as_root("mounts a tiny tmpfs") {
        return;
    }
    let env = Env::new();
    // The runtime files (waybar.json, state.json) and the history on
    // tiny disks of their own.
    let runtime = TinyDisk::mount(&env.runtime().join("llm-bridge"), 64);
    let history_dir = env.runtime().join("state/llm-bridge");
    let history = TinyDisk::mount(&history_dir, 16);
    let daemon = env.daemon();
    env.hook(&hook_input("UserPromptSubmit", "one"));
    env.wait_text("working");

    // The history's disk full: the session's end is refused whole, and
    // the cause is in status.
    let filler = history.fill(0);
    env.hook(&hook_input("SessionEnd", "one"));
    env.wait_text("none");
    wait_until("the failed history write in status", || {
        status_json(&env)["counters"]["write_failures"].as_u64() >= Some(1)
    });
    let status = status_json(&env);
    let why = status["last_write_error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        why.contains("history") && why.contains("No space left"),
        "{why}"
    );
    // Space returns: the next end is a whole line, not glued to a half one.
    std::fs::remove_file(&filler).unwrap();
    env.hook(&hook_input("UserPromptSubmit", "two"));
    env.hook(&hook_input("SessionEnd", "two"));
    env.wait_text("none");
    wait_until("the second session in the history", || {
        std::fs::read_to_string(history_dir.join("sessions.jsonl"))
            .is_ok_and(|t| t.contains("\"two\""))
    });
    let text = std::fs::read_to_string(history_dir.join("sessions.jsonl")).unwrap();
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a torn history line {line:?}: {e}"));
    }

    // waybar.json's disk full: the bar cannot change, then catches up by
    // itself once space returns (a timer, not the next event).
    let filler = runtime.fill(0);
    env.hook(&hook_input("UserPromptSubmit", "three"));
    wait_until("the failed waybar.json write in status", || {
        status_json(&env)["last_write_error"]
            .as_str()
            .is_some_and(|w| w.starts_with("waybar.json"))
    });
    assert_eq!(
        env.module()["text"],
        "none",
        "the disk is full: the bar is stale"
    );
    std::fs::remove_file(&filler).unwrap();
    env.wait_text("working");
    daemon.stop();
}

/// Makes a FIFO at `path` (nobody ever writes to it).
fn fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(made, 0, "{}", path.display());
}

#[test]
fn fifos_and_dev_zero_links_at_every_path_read_never_block_anything() {
    let env = Env::new();
    let state_dir = env.runtime().join("llm-bridge");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::set_permissions(
        &state_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    fifo(&state_dir.join("state.json"));
    std::os::unix::fs::symlink("/dev/zero", state_dir.join("waybar.json")).unwrap();
    fifo(&env.runtime().join("state/llm-bridge/sessions.jsonl"));
    std::fs::set_permissions(
        env.runtime().join("state/llm-bridge"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();

    // Without a daemon: the hook's fallback reads state.json and
    // waybar.json, and appends to the history; it returns (the hook's
    // bound is far below Claude Code's 2 s timeout) and says why.
    let out = env.hook(&hook_input("UserPromptSubmit", "one"));
    assert!(out.status.success());

    // The daemon starts and serves.
    let daemon = env.daemon();
    env.hook(&hook_input("UserPromptSubmit", "two"));
    // The fallback applied "one": both work.
    env.wait_text("working 2");
    assert_eq!(figure(&env, &["session_count"]), 2);
    env.hook(&hook_input("SessionEnd", "two"));
    wait_until("the failed history write in status", || {
        status_json(&env)["last_write_error"]
            .as_str()
            // A FIFO nobody reads cannot even be opened for writing (ENXIO).
            .is_some_and(|w| w.starts_with("history: cannot open"))
    });
    daemon.stop();
    assert!(
        state_dir.join("state.json.bad").exists(),
        "the FIFO set aside"
    );

    // A config.toml that is a FIFO, then a link to /dev/zero: refused
    // with one line naming the file, never waited on.
    for config in ["fifo", "zero"] {
        let path = env.runtime().join("config.toml");
        let _ = std::fs::remove_file(&path);
        if config == "fifo" {
            fifo(&path);
        } else {
            std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        }
        let daemon = env
            .command(&bridge_bin())
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&daemon.stderr);
        assert!(
            stderr.contains("config.toml") && stderr.contains("not a regular file"),
            "{config}: {stderr}"
        );
    }
}

#[test]
fn a_daemon_whose_socket_is_gone_is_found_by_status_and_stop() {
    let env = Env::new();
    let out = env.bridge(&["start"]);
    assert!(out.status.success(), "{out:?}");
    let pid: u32 = std::fs::read_to_string(env.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The socket replaced (in one rename) by a file that is not a socket:
    // the daemon cannot bind again there (it never removes such a file).
    let plain = env.runtime().join("plain");
    std::fs::write(&plain, b"not a socket").unwrap();
    std::fs::rename(&plain, env.socket()).unwrap();
    let log = env.runtime().join("state/llm-bridge/daemon.log");
    wait_until("the daemon to say it cannot bind again", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("cannot be bound again"))
    });
    let status = env.bridge(&["status"]);
    assert_eq!(status.status.code(), Some(2), "{status:?}");
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains(&format!("the daemon (pid {pid}) runs")),
        "{said}"
    );
    let start = env.bridge(&["start"]);
    assert_eq!(start.status.code(), Some(1), "{start:?}");
    let stop = env.bridge(&["stop"]);
    assert!(stop.status.success(), "{stop:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the daemon is gone"
    );
    assert_eq!(
        std::fs::read(env.socket()).unwrap(),
        b"not a socket",
        "never removed"
    );
}

/// Kill -9 at random moments while several clients run real hook processes,
/// the socket held across restarts (as systemd holds it): every event the
/// hooks handed over is applied once, in order, and every session that
/// ended is in the history exactly once. The journal (written before a
/// batch is applied) and the snapshot's record of which journaled events
/// it holds make it so.
#[test]
fn kill_9_at_random_moments_loses_nothing_while_the_socket_is_held() {
    let env = Env::new();
    let listener = bind_like_systemd(&env);
    let daemon = std::sync::Mutex::new(socket_activated_daemon(&env, &listener));
    wait_until("the daemon serves", || !status_json(&env).is_null());
    kill_9_at_random_moments_loses_nothing(&env, || {
        let mut daemon = daemon.lock().unwrap();
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        *daemon = socket_activated_daemon(&env, &listener);
        true
    });
    let mut daemon = daemon.into_inner().unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

/// The same without systemd: `llm-bridge start` leaves a supervisor that
/// holds the socket and starts a new daemon on it after each kill.
#[test]
fn kill_9_at_random_moments_loses_nothing_under_starts_supervisor() {
    let env = Env::new();
    let _stop = StopOnDrop(&env);
    let out = env.bridge(&["start"]);
    assert!(out.status.success(), "{out:?}");
    let mut last = 0;
    kill_9_at_random_moments_loses_nothing(&env, || {
        // The daemon the PID file names, once: until the next one serves,
        // it still names the one killed.
        let Some(pid) = llm_bridge::commands::lifecycle::read_pid(&env.pid_file()) else {
            return false;
        };
        if pid == last {
            return false;
        }
        last = pid;
        // SAFETY: signalling the daemon this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        true
    });
    let out = env.bridge(&["stop"]);
    assert!(out.status.success(), "{out:?}");
}

/// Without systemd, events queued for a daemon when it is killed wait in
/// the socket `start`'s supervisor holds, for the daemon it starts next.
#[test]
fn events_queued_for_a_killed_daemon_wait_for_the_next_one_under_start() {
    let env = Env::new();
    let _stop = StopOnDrop(&env);
    let out = env.bridge(&["start"]);
    assert!(out.status.success(), "{out:?}");
    let pid = llm_bridge::commands::lifecycle::read_pid(&env.pid_file()).unwrap();
    let supervisor = supervisor_of(pid).expect("start leaves a supervisor");
    let sessions = queue_sessions_for_a_stopped_daemon(&env, pid);
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_for_sessions(&env, &sessions);
    let new = llm_bridge::commands::lifecycle::read_pid(&env.pid_file()).unwrap();
    assert_ne!(new, pid);
    assert_eq!(supervisor_of(new), Some(supervisor), "the same supervisor");
    let log = std::fs::read_to_string(env.runtime().join("state/llm-bridge/daemon.log")).unwrap();
    assert!(
        log.contains(&format!("the daemon (pid {pid}) was killed by signal 9")),
        "{log}"
    );
    let out = env.bridge(&["stop"]);
    assert!(out.status.success(), "{out:?}");
    wait_until("the supervisor ends with its daemon", || {
        proc_stat::read(supervisor).is_none_or(|s| !s.runs())
    });
    assert!(!env.socket().exists(), "the socket file is gone");
}

/// A daemon run by hand in the foreground binds its own socket and leaves a
/// keeper beside it: the events queued for it when it is killed wait for
/// the daemon the keeper starts in its place, which it then supervises.
#[test]
fn events_queued_for_a_killed_foreground_daemon_wait_for_the_next_one() {
    let env = Env::new();
    let _stop = StopOnDrop(&env);
    let (mut daemon, keeper) = env.daemon_with_keeper();
    let pid = daemon.child.id();
    assert!(proc_stat::read(keeper.0).is_some_and(|s| s.runs()));
    assert!(
        !env.pid_file().exists(),
        "a foreground daemon writes no PID file"
    );
    assert_eq!(status_json(&env)["keeper"], keeper.0, "status names it");
    let said = String::from_utf8_lossy(&env.bridge(&["status"]).stdout).to_string();
    assert!(
        said.contains(&format!(
            "restarted by its socket's keeper (pid {}) if killed",
            keeper.0
        )),
        "{said}"
    );
    let sessions = queue_sessions_for_a_stopped_daemon(&env, pid);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    wait_for_sessions(&env, &sessions);
    let new = llm_bridge::commands::lifecycle::read_pid(&env.pid_file()).unwrap();
    assert_ne!(new, pid);
    assert_eq!(supervisor_of(new), Some(keeper.0), "started by the keeper");
    // Said where the user watched the daemon, and in the log from then on.
    assert!(
        daemon.log().contains(&format!(
            "the daemon (pid {pid}) ended without removing its socket (killed?)"
        )),
        "{}",
        daemon.log()
    );
    let log = std::fs::read_to_string(env.runtime().join("state/llm-bridge/daemon.log")).unwrap();
    assert!(log.contains("starting another on it"), "{log}");
    // From now on it is `start`'s supervisor: `stop` ends both.
    let out = env.bridge(&["stop"]);
    assert!(out.status.success(), "{out:?}");
    wait_until("the keeper ends with its daemon", || {
        proc_stat::read(keeper.0).is_none_or(|s| !s.runs())
    });
    assert!(!env.socket().exists(), "the socket file is gone");
}

/// A foreground daemon that stops cleanly (Ctrl-C, `stop`) removes its
/// socket, and its keeper, seeing that, ends without starting another.
#[test]
fn a_foreground_daemon_that_stops_cleanly_takes_its_keeper_along() {
    let env = Env::new();
    let (daemon, keeper) = env.daemon_with_keeper();
    env.hook(&hook_input("SessionStart", "one"));
    env.wait_text("idle");
    daemon.stop();
    wait_until("the keeper ends", || {
        proc_stat::read(keeper.0).is_none_or(|s| !s.runs())
    });
    assert!(!env.socket().exists(), "the socket file is gone");
    assert!(
        !env.pid_file().exists(),
        "no daemon was started in its place"
    );
}

/// Stops (SIGSTOP) the daemon `pid`, which then reads nothing, and starts
/// five sessions through the real hook: their events (fewer than a datagram
/// socket's usual queue of ten) wait in its socket. Their ids, sorted.
#[track_caller]
fn queue_sessions_for_a_stopped_daemon(env: &Env, pid: u32) -> Vec<String> {
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let sessions: Vec<String> = (0..5).map(|k| format!("queued-{k}")).collect();
    for sid in &sessions {
        let out = env.hook(&hook_input("SessionStart", sid));
        assert!(out.status.success(), "{out:?}");
    }
    assert!(
        !env.runtime()
            .join("llm-bridge/spool")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "handed to the socket, not spooled"
    );
    sessions
}

/// Waits until the daemon that answers has exactly `sessions`.
#[track_caller]
fn wait_for_sessions(env: &Env, sessions: &[String]) {
    let mut ids = Vec::new();
    wait_until("the next daemon has every queued session", || {
        let v = status_json(env);
        ids = v["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids == sessions
    });
}

/// Runs four clients' sessions through the real hook while `kill` kills
/// the daemon at random moments (and a new one takes its place), then
/// checks the final state and the history against what the clients did.
/// `kill` says whether it killed one.
#[track_caller]
fn kill_9_at_random_moments_loses_nothing(env: &Env, mut kill: impl FnMut() -> bool + Send) {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    const CLIENTS: usize = 4;
    const SESSIONS: usize = 4;
    const TURNS: usize = 5;
    let done = AtomicBool::new(false);
    let kills = AtomicU32::new(0);
    // A seed from the clock, printed, so that a failure can be replayed.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("kill schedule seed {seed}");
    std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let mut x = seed;
            while !done.load(Ordering::SeqCst) {
                // xorshift: 3 to 40 ms between kills (the fault schedule,
                // not a wait for anything).
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                std::thread::sleep(std::time::Duration::from_millis(3 + x % 38));
                if kill() {
                    kills.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                scope.spawn(move || {
                    for k in 0..SESSIONS {
                        let sid = format!("c{c}-s{k}");
                        env.hook(&hook_input("SessionStart", &sid));
                        for _ in 0..TURNS {
                            env.hook(&hook_input("UserPromptSubmit", &sid));
                            env.hook(&hook_input("Stop", &sid));
                        }
                        if k % 2 == 1 {
                            env.hook(&hook_input("SessionEnd", &sid));
                        }
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        killer.join().unwrap();
    });
    let kills = kills.load(Ordering::SeqCst);
    assert!(kills >= 3, "only {kills} kills: the schedule did not run");
    // Once the last daemon has taken what waits for it: the sessions that
    // did not end, each idle after its last Stop.
    let live: Vec<String> = (0..CLIENTS)
        .flat_map(|c| {
            (0..SESSIONS)
                .filter(|k| k % 2 == 0)
                .map(move |k| format!("c{c}-s{k}"))
        })
        .collect();
    // Each prompt counted once: none lost, none applied twice.
    let settled = |v: &serde_json::Value| {
        v["sessions"].as_array().is_some_and(|sessions| {
            sessions.len() == live.len()
                && sessions
                    .iter()
                    .all(|s| s["state"] == "idle" && s["prompts"] == TURNS as u64)
        })
    };
    let mut last = serde_json::Value::Null;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !settled(&last) {
        let brief: Vec<String> = last["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{} {} {}", s["id"], s["state"], s["prompts"]))
            .collect();
        assert!(
            std::time::Instant::now() < deadline,
            "{kills} kills, seed {seed}: not settled: {brief:?} {}\n{}",
            last["counters"],
            std::fs::read_to_string(env.runtime().join("activated.log")).unwrap_or_default()
        );
        last = status_json(env);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let v = status_json(env);
    let mut ids: Vec<String> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = live.clone();
    expected.sort();
    assert_eq!(ids, expected, "{kills} kills, seed {seed}: {v}");
    // Each ended session in the history once.
    let history = std::fs::read_to_string(env.runtime().join("state/llm-bridge/sessions.jsonl"))
        .unwrap_or_default();
    let mut ended: Vec<String> = history
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            r["id"].as_str().unwrap().to_string()
        })
        .collect();
    ended.sort();
    let mut expected: Vec<String> = (0..CLIENTS)
        .flat_map(|c| {
            (0..SESSIONS)
                .filter(|k| k % 2 == 1)
                .map(move |k| format!("c{c}-s{k}"))
        })
        .collect();
    expected.sort();
    assert_eq!(ended, expected, "{kills} kills, seed {seed}: the history");
}
