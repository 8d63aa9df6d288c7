//! The loop's end of the speech worker: its bounded job queue, the stop
//! button, and the notifications it has not finished.
//!
//! Nothing here blocks. Jobs go through a bounded channel with `try_send`
//! (a full queue is refused at once, never waited for); a stop is one
//! atomic add ([`Cancel`]) that silences queued audio at once and ends a
//! job between sentences. Each notification has a [`Cancel`] of its own,
//! kept here: a permission request cuts a less urgent phrase that plays or
//! waits, a session that ends or comes back drops its phrases, and at most
//! [`MAX_PHRASES`] wait. A reload hands the running worker its new
//! [`Engine`]; no second thread is ever started.
//!
//! None of it needs the speech engine: a build without it has this same
//! handle, and only starting the thread ([`start_thread`]) says "not built".

use super::announcer::Phrase;
use super::types::{Cancel, Refused};
use crate::voice_settings::VoiceSettings;
use llm_bridge_core::announce::{Hush, Occasion};
use llm_bridge_core::config::SpeechConfig;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

#[cfg(feature = "speech")]
pub use super::worker::start_thread;

/// Without the speech engine there is no thread to start.
#[cfg(not(feature = "speech"))]
pub fn start_thread(_: Start) -> Result<JoinHandle<()>, Refused> {
    Err(Refused::NotBuilt)
}

/// What the worker thread starts with.
#[cfg_attr(not(feature = "speech"), allow(dead_code))]
pub struct Start {
    pub jobs: Receiver<Job>,
    pub engine: Engine,
    pub cancel: Cancel,
    pub next_engine: Arc<Mutex<Option<Engine>>>,
    pub reporter: super::super::reports::Reporter,
}

/// Jobs that may wait for the worker; more are refused ("busy").
pub const QUEUE: usize = 32;

/// Notifications that may wait or play at once; beyond it the least urgent
/// goes (or the new one, if it is the least urgent).
pub const MAX_PHRASES: usize = 3;

/// What the loop asks of the worker.
#[cfg_attr(not(feature = "speech"), allow(dead_code))]
pub enum Job {
    Say {
        id: u64,
        text: String,
        /// Write a WAV file instead of playing.
        out: Option<PathBuf>,
        /// `[speech]` with the request's own settings over it.
        settings: VoiceSettings,
        /// The stop generation when the job was queued.
        at: u64,
        queued: Instant,
    },
    /// Load the voice now (`[speech] enabled`), not at the first `say`.
    Load,
    /// A new engine waits in [`Handle::next_engine`]; the worker takes it
    /// before any job, so this only wakes it.
    Reconfigure,
    /// A spoken notification: from the phrase cache when it is there.
    Notify {
        id: u64,
        text: String,
        settings: VoiceSettings,
        /// This phrase's own stop (preempted, hushed, `say --stop`).
        cancel: Cancel,
        urgency: u8,
        queued: Instant,
    },
    /// Render a phrase into the cache, to play it at once later.
    Prepare {
        text: String,
        settings: VoiceSettings,
    },
}

/// A notification the worker has not finished, as the loop sees it.
struct Queued {
    id: u64,
    session_id: String,
    occasion: Occasion,
    cancel: Cancel,
}

/// What [`Handle::notify`] did to the phrases already queued.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Queuing {
    /// Less urgent phrases cut or dropped for this one.
    pub preempted: usize,
}

/// The loop's handle on the worker.
pub struct Handle {
    jobs: Option<SyncSender<Job>>,
    cancel: Cancel,
    thread: Option<JoinHandle<()>>,
    has_voice: bool,
    /// Notifications queued or playing, oldest first.
    phrases: Vec<Queued>,
    /// The engine a reload asks for, until the worker takes it.
    next_engine: Arc<Mutex<Option<Engine>>>,
}

/// What the worker speaks with: the parts of `[speech]` that a reload
/// hands to the running worker (the rest is read per job).
#[cfg_attr(not(feature = "speech"), allow(dead_code))]
pub struct Engine {
    pub voice: Option<PathBuf>,
    pub max_ids: usize,
    pub close_after: std::time::Duration,
    pub cache_bytes: u64,
}

impl Engine {
    fn from_config(config: &SpeechConfig) -> Engine {
        Engine {
            voice: config.voice_path(),
            max_ids: config.max_ids,
            close_after: config.close_after(),
            cache_bytes: (config.cache_mib * 1024.0 * 1024.0) as u64,
        }
    }
}

impl Handle {
    /// Starts the worker thread; called from the loop once start-up is over.
    pub fn spawn(
        config: &SpeechConfig,
        reporter: super::super::reports::Reporter,
    ) -> Result<Handle, Refused> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let cancel = Cancel::default();
        let engine = Engine::from_config(config);
        let has_voice = engine.voice.is_some();
        if config.enabled && has_voice {
            // First in the queue: loaded before any `say` is taken.
            let _ = tx.try_send(Job::Load);
        }
        let next_engine = Arc::new(Mutex::new(None));
        let thread = start_thread(Start {
            jobs: rx,
            engine,
            cancel: cancel.clone(),
            next_engine: Arc::clone(&next_engine),
            reporter,
        })?;
        Ok(Handle {
            jobs: Some(tx),
            cancel,
            thread: Some(thread),
            has_voice,
            phrases: Vec::new(),
            next_engine,
        })
    }

    /// Makes the worker speak with a new `[speech]` engine (another voice,
    /// scales, cache size...): everything queued is cut, and the worker
    /// drops its voice and takes the new one on this same thread, before
    /// its next job. Never blocks, never starts a thread.
    pub fn reconfigure(&mut self, config: &SpeechConfig) {
        self.stop();
        let engine = Engine::from_config(config);
        self.has_voice = engine.voice.is_some();
        *self
            .next_engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(engine);
        if let Some(jobs) = &self.jobs {
            // Wakes the worker. With the queue full it needs no waking: it
            // looks at the new engine before the next job it takes.
            let _ = jobs.try_send(Job::Reconfigure);
            if config.enabled && self.has_voice {
                let _ = jobs.try_send(Job::Load);
            }
        }
    }

    /// Queues a `say`; never blocks.
    pub fn say(
        &self,
        id: u64,
        text: String,
        out: Option<PathBuf>,
        settings: VoiceSettings,
    ) -> Result<(), Refused> {
        if !self.has_voice {
            return Err(Refused::NoVoice);
        }
        let jobs = self.jobs.as_ref().ok_or(Refused::Gone)?;
        let job = Job::Say {
            id,
            text,
            out,
            settings,
            at: self.cancel.generation(),
            queued: Instant::now(),
        };
        jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Busy,
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    /// Cuts the speech playing and everything queued before now.
    pub fn stop(&mut self) {
        self.cancel.cancel();
        for phrase in self.phrases.drain(..) {
            phrase.cancel.cancel();
        }
    }

    /// Queues a spoken notification; never blocks. A permission request
    /// cuts every less urgent phrase; beyond [`MAX_PHRASES`] the least
    /// urgent goes, or this one is refused if it is the least urgent.
    pub fn notify(
        &mut self,
        id: u64,
        phrase: Phrase,
        settings: VoiceSettings,
    ) -> Result<Queuing, Refused> {
        if !self.has_voice {
            return Err(Refused::NoVoice);
        }
        let jobs = self.jobs.as_ref().ok_or(Refused::Gone)?;
        let urgency = phrase.occasion.urgency();
        let mut queuing = Queuing::default();
        if phrase.occasion == Occasion::Permission {
            self.phrases.retain(|q| {
                let keep = q.occasion.urgency() >= urgency;
                if !keep {
                    q.cancel.cancel();
                    queuing.preempted += 1;
                }
                keep
            });
        }
        if self.phrases.len() >= MAX_PHRASES {
            // The least urgent, the newest among equals.
            let least = (0..self.phrases.len())
                .rev()
                .min_by_key(|i| self.phrases[*i].occasion.urgency())
                .expect("not empty");
            if self.phrases[least].occasion.urgency() >= urgency {
                return Err(Refused::Busy);
            }
            self.phrases.remove(least).cancel.cancel();
            queuing.preempted += 1;
        }
        let cancel = Cancel::default();
        let job = Job::Notify {
            id,
            text: phrase.text,
            settings,
            cancel: cancel.clone(),
            urgency,
            queued: Instant::now(),
        };
        jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Busy,
            TrySendError::Disconnected(_) => Refused::Gone,
        })?;
        self.phrases.push(Queued {
            id,
            session_id: phrase.session_id,
            occasion: phrase.occasion,
            cancel,
        });
        Ok(queuing)
    }

    /// Renders `text` into the phrase cache when the worker has nothing
    /// better to do; dropped if the queue is full.
    pub fn prepare(&self, text: String, settings: VoiceSettings) {
        if let Some(jobs) = self.jobs.as_ref().filter(|_| self.has_voice) {
            let _ = jobs.try_send(Job::Prepare { text, settings });
        }
    }

    /// Drops a session's phrases that are no longer true; returns how many.
    pub fn hush(&mut self, hush: &Hush) -> usize {
        let before = self.phrases.len();
        self.phrases.retain(|q| {
            let drop =
                q.session_id == hush.session_id && hush.only.is_none_or(|only| only == q.occasion);
            if drop {
                q.cancel.cancel();
            }
            !drop
        });
        before - self.phrases.len()
    }

    /// Drops every phrase (muted); returns how many.
    pub fn hush_all(&mut self) -> usize {
        let n = self.phrases.len();
        for q in self.phrases.drain(..) {
            q.cancel.cancel();
        }
        n
    }

    /// The worker finished notification `id` (played, cut or failed).
    pub fn phrase_done(&mut self, id: u64) {
        self.phrases.retain(|q| q.id != id);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.cancel.cancel();
        // Closing the channel ends the thread after its current sentence.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(all(test, feature = "speech"))]
mod tests {
    use super::super::types::{SpeechReport, Spoken};
    use super::*;
    use crate::daemon::reports::{Report, Reports};
    use crate::test_voice::{one_synthesizer_at_a_time, test_voice};
    use llm_bridge_core::error::{one_line, Result};
    use mio::{Events, Poll};
    use std::path::Path;
    use std::time::Duration;

    /// The outcome of `say` request `id`, waiting on a real poll for the
    /// worker's wake (the timeout only bounds a failure).
    fn said(poll: &mut Poll, reports: &Reports, id: u64) -> Result<Spoken> {
        let mut events = Events::with_capacity(4);
        loop {
            for report in reports.drain() {
                if let Report::Speech(SpeechReport::Said { id: got, outcome }) = report {
                    assert_eq!(got, id);
                    return outcome;
                }
            }
            poll.poll(&mut events, Some(Duration::from_secs(60)))
                .unwrap();
            assert!(!events.is_empty(), "no report within 60 s");
        }
    }

    #[test]
    fn a_reload_gives_the_running_worker_its_new_voice() {
        let _turn = one_synthesizer_at_a_time();
        let mut poll = Poll::new().unwrap();
        let reports = Reports::new(poll.registry()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.onnx");
        let config = |voice: &Path| SpeechConfig {
            voice: voice.to_str().unwrap().into(),
            ..SpeechConfig::default()
        };
        let mut speech = Handle::spawn(&config(&missing), reports.reporter()).unwrap();
        let settings = VoiceSettings::from_config(&SpeechConfig::default());
        let out = dir.path().join("said.wav");
        let say = |speech: &Handle, id| {
            speech
                .say(id, "Hello.".into(), Some(out.clone()), settings.clone())
                .unwrap();
        };

        say(&speech, 1);
        let e = said(&mut poll, &reports, 1).unwrap_err();
        assert!(one_line(&e).contains("missing.onnx"), "{e:#}");

        let thread = speech.thread.as_ref().unwrap().thread().id();
        speech.reconfigure(&config(&test_voice()));
        say(&speech, 2);
        let spoken = said(&mut poll, &reports, 2).unwrap();
        assert_eq!((spoken.sentences, spoken.stopped), (1, false));
        assert!(out.is_file(), "written with the new voice");
        assert_eq!(
            speech.thread.as_ref().unwrap().thread().id(),
            thread,
            "the same thread"
        );
    }
}
