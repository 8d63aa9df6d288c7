//! What a starting daemon applies before it serves: the events the journal
//! holds beyond the snapshot (a killed daemon's), what hooks spooled and
//! what waits in the socket, all in the order the hooks sent them; then the
//! sessions the history says ended stay ended, the restored sessions are
//! watched again (those whose client is gone end), the module is
//! published, and only then are the requests that waited answered.

use super::intake::{event_key, sent_or_arrived, Seen, Taken};
use super::{Daemon, Recorded};
use llm_bridge_core::journal::Record;
use llm_bridge_core::local_time::wall_clock_ns;
use llm_bridge_core::log::log;
use llm_bridge_core::state::Input;
use llm_bridge_protocol::wire::{Message, MAX_DATAGRAM};
use std::time::Instant;

/// What a starting daemon applies: what the journal holds beyond the
/// snapshot, and what waited in the spool and the socket.
enum Pending {
    Journaled(Record),
    Taken(Box<Taken>),
}

impl Daemon {
    /// Applies `journaled` (the journal beyond the snapshot) with what
    /// waits in the spool and the socket; `recorded` is what the history
    /// has seen end.
    pub(super) fn recover(&mut self, journaled: Vec<Record>, recorded: &Recorded) {
        // What the journal holds beyond the snapshot, what the spool holds
        // and what waits in the socket: applied together in the order the
        // hooks sent it (a killed daemon may have journaled a spooled event
        // while older ones still waited in the socket). An event a kill left
        // both in the journal and in the queue (or the spool) is taken once.
        // Journaled events are applied at their first times, an end the
        // history has already is not recorded twice, and nothing is said
        // aloud about the past.
        let mut buf = vec![0; MAX_DATAGRAM + 1];
        let seen: Seen = journaled
            .iter()
            .filter_map(|record| event_key(&record.event()?))
            .collect();
        let waiting = self.gather_waiting(&mut buf, &seen);
        if !journaled.is_empty() {
            log(format_args!(
                "applying {} events taken after the last snapshot (the journal)",
                journaled.len()
            ));
            self.persist.mark_dirty(Instant::now());
        }
        let mut all: Vec<(u64, Pending)> = journaled
            .into_iter()
            .map(|record| {
                let key = record
                    .event()
                    .and_then(|e| e.sent_at_ns)
                    .unwrap_or(record.arrived_ms.saturating_mul(1_000_000));
                (key, Pending::Journaled(record))
            })
            .chain(
                waiting
                    .into_iter()
                    .map(|t| (sent_or_arrived(&t), Pending::Taken(Box::new(t)))),
            )
            .collect();
        // Stable: the journal's own order where times are equal.
        all.sort_by_key(|(key, _)| *key);
        // A request that waited (a `status`, a `say`, a subscriber) is
        // answered once start-up is done: it must see the sessions whose
        // client is gone already ended, as the first one served after start.
        let mut requests = Vec::new();
        for (_, pending) in all {
            match pending {
                Pending::Journaled(record) => {
                    self.state.journal_applied(record.seq);
                    if let Some(event) = record.event() {
                        self.stats.counters.journal_replayed += 1;
                        self.apply(
                            Input::Event(event),
                            record.arrived_ms.saturating_mul(1_000_000),
                            Some(recorded),
                        );
                    }
                }
                Pending::Taken(taken)
                    if matches!(taken.0, Message::Event(_) | Message::Status(_)) =>
                {
                    self.handle_batch(&mut vec![*taken]);
                }
                Pending::Taken(taken) => requests.push(*taken),
            }
        }
        // Sessions whose end is in the history but not in the snapshot
        // (killed between the two writes, with no journal to end them
        // again) stay ended. Not before the journal is applied: its events
        // of such a session, up to its end, would bring it back as a new one
        // and record its end twice.
        let ghosts = self.state.forget_recorded(recorded);
        if ghosts > 0 {
            log(format_args!(
                "{ghosts} sessions of the snapshot had ended already (the history says so)"
            ));
        }
        // Watch the restored sessions again; end those whose process is
        // gone (or is another one under the same PID).
        let registry = self.poll.registry();
        let gone: Vec<Input> = self
            .state
            .watches()
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|watch| self.watchers.set(watch, registry))
            .collect();
        for input in gone {
            self.apply(input, wall_clock_ns(), None);
        }
        // Publish what the snapshot holds, so waybar.json is right from the start.
        let published = self.bar.publish_now(&self.state, self.poll.registry());
        self.stats.counters.signals += published.signals;
        if published.flushed.is_some_and(|f| f.written) {
            self.stats.counters.writes += 1;
        }
        self.handle_batch(&mut requests);
    }
}
