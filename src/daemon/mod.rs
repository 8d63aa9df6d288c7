//! `llm-bridge daemon`: the poll loop that carries out the core's decisions.
//!
//! [`Daemon`] is the loop and the wiring, nothing more. Each concern is an
//! owner with its own state, descriptors and deadlines, which registers
//! and deregisters its own sources in the poll (tokens: `tokens.rs`):
//! - `ipc.rs`: the datagram socket, replies and subscribers;
//! - `bar.rs`: the debounce, the module, `waybar.json`, Waybar's pidfds and
//!   signals;
//! - `watchers.rs`: what no hook reports (clients' pidfds, transcripts,
//!   dialogs);
//! - `speech/`: the speech service (worker, `say` requests, notifications);
//! - `persist.rs`: the journal of events taken and when state.json is
//!   written; `life.rs`: the lock, the pid
//!   file, signals and the idle exit; `timer.rs`: the one timerfd;
//!   `reports.rs`: the workers' waker; `stats.rs`: counters and latencies;
//!   `requests.rs`: what each request does; `status.rs`: the status reply;
//!   `intake.rs`: datagrams taken from the socket and the spool, journaled
//!   first; `startup.rs`: what a starting daemon applies before it serves.
//!
//! Each wake drains every ready source until `WouldBlock`, journals the
//! events it read (one write, before any is applied: a kill at any instant
//! loses none), turns what it read into typed [`Input`]s for the pure core and carries out the
//! [`Effects`] the core returns; an input that effects cause (a client found
//! gone when it was to be watched) is queued and applied after, never
//! inside. The bar may flush as soon as the wake's first datagram is
//! handled (an isolated event's signal does not wait for the read that
//! ends the drain), and decides again once the wake is done; then the
//! timer is armed for the earliest deadline of all owners. Nothing is periodic: with
//! nothing pending no timer is armed and an idle daemon never wakes.

mod bar;
mod debounce;
mod dialogs;
mod intake;
mod ipc;
mod life;
mod persist;
mod processes;
mod reports;
mod requests;
mod socket_path;
mod speech;
mod spool;
mod startup;
mod stats;
mod status;
mod timer;
mod tokens;
pub mod transcript;
mod transcripts;
mod watched_dir;
mod watchers;

pub use ipc::{bind_daemon_socket, remove_stale_socket, socket_answers};
pub use life::Options;
pub use reports::{Report, Reporter};
pub use socket_path::file_id as socket_file_id;
pub use speech::{CacheFigures, NotificationCounters};
pub use stats::{CounterReport, Latencies, LatencyReport, SessionReport, StatusReport};

use crate::socket_activation;
use bar::Bar;
use ipc::Ipc;
use life::Life;
use llm_bridge_core::client::name_client;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::{bail, one_line, Context, Result};
use llm_bridge_core::history;
use llm_bridge_core::journal::Journal;
use llm_bridge_core::local_time::{wall_clock_ms, wall_clock_ns};
use llm_bridge_core::log::log;
use llm_bridge_core::paths::Paths;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::{Effects, Input, Millis, Session, State};
use llm_bridge_protocol::wire::MAX_DATAGRAM;
use mio::{Events, Poll, Token};
use persist::{Outcome, Persist};
use reports::Reports;
use speech::{SpeechReport, SpeechService};
use stats::Stats;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};
use timer::{earliest, Timer};
use tokens::{SIGNALS, SOCKET, SOCKET_PATH, SPOOL, TIMER, VOICES, WAKER};
use watchers::Watchers;

/// Sessions the history has recorded as ended: (id, start).
type Recorded = std::collections::HashSet<(String, Millis)>;

pub struct Daemon {
    poll: Poll,
    ipc: Ipc,
    timer: Timer,
    reports: Reports,
    state: State,
    /// When the core wants an [`Input::Tick`] (wall-clock ms).
    tick_at: Option<Millis>,
    bar: Bar,
    watchers: Watchers,
    /// Speech: the worker (started by `run`), `say` requests, spoken
    /// notifications and their figures.
    speech: SpeechService,
    persist: Persist,
    stats: Stats,
    life: Life,
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
        let mut life = Life::begin(&paths, options, config.idle_exit_secs)?;
        let mut ipc = Ipc::open(&paths.socket, &llm_bridge_hooks::spool::dir())?;
        let (mut state, warning) = snapshot::load(&paths.state_json)?;
        if let Some(w) = warning {
            log(format_args!("{w}"));
        }
        state.set_limit(config.max_sessions);
        let recorded = history::path()
            .map(|history| history::recently_ended(&history, 64 * 1024))
            .unwrap_or_default();
        // The events a killed daemon took after its last snapshot.
        let (journal, journaled) = match Journal::open(&paths.journal, &state) {
            Ok((journal, pending)) => (Some(journal), pending),
            Err(e) => {
                log(format_args!(
                    "cannot open the journal {} ({e}); events taken since the last snapshot \
                     are lost if this daemon is killed",
                    paths.journal.display()
                ));
                (None, Vec::new())
            }
        };

        let poll = Poll::new().context("cannot create the poll")?;
        let registry = poll.registry();
        ipc.register(registry)?;
        let timer = Timer::new(registry)?;
        let watchers = Watchers::new(registry)?;
        let reports = Reports::new(registry).context("cannot create the waker")?;
        life.up(registry)?;
        let mut daemon = Daemon {
            tick_at: state.mute_deadline(),
            bar: Bar::new(&paths, &config),
            speech: SpeechService::new(&config.speech).writing_wav_under(&paths.runtime),
            persist: Persist::new(paths.state_json.clone(), journal),
            stats: Stats::default(),
            poll,
            ipc,
            timer,
            reports,
            state,
            watchers,
            life,
        };
        daemon.speech.watch_voices(daemon.poll.registry());
        daemon.recover(journaled, &recorded);
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
        // Once serving, not before: a daemon that fails to start has no
        // keeper to start it again.
        if let Some(pid_file) = self.life.keeper() {
            match self.ipc.keep(pid_file) {
                Ok(Some(pid)) => log(format_args!(
                    "its socket's keeper (pid {pid}) starts another daemon on it if this one \
                     is killed: nothing queued is lost"
                )),
                Ok(None) => {}
                Err(e) => log(format_args!(
                    "no keeper for its socket ({}): what is queued when this daemon is \
                     killed is lost",
                    one_line(&e)
                )),
            }
        }
        // Worker threads start here, after start-up: see `start`.
        self.speech.start(self.reports.reporter());
        // systemd hears READY=1 once the socket serves and, when [speech]
        // loads the voice at start, once that is done (or failed).
        if !self.speech.loads_at_start() {
            self.life.ready("serving");
        }
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut inputs = Vec::new();
        self.arm_timer(Instant::now());
        loop {
            // What start-up or the last wake read is no read of this wake.
            self.stats.wake_ended();
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("poll failed");
            }
            // The spool and the socket are read together (see
            // `drain_spool_and_socket`).
            let spooled = events.iter().any(|e| e.token() == SPOOL);
            if spooled {
                self.drain_spool_and_socket(&mut buf);
            }
            for event in events.iter() {
                match event.token() {
                    SPOOL => {}
                    SOCKET if spooled => {}
                    SOCKET => self.drain_socket(&mut buf),
                    SOCKET_PATH => {
                        // What waits in the old socket first.
                        self.drain_socket(&mut buf);
                        self.ipc.check_path(self.poll.registry());
                    }
                    TIMER => self.timer.clear(),
                    SIGNALS => self.drain_signals(),
                    WAKER => self.drain_reports(),
                    VOICES => self.speech.voices_changed(),
                    token if Watchers::owns(token) => {
                        self.watchers
                            .ready(token, self.poll.registry(), &mut inputs);
                        if !inputs.is_empty() {
                            self.life.touch(Instant::now());
                        }
                        for input in inputs.drain(..) {
                            self.apply(input, wall_clock_ns(), None);
                        }
                    }
                    token if Bar::owns(token) => self.bar.ready(token, self.poll.registry()),
                    Token(_) => {}
                }
            }
            let now = Instant::now();
            let idle = self.idle();
            self.life.idle_exit_due(self.ipc.inherited(), idle, now);
            if self.life.shutting_down() {
                self.shutdown();
                return Ok(());
            }
            self.after_wake(now);
        }
    }

    /// A hook event, from the socket or the spool.
    fn event(&mut self, mut event: llm_bridge_protocol::wire::Event, arrived_ns: u64) {
        let known = self
            .state
            .session(&event.session_key())
            .and_then(Session::process);
        if name_client(&mut event, known) {
            self.stats.counters.clients_read += 1;
        }
        self.apply(Input::Event(event), arrived_ns, None);
    }

    /// Hands `first` to the core and carries out what it returns, then does
    /// the same for every input those effects caused, in order: an input's
    /// effects are carried out whole before the next input is applied. The
    /// core's clock is the input's arrival, so that an event applied again
    /// from the journal gets the times it first got. `replayed` is set for
    /// the journal's events at start: the history's records of what ended
    /// already, and nothing is said aloud.
    fn apply(&mut self, first: Input, arrived_ns: u64, replayed: Option<&Recorded>) {
        let mut queue = VecDeque::new();
        let mut input = first;
        let mut arrived_ns = arrived_ns;
        loop {
            self.stats.input(&input);
            let now_ms = arrived_ns / 1_000_000;
            let effects = self.state.apply(&input, now_ms);
            let hook_ns = match &input {
                Input::Event(e) => {
                    if !effects.watches.iter().any(|w| w.session_id == e.session_id) {
                        self.watchers.retry_failed(&e.session_id);
                    }
                    e.sent_at_ns
                }
                _ => None,
            };
            self.carry_out(effects, now_ms, arrived_ns, hook_ns, &mut queue, replayed);
            let Some(next) = queue.pop_front() else {
                return;
            };
            input = next;
            arrived_ns = wall_clock_ns();
        }
    }

    /// Carries out one input's effects; inputs they cause go on `queue`.
    fn carry_out(
        &mut self,
        effects: Effects,
        now_ms: u64,
        arrived_ns: u64,
        hook_ns: Option<u64>,
        queue: &mut VecDeque<Input>,
        replayed: Option<&Recorded>,
    ) {
        if effects.publish {
            self.bar.changed();
            self.stats.changed(arrived_ns, hook_ns);
        }
        if effects.snapshot {
            self.persist.mark_dirty(Instant::now());
        }
        for ended in &effects.ended {
            let key = (ended.session.id.clone(), ended.session.started);
            if replayed.is_some_and(|recorded| recorded.contains(&key)) {
                continue;
            }
            if let Err(e) = history::record(ended, now_ms) {
                self.stats.write_failed("history", &e);
            }
        }
        if !effects.ended.is_empty() {
            // The snapshot that drops them follows the history at once, not
            // up to 100 ms later: a crash between the two is recognised at
            // start (the history wins), and the window is this short.
            self.persist.mark_dirty(Instant::now());
            self.save_snapshot(Instant::now(), true);
        }
        if effects.evicted {
            self.stats.counters.evicted += 1;
        }
        if let Some(tick_at) = effects.tick_at {
            self.tick_at = tick_at;
        }
        if replayed.is_none() {
            let muted = self.state.mute(now_ms).is_some();
            if let Some(session_id) = self.speech.carry_out(&effects, muted, now_ms) {
                // A click on the bar goes where the phrase named.
                queue.push_back(Input::Named { session_id });
            }
        }
        let registry = self.poll.registry();
        for watch in effects.watches {
            queue.extend(self.watchers.set(watch, registry));
        }
    }

    fn drain_reports(&mut self) {
        let reports: Vec<Report> = self.reports.drain().collect();
        for report in reports {
            match report {
                Report::Stopped { worker, reason } => {
                    log(format_args!("worker {worker} stopped: {reason}"));
                }
                Report::Speech(report) => {
                    if matches!(report, SpeechReport::Warmed) {
                        self.life.ready("serving; the voice is loaded");
                    }
                    self.speech.report(report, &self.ipc);
                }
            }
        }
    }

    /// Nothing goes on that an idle exit would lose.
    fn idle(&self) -> bool {
        self.state.is_empty()
            && self.ipc.subscriber_count() == 0
            && !self.bar.pending()
            && !self.persist.holds_idle_exit()
    }

    /// Once per wake: the core's tick when due, the bar's flush, the
    /// snapshot, and the timer armed for the earliest deadline.
    fn after_wake(&mut self, now: Instant) {
        if self.tick_at.is_some_and(|t| t <= wall_clock_ms()) {
            self.apply(Input::Tick, wall_clock_ns(), None);
        }
        self.flush_bar(now);
        self.save_snapshot(now, false);
        self.arm_timer(now);
    }

    /// The bar's flush, if the debounce says now (else its deadline), and
    /// any signal owed to a late Waybar.
    fn flush_bar(&mut self, now: Instant) {
        let wake = self.bar.after_wake(&self.state, now, self.poll.registry());
        self.stats.counters.signals += wake.signals;
        if let Some(flushed) = wake.flushed {
            self.flushed(flushed);
        }
    }

    /// Counts a flush and serves subscribers the module it wrote.
    fn flushed(&mut self, flushed: bar::Flushed) {
        self.stats.flushed(flushed.done_ns, flushed.phases);
        if let Some(e) = &flushed.failed {
            self.stats.write_failed("waybar.json", e);
        }
        if flushed.written {
            self.stats.counters.writes += 1;
            if let Some(module) = self.bar.published() {
                self.ipc.push_all(module);
            }
        }
        self.bar.prepare_next();
    }

    fn arm_timer(&mut self, now: Instant) {
        let now_ms = wall_clock_ms();
        let tick = self
            .tick_at
            .map(|t| now + Duration::from_millis(t.saturating_sub(now_ms)));
        let next = earliest([
            self.bar.deadline(),
            self.persist.deadline(),
            self.life
                .idle_exit_deadline(self.ipc.inherited(), self.idle()),
            tick,
        ]);
        self.timer.arm(next, now);
    }

    fn save_snapshot(&mut self, now: Instant, force: bool) {
        match self.persist.save_if_due(&self.state, now, force) {
            Some(Outcome::Written) => self.stats.counters.snapshots += 1,
            Some(Outcome::Failed) => self.stats.counters.snapshot_failures += 1,
            None => {}
        }
    }

    fn shutdown(&mut self) {
        // Speech ends first: cancelled, its thread joined (one sentence at most).
        self.speech.shutdown(self.poll.registry());
        if let Some(flushed) = self.bar.flush_pending(&self.state, self.poll.registry()) {
            self.flushed(flushed);
        }
        self.save_snapshot(Instant::now(), true);
        self.ipc.close();
        self.life.end();
        let c = &self.stats.counters;
        log(format_args!(
            "exiting: {} datagrams received, {} rejected, {} flushes, {} writes, {} signals sent",
            c.received, c.rejected, c.flushes, c.writes, c.signals
        ));
    }
}
