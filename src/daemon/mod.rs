//! `llm-bridge daemon`: the poll loop that carries out the core's decisions.
//!
//! One [`Daemon`] owns a mio `Poll`, and this file is the only one that
//! registers or deregisters anything in it: the datagram socket
//! (`ipc.rs`), the timerfd (`timer.rs`), the signal pipe, the waker that
//! worker threads report through (`reports.rs`), the pidfds of known
//! Waybar processes (owned by the signaller, polled here), the pidfds of
//! the sessions' Claude Code processes (`processes.rs`) and the inotify
//! descriptor on busy sessions' transcripts (`transcripts.rs`) and the one
//! on waiting sessions' client status files (`dialogs.rs`). The core
//! says what to watch ([`Effects::watches`]); a process that exits or an
//! Esc read from a transcript goes back to the core as an [`Input`]. Each
//! wake drains
//! every ready source until `WouldBlock`, turns what it read into typed
//! [`Input`]s for the pure core, carries out the [`Effects`] the core
//! returns, answers requests, and then decides once whether to flush.
//! Nothing is periodic: with nothing pending no timer is armed and an idle
//! daemon never wakes.

mod dialogs;
mod ipc;
mod persist;
mod processes;
mod reports;
mod speech;
mod stats;
mod timer;
mod transcripts;

pub use ipc::{remove_stale_socket, socket_answers};
pub use reports::{Report, Reporter};
pub use speech::{CacheFigures, NotificationCounters};
pub use stats::{CounterReport, Latencies, LatencyReport, SessionReport, StatusReport};

use crate::datagram::PeerAddr;
use crate::socket_activation;
use dialogs::Dialogs;
use ipc::Ipc;
use llm_bridge_core::client::name_client;
use llm_bridge_core::config::Config;
use llm_bridge_core::debounce::{Debouncer, Decision};
use llm_bridge_core::error::{bail, one_line, Context, Result};
use llm_bridge_core::history;
use llm_bridge_core::local_time::{utc_offset_secs, wall_clock_ms, wall_clock_ns};
use llm_bridge_core::log::log;
use llm_bridge_core::module;
use llm_bridge_core::paths::Paths;
use llm_bridge_core::publish::Publisher;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::{Effects, Input, Session, State, Watch};
use llm_bridge_core::state_lock::StateLock;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::{Message, MuteAction, MAX_DATAGRAM};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use persist::{Outcome, Persist};
use processes::{Change, Processes};
use reports::Reports;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use speech::SpeechService;
use stats::{FlushPhases, Stats};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use timer::{earliest, Timer};
use transcripts::Transcripts;

const SOCKET: Token = Token(0);
const TIMER: Token = Token(1);
const SIGNALS: Token = Token(2);
const WAKER: Token = Token(3);
const TRANSCRIPTS: Token = Token(4);
const DIALOGS: Token = Token(5);
/// The pidfd of Waybar process P is registered as Token(PIDFD_BASE + P).
const PIDFD_BASE: usize = 1 << 32;
/// The pidfd of a session's client, under key K, is Token(CLIENT_BASE + K).
const CLIENT_BASE: usize = 1 << 40;

/// A Waybar owed a signal (its handler was not there yet) is looked at
/// again after this, then after twice as long but never more than
/// [`HANDLER_RETRY_MAX`] (a handler that comes late is served within that),
/// up to [`HANDLER_RETRIES`] times: about 11 s in all.
const HANDLER_RETRY_FIRST: Duration = Duration::from_millis(5);
const HANDLER_RETRY_MAX: Duration = Duration::from_millis(250);
const HANDLER_RETRIES: u32 = 50;

/// The longest timed mute (a year); longer is "until unmuted" in all but name.
const MAX_MUTE_SECS: u64 = 366 * 86_400;

/// How long start-up waits for a fallback (`llm-bridge apply`) to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How the daemon was asked to run.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Written (with fsync) once the socket is up, removed on exit.
    pub pid_file: Option<PathBuf>,
}

pub struct Daemon {
    poll: Poll,
    ipc: Ipc,
    timer: Timer,
    signals: Signals,
    reports: Reports,
    state: State,
    /// The sessions' Claude Code processes, and the busy ones' transcripts.
    processes: Processes,
    transcripts: Transcripts,
    /// The client status files of sessions waiting for a dialog's answer.
    dialogs: Dialogs,
    config: Config,
    debouncer: Debouncer,
    publisher: Publisher,
    persist: Persist,
    stats: Stats,
    /// This process's uid: datagrams from any other are dropped.
    uid: u32,
    options: Options,
    _lock: StateLock,
    started: Instant,
    /// A change in this wake that the debouncer has not seen yet.
    changed_this_wake: bool,
    /// While a Waybar is owed a signal: how many retries ran, and when the
    /// next one is due.
    handler_retry: Option<(u32, Instant)>,
    /// Speech: the worker (started by `run`), `say` requests, spoken
    /// notifications and their figures.
    speech: SpeechService,
    last_activity: Instant,
    shutdown: bool,
}

impl Daemon {
    /// Takes the lock, loads the snapshot and binds (or inherits) the
    /// socket. Fails with a one-line error if a live daemon owns the socket.
    ///
    /// Everything that acts on the whole process (`umask` while binding,
    /// removing systemd's variables from the environment) happens here,
    /// before [`Daemon::run`] starts any worker thread.
    pub fn start(paths: Paths, config: Config, options: Options) -> Result<Daemon> {
        paths.ensure_dirs()?;
        // A running daemon is the common case: say so at once rather than
        // after waiting for its lock.
        if !socket_activation::offered() && socket_answers(&paths.socket) {
            bail!(
                "another llm-bridge daemon is already running (socket {} answers)",
                paths.socket.display()
            );
        }
        // Handlers first: once the socket answers, SIGTERM must mean a clean exit.
        let mut signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP]).context("cannot install signal handlers")?;
        let lock = acquire_lock(&paths)?;
        let mut ipc = Ipc::open(&paths.socket)?;
        let (mut state, warning) = snapshot::load(&paths.state_json)?;
        if let Some(w) = warning {
            log(format_args!("{w}"));
        }
        state.set_limit(config.max_sessions);
        let transcripts = Transcripts::new().context("cannot create an inotify descriptor")?;
        let dialogs = Dialogs::new().context("cannot create an inotify descriptor")?;

        let poll = Poll::new().context("cannot create the poll")?;
        let timer = Timer::new()?;
        let registry = poll.registry();
        registry
            .register(ipc.source(), SOCKET, Interest::READABLE)
            .context("cannot poll the socket")?;
        registry
            .register(&mut SourceFd(&timer.raw_fd()), TIMER, Interest::READABLE)
            .context("cannot poll the timerfd")?;
        registry
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("cannot poll signals")?;
        registry
            .register(
                &mut SourceFd(&transcripts.fd()),
                TRANSCRIPTS,
                Interest::READABLE,
            )
            .context("cannot poll the inotify descriptor")?;
        registry
            .register(&mut SourceFd(&dialogs.fd()), DIALOGS, Interest::READABLE)
            .context("cannot poll the inotify descriptor")?;
        let reports = Reports::new(Waker::new(registry, WAKER).context("cannot create the waker")?);

        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file)?;
        }
        let now = Instant::now();
        let mut daemon = Daemon {
            poll,
            ipc,
            timer,
            signals,
            reports,
            state,
            processes: Processes::default(),
            transcripts,
            dialogs,
            debouncer: Debouncer::from_config(&config.debounce),
            publisher: Publisher::new(&paths, config.signal),
            persist: Persist::new(paths.state_json.clone()),
            config,
            stats: Stats::default(),
            // SAFETY: geteuid cannot fail.
            uid: unsafe { libc::geteuid() },
            options,
            _lock: lock,
            started: now,
            changed_this_wake: false,
            handler_retry: None,
            speech: SpeechService::new(),
            last_activity: now,
            shutdown: false,
        };
        // Watch the restored sessions again; end those whose process is
        // gone (or is another one under the same PID).
        let watches: Vec<Watch> = daemon.state.watches().collect();
        for watch in watches {
            daemon.watch(watch);
        }
        // Publish what the snapshot holds, so waybar.json is right from the start.
        daemon.publish();
        Ok(daemon)
    }

    pub fn socket_path(&self) -> &Path {
        self.ipc.path()
    }

    /// A handle through which a worker thread reports to this loop; the
    /// thread is spawned from [`Daemon::run`], never before.
    pub fn reporter(&self) -> Reporter {
        self.reports.reporter()
    }

    /// Runs until SIGTERM, SIGINT, a SHUTDOWN request or the idle exit,
    /// then flushes, snapshots and returns.
    pub fn run(&mut self) -> Result<()> {
        // Worker threads start here, after start-up: see `start`.
        self.speech
            .start(&self.config.speech, self.reports.reporter());
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        self.timer.arm(self.idle_exit_deadline(), Instant::now());
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
                    TIMER => self.timer.clear(),
                    SIGNALS => self.drain_signals(),
                    WAKER => self.drain_reports(),
                    TRANSCRIPTS => self.drain_transcripts(),
                    DIALOGS => self.drain_dialogs(),
                    Token(t) if t >= CLIENT_BASE => self.client_exited(t - CLIENT_BASE),
                    Token(t) if t >= PIDFD_BASE => self.waybar_exited((t - PIDFD_BASE) as i32),
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
        while let Some(incoming) = self.ipc.recv(buf) {
            self.stats.received += 1;
            self.last_activity = Instant::now();
            let read_ns = wall_clock_ns();
            let arrived_ns = incoming.arrived_ns.unwrap_or(read_ns);
            self.stats.read(arrived_ns, read_ns);
            // The socket is 0600 in a 0700 directory; this is the second
            // wall (a socket made reachable by hand, a shared
            // LLM_BRIDGE_SOCKET path).
            if let Some(uid) = incoming.sender_uid.filter(|uid| *uid != self.uid) {
                self.stats.foreign += 1;
                if self.stats.foreign.is_power_of_two() {
                    log(format_args!(
                        "dropped a datagram from uid {uid} ({} so far): only uid {} is served",
                        self.stats.foreign, self.uid
                    ));
                }
                continue;
            }
            match incoming.message {
                Ok(message) => self.handle(message, incoming.peer, arrived_ns),
                Err(e) => {
                    let count = self.stats.rejected(e.label());
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

    fn handle(&mut self, message: Message, peer: PeerAddr, arrived_ns: u64) {
        match message {
            Message::Event(mut event) => {
                let known = self
                    .state
                    .session(&event.session_id)
                    .and_then(Session::process);
                if name_client(&mut event, known) {
                    self.stats.clients_read += 1;
                }
                self.apply(&Input::Event(event), arrived_ns);
            }
            Message::Status(_) => {
                if let Some(input) = Input::from_message(message) {
                    self.apply(&input, arrived_ns);
                }
            }
            Message::Subscribe => {
                let module = match self.publisher.last() {
                    Some(m) => m.to_string(),
                    None => self.render(),
                };
                self.ipc.subscribe(peer, &module);
            }
            Message::Unsubscribe => self.ipc.unsubscribe(&peer),
            Message::Ping => self.ipc.reply(&peer, &Reply::Pong),
            Message::Query => {
                let json = serde_json::to_string(&self.status_report()).expect("status serializes");
                self.ipc.reply(&peer, &Reply::Status(json));
            }
            Message::Reload => match self.reload() {
                Ok(()) => self.ipc.reply(&peer, &Reply::Ok),
                Err(e) => self.ipc.reply(&peer, &Reply::Error(one_line(&e))),
            },
            Message::Shutdown => {
                self.ipc.reply(&peer, &Reply::Ok);
                self.shutdown = true;
            }
            Message::Say { text, out, tuning } => {
                self.speech.say(&self.ipc, peer, text, out, &tuning);
            }
            Message::SayStop => self.speech.stop(&self.ipc, peer),
            Message::Mute { action, secs } => self.mute(peer, action, secs, arrived_ns),
            Message::Waybar { pid } => {
                let pid = i32::try_from(pid).unwrap_or(0);
                if pid > 0 && self.publisher.signaller.adopt(pid) {
                    self.watch_waybar_pidfds();
                }
            }
        }
    }

    /// Hands one input to the core and carries out what it returns.
    fn apply(&mut self, input: &Input, arrived_ns: u64) {
        let now_ms = wall_clock_ms();
        let effects = self.state.apply(input, now_ms);
        let hook_ns = match input {
            Input::Event(e) => e.sent_at_ns,
            _ => None,
        };
        self.carry_out(effects, now_ms, arrived_ns, hook_ns);
    }

    /// Makes the watches of one session match what the core asks.
    fn watch(&mut self, watch: Watch) {
        self.transcripts
            .set(&watch.session_id, watch.transcript.as_deref());
        self.dialogs
            .set(&watch.session_id, watch.client_status.as_deref());
        let mut gone = None;
        for change in self.processes.set(&watch.session_id, watch.process) {
            let registry = self.poll.registry();
            match change {
                Change::Added(fd, key) => {
                    let token = Token(CLIENT_BASE + key);
                    if let Err(e) = registry.register(&mut SourceFd(&fd), token, Interest::READABLE)
                    {
                        log(format_args!("cannot watch a Claude Code process: {e}"));
                    }
                }
                Change::Removed(fd) => {
                    let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
                }
                Change::Gone(process) => gone = Some(process),
            }
        }
        if let Some(process) = gone {
            // Gone before it could be watched (a restored session whose
            // client died while no daemon ran, or a very short-lived one).
            self.stats.exited += 1;
            let input = Input::Exited {
                session_id: watch.session_id,
                process,
            };
            self.apply(&input, wall_clock_ns());
        }
    }

    /// A session's Claude Code process exited: its pidfd became readable.
    fn client_exited(&mut self, key: usize) {
        if let Some((session_id, process)) = self.processes.exited(key) {
            self.stats.exited += 1;
            self.last_activity = Instant::now();
            let input = Input::Exited {
                session_id,
                process,
            };
            self.apply(&input, wall_clock_ns());
        }
        // Whatever the core did, this pidfd has nothing more to say.
        if let Some(fd) = self.processes.forget(key) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// A client rewrote its status file: a dialog may have been answered.
    fn drain_dialogs(&mut self) {
        for (session_id, allowed) in self.dialogs.drain() {
            self.stats.answered += 1;
            self.last_activity = Instant::now();
            let input = Input::Answered {
                session_id,
                allowed,
            };
            self.apply(&input, wall_clock_ns());
        }
    }

    /// Transcripts grew: an Esc ends a busy session's turn.
    fn drain_transcripts(&mut self) {
        for session_id in self.transcripts.drain() {
            self.stats.interrupted += 1;
            self.last_activity = Instant::now();
            self.apply(&Input::Interrupted { session_id }, wall_clock_ns());
        }
    }

    fn carry_out(&mut self, effects: Effects, now_ms: u64, arrived_ns: u64, hook_ns: Option<u64>) {
        if effects.publish {
            self.changed_this_wake = true;
            self.stats.changed(arrived_ns, hook_ns);
        }
        if effects.snapshot {
            self.persist.mark_dirty(Instant::now());
        }
        for ended in &effects.ended {
            history::record(ended, now_ms);
        }
        if effects.evicted {
            self.stats.evicted += 1;
        }
        let muted = self.state.mute(now_ms).is_some();
        self.speech.carry_out(&effects, muted, now_ms);
        for watch in effects.watches {
            self.watch(watch);
        }
    }

    fn drain_reports(&mut self) {
        let reports: Vec<Report> = self.reports.drain().collect();
        for report in reports {
            match report {
                Report::Stopped { worker, reason } => {
                    log(format_args!("worker {worker} stopped: {reason}"));
                }
                Report::Speech(report) => self.speech.report(report, &self.ipc),
            }
        }
    }

    /// A `MUTE` request: silence spoken notifications (and cut the phrase
    /// playing), or speak again; the bar shows it.
    fn mute(&mut self, peer: PeerAddr, action: MuteAction, secs: Option<u64>, arrived_ns: u64) {
        let now_ms = wall_clock_ms();
        let until = secs.map(|s| now_ms.saturating_add(s.min(MAX_MUTE_SECS).saturating_mul(1000)));
        self.apply(&Input::Mute { action, until }, arrived_ns);
        let mute = self.state.mute(now_ms);
        if mute.is_some() {
            self.speech.mute();
        }
        self.ipc.reply(&peer, &Reply::Mute(mute.map(|m| m.until)));
    }

    /// Rereads the config; on error the running one is kept.
    fn reload(&mut self) -> Result<()> {
        let config = Config::load()?;
        // A new voice that cannot be read keeps the running config.
        self.speech.check(&config.speech)?;
        if config.signal != self.config.signal {
            self.publisher.signaller.set_offset(config.signal);
        }
        self.debouncer = Debouncer::from_config(&config.debounce);
        self.state.set_limit(config.max_sessions);
        self.speech.reload(&config.speech);
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
                            "reload on SIGHUP failed, keeping the running config: {}",
                            one_line(&e)
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// With socket activation and `idle_exit_secs` set: when to exit, if
    /// nothing is going on.
    fn idle_exit_deadline(&self) -> Option<Instant> {
        let secs = self.config.idle_exit_secs;
        let idle = self.state.is_empty()
            && self.ipc.subscriber_count() == 0
            && !self.debouncer.pending()
            && !self.persist.holds_idle_exit();
        (self.ipc.inherited() && secs > 0 && idle)
            .then(|| self.last_activity + Duration::from_secs(secs))
    }

    /// Decides, once per wake, whether to flush now or when; writes the
    /// snapshot when due; arms the timer for the earliest deadline.
    fn after_wake(&mut self, now: Instant) {
        let now_ms = wall_clock_ms();
        if self.state.mute_deadline().is_some_and(|t| t <= now_ms) {
            // A timed mute ended: the bar says so.
            self.apply(&Input::Tick, wall_clock_ns());
        }
        let mute_ends = self
            .state
            .mute_deadline()
            .map(|t| now + Duration::from_millis(t.saturating_sub(now_ms)));
        let decision = if std::mem::take(&mut self.changed_this_wake) {
            self.debouncer.on_change(now)
        } else {
            self.debouncer.on_timer(now)
        };
        let flush_at = match decision {
            Decision::FlushNow => {
                self.flush(now);
                None
            }
            Decision::FlushAt(at) => Some(at),
            Decision::Idle => None,
        };
        self.save_snapshot(now, false);
        self.retry_owed_signals(now);
        let next = earliest([
            flush_at,
            self.persist.deadline(),
            self.idle_exit_deadline(),
            self.handler_retry.map(|(_, at)| at),
            mute_ends,
        ]);
        self.timer.arm(next, now);
    }

    /// A Waybar found before its signal handler exists (it runs its first
    /// exec early) misses the signal for a change: look again on a short,
    /// doubling, capped schedule until the handler is there, then signal it.
    fn retry_owed_signals(&mut self, now: Instant) {
        let signaller = &mut self.publisher.signaller;
        if !signaller.owes() {
            self.handler_retry = None;
            return;
        }
        let (tries, due) = *self
            .handler_retry
            .get_or_insert((0, now + HANDLER_RETRY_FIRST));
        if due > now {
            return;
        }
        let report = signaller.retry_owed();
        self.stats.signals += u64::from(report.sent);
        if !signaller.owes() {
            self.handler_retry = None;
        } else if tries + 1 >= HANDLER_RETRIES {
            log(format_args!(
                "Waybar has no handler for its signal after {HANDLER_RETRIES} looks; \
                 the next change tries again"
            ));
            signaller.forgive();
            self.handler_retry = None;
        } else {
            self.handler_retry = Some((
                tries + 1,
                now + (HANDLER_RETRY_FIRST * (2 << tries.min(8))).min(HANDLER_RETRY_MAX),
            ));
        }
    }

    fn save_snapshot(&mut self, now: Instant, force: bool) {
        match self.persist.save_if_due(&self.state, now, force) {
            Some(Outcome::Written) => self.stats.snapshots += 1,
            Some(Outcome::Failed) => self.stats.snapshot_failures += 1,
            None => {}
        }
    }

    /// Renders, publishes when changed, pushes to subscribers.
    fn flush(&mut self, now: Instant) {
        self.debouncer.flushed(now);
        let (phases, done_ns) = self.publish();
        self.stats.flushed(done_ns, phases);
        self.publisher.prepare_next();
    }

    fn render(&self) -> String {
        let now_ms = wall_clock_ms();
        module::render_styled(
            &self.state,
            utc_offset_secs((now_ms / 1000) as i64),
            &self.config.module,
        )
    }

    /// Renders and publishes; returns how long the parts took and when
    /// the signals had left (wall-clock ns), before subscribers are served.
    fn publish(&mut self) -> (FlushPhases, u64) {
        let started = Instant::now();
        let module = self.render();
        let mut phases = FlushPhases {
            render: started.elapsed(),
            ..FlushPhases::default()
        };
        let result = self.publisher.publish(&module, wall_clock_ms());
        let done_ns = wall_clock_ns();
        match result {
            Ok(published) => {
                if published.written {
                    phases.write = Some(published.write_time);
                    phases.signal = Some(published.signal_time);
                    self.stats.writes += 1;
                    self.stats.signals += u64::from(published.signals.sent);
                    self.ipc.push_all(&module);
                }
            }
            Err(e) => log(format_args!("{}", one_line(&e))),
        }
        self.watch_waybar_pidfds();
        (phases, done_ns)
    }

    /// Registers the pidfds of newly found Waybar processes and deregisters
    /// those the signaller dropped, before they are closed.
    fn watch_waybar_pidfds(&mut self) {
        let changes = self.publisher.signaller.take_pidfd_changes();
        let registry = self.poll.registry();
        for (pid, fd) in changes.added {
            let token = Token(PIDFD_BASE + pid as usize);
            if let Err(e) = registry.register(&mut SourceFd(&fd), token, Interest::READABLE) {
                log(format_args!("cannot watch Waybar process {pid}: {e}"));
            }
        }
        for (_, fd) in changes.retired {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// A Waybar process exited: its pidfd became readable.
    fn waybar_exited(&mut self, pid: i32) {
        if let Some(fd) = self.publisher.signaller.remove(pid) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// Everything `llm-bridge status` shows.
    fn status_report(&self) -> StatusReport {
        let speech = self.speech.status();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs(),
            config_path: Config::path(),
            socket: self.ipc.path().to_path_buf(),
            socket_activated: self.ipc.inherited(),
            waybar_pids: self.publisher.signaller.known_pids(),
            subscribers: self.ipc.subscriber_count(),
            watched_processes: self.processes.len(),
            watched_transcripts: self.transcripts.len(),
            watched_dialogs: self.dialogs.len(),
            speech_voice: speech.voice,
            speech_load_ms: speech.load_ms,
            speech_queue: speech.queue,
            speech_first_audio_ms: speech.first_audio_ms,
            notifications: speech.notifications,
            phrase_cache: speech.phrase_cache,
            muted: self.state.mute(wall_clock_ms()).is_some(),
            muted_until: self.state.mute(wall_clock_ms()).and_then(|m| m.until),
            rss_kib: own_rss_kib(),
            session_count: self.state.len(),
            sessions: SessionReport::most_urgent(&self.state, wall_clock_ms()),
            counters: CounterReport {
                transcript_failures: self.transcripts.failures,
                said: speech.said,
                speech_refused: speech.refused,
                speech_failures: speech.failures,
                ..self.stats.counter_report()
            },
            latency: self.stats.latency_report(),
        }
    }

    fn shutdown(&mut self) {
        // Speech ends first: cancelled, its thread joined (one sentence at most).
        self.speech.shutdown();
        let now = Instant::now();
        if self.debouncer.pending() || self.changed_this_wake {
            self.flush(now);
        }
        self.save_snapshot(now, true);
        self.ipc.close();
        if let Some(pid_file) = &self.options.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
        let c = &self.stats;
        log(format_args!(
            "exiting: {} datagrams received, {} rejected, {} flushes, {} writes, {} signals sent",
            c.received,
            c.rejected_total(),
            c.flushes,
            c.writes,
            c.signals
        ));
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

/// This process's resident memory (VmRSS), in KiB.
fn own_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}
