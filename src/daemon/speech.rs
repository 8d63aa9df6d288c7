//! The speech worker: one thread that owns the voice, espeak-ng's global
//! state and the audio output, and speaks what the loop hands it.
//!
//! The loop never waits for it. Jobs go through a bounded channel with
//! `try_send` (a full queue is refused at once, never waited for); results
//! come back as [`Report`]s through the loop's waker; a stop is one atomic
//! add ([`Cancel`]) that silences queued audio at once and ends a job
//! between sentences. The thread runs at `SCHED_IDLE`, the lowest CPU
//! priority, so synthesis only uses what the bar does not. It loads the
//! voice on its first job and keeps it; it opens the audio device for
//! speech and closes it after `close_after` of silence, then sleeps in
//! `recv` until the next job: an idle daemon never wakes. A panic in a job
//! is caught and reported, and the thread carries on.
//!
//! Spoken notifications are jobs too, taken before a `say` (the most urgent
//! first), and rendering phrases ahead comes last. Each notification has a
//! [`Cancel`] of its own, kept by the loop's handle: a permission request
//! cuts a less urgent phrase that plays or waits, a session that ends or
//! comes back drops its phrases, and at most [`MAX_PHRASES`] wait. The
//! worker plays a phrase from the [`PhraseCache`] when it can, which needs
//! no synthesis, not even a loaded voice.

use super::announcer::Phrase;
use super::phrase_cache::{PhraseCache, Rendered, MEMORY_BYTES};
use super::reports::{Report, Reporter};
pub use super::speech_types::{Refused, Spoken};
use crate::voice_settings::VoiceSettings;
use llm_bridge_core::announce::{Hush, Occasion};
use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{anyhow, one_line, Context, Result};
use llm_bridge_speech::audio::{Cancel, Output};
use llm_bridge_speech::{Synthesizer, Voice};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

/// Jobs that may wait for the worker; more are refused ("busy").
pub const QUEUE: usize = 32;

/// Notifications that may wait or play at once; beyond it the least urgent
/// goes (or the new one, if it is the least urgent).
pub const MAX_PHRASES: usize = 3;

/// The plans built when the voice loads at start (`[speech] enabled`): a
/// notification or a short `say` fits in them.
const WARM_IDS: usize = 128;

/// What the loop asks of the worker.
enum Job {
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
    /// A new engine waits in [`Speech::next_engine`]; the worker takes it
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

impl Job {
    /// Which job goes first: notifications (the most urgent first), then
    /// `say` and loading, then rendering ahead; in arrival order within one.
    fn rank(&self) -> (u8, u8) {
        match self {
            Job::Notify { urgency, .. } => (2, *urgency),
            Job::Say { .. } | Job::Load | Job::Reconfigure => (1, 0),
            Job::Prepare { .. } => (0, 0),
        }
    }
}

/// A notification the worker has not finished, as the loop sees it.
struct Queued {
    id: u64,
    session_id: String,
    occasion: Occasion,
    cancel: Cancel,
}

/// What [`Speech::notify`] did to the phrases already queued.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Queuing {
    /// Less urgent phrases cut or dropped for this one.
    pub preempted: usize,
}

/// The loop's handle on the worker.
pub struct Speech {
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
struct Engine {
    voice: Option<PathBuf>,
    max_ids: usize,
    close_after: std::time::Duration,
    cache_bytes: u64,
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

impl Speech {
    /// Starts the worker thread; called from the loop once start-up is over.
    pub fn spawn(config: &SpeechConfig, reporter: Reporter) -> std::io::Result<Speech> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let cancel = Cancel::default();
        let engine = Engine::from_config(config);
        let has_voice = engine.voice.is_some();
        if config.enabled && has_voice {
            // First in the queue: loaded before any `say` is taken.
            let _ = tx.try_send(Job::Load);
        }
        let next_engine = Arc::new(Mutex::new(None));
        let (thread_cancel, thread_next_engine) = (cancel.clone(), Arc::clone(&next_engine));
        let thread = std::thread::Builder::new()
            .name("llm-bridge-speech".into())
            .spawn(move || {
                // The voice, espeak-ng and the device are made on this thread
                // and never leave it.
                let worker = Worker {
                    engine,
                    next_engine: thread_next_engine,
                    voice_config: None,
                    cancel: thread_cancel,
                    reporter,
                    synth: None,
                    output: None,
                    pending: VecDeque::new(),
                    cache: None,
                    voice_id: None,
                };
                worker.run(rx);
            })?;
        Ok(Speech {
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

impl Drop for Speech {
    fn drop(&mut self) {
        self.cancel.cancel();
        // Closing the channel ends the thread after its current sentence.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's own state: nothing here is shared with the loop.
struct Worker {
    engine: Engine,
    /// Where a reload leaves the next engine.
    next_engine: Arc<Mutex<Option<Engine>>>,
    /// The loaded voice's config: its own scales and its speakers.
    voice_config: Option<llm_bridge_speech::VoiceConfig>,
    cancel: Cancel,
    reporter: Reporter,
    synth: Option<Synthesizer>,
    output: Option<Output>,
    /// Jobs taken from the channel, not yet done (see [`Job::rank`]).
    pending: VecDeque<Job>,
    /// Made at its first use: a daemon that never speaks a notification
    /// never creates the cache directory.
    cache: Option<PhraseCache>,
    /// The voice file as the cache keys know it: path, size, mtime.
    voice_id: Option<String>,
}

impl Worker {
    fn run(mut self, jobs: Receiver<Job>) {
        lowest_priority();
        while let Some(job) = self.next_job(&jobs) {
            self.carry_out(job);
        }
    }

    /// The most urgent job waiting (see [`Job::rank`]); sleeps in `recv`
    /// while there is none, closing the audio device after `close_after`
    /// of silence. `None` once the loop's handle is gone.
    fn next_job(&mut self, jobs: &Receiver<Job>) -> Option<Job> {
        while self.pending.is_empty() {
            let job = if self.output.is_some() {
                match jobs.recv_timeout(self.engine.close_after) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        // Silence for a while: close the device (until the
                        // next job) unless it still plays.
                        if self.output.as_ref().is_some_and(Output::is_idle) {
                            self.output = None;
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            } else {
                jobs.recv().ok()?
            };
            self.pending.push_back(job);
        }
        loop {
            match jobs.try_recv() {
                Ok(job) => self.pending.push_back(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return None,
            }
        }
        let next_engine = self
            .next_engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(engine) = next_engine {
            self.reconfigure(engine);
        }
        let best = (0..self.pending.len())
            .rev()
            .max_by_key(|i| self.pending[*i].rank())
            .expect("not empty");
        self.pending.remove(best)
    }

    /// Drops the voice, the device and the phrase cache's handle, and
    /// speaks with `engine` from the next job on. Nothing else holds
    /// espeak-ng's global state, so the new voice can take it.
    fn reconfigure(&mut self, engine: Engine) {
        self.synth = None;
        self.voice_config = None;
        self.voice_id = None;
        self.output = None;
        self.cache = None;
        self.engine = engine;
    }

    /// Does one job, through [`Worker::run_job`], and reports its outcome.
    fn carry_out(&mut self, job: Job) {
        match job {
            // Taken in `next_job` already.
            Job::Reconfigure => {}
            Job::Load => {
                // Ready for a short phrase at once: the plans of the two
                // smallest buckets (up to 128 ids) are built now, not by
                // the first `say` (about 1.2 s here).
                let started = Instant::now();
                match self.run_job(|w| w.synthesizer()?.warm_up(WARM_IDS)) {
                    Ok(()) => llm_bridge_core::log::log(format_args!(
                        "speech: ready in {} ms (plans up to {WARM_IDS} ids built)",
                        started.elapsed().as_millis()
                    )),
                    Err(e) => llm_bridge_core::log::log(format_args!("speech: {}", one_line(&e))),
                }
            }
            Job::Notify {
                id,
                text,
                settings,
                cancel,
                queued,
                ..
            } => {
                let outcome = self.run_job(|w| w.announce(&text, &settings, &cancel, queued));
                self.report_cache();
                self.finish(outcome, move |outcome| Report::Phrase { id, outcome });
            }
            Job::Prepare { text, settings } => {
                if let Err(e) = self.run_job(|w| w.render(&text, &settings)) {
                    llm_bridge_core::log::log(format_args!(
                        "speech: cannot render {text:?} ahead: {}",
                        one_line(&e)
                    ));
                }
                self.report_cache();
            }
            Job::Say {
                id,
                text,
                out,
                settings,
                at,
                queued,
            } => {
                let outcome = self.run_job(|w| w.say(&text, out, &settings, at, queued));
                self.finish(outcome, move |outcome| Report::Said { id, outcome });
            }
        }
    }

    /// Runs one job. A panic in it is caught and becomes its error, and the
    /// synthesizer, which it may have left half-way, is made afresh.
    fn run_job<T>(&mut self, job: impl FnOnce(&mut Worker) -> Result<T>) -> Result<T> {
        catch_unwind(AssertUnwindSafe(|| job(self))).unwrap_or_else(|panic| {
            self.synth = None;
            Err(anyhow!("internal error in speech: {}", panic_text(&panic)))
        })
    }

    /// Reports a job done: once its audio has played (from the audio
    /// thread), or now if nothing plays.
    fn finish(
        &self,
        outcome: Result<Spoken>,
        report: impl FnOnce(Result<Spoken>) -> Report + Send + 'static,
    ) {
        match (&self.output, outcome) {
            (Some(output), Ok(spoken)) if spoken.seconds > 0.0 && !spoken.stopped => {
                let reporter = self.reporter.clone();
                // It comes even if the job's `Cancel` cuts the audio: only
                // `Output::stop`, which this worker never calls, drops it.
                output.notify_when_played(move || {
                    reporter.send(report(Ok(spoken)));
                });
            }
            (_, outcome) => {
                self.reporter.send(report(outcome));
            }
        }
    }

    /// Plays a notification: from the cache, else synthesized (and kept).
    fn announce(
        &mut self,
        text: &str,
        settings: &VoiceSettings,
        cancel: &Cancel,
        queued: Instant,
    ) -> Result<Spoken> {
        let mut spoken = Spoken {
            sentences: 0,
            seconds: 0.0,
            stopped: true,
            first_audio_ms: None,
            cached: false,
        };
        if cancel.is_cancelled(0) {
            return Ok(spoken);
        }
        let (rendered, cached) = self.render(text, settings)?;
        if cancel.is_cancelled(0) {
            return Ok(spoken);
        }
        let mut samples = rendered.to_f32();
        settings.louden(&mut samples);
        if self.output.is_none() {
            self.output = Some(Output::open(rendered.rate)?);
        }
        let output = self.output.as_ref().expect("opened above");
        spoken.first_audio_ms = Some(queued.elapsed().as_millis() as u64);
        spoken.seconds = samples.len() as f32 / rendered.rate as f32;
        spoken.sentences = 1;
        spoken.stopped = false;
        spoken.cached = cached;
        output.play_until(samples, rendered.rate, cancel)?;
        Ok(spoken)
    }

    /// A phrase's samples: from the cache (`true`), else synthesized now
    /// and kept.
    fn render(&mut self, text: &str, settings: &VoiceSettings) -> Result<(Rendered, bool)> {
        let key = self.phrase_key(text, settings)?;
        let bytes = self.engine.cache_bytes;
        let cache = self.cache.get_or_insert_with(|| {
            let dir = llm_bridge_core::paths::cache_home().map(|d| d.join("phrases"));
            PhraseCache::new(dir, bytes, MEMORY_BYTES)
        });
        if let Some(rendered) = cache.get(&key) {
            return Ok((rendered, true));
        }
        let synth = self.tuned(settings)?;
        let rate = synth.sample_rate();
        let mut all = Vec::new();
        for sentence in synth.sentences(text) {
            let samples = synth.synthesize_sentence(&sentence)?;
            all.extend(samples);
        }
        let rendered = Rendered::from_f32(rate, &all);
        if let Some(cache) = &mut self.cache {
            cache.put(&key, rendered.clone());
        }
        Ok((rendered, false))
    }

    /// Everything that shapes a phrase's samples (not the volume, applied
    /// when it plays).
    fn phrase_key(&mut self, text: &str, settings: &VoiceSettings) -> Result<String> {
        if self.voice_id.is_none() {
            let path = self
                .engine
                .voice
                .as_ref()
                .ok_or_else(|| anyhow!(Refused::NoVoice))?;
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read the voice {}", path.display()))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            self.voice_id = Some(format!("{}|{}|{mtime}", path.display(), meta.len()));
        }
        Ok(format!(
            "{}|{}|{}|{}|{}|{text}",
            self.voice_id.as_deref().unwrap_or(""),
            settings.speaker,
            settings.length_scale,
            settings.noise_scale,
            settings.noise_w
        ))
    }

    fn report_cache(&self) {
        if let Some(cache) = &self.cache {
            self.reporter.send(Report::Phrases(cache.figures()));
        }
    }

    fn say(
        &mut self,
        text: &str,
        out: Option<PathBuf>,
        settings: &VoiceSettings,
        at: u64,
        queued: Instant,
    ) -> Result<Spoken> {
        // How the tests check that a panic in a job is caught.
        if std::env::var_os("LLM_BRIDGE_SPEECH_TEST_PANIC").is_some_and(|t| t == text) {
            panic!("LLM_BRIDGE_SPEECH_TEST_PANIC matched the text");
        }
        let synth = self.tuned(settings)?;
        let rate = synth.sample_rate();
        let sentences = synth.sentences(text);
        let mut spoken = Spoken {
            sentences: 0,
            seconds: 0.0,
            stopped: false,
            first_audio_ms: None,
            cached: false,
        };
        let mut all = Vec::new();
        for sentence in &sentences {
            if self.cancel.is_cancelled(at) {
                spoken.stopped = true;
                break;
            }
            let synth = self.synth.as_mut().expect("loaded above");
            let mut samples = synth.synthesize_sentence(sentence)?;
            settings.louden(&mut samples);
            spoken.sentences += 1;
            spoken.seconds += samples.len() as f32 / rate as f32;
            if out.is_some() {
                all.extend(samples);
                continue;
            }
            if self.output.is_none() {
                self.output = Some(Output::open(rate)?);
            }
            let output = self.output.as_ref().expect("opened above");
            if spoken.first_audio_ms.is_none() {
                spoken.first_audio_ms = Some(queued.elapsed().as_millis() as u64);
            }
            output.play_until(samples, rate, &self.cancel)?;
        }
        if let Some(path) = out {
            if !spoken.stopped {
                llm_bridge_speech::wav::write(&path, rate, &all)?;
            }
        }
        Ok(spoken)
    }

    /// The synthesizer, speaking with `settings`.
    fn tuned(&mut self, settings: &VoiceSettings) -> Result<&mut Synthesizer> {
        self.synthesizer()?;
        let voice_config = self.voice_config.as_ref().expect("loaded with the voice");
        let synth = self.synth.as_mut().expect("loaded above");
        settings.apply(synth, voice_config)?;
        Ok(synth)
    }

    /// The synthesizer, loading the voice on first use.
    fn synthesizer(&mut self) -> Result<&mut Synthesizer> {
        if self.synth.is_none() {
            let path = self
                .engine
                .voice
                .as_ref()
                .ok_or_else(|| anyhow!(Refused::NoVoice))?;
            let started = Instant::now();
            let voice = Voice::load(path)?;
            let voice_config = voice.config().clone();
            let mut synth = Synthesizer::new(voice)?;
            synth.set_max_ids(self.engine.max_ids)?;
            let ms = started.elapsed().as_millis() as u64;
            llm_bridge_core::log::log(format_args!("speech: loaded {} in {ms} ms", path.display()));
            self.reporter.send(Report::Loaded { ms });
            self.voice_config = Some(voice_config);
            self.synth = Some(synth);
        }
        Ok(self.synth.as_mut().expect("loaded above"))
    }
}

/// Puts the calling thread at `SCHED_IDLE`: it runs only when nothing else
/// wants the CPU. (Linux applies the policy to the calling thread.)
fn lowest_priority() {
    // SAFETY: a zeroed sched_param is valid for SCHED_IDLE (priority 0).
    let rc = unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param)
    };
    if rc != 0 {
        // Not fatal: fall back to the lowest nice value.
        // SAFETY: setpriority on this thread (tid) only.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::reports::Reports;
    use mio::{Events, Poll, Token, Waker};
    use std::path::Path;
    use std::time::Duration;

    /// The PyPI test voice (scripts/fetch-test-voice):
    /// `$LLM_BRIDGE_TEST_VOICE`, else the test cache's.
    fn test_voice() -> PathBuf {
        let path = std::env::var_os("LLM_BRIDGE_TEST_VOICE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let cache = std::env::var_os("LLM_BRIDGE_TEST_CACHE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        std::env::var_os("XDG_CACHE_HOME")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| {
                                PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
                            })
                            .join("llm-bridge-test")
                    });
                cache.join("voice/en_US-joe-medium.onnx")
            });
        assert!(
            path.is_file(),
            "the test voice is missing at {}: run scripts/fetch-test-voice",
            path.display()
        );
        path
    }

    /// The outcome of `say` request `id`, waiting on a real poll for the
    /// worker's wake (the timeout only bounds a failure).
    fn said(poll: &mut Poll, reports: &Reports, id: u64) -> Result<Spoken> {
        let mut events = Events::with_capacity(4);
        loop {
            for report in reports.drain() {
                if let Report::Said { id: got, outcome } = report {
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
        let mut poll = Poll::new().unwrap();
        let reports = Reports::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.onnx");
        let config = |voice: &Path| SpeechConfig {
            voice: voice.to_str().unwrap().into(),
            ..SpeechConfig::default()
        };
        let mut speech = Speech::spawn(&config(&missing), reports.reporter()).unwrap();
        let settings = VoiceSettings::from_config(&SpeechConfig::default());
        let out = dir.path().join("said.wav");
        let say = |speech: &Speech, id| {
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
