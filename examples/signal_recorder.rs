//! Test helper (not a user tool): stands in for Waybar where a real one
//! cannot run. It names itself `waybar`, and records every SIGRTMIN+N it
//! receives, one line each in LOG: the arrival time (ns since the epoch)
//! and the first line of MODULE_FILE as read at that moment, so a test can
//! check that the daemon wrote the file before it signalled.
//!
//! Usage: signal_recorder LOG MODULE_FILE [--offset N] [--handler-on-usr1] [--exec CMD]
//!
//! With `--exec CMD` it runs `/bin/sh -c CMD` once at start-up and waits for
//! it, as Waybar runs a module's exec (before its handler, with
//! `--handler-on-usr1`).
//!
//! With `--handler-on-usr1` it starts like a Waybar that has not installed
//! its handler yet (SigCgt clear) and installs it on SIGUSR1; a signal that
//! arrives before that is logged as `EARLY` (a real Waybar would have died).
//! It writes `LOG.ready` once its handler is installed.

use std::io::Write;

extern "C" fn noop(_: libc::c_int) {}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let log_path = &args[1];
    let module_file = &args[2];
    let offset: i32 = args
        .iter()
        .position(|a| a == "--offset")
        .map_or(8, |i| args[i + 1].parse().expect("--offset N"));
    let delayed = args.iter().any(|a| a == "--handler-on-usr1");
    let exec = args
        .iter()
        .position(|a| a == "--exec")
        .map(|i| args[i + 1].clone());
    let signal = libc::SIGRTMIN() + offset;

    // SAFETY: plain libc calls on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"waybar".as_ptr());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        install(libc::SIGUSR1);
        if let Some(cmd) = &exec {
            let status = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run the exec");
            assert!(status.success(), "the exec failed: {status}");
        }
        let mut ready = !delayed;
        if ready {
            install(signal);
            mark_ready(log_path);
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .expect("open LOG");
        loop {
            let got = libc::sigwaitinfo(&set, std::ptr::null_mut());
            if got == libc::SIGUSR1 {
                if !ready {
                    install(signal);
                    ready = true;
                    mark_ready(log_path);
                }
                continue;
            }
            if got != signal {
                continue;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let module = std::fs::read_to_string(module_file).unwrap_or_default();
            let module = module.lines().next().unwrap_or("");
            let tag = if ready { "SIG" } else { "EARLY" };
            let _ = writeln!(log, "{tag} {now} {module}");
        }
    }
}

/// Installs a handler so SigCgt shows the signal as caught.
unsafe fn install(signal: i32) {
    // SAFETY: a zeroed sigaction is valid; the handler does nothing.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = noop as *const () as usize;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

fn mark_ready(log_path: &str) {
    std::fs::write(format!("{log_path}.ready"), b"ready\n").expect("write ready file");
}
