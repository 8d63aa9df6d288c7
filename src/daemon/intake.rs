//! Taking datagrams in: from the socket and the spool, each event written
//! to the journal before it leaves the socket's queue (one write per
//! batch), then handled in the order the hooks sent them. Bad datagrams
//! are counted, logged (the 1st, 2nd, 4th... of each kind) and dropped.

use super::{ipc, Daemon};
use llm_bridge_core::local_time::wall_clock_ns;
use llm_bridge_core::log::log;
use llm_bridge_protocol::wire::Message;
use std::time::Instant;

/// A datagram read and checked, waiting in the wake's batch to be handled.
/// With the event's number in the journal, which the state takes once it
/// is applied.
pub(super) type Taken = (Message, crate::datagram::PeerAddr, u64, Option<u64>);

/// The most datagrams read before the batch is journaled and applied.
const MAX_BATCH: usize = 256;

/// Events the journal gave back at start, by [`event_key`].
pub(super) type Seen = std::collections::HashSet<(String, u64)>;

/// What tells one hook event from every other: its session and the hook's
/// start in nanoseconds. An event without that time has no key and is
/// never taken for another.
pub(super) fn event_key(event: &llm_bridge_protocol::wire::Event) -> Option<(String, u64)> {
    Some((event.session_id.clone(), event.sent_at_ns?))
}

/// When the hook sent a datagram taken, or when it came (a request).
pub(super) fn sent_or_arrived((message, _, arrived_ns, _): &Taken) -> u64 {
    match message {
        Message::Event(e) => e.sent_at_ns.unwrap_or(*arrived_ns),
        _ => *arrived_ns,
    }
}

/// Whether the journal gave `event` back at start.
fn seen_before(seen: &Seen, event: &llm_bridge_protocol::wire::Event) -> bool {
    event_key(event).is_some_and(|key| seen.contains(&key))
}

impl Daemon {
    /// Reads every datagram waiting (each event journaled before it leaves
    /// the queue) and handles them in the order they came. The first is
    /// handled, and the bar flushed if the debounce allows it now, before
    /// the socket is read again: an isolated event's signal leaves without
    /// waiting for the read that ends the drain with `WouldBlock`, and
    /// what follows in the same wake falls in the debounce window as it
    /// would have had it come a moment later.
    pub(super) fn drain_socket(&mut self, buf: &mut [u8]) {
        let mut batch = Vec::new();
        let mut first = true;
        while let Some(incoming) = self.ipc.recv(buf) {
            self.take(incoming, buf, &mut batch);
            if first && !batch.is_empty() {
                first = false;
                self.handle_batch(&mut batch);
                self.flush_bar(Instant::now());
            } else if batch.len() == MAX_BATCH {
                self.handle_batch(&mut batch);
            }
        }
        self.handle_batch(&mut batch);
    }

    /// Replays what hooks spooled while the daemon took no event (stopped,
    /// or not yet started while its socket was held), together with what
    /// waits in the socket: a hook spools only while the socket's queue is
    /// full, so some of what is queued there is older than the spool and
    /// some newer. All of it is handled in the order the hooks sent it.
    pub(super) fn drain_spool_and_socket(&mut self, buf: &mut [u8]) {
        let mut batch = self.gather_waiting(buf, &Seen::new());
        self.handle_batch(&mut batch);
    }

    /// Takes everything waiting, the spool's files and the socket's queue,
    /// each event journaled as it is taken (the spooled files are removed
    /// once their events are), but for those `seen` in the journal already
    /// (a kill between journaling and taking off); in the order the hooks
    /// sent them (a request, which carries no time, where it came).
    pub(super) fn gather_waiting(&mut self, buf: &mut [u8], seen: &Seen) -> Vec<Taken> {
        let spooled = self.ipc.take_spooled();
        let mut batch = Vec::new();
        if !spooled.is_empty() {
            self.life.touch(Instant::now());
        }
        let now_ns = wall_clock_ns();
        let mut bad = 0;
        for file in &spooled {
            match &file.replayed {
                Ok(Message::Event(event)) if seen_before(seen, event) => {}
                Ok(Message::Event(event)) => {
                    self.stats.counters.spooled += 1;
                    let seq = self.persist.journal(now_ns / 1_000_000, &file.bytes);
                    batch.push((
                        Message::Event(event.clone()),
                        crate::datagram::PeerAddr::unnamed(),
                        now_ns,
                        seq,
                    ));
                }
                Ok(_) => bad += 1,
                Err(why) => {
                    bad += 1;
                    log(format_args!("a spooled event was dropped: {why}"));
                }
            }
        }
        self.stats.counters.rejected += bad;
        while let Some(incoming) = self.ipc.recv(buf) {
            match &incoming.message {
                Ok(Message::Event(e)) if seen_before(seen, e) => self.ipc.consume(),
                _ => self.take(incoming, buf, &mut batch),
            }
        }
        batch.sort_by_key(sent_or_arrived);
        self.commit_journal();
        self.ipc.forget_spooled(&spooled);
        if !spooled.is_empty() {
            log(format_args!(
                "replayed the spool: {} events so far",
                self.stats.counters.spooled
            ));
        }
        batch
    }

    /// Handles each datagram taken, in order. The state notes each
    /// journaled event as it applies it, so that a snapshot written in
    /// between (an ended session forces one) claims no event it does not
    /// hold.
    pub(super) fn handle_batch(&mut self, batch: &mut Vec<Taken>) {
        for (message, peer, arrived_ns, seq) in batch.drain(..) {
            if let Some(seq) = seq {
                self.state.journal_applied(seq);
            }
            self.handle(message, peer, arrived_ns);
        }
    }

    /// Checks the datagram at the head of the queue and takes it off: an
    /// event only once it is in the journal (see [`Ipc::consume`]). A good
    /// one goes on `batch`.
    fn take(&mut self, incoming: ipc::Incoming, buf: &[u8], batch: &mut Vec<Taken>) {
        self.stats.counters.received += 1;
        self.life.touch(Instant::now());
        let arrived_ns = incoming.arrived_ns.unwrap_or(incoming.read_ns);
        self.stats.read(arrived_ns, incoming.read_ns);
        // The socket is 0600 in a 0700 directory; this is the second
        // wall (a socket made reachable by hand, a shared
        // LLM_BRIDGE_SOCKET path).
        if let Some(uid) = self.ipc.foreign(&incoming) {
            self.ipc.consume();
            self.stats.counters.foreign += 1;
            let foreign = self.stats.counters.foreign;
            if foreign.is_power_of_two() {
                log(format_args!(
                    "dropped a datagram from uid {uid} ({foreign} so far): only uid {} is served",
                    self.ipc.uid()
                ));
            }
            return;
        }
        match incoming.message {
            Ok(Message::Event(event)) => {
                let seq = self
                    .persist
                    .journal(arrived_ns / 1_000_000, &buf[..incoming.len]);
                self.commit_journal();
                self.ipc.consume();
                batch.push((Message::Event(event), incoming.peer, arrived_ns, seq));
            }
            Ok(message) => {
                self.ipc.consume();
                batch.push((message, incoming.peer, arrived_ns, None));
            }
            Err(e) => {
                self.ipc.consume();
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

    /// Writes the journal's batch; a failure is counted and logged (the
    /// 1st, 2nd, 4th...), and the events are applied anyway.
    fn commit_journal(&mut self) {
        match self.persist.commit_journal() {
            None | Some(Ok(_)) => {}
            Some(Err(e)) => {
                let e = llm_bridge_core::error::Error::from(e).context("cannot write the journal");
                self.stats.write_failed("journal", &e);
            }
        }
    }
}
