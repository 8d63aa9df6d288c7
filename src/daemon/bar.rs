//! The bar: when the module is published, what it says, and the Waybar
//! processes it is signalled to.
//!
//! One owner for everything between "the sessions changed" and "Waybar was
//! told": the debouncer (publish now, or a few milliseconds later), the
//! module's style, the publisher (`waybar.json` written atomically, then
//! SIGRTMIN+N through verified pidfds), the Waybar pidfds it registers in
//! the loop's poll itself (a readable one is a Waybar that exited), and the
//! look-again schedule for a Waybar whose signal handler is not there yet.
//! The loop marks changes, routes this owner's tokens to it, asks it once
//! per wake whether to flush, and arms the timer for its [`Bar::deadline`].

use super::debounce::{Debouncer, Decision};
use super::stats::FlushPhases;
use super::tokens::WAYBAR_BASE;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::one_line;
use llm_bridge_core::local_time::{wall_clock_ms, wall_clock_ns, UtcOffsetCache};
use llm_bridge_core::log::log;
use llm_bridge_core::module::{self, ModuleStyle, Renderer};
use llm_bridge_core::paths::Paths;
use llm_bridge_core::publish::Publisher;
use llm_bridge_core::state::State;
use llm_bridge_protocol::wire::line_digest;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// A Waybar owed a signal (its handler was not there yet) is looked at
/// again after this, then after twice as long but never more than
/// [`HANDLER_RETRY_MAX`] (a handler that comes late is served within that),
/// up to [`HANDLER_RETRIES`] times: about 11 s in all.
const HANDLER_RETRY_FIRST: Duration = Duration::from_millis(5);
const HANDLER_RETRY_MAX: Duration = Duration::from_millis(250);
const HANDLER_RETRIES: u32 = 50;

/// A waybar.json that could not be written (a full disk) is written again
/// after this, then after twice as long, up to [`WRITE_RETRY_MAX`], until
/// it is: the bar catches up once space returns, without any timer while
/// nothing failed.
const WRITE_RETRY_FIRST: Duration = Duration::from_millis(50);
const WRITE_RETRY_MAX: Duration = Duration::from_secs(5);

pub struct Bar {
    publisher: Publisher,
    debouncer: Debouncer,
    style: ModuleStyle,
    /// The local UTC offset, for the tooltip's clock times.
    utc_offset: UtcOffsetCache,
    /// Each flush renders into its buffers.
    renderer: Renderer,
    /// Waybar's `"signal"` number (SIGRTMIN+N).
    signal: u8,
    /// A change in this wake that the debouncer has not seen yet.
    changed: bool,
    /// When the debouncer wants the next flush.
    flush_at: Option<Instant>,
    /// While a Waybar is owed a signal: how many looks ran, and when the
    /// next one is due.
    handler_retry: Option<(u32, Instant)>,
    /// While waybar.json cannot be written: failures so far, and when the
    /// next attempt is due.
    write_retry: Option<(u32, Instant)>,
}

/// What one flush did, for the loop's figures and subscribers.
#[derive(Debug)]
pub struct Flushed {
    /// The module changed and was written (push [`Bar::published`] to
    /// subscribers).
    pub written: bool,
    pub phases: FlushPhases,
    /// When the signals had left (wall-clock ns).
    pub done_ns: u64,
    /// waybar.json could not be written (retried on a timer).
    pub failed: Option<llm_bridge_core::error::Error>,
}

/// What [`Bar::after_wake`] did.
#[derive(Debug, Default)]
pub struct Wake {
    pub flushed: Option<Flushed>,
    /// Signals sent, by the flush or to a Waybar whose handler came late.
    pub signals: u64,
}

impl Bar {
    pub fn new(paths: &Paths, config: &Config) -> Bar {
        Bar {
            publisher: Publisher::new(paths, config.signal),
            debouncer: Debouncer::from_config(&config.debounce),
            style: config.module.clone(),
            utc_offset: UtcOffsetCache::default(),
            renderer: Renderer::default(),
            signal: config.signal,
            changed: false,
            flush_at: None,
            handler_retry: None,
            write_retry: None,
        }
    }

    /// A reloaded config: the signal number, the debounce and the style
    /// (publish at once: the style may have changed).
    pub fn reconfigure(&mut self, config: &Config) {
        if config.signal != self.signal {
            self.signal = config.signal;
            self.publisher.signaller.set_offset(config.signal);
        }
        self.debouncer = Debouncer::from_config(&config.debounce);
        self.style = config.module.clone();
        self.changed = true;
    }

    /// What the bar shows may have changed.
    pub fn changed(&mut self) {
        self.changed = true;
    }

    /// A change waits to be published.
    pub fn pending(&self) -> bool {
        self.changed || self.debouncer.pending()
    }

    /// The local UTC offset now.
    fn utc_offset(&self) -> i64 {
        self.utc_offset.at((wall_clock_ms() / 1000) as i64)
    }

    /// The module last published, else the one `state` renders (for a new
    /// subscriber).
    pub fn current(&self, state: &State) -> String {
        match self.publisher.last() {
            Some(m) => m.to_string(),
            None => module::render_styled(state, self.utc_offset(), &self.style),
        }
    }

    /// The module last written to waybar.json.
    pub fn published(&self) -> Option<&str> {
        self.publisher.last()
    }

    pub fn known_pids(&self) -> Vec<i32> {
        self.publisher.signaller.known_pids()
    }

    /// `llm-bridge waybar` named the Waybar that runs it: signal it from
    /// now on, if it is our Waybar (the signaller checks). `shown` is the
    /// digest of the line it printed: if a change was published after its
    /// read (the naming can arrive after that change was signalled to the
    /// Waybars known then), it is owed a signal, delivered by the same
    /// schedule as a late handler's.
    pub fn adopt(&mut self, pid: u32, shown: Option<u64>, registry: &Registry) {
        let pid = i32::try_from(pid).unwrap_or(0);
        if pid <= 0 || !self.publisher.signaller.adopt(pid) {
            return;
        }
        self.watch_pidfds(registry);
        let published = self.publisher.last().map(line_digest);
        if published.is_some() && published != shown {
            self.publisher.signaller.owe(pid);
        }
    }

    /// Whether `token` is one of this owner's (a Waybar's pidfd).
    pub fn owns(token: Token) -> bool {
        (WAYBAR_BASE..super::tokens::CLIENT_BASE).contains(&token.0)
    }

    /// A Waybar's pidfd became readable: it exited.
    pub fn ready(&mut self, token: Token, registry: &Registry) {
        let pid = (token.0 - WAYBAR_BASE) as i32;
        if let Some(fd) = self.publisher.signaller.remove(pid) {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// After a wake's first datagram and once per wake: flushes if the
    /// debouncer says so now, and looks again at a Waybar owed a signal
    /// when that is due.
    pub fn after_wake(&mut self, state: &State, now: Instant, registry: &Registry) -> Wake {
        if self.write_retry.is_some_and(|(_, at)| at <= now) {
            // The last write failed: try again now.
            self.changed = true;
        }
        let decision = if std::mem::take(&mut self.changed) {
            self.debouncer.on_change(now)
        } else {
            self.debouncer.on_timer(now)
        };
        let mut wake = Wake::default();
        self.flush_at = None;
        match decision {
            Decision::FlushNow => {
                let flushed = self.flush(state, now, registry, &mut wake.signals);
                wake.flushed = Some(flushed);
            }
            Decision::FlushAt(at) => self.flush_at = Some(at),
            Decision::Idle => {}
        }
        wake.signals += self.retry_owed_signals(now);
        wake
    }

    /// Publishes what `state` shows now, outside the debounce (at start,
    /// so that waybar.json is right from the first instant).
    pub fn publish_now(&mut self, state: &State, registry: &Registry) -> Wake {
        let mut signals = 0;
        let flushed = self.publish(state, registry, &mut signals);
        Wake {
            flushed: Some(flushed),
            signals,
        }
    }

    /// Publishes now whatever waits (at shutdown).
    pub fn flush_pending(&mut self, state: &State, registry: &Registry) -> Option<Flushed> {
        if !self.pending() {
            return None;
        }
        self.changed = false;
        let mut signals = 0;
        Some(self.flush(state, Instant::now(), registry, &mut signals))
    }

    /// Gets the next write ready ahead of time: after a flush, once
    /// subscribers were served, when nobody waits.
    pub fn prepare_next(&mut self) {
        self.publisher.prepare_next();
    }

    /// The earliest instant this owner needs the loop: the debounced flush
    /// or the next look at a late Waybar.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.flush_at,
            self.handler_retry.map(|(_, at)| at),
            self.write_retry.map(|(_, at)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A flush the debouncer decided (or the last one, at shutdown).
    fn flush(
        &mut self,
        state: &State,
        now: Instant,
        registry: &Registry,
        signals: &mut u64,
    ) -> Flushed {
        self.debouncer.flushed(now);
        self.publish(state, registry, signals)
    }

    /// Renders, writes when changed, signals.
    fn publish(&mut self, state: &State, registry: &Registry, signals: &mut u64) -> Flushed {
        let started = Instant::now();
        let started_ns = wall_clock_ns();
        let now_ms = started_ns / 1_000_000;
        let utc_offset = self.utc_offset.at((now_ms / 1000) as i64);
        let module = self.renderer.render(state, utc_offset, &self.style);
        let mut phases = FlushPhases {
            started_ns,
            render: started.elapsed(),
            ..FlushPhases::default()
        };
        let result = self.publisher.publish(module, now_ms);
        let done_ns = wall_clock_ns();
        let mut written = false;
        let mut failed = None;
        match result {
            Ok(published) => {
                if published.written {
                    phases.write = Some(published.write_time);
                    phases.signal = Some(published.signal_time);
                    *signals += u64::from(published.signals.sent);
                    written = true;
                }
                if let Some((failures, _)) = self.write_retry.take() {
                    log(format_args!(
                        "waybar.json written again after {failures} failed attempts"
                    ));
                }
            }
            Err(e) => {
                let failures = self.write_retry.map_or(0, |(n, _)| n) + 1;
                let delay = (WRITE_RETRY_FIRST * (1 << failures.min(10))).min(WRITE_RETRY_MAX);
                if failures.is_power_of_two() {
                    log(format_args!(
                        "{} (failure {failures}; next attempt in {} ms)",
                        one_line(&e),
                        delay.as_millis()
                    ));
                }
                self.write_retry = Some((failures, Instant::now() + delay));
                failed = Some(e);
            }
        }
        self.watch_pidfds(registry);
        Flushed {
            written,
            phases,
            done_ns,
            failed,
        }
    }

    /// Registers the pidfds of newly found Waybar processes and deregisters
    /// those the signaller dropped, before they are closed.
    fn watch_pidfds(&mut self, registry: &Registry) {
        let changes = self.publisher.signaller.take_pidfd_changes();
        for (pid, fd) in changes.added {
            let token = Token(WAYBAR_BASE + pid as usize);
            if let Err(e) = registry.register(&mut SourceFd(&fd), token, Interest::READABLE) {
                log(format_args!("cannot watch Waybar process {pid}: {e}"));
            }
        }
        for (_, fd) in changes.retired {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// A Waybar found before its signal handler exists (it runs its first
    /// exec early) misses the signal for a change: look again on a short,
    /// doubling, capped schedule until the handler is there, then signal it.
    /// Returns the signals sent.
    fn retry_owed_signals(&mut self, now: Instant) -> u64 {
        let signaller = &mut self.publisher.signaller;
        if !signaller.owes() {
            self.handler_retry = None;
            return 0;
        }
        let (tries, due) = *self
            .handler_retry
            .get_or_insert((0, now + HANDLER_RETRY_FIRST));
        if due > now {
            return 0;
        }
        let report = signaller.retry_owed();
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
        u64::from(report.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_core::state::Input;
    use llm_bridge_protocol::wire::{Event, EventKind};
    use mio::Poll;

    const MS: Duration = Duration::from_millis(1);

    #[track_caller]
    fn paths(dir: &std::path::Path) -> Paths {
        Paths::in_dir(dir)
    }

    fn event(kind: EventKind, state: &mut State) {
        state.apply(&Input::Event(Event::new(kind, "a")), wall_clock_ms());
    }

    #[test]
    fn a_change_is_written_at_once_then_the_next_waits_for_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let poll = Poll::new().unwrap();
        let mut bar = Bar::new(&paths, &Config::default());
        let mut state = State::new();
        assert_eq!(bar.deadline(), None, "nothing pending: no deadline");

        event(EventKind::SessionStart, &mut state);
        bar.changed();
        assert!(bar.pending());
        let t0 = Instant::now();
        let wake = bar.after_wake(&state, t0, poll.registry());
        assert!(wake.flushed.expect("flushed").written, "written at once");
        let written = bar.published().expect("published").to_string();
        let on_disk = std::fs::read_to_string(&paths.waybar_json).unwrap();
        assert_eq!(on_disk.trim_end(), written);
        assert!(!bar.pending());
        assert_eq!(bar.deadline(), None);

        // Inside the window (16 ms by default): debounced to its end.
        event(EventKind::Submit, &mut state);
        bar.changed();
        let wake = bar.after_wake(&state, t0 + MS, poll.registry());
        assert!(wake.flushed.is_none(), "not yet");
        let at = bar.deadline().expect("a flush is due");
        assert_eq!(at, t0 + 17 * MS);
        assert!(bar
            .after_wake(&state, at - MS, poll.registry())
            .flushed
            .is_none());
        let wake = bar.after_wake(&state, at, poll.registry());
        assert!(wake.flushed.expect("flushed").written, "at the deadline");
        let written = bar.published().expect("published");
        assert_ne!(written, on_disk.trim_end(), "the new module");
        let on_disk = std::fs::read_to_string(&paths.waybar_json).unwrap();
        assert_eq!(on_disk.trim_end(), written);
        assert_eq!(bar.deadline(), None);

        // The same module again is neither written nor signalled.
        bar.changed();
        let wake = bar.after_wake(&state, at + 100 * MS, poll.registry());
        assert!(!wake.flushed.expect("flushed").written);
    }

    #[test]
    fn a_reloaded_style_publishes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let poll = Poll::new().unwrap();
        let mut bar = Bar::new(&paths, &Config::default());
        let state = State::new();
        let first = bar.publish_now(&state, poll.registry());
        assert!(first.flushed.expect("flushed").written);
        let mut config = Config::default();
        config.module.none = "nothing at all".into();
        bar.reconfigure(&config);
        assert!(bar.pending());
        let wake = bar.after_wake(&state, Instant::now(), poll.registry());
        assert!(wake.flushed.expect("flushed").written, "restyled");
        let written = bar.published().expect("published");
        assert!(written.contains("nothing at all"), "{written}");
    }
}
