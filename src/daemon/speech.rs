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

use super::reports::{Report, Reporter};
pub use super::speech_types::{Refused, Spoken};
use crate::config::SpeechConfig;
use crate::voice_settings::VoiceSettings;
use llm_bridge_speech::audio::{Cancel, Output};
use llm_bridge_speech::{Synthesizer, Voice};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Instant;

/// Jobs that may wait for the worker; more are refused ("busy").
pub const QUEUE: usize = 32;

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
}

/// The loop's handle on the worker.
pub struct Speech {
    jobs: Option<SyncSender<Job>>,
    cancel: Cancel,
    thread: Option<JoinHandle<()>>,
    has_voice: bool,
}

impl Speech {
    /// Starts the worker thread; called from the loop once start-up is over.
    pub fn spawn(config: &SpeechConfig, reporter: Reporter) -> std::io::Result<Speech> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let cancel = Cancel::default();
        let voice = config.voice_path();
        let has_voice = voice.is_some();
        let (max_ids, close_after) = (config.max_ids, config.close_after());
        if config.enabled && has_voice {
            // First in the queue: loaded before any `say` is taken.
            let _ = tx.try_send(Job::Load);
        }
        let thread_cancel = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("llm-bridge-speech".into())
            .spawn(move || {
                // The voice, espeak-ng and the device are made on this thread
                // and never leave it.
                let worker = Worker {
                    voice,
                    voice_config: None,
                    max_ids,
                    close_after,
                    cancel: thread_cancel,
                    reporter,
                    synth: None,
                    output: None,
                };
                worker.run(rx);
            })?;
        Ok(Speech {
            jobs: Some(tx),
            cancel,
            thread: Some(thread),
            has_voice,
        })
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
    pub fn stop(&self) {
        self.cancel.cancel();
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
    voice: Option<PathBuf>,
    /// The loaded voice's config: its own scales and its speakers.
    voice_config: Option<llm_bridge_speech::VoiceConfig>,
    max_ids: usize,
    close_after: std::time::Duration,
    cancel: Cancel,
    reporter: Reporter,
    synth: Option<Synthesizer>,
    output: Option<Output>,
}

impl Worker {
    fn run(mut self, jobs: Receiver<Job>) {
        lowest_priority();
        loop {
            let job = if self.output.is_some() {
                match jobs.recv_timeout(self.close_after) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        // Silence for a while: close the device (until the
                        // next job) unless it still plays.
                        if self.output.as_ref().is_some_and(Output::is_idle) {
                            self.output = None;
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            };
            let (id, text, out, settings, at, queued) = match job {
                Job::Load => {
                    // Ready for a short phrase at once: the plans of the
                    // two smallest buckets (up to 128 ids) are built now,
                    // not by the first `say` (about 1.2 s here).
                    let started = Instant::now();
                    let warmed = self
                        .synthesizer()
                        .and_then(|synth| synth.warm_up(WARM_IDS).map_err(|e| format!("{e:#}")));
                    match warmed {
                        Ok(()) => crate::log::log(format_args!(
                            "speech: ready in {} ms (plans up to {WARM_IDS} ids built)",
                            started.elapsed().as_millis()
                        )),
                        Err(e) => crate::log::log(format_args!("speech: {e}")),
                    }
                    continue;
                }
                Job::Say {
                    id,
                    text,
                    out,
                    settings,
                    at,
                    queued,
                } => (id, text, out, settings, at, queued),
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                self.say(&text, out, &settings, at, queued)
            }))
            .unwrap_or_else(|panic| {
                // The synthesizer may be half-way through: start afresh.
                self.synth = None;
                Err(format!("internal error in speech: {}", panic_text(&panic)))
            });
            let playing = outcome
                .as_ref()
                .is_ok_and(|s| s.seconds > 0.0 && !s.stopped);
            match (&self.output, playing) {
                // Answer once the audio has played, from the audio thread.
                (Some(output), true) => {
                    let reporter = self.reporter.clone();
                    let spoken = outcome.clone();
                    output.notify_when_played(move || {
                        reporter.send(Report::Spoken {
                            id,
                            outcome: spoken,
                        });
                    });
                    if self.cancel.is_cancelled(at) {
                        // A stop raced the notification: it will not come.
                        self.reporter.send(Report::Spoken { id, outcome });
                    }
                }
                _ => {
                    self.reporter.send(Report::Spoken { id, outcome });
                }
            }
        }
    }

    fn say(
        &mut self,
        text: &str,
        out: Option<PathBuf>,
        settings: &VoiceSettings,
        at: u64,
        queued: Instant,
    ) -> Result<Spoken, String> {
        // How the tests check that a panic in a job is caught.
        if std::env::var_os("LLM_BRIDGE_SPEECH_TEST_PANIC").is_some_and(|t| t == text) {
            panic!("LLM_BRIDGE_SPEECH_TEST_PANIC matched the text");
        }
        self.synthesizer()?;
        let voice_config = self.voice_config.as_ref().expect("loaded with the voice");
        let synth = self.synth.as_mut().expect("loaded above");
        settings
            .apply(synth, voice_config)
            .map_err(|e| format!("{e:#}"))?;
        let rate = synth.sample_rate();
        let sentences = synth.sentences(text);
        let mut spoken = Spoken {
            sentences: 0,
            seconds: 0.0,
            stopped: false,
            first_audio_ms: None,
        };
        let mut all = Vec::new();
        for sentence in &sentences {
            if self.cancel.is_cancelled(at) {
                spoken.stopped = true;
                break;
            }
            let synth = self.synth.as_mut().expect("loaded above");
            let mut samples = synth
                .synthesize_sentence(sentence)
                .map_err(|e| format!("{e:#}"))?;
            settings.louden(&mut samples);
            spoken.sentences += 1;
            spoken.seconds += samples.len() as f32 / rate as f32;
            if out.is_some() {
                all.extend(samples);
                continue;
            }
            if self.output.is_none() {
                self.output = Some(Output::open(rate).map_err(|e| format!("{e:#}"))?);
            }
            let output = self.output.as_ref().expect("opened above");
            if spoken.first_audio_ms.is_none() {
                spoken.first_audio_ms = Some(queued.elapsed().as_millis() as u64);
            }
            output
                .play_until(samples, rate, &self.cancel)
                .map_err(|e| format!("{e:#}"))?;
        }
        if let Some(path) = out {
            if !spoken.stopped {
                llm_bridge_speech::wav::write(&path, rate, &all).map_err(|e| format!("{e:#}"))?;
            }
        }
        Ok(spoken)
    }

    /// The synthesizer, loading the voice on first use.
    fn synthesizer(&mut self) -> Result<&mut Synthesizer, String> {
        if self.synth.is_none() {
            let path = self
                .voice
                .as_ref()
                .ok_or_else(|| Refused::NoVoice.to_string())?;
            let started = Instant::now();
            let voice = Voice::load(path).map_err(|e| format!("{e:#}"))?;
            let voice_config = voice.config().clone();
            let mut synth = Synthesizer::new(voice).map_err(|e| format!("{e:#}"))?;
            synth
                .set_max_ids(self.max_ids)
                .map_err(|e| format!("{e:#}"))?;
            let ms = started.elapsed().as_millis() as u64;
            crate::log::log(format_args!("speech: loaded {} in {ms} ms", path.display()));
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
