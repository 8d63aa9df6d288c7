//! The daemon's own life: the state lock it holds from start to exit, the
//! pid file, the signals that end or reload it, and when an idle
//! socket-activated daemon exits.
//!
//! One owner, so that how the daemon starts, is told to stop and decides to
//! stop by itself reads in one place. The signal pipe is registered in the
//! loop's poll here.

use super::tokens::SIGNALS;
use crate::sd_notify::Notifier;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::paths::Paths;
use llm_bridge_core::state_lock::StateLock;
use mio::{Interest, Registry};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long start-up waits for a fallback (`llm-bridge apply`) to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How the daemon was asked to run.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Written (with fsync) once the socket is up, removed on exit.
    pub pid_file: Option<PathBuf>,
    /// A socket this daemon binds itself gets a keeper that holds it if
    /// this process is killed (`supervisor::spawn_keeper`); the daemons
    /// that keeper starts write their PID here.
    pub keeper: Option<PathBuf>,
}

/// What a signal asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Shutdown,
    Reload,
}

pub struct Life {
    signals: Signals,
    _lock: StateLock,
    options: Options,
    started: Instant,
    last_activity: Instant,
    /// `idle_exit_secs` from the config (0: never).
    idle_exit_secs: u64,
    shutdown: bool,
    /// systemd's `$NOTIFY_SOCKET`, until READY=1 is sent.
    notifier: Option<Notifier>,
}

impl Life {
    /// Installs the signal handlers (first: once the socket answers, SIGTERM
    /// must mean a clean exit) and takes the state lock, waiting a little
    /// for a fallback that holds it.
    pub fn begin(paths: &Paths, options: Options, idle_exit_secs: u64) -> Result<Life> {
        let signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP]).context("cannot install signal handlers")?;
        raise_descriptor_limit();
        let lock = acquire_lock(paths)?;
        let notifier = Notifier::from_env();
        let now = Instant::now();
        Ok(Life {
            signals,
            _lock: lock,
            options,
            started: now,
            last_activity: now,
            idle_exit_secs,
            shutdown: false,
            notifier,
        })
    }

    /// Registers the signal pipe and writes the pid file: the daemon is up.
    pub fn up(&mut self, registry: &Registry) -> Result<()> {
        registry
            .register(&mut self.signals, SIGNALS, Interest::READABLE)
            .context("cannot poll signals")?;
        if let Some(pid_file) = &self.options.pid_file {
            write_pid_file(pid_file)?;
        }
        Ok(())
    }

    /// Where the daemons of this daemon's socket keeper write their PID, if
    /// it is to have one.
    pub fn keeper(&self) -> Option<&Path> {
        self.options.keeper.as_deref()
    }

    /// Tells systemd (`Type=notify`) the daemon is ready; once.
    pub fn ready(&mut self, status: &str) {
        if let Some(notifier) = self.notifier.take() {
            notifier.ready(status);
        }
    }

    pub fn reconfigure(&mut self, idle_exit_secs: u64) {
        self.idle_exit_secs = idle_exit_secs;
    }

    /// What the signals received since the last look ask.
    pub fn drain_signals(&mut self) -> Vec<Asked> {
        let mut asked = Vec::new();
        for signal in self.signals.pending() {
            match signal {
                SIGTERM | SIGINT => {
                    self.shutdown = true;
                    asked.push(Asked::Shutdown);
                }
                SIGHUP => asked.push(Asked::Reload),
                _ => {}
            }
        }
        asked
    }

    /// Something happened that an idle daemon waits for.
    pub fn touch(&mut self, now: Instant) {
        self.last_activity = now;
    }

    pub fn request_shutdown(&mut self) {
        self.shutdown = true;
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// When to exit if nothing goes on: only a socket-activated daemon
    /// (`inherited`) with `idle_exit_secs` set, and only while `idle`.
    pub fn idle_exit_deadline(&self, inherited: bool, idle: bool) -> Option<Instant> {
        let secs = self.idle_exit_secs;
        (inherited && secs > 0 && idle).then(|| self.last_activity + Duration::from_secs(secs))
    }

    /// Whether the idle exit is due at `now`; logs it and decides the
    /// shutdown when it is.
    pub fn idle_exit_due(&mut self, inherited: bool, idle: bool, now: Instant) -> bool {
        let due = !self.shutdown
            && self
                .idle_exit_deadline(inherited, idle)
                .is_some_and(|at| at <= now);
        if due {
            llm_bridge_core::log::log(format_args!(
                "no session, event or subscriber for {} s: exiting",
                self.idle_exit_secs
            ));
            self.shutdown = true;
        }
        due
    }

    /// The last act: the pid file goes.
    pub fn end(&self) {
        if let Some(pid_file) = &self.options.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
    }
}

/// Raises the soft limit on open files to the hard one: every session
/// with a live client holds a pidfd, and 1024 (the usual soft limit) is
/// also the default `max_sessions`.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on this process, with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) == 0
            && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit);
        }
    }
}

fn write_pid_file(path: &Path) -> Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{}", std::process::id())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn acquire_lock(paths: &Paths) -> Result<StateLock> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        if let Some(lock) = StateLock::try_lock(&paths.lock)
            .with_context(|| format!("cannot open {}", paths.lock.display()))?
        {
            return Ok(lock);
        }
        if Instant::now() >= deadline {
            bail!(
                "another llm-bridge daemon holds {} (is one starting?)",
                paths.lock.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(idle_exit_secs: u64) -> Life {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let life = Life::begin(&paths, Options::default(), idle_exit_secs).unwrap();
        // The lock file's directory may go: the lock is held by the fd.
        std::mem::forget(dir);
        life
    }

    #[test]
    fn only_an_idle_activated_daemon_with_idle_exit_set_has_an_exit_deadline() {
        let mut l = life(30);
        let now = Instant::now();
        l.touch(now);
        let at = now + Duration::from_secs(30);
        assert_eq!(l.idle_exit_deadline(true, true), Some(at));
        assert_eq!(l.idle_exit_deadline(false, true), None, "not activated");
        assert_eq!(l.idle_exit_deadline(true, false), None, "not idle");
        assert!(!l.idle_exit_due(true, true, at - Duration::from_millis(1)));
        assert!(!l.shutting_down());
        assert!(l.idle_exit_due(true, true, at));
        assert!(l.shutting_down());
        // Decided once.
        assert!(!l.idle_exit_due(true, true, at));
        l.reconfigure(0);
        assert_eq!(life(0).idle_exit_deadline(true, true), None, "never");
    }
}
