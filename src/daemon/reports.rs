//! How worker threads talk back to the loop: a channel and the loop's one
//! `mio::Waker` (mio allows one per `Poll`).
//!
//! A worker holds a [`Reporter`]; sending a [`Report`] queues it and wakes
//! the loop, which drains every queued report on the waker's token. Workers
//! never see `State` and never wait for the loop: sending never blocks.
//! Jobs travel the other way through each worker's own bounded channel
//! (`try_send`), so nothing a worker does can block the loop either.

use mio::Waker;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// What a worker tells the loop.
#[derive(Debug)]
pub enum Report {
    /// A worker stopped for good; the loop logs why.
    Stopped {
        worker: &'static str,
        reason: String,
    },
    /// What the speech worker did, for the speech service.
    Speech(super::speech::SpeechReport),
}

/// The loop's end: created with the loop's waker, drained on its token.
pub struct Reports {
    waker: Arc<Waker>,
    tx: Sender<Report>,
    rx: Receiver<Report>,
}

/// A worker's end. Cloneable; one per thread.
#[derive(Clone)]
pub struct Reporter {
    waker: Arc<Waker>,
    tx: Sender<Report>,
}

impl Reports {
    /// Creates the loop's one waker, under [`WAKER`](super::tokens::WAKER).
    pub fn new(registry: &mio::Registry) -> std::io::Result<Reports> {
        Ok(Reports::with_waker(Waker::new(
            registry,
            super::tokens::WAKER,
        )?))
    }

    fn with_waker(waker: Waker) -> Reports {
        let (tx, rx) = mpsc::channel();
        Reports {
            waker: Arc::new(waker),
            tx,
            rx,
        }
    }

    /// A handle for a new worker thread.
    pub fn reporter(&self) -> Reporter {
        Reporter {
            waker: Arc::clone(&self.waker),
            tx: self.tx.clone(),
        }
    }

    /// Every report queued so far, oldest first; never blocks.
    pub fn drain(&self) -> impl Iterator<Item = Report> + '_ {
        // Empty and disconnected both end the drain.
        std::iter::from_fn(move || self.rx.try_recv().ok())
    }
}

impl Reporter {
    /// Queues `report` and wakes the loop; false if the loop is gone.
    pub fn send(&self, report: Report) -> bool {
        self.tx.send(report).is_ok() && self.waker.wake().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn a_report_from_a_thread_wakes_the_poll_and_is_drained() {
        const WAKER: Token = Token(7);
        let mut poll = Poll::new().unwrap();
        let reports = Reports::with_waker(Waker::new(poll.registry(), WAKER).unwrap());
        let reporter = reports.reporter();
        let worker = std::thread::spawn(move || {
            assert!(reporter.send(Report::Stopped {
                worker: "test",
                reason: "done".into(),
            }));
        });
        let mut events = Events::with_capacity(4);
        // Blocks until the worker's wake; the timeout only bounds a failure.
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == WAKER), "woken");
        worker.join().unwrap();
        let got: Vec<Report> = reports.drain().collect();
        assert!(
            matches!(
                got.as_slice(),
                [Report::Stopped {
                    worker: "test",
                    reason
                }] if reason == "done"
            ),
            "{got:?}"
        );
        assert_eq!(reports.drain().count(), 0, "drained");
    }
}
