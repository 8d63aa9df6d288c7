//! `llm-bridge daemon`: the poll loop that carries out the core's decisions.
//!
//! One [`Daemon`] owns a mio `Poll` and every source in it: the datagram
//! socket (bound here, or inherited from systemd), one timerfd (the debounce,
//! snapshot and idle-exit deadlines), the signal pipe and the pidfds of known
//! Waybar processes. Each wake drains every ready source until `WouldBlock`,
//! applies messages to the pure [`State`], answers requests, and then decides
//! once whether to flush. Nothing is periodic: with nothing pending no timer
//! is armed and an idle daemon never wakes.

use crate::config::Config;
use crate::datagram::{self, PeerAddr};
use crate::debounce::{Debouncer, Decision};
use crate::error::{Context, Error, Result};
use crate::history;
use crate::local_time::{utc_offset_secs, wall_clock_ms};
use crate::log::log;
use crate::module;
use crate::paths::Paths;
use crate::publish::Publisher;
use crate::snapshot;
use crate::socket_activation;
use crate::state::State;
use crate::state_lock::StateLock;
use llm_bridge_hooks::wire::{reply, DecodeError, Message, MAX_DATAGRAM};
use mio::net::UnixDatagram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SOCKET: Token = Token(0);
const TIMER: Token = Token(1);
const SIGNALS: Token = Token(2);
/// pidfd of Waybar process P is registered as Token(PIDFD_BASE + P).
const PIDFD_BASE: usize = 1 << 32;

/// state.json is written at most this often while the state is dirty.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);
/// How long start-up waits for a fallback (`llm-bridge apply`) to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// Most subscribers (`waybar --follow`, `status --watch`) served at once.
const MAX_SUBSCRIBERS: usize = 64;
/// Event → flush latencies kept for `status` (the most recent ones).
const LATENCY_SAMPLES: usize = 1024;

/// What the daemon has seen, reported by `llm-bridge status`.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    pub flushes: u64,
    pub writes: u64,
    pub signals: u64,
    pub snapshots: u64,
}

/// How the daemon was asked to run.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Written (with fsync) once the socket is up, removed on exit.
    pub pid_file: Option<PathBuf>,
}

pub struct Daemon {
    poll: Poll,
    socket: UnixDatagram,
    /// Inherited from systemd: never unlinked, and idle exit is allowed.
    socket_inherited: bool,
    /// (dev, ino) of the socket we bound: only that file is ever unlinked.
    socket_id: Option<(u64, u64)>,
    timer: TimerFd,
    timer_armed: Option<Instant>,
    signals: Signals,
    state: State,
    config: Config,
    debouncer: Debouncer,
    publisher: Publisher,
    subscribers: Vec<PeerAddr>,
    paths: Paths,
    options: Options,
    _lock: StateLock,
    started: Instant,
    /// Changes applied in this wake, not yet handed to the debouncer.
    changed_this_wake: bool,
    /// When each change not yet flushed arrived (for the latency figures).
    unflushed: Vec<Instant>,
    latencies_us: VecDeque<u32>,
    /// The state changed since state.json was written.
    snapshot_dirty: bool,
    last_snapshot: Option<Instant>,
    last_activity: Instant,
    shutdown: bool,
    pub counters: Counters,
}

impl Daemon {
    /// Takes the lock, loads the snapshot and binds (or inherits) the
    /// socket. Fails with a one-line error if a live daemon owns the socket.
    pub fn start(paths: Paths, config: Config, options: Options) -> Result<Daemon> {
        paths.ensure_dirs()?;
        let inherited = socket_activation::take_inherited_socket();
        if inherited.is_none() && socket_answers(&paths.socket) {
            return Err(Error::msg(format!(
                "another llm-bridge daemon is already running (socket {} answers)",
                paths.socket.display()
            )));
        }
        // Handlers first: once the socket answers, SIGTERM must mean a clean exit.
        let mut signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP]).context("cannot install signal handlers")?;
        let lock = acquire_lock(&paths)?;
        let (state, warning) = snapshot::load(&paths.state_json)?;
        if let Some(w) = warning {
            log(format_args!("{w}"));
        }
        let socket_inherited = inherited.is_some();
        let (mut socket, socket_id) = match inherited {
            Some(fd) => (
                UnixDatagram::from_std(std::os::unix::net::UnixDatagram::from(fd)),
                None,
            ),
            None => {
                let socket = bind_socket(&paths.socket)?;
                let meta = std::fs::metadata(&paths.socket)
                    .with_context(|| format!("cannot inspect {}", paths.socket.display()))?;
                (socket, Some((meta.dev(), meta.ino())))
            }
        };

        let poll = Poll::new().context("cannot create the poll")?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .context("cannot create the timerfd")?;
        poll.registry()
            .register(&mut socket, SOCKET, Interest::READABLE)
            .context("cannot poll the socket")?;
        poll.registry()
            .register(
                &mut SourceFd(&timer.as_fd().as_raw_fd()),
                TIMER,
                Interest::READABLE,
            )
            .context("cannot poll the timerfd")?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("cannot poll signals")?;

        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file)?;
        }
        let debounce = &config.debounce;
        let now = Instant::now();
        let mut daemon = Daemon {
            poll,
            socket,
            socket_inherited,
            socket_id,
            timer,
            timer_armed: None,
            signals,
            state,
            debouncer: Debouncer::new(debounce.mode(), debounce.window(), debounce.cap()),
            publisher: Publisher::new(&paths, config.signal),
            config,
            subscribers: Vec::new(),
            paths,
            options,
            _lock: lock,
            started: now,
            changed_this_wake: false,
            unflushed: Vec::new(),
            latencies_us: VecDeque::with_capacity(LATENCY_SAMPLES),
            snapshot_dirty: false,
            last_snapshot: None,
            last_activity: now,
            shutdown: false,
            counters: Counters::default(),
        };
        // Publish what the snapshot holds, so waybar.json is right from the start.
        daemon.publish();
        Ok(daemon)
    }

    pub fn socket_path(&self) -> &Path {
        &self.paths.socket
    }

    /// Runs until SIGTERM, SIGINT, a SHUTDOWN request or the idle exit,
    /// then flushes, snapshots and returns.
    pub fn run(&mut self) -> Result<()> {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        self.arm_timer(self.idle_exit_deadline(), Instant::now());
        loop {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("poll failed");
            }
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.drain_socket(&mut buf),
                    TIMER => self.clear_timer(),
                    SIGNALS => self.drain_signals(),
                    Token(t) if t >= PIDFD_BASE => {
                        self.publisher.signaller.forget((t - PIDFD_BASE) as i32)
                    }
                    Token(_) => {}
                }
            }
            let now = Instant::now();
            if !self.shutdown && self.idle_exit_deadline().is_some_and(|at| at <= now) {
                log(format_args!(
                    "no session, event or subscriber for {} s: exiting",
                    self.config.idle_exit_secs
                ));
                self.shutdown = true;
            }
            if self.shutdown {
                self.shutdown();
                return Ok(());
            }
            self.after_wake(now);
        }
    }

    fn drain_socket(&mut self, buf: &mut [u8]) {
        loop {
            let received = match datagram::recv_from(self.socket.as_raw_fd(), buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log(format_args!("receive failed: {e}"));
                    return;
                }
            };
            self.counters.received += 1;
            self.last_activity = Instant::now();
            let decoded = if received.truncated {
                Err(DecodeError::TooLarge(received.len))
            } else {
                Message::decode(&buf[..received.len])
            };
            match decoded {
                Ok(message) => self.handle(message, received.peer),
                Err(e) => {
                    let count = self.counters.rejected.entry(e.label()).or_insert(0);
                    *count += 1;
                    // Log the 1st, 2nd, 4th, 8th... of each kind: a flood of
                    // bad datagrams cannot flood the log.
                    if count.is_power_of_two() {
                        log(format_args!(
                            "rejected datagram ({count} so far of this kind): {e}"
                        ));
                    }
                }
            }
        }
    }

    fn handle(&mut self, message: Message, peer: PeerAddr) {
        match message {
            Message::Subscribe => self.subscribe(peer),
            Message::Unsubscribe => self.subscribers.retain(|s| *s != peer),
            Message::Ping => self.reply(&peer, reply::PONG.as_bytes()),
            Message::Query => {
                let mut body = reply::STATUS.to_string();
                body.push_str(&self.status_json().to_string());
                self.reply(&peer, body.as_bytes());
            }
            Message::Reload => match self.reload() {
                Ok(()) => self.reply(&peer, reply::OK.as_bytes()),
                Err(e) => self.reply(&peer, format!("{}{e}", reply::ERROR).as_bytes()),
            },
            Message::Shutdown => {
                self.reply(&peer, reply::OK.as_bytes());
                self.shutdown = true;
            }
            Message::Event(_) | Message::Status(_) => {
                let now_ms = wall_clock_ms();
                let effects = self.state.apply(&message, now_ms);
                if effects.changed {
                    self.changed_this_wake = true;
                    self.snapshot_dirty = true;
                    if self.unflushed.len() < LATENCY_SAMPLES {
                        self.unflushed.push(self.last_activity);
                    }
                }
                if let Some(ended) = effects.ended {
                    history::record(&ended, now_ms);
                }
            }
        }
    }

    fn reply(&self, peer: &PeerAddr, body: &[u8]) {
        if !peer.is_unnamed() {
            let _ = datagram::send_to(self.socket.as_raw_fd(), peer, body);
        }
    }

    fn subscribe(&mut self, peer: PeerAddr) {
        if peer.is_unnamed() {
            return;
        }
        if !self.subscribers.contains(&peer) {
            if self.subscribers.len() == MAX_SUBSCRIBERS {
                log(format_args!(
                    "too many subscribers ({MAX_SUBSCRIBERS}); ignoring a new one"
                ));
                return;
            }
            self.subscribers.push(peer);
        }
        // A new subscriber gets the current module at once.
        let module = match self.publisher.last() {
            Some(m) => m.to_string(),
            None => self.render(),
        };
        push(self.socket.as_raw_fd(), &peer, &module);
    }

    /// Rereads the config; on error the running one is kept.
    fn reload(&mut self) -> Result<()> {
        let config = Config::load()?;
        if config.signal != self.config.signal {
            self.publisher = Publisher::new(&self.paths, config.signal);
        }
        let d = &config.debounce;
        self.debouncer = Debouncer::new(d.mode(), d.window(), d.cap());
        self.config = config;
        log(format_args!("config reloaded"));
        // The style may have changed: publish at once.
        self.changed_this_wake = true;
        Ok(())
    }

    fn drain_signals(&mut self) {
        for signal in self.signals.pending() {
            match signal {
                SIGTERM | SIGINT => self.shutdown = true,
                SIGHUP => {
                    if let Err(e) = self.reload() {
                        log(format_args!(
                            "reload on SIGHUP failed, keeping the running config: {e}"
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    fn clear_timer(&mut self) {
        // A non-blocking read of the expiration count clears readiness.
        let mut count = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer.
        let _ = unsafe { libc::read(self.timer.as_fd().as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.timer_armed = None;
    }

    /// With socket activation and `idle_exit_secs` set: when to exit, if
    /// nothing is going on.
    fn idle_exit_deadline(&self) -> Option<Instant> {
        let secs = self.config.idle_exit_secs;
        let idle = self.state.is_empty()
            && self.subscribers.is_empty()
            && !self.debouncer.pending()
            && !self.snapshot_dirty;
        (self.socket_inherited && secs > 0 && idle)
            .then(|| self.last_activity + Duration::from_secs(secs))
    }

    /// Decides, once per wake, whether to flush now or when; arms the timer.
    fn after_wake(&mut self, now: Instant) {
        let decision = if std::mem::take(&mut self.changed_this_wake) {
            self.debouncer.on_change(now)
        } else {
            self.debouncer.on_timer(now)
        };
        let mut next = match decision {
            Decision::FlushNow => {
                self.flush(now);
                None
            }
            Decision::FlushAt(at) => Some(at),
            Decision::Idle => None,
        };
        if self.snapshot_dirty {
            let due = self.last_snapshot.map_or(now, |t| t + SNAPSHOT_INTERVAL);
            if due <= now {
                self.write_snapshot(now);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        if let Some(idle_at) = self.idle_exit_deadline() {
            next = Some(next.map_or(idle_at, |n| n.min(idle_at)));
        }
        self.arm_timer(next, now);
    }

    /// Renders, publishes when changed, pushes to subscribers.
    fn flush(&mut self, now: Instant) {
        self.debouncer.flushed(now);
        self.counters.flushes += 1;
        self.publish();
        let flushed = Instant::now();
        for arrived in self.unflushed.drain(..) {
            if self.latencies_us.len() == LATENCY_SAMPLES {
                self.latencies_us.pop_front();
            }
            let us = flushed.saturating_duration_since(arrived).as_micros();
            self.latencies_us
                .push_back(us.min(u128::from(u32::MAX)) as u32);
        }
    }

    fn render(&self) -> String {
        module::render_styled(&self.state, local_offset(), &self.config.module)
    }

    fn publish(&mut self) {
        let module = self.render();
        match self.publisher.publish(&module, wall_clock_ms()) {
            Ok(published) => {
                if published.written {
                    self.counters.writes += 1;
                    self.counters.signals += u64::from(published.signals.sent);
                    let fd = self.socket.as_raw_fd();
                    self.subscribers.retain(|peer| push(fd, peer, &module));
                }
            }
            Err(e) => log(format_args!("{e}")),
        }
        for (pid, fd) in self.publisher.signaller.take_new_pidfds() {
            let token = Token(PIDFD_BASE + pid as usize);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut SourceFd(&fd), token, Interest::READABLE)
            {
                log(format_args!("cannot watch Waybar process {pid}: {e}"));
            }
        }
    }

    fn write_snapshot(&mut self, now: Instant) {
        match snapshot::save(&self.paths.state_json, &self.state) {
            Ok(()) => {
                self.counters.snapshots += 1;
                self.snapshot_dirty = false;
            }
            Err(e) => log(format_args!("{e}")),
        }
        self.last_snapshot = Some(now);
    }

    fn arm_timer(&mut self, at: Option<Instant>, now: Instant) {
        if self.timer_armed == at {
            return;
        }
        let result = match at {
            Some(at) => {
                // A zero expiration would disarm the timer: fire in 1 ns instead.
                let after = at
                    .saturating_duration_since(now)
                    .max(Duration::from_nanos(1));
                self.timer.set(
                    Expiration::OneShot(TimeSpec::from_duration(after)),
                    TimerSetTimeFlags::empty(),
                )
            }
            None => self.timer.unset(),
        };
        match result {
            Ok(()) => self.timer_armed = at,
            Err(e) => log(format_args!("cannot arm the timer: {e}")),
        }
    }

    /// Everything `llm-bridge status` shows.
    fn status_json(&self) -> serde_json::Value {
        let now_ms = wall_clock_ms();
        let sessions: Vec<serde_json::Value> = self
            .state
            .sessions()
            .map(|s| {
                json!({
                    "id": s.id,
                    "project": s.project,
                    "state": s.state.as_str(),
                    "tool": s.current_tool().map(|t| t.name.clone()),
                    "prompts": s.prompts,
                    "tool_uses": s.tool_uses,
                    "subagents": s.subagents.len(),
                    "model": s.model,
                    "cost_usd": s.cost_usd,
                    "context_pct": s.context_pct,
                    "last_event_age_s": now_ms.saturating_sub(s.last_event) / 1000,
                    "state_since": s.state_since,
                })
            })
            .collect();
        let mut sorted: Vec<u32> = self.latencies_us.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| -> Option<f64> {
            let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(idx).map(|us| f64::from(*us) / 1000.0)
        };
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_s": self.started.elapsed().as_secs(),
            "config_path": Config::path(),
            "socket": self.paths.socket,
            "socket_activated": self.socket_inherited,
            "waybar_pids": self.publisher.signaller.known_pids(),
            "subscribers": self.subscribers.len(),
            "sessions": sessions,
            "counters": {
                "received": self.counters.received,
                "rejected": self.counters.rejected.values().sum::<u64>(),
                "rejected_by_kind": self.counters.rejected,
                "flushes": self.counters.flushes,
                "writes": self.counters.writes,
                "signals": self.counters.signals,
                "snapshots": self.counters.snapshots,
            },
            "event_to_flush_ms": { "p50": pct(0.5), "p99": pct(0.99), "samples": sorted.len() },
        })
    }

    fn shutdown(&mut self) {
        let now = Instant::now();
        if self.debouncer.pending() || self.changed_this_wake {
            self.flush(now);
        }
        if self.snapshot_dirty {
            self.write_snapshot(now);
        }
        // Only unlink the socket if we bound it and it is still that file;
        // a socket inherited from systemd belongs to systemd.
        if let (Some(id), Ok(meta)) = (
            self.socket_id,
            std::fs::symlink_metadata(&self.paths.socket),
        ) {
            if (meta.dev(), meta.ino()) == id {
                let _ = std::fs::remove_file(&self.paths.socket);
            }
        }
        if let Some(pid_file) = &self.options.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
        let c = &self.counters;
        log(format_args!(
            "exiting: {} datagrams received, {} rejected, {} flushes, {} writes, {} signals sent",
            c.received,
            c.rejected.values().sum::<u64>(),
            c.flushes,
            c.writes,
            c.signals
        ));
    }
}

/// Pushes a module to one subscriber; false if it is gone.
fn push(fd: RawFd, peer: &PeerAddr, module: &str) -> bool {
    let mut msg = String::with_capacity(reply::MODULE.len() + module.len());
    msg.push_str(reply::MODULE);
    msg.push_str(module);
    match datagram::send_to(fd, peer, msg.as_bytes()) {
        Ok(()) => true,
        // A full queue: the subscriber is slow but alive; it reads the file on its next wake.
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(_) => false,
    }
}

/// Whether a live process is bound to the socket at `path`.
pub fn socket_answers(path: &Path) -> bool {
    match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s.connect(path).is_ok(),
        Err(_) => false,
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
            return Err(Error::msg(format!(
                "another llm-bridge daemon holds {} (is one starting?)",
                paths.lock.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Binds the socket (0600), replacing a stale one. Never removes anything
/// that is not a socket.
fn bind_socket(path: &Path) -> Result<UnixDatagram> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // It refused a connection above: stale, left by a dead daemon.
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
        }
        Ok(_) => {
            return Err(Error::msg(format!(
                "refusing to replace {}: it exists and is not a socket",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
    // The socket is created with mode 0600 from the start: no window where
    // another user could connect.
    // SAFETY: umask only changes this process's file creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixDatagram::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let socket = bound.with_context(|| format!("cannot bind {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(socket)
}

fn local_offset() -> i64 {
    utc_offset_secs((wall_clock_ms() / 1000) as i64)
}
