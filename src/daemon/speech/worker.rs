//! The speech worker: one thread that owns the voice, espeak-ng's global
//! state and the audio output, and speaks what the loop hands it (see
//! `handle.rs` for the loop's end).
//!
//! Results go back as [`Report`]s through the loop's waker. The thread runs
//! at `SCHED_BATCH`, nice 0: the normal weight, without the wake-up
//! preference of an interactive thread. Not `SCHED_IDLE`, which gets almost
//! no CPU while a build keeps every core busy (a notification was never
//! heard then), and which the audio device's own stream thread, started
//! from this one, would inherit. The loop's thread, at normal priority,
//! still preempts it when an event arrives. It loads the voice on its first job and keeps it; it opens
//! the audio device for speech and closes it after `close_after` of
//! silence, then sleeps in `recv` until the next job: an idle daemon never
//! wakes. A phrase's first block goes to a stream opened for it when the
//! one open has been idle (`audio::fresh`): it is heard about 30 ms sooner. Every job runs through one runner ([`Worker::run_job`]): a panic
//! is caught and reported, and the thread carries on. A reload's new
//! engine is taken before the next job, on this same thread.
//!
//! Spoken notifications are jobs too, taken before a `say` (the most urgent
//! first), and rendering phrases ahead comes last. The worker plays a
//! phrase from the [`PhraseCache`] when it can, which needs no synthesis,
//! not even a loaded voice.

use super::handle::{Engine, Job, Start};
use super::phrase_cache::{PhraseCache, Rendered, MEMORY_BYTES};
use super::types::{Cancel, Refused, SpeechReport, Spoken};
use crate::daemon::reports::{Report, Reporter};
use crate::voice_settings::{louden, Sink, VoiceSettings};
use llm_bridge_core::error::{anyhow, one_line, Context, Result};
use llm_bridge_speech::audio::Output;
use llm_bridge_speech::{wav, Synthesizer, Voice};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

/// The plans built when the voice loads at start (`[speech] enabled`): the
/// one encoder plan for any length, or, for a voice whose graph does not
/// allow it, the plan of the smallest bucket, which a spoken notification
/// ("PROJECT needs permission for TOOL", 30-50 ids) fits (each larger one
/// costs about 32 MiB and 0.6 s and is built when a sentence first needs it).
const WARM_IDS: usize = 64;

/// Starts the worker thread on `start`'s queue.
pub fn start_thread(start: Start) -> Result<JoinHandle<()>, Refused> {
    let Start {
        jobs,
        engine,
        cancel,
        next_engine,
        reporter,
    } = start;
    std::thread::Builder::new()
        .name("llm-bridge-speech".into())
        .spawn(move || {
            // The voice, espeak-ng and the device are made on this thread
            // and never leave it.
            let worker = Worker {
                engine,
                next_engine,
                voice_config: None,
                cancel,
                reporter,
                synth: None,
                output: None,
                pending: VecDeque::new(),
                cache: None,
                voice_id: None,
                worked: false,
            };
            worker.run(jobs);
        })
        .map_err(|e| {
            llm_bridge_core::log::log(format_args!("cannot start the speech worker: {e}"));
            Refused::Gone
        })
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
    /// Whether a job ran since the thread last gave freed memory back.
    worked: bool,
}

impl Worker {
    fn run(mut self, jobs: Receiver<Job>) {
        batch_priority();
        while let Some(job) = self.next_job(&jobs) {
            self.carry_out(job);
        }
    }

    /// The most urgent job waiting (see [`Job::rank`]); sleeps in `recv`
    /// while there is none, closing the audio device after `close_after`
    /// of silence. `None` once the loop's handle is gone.
    fn next_job(&mut self, jobs: &Receiver<Job>) -> Option<Job> {
        while self.pending.is_empty() {
            // Out of work with no device open (after a load, a `say -o`,
            // or once the device is closed after `close_after` of silence;
            // closing it counts as work): synthesis leaves 45-70 MiB of
            // freed working memory that glibc would keep (speech/README.md)
            // and the executable's pages that loading or speaking mapped
            // (12-15 MiB of code, BENCHMARKS.md); both are given back then.
            // A phrase within `close_after` of the last one finds them still
            // mapped: given back after each phrase, the next one faulted
            // them in again (about 22,000 minor faults), 10 ms later to its
            // first audio idle and 30-40 ms with every core busy.
            if self.output.is_none() && std::mem::take(&mut self.worked) {
                llm_bridge_speech::release_freed_memory();
                if let Err(e) = llm_bridge_speech::release_code_pages() {
                    llm_bridge_core::log::log(format_args!(
                        "speech: cannot give back the code pages it mapped: {e}"
                    ));
                }
            }
            let job = if self.output.is_some() {
                match jobs.recv_timeout(self.engine.close_after) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        // Silence for a while: close the device (until the
                        // next job) unless it still plays.
                        if self.output.as_ref().is_some_and(Output::is_idle) {
                            self.output = None;
                            // What the device held, given back too.
                            self.worked = true;
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
        self.worked = true;
        match job {
            // Taken in `next_job` already.
            Job::Reconfigure => {}
            Job::Load => {
                // Ready for a notification at once: the decoder's plans and
                // the smallest encoder plan are built now, not by the first
                // phrase.
                let started = Instant::now();
                let warmed = self.run_job(|w| {
                    let synth = w.synthesizer()?;
                    synth.warm_up(WARM_IDS)?;
                    Ok((synth.one_plan_for_any_length(), synth.encoder_in_halves()))
                });
                let ms = started.elapsed().as_millis();
                match warmed {
                    Ok((true, true)) => llm_bridge_core::log::log(format_args!(
                        "speech: ready in {ms} ms (one encoder plan for any length, in two halves)"
                    )),
                    Ok((true, false)) => llm_bridge_core::log::log(format_args!(
                        "speech: ready in {ms} ms (one encoder plan for any length)"
                    )),
                    Ok((false, _)) => llm_bridge_core::log::log(format_args!(
                        "speech: ready in {ms} ms (plans up to {WARM_IDS} ids built)"
                    )),
                    Err(e) => llm_bridge_core::log::log(format_args!("speech: {}", one_line(&e))),
                }
                self.reporter.send(Report::Speech(SpeechReport::Warmed));
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
                self.finish(outcome, move |outcome| {
                    Report::Speech(SpeechReport::Phrase { id, outcome })
                });
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
                let outcome = self.run_job(|w| w.say(id, &text, out, &settings, (at, queued)));
                self.finish(outcome, move |outcome| {
                    Report::Speech(SpeechReport::Said { id, outcome })
                });
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

    /// Plays a notification: from the cache, else synthesized block by
    /// block, each played as soon as it is decoded, and kept.
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
        let key = self.phrase_key(text, settings)?;
        if let Some(rendered) = self.phrases().get(&key) {
            let mut samples = rendered.to_f32();
            settings.louden(&mut samples);
            let output = fresh_output(&mut self.output, rendered.rate)?;
            spoken.first_audio_ms = Some(queued.elapsed().as_millis() as u64);
            spoken.seconds = samples.len() as f32 / rendered.rate as f32;
            spoken.sentences = 1;
            spoken.stopped = false;
            spoken.cached = true;
            output.play_until(samples, rendered.rate, cancel.stopped())?;
            return Ok(spoken);
        }
        // Never rendered: heard after the first block, kept whole at full
        // volume (the volume is applied when it plays).
        self.tuned(settings)?;
        let synth = self.synth.as_mut().expect("loaded above");
        let rate = synth.sample_rate();
        let mut listener = Announcing {
            device: Device {
                output: &mut self.output,
                cancel,
                queued,
                first_audio_ms: &mut spoken.first_audio_ms,
                speaking: None,
            },
            volume: settings.volume,
            kept: Vec::new(),
        };
        let full = VoiceSettings {
            volume: 1.0,
            ..settings.clone()
        };
        let said = full.speak(synth, text, &mut listener, || cancel.is_cancelled(0))?;
        let kept = std::mem::take(&mut listener.kept);
        spoken.sentences = said.sentences;
        spoken.seconds = said.seconds;
        // Cut after its first block was heard, it was played (as a phrase
        // from the cache that is cut while it plays).
        spoken.stopped = said.stopped && spoken.first_audio_ms.is_none();
        if !said.stopped {
            self.phrases().put(&key, Rendered::from_f32(rate, &kept));
        }
        Ok(spoken)
    }

    /// Renders a phrase ahead into the cache, unless it is there.
    fn render(&mut self, text: &str, settings: &VoiceSettings) -> Result<()> {
        let key = self.phrase_key(text, settings)?;
        if self.phrases().get(&key).is_some() {
            return Ok(());
        }
        let synth = self.tuned(settings)?;
        let rate = synth.sample_rate();
        // Kept at full volume: the volume is applied when it plays.
        let full = VoiceSettings {
            volume: 1.0,
            ..settings.clone()
        };
        let mut kept = Vec::new();
        full.speak(synth, text, &mut kept, || false)?;
        self.phrases().put(&key, Rendered::from_f32(rate, &kept));
        Ok(())
    }

    /// The phrase cache, made at its first use.
    fn phrases(&mut self) -> &mut PhraseCache {
        let bytes = self.engine.cache_bytes;
        self.cache.get_or_insert_with(|| {
            let dir = llm_bridge_core::paths::cache_home().map(|d| d.join("phrases"));
            PhraseCache::new(dir, bytes, MEMORY_BYTES)
        })
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
            "{}|{}|{:?}|{:?}|{:?}|{text}",
            self.voice_id.as_deref().unwrap_or(""),
            settings.speaker,
            settings.length_scale,
            settings.noise_scale,
            settings.noise_w
        ))
    }

    fn report_cache(&self) {
        if let Some(cache) = &self.cache {
            self.reporter
                .send(Report::Speech(SpeechReport::Phrases(cache.figures())));
        }
    }

    /// `say` request `id`, queued at `at` (the stop count) and `queued`.
    fn say(
        &mut self,
        id: u64,
        text: &str,
        out: Option<PathBuf>,
        settings: &VoiceSettings,
        (at, queued): (u64, Instant),
    ) -> Result<Spoken> {
        // How the tests check that a panic in a job is caught.
        if std::env::var_os("LLM_BRIDGE_SPEECH_TEST_PANIC").is_some_and(|t| t == text) {
            panic!("LLM_BRIDGE_SPEECH_TEST_PANIC matched the text");
        }
        let rate = self.tuned(settings)?.sample_rate();
        // To a file, it starts now. To the device, it starts with the first
        // block, played on a stream opened for it (`fresh_output`: one
        // opened before synthesis would have buffered silence meanwhile):
        // the asker hears that it started once it can be heard, and a
        // device that cannot be opened fails the request then.
        let file = match &out {
            Some(path) => {
                let file = wav::Writer::create(path, rate)?;
                self.reporter
                    .send(Report::Speech(SpeechReport::Speaking { id }));
                Some(file)
            }
            None => None,
        };
        let synth = self.synth.as_mut().expect("loaded above");
        let stopped = || self.cancel.is_cancelled(at);
        let mut first_audio_ms = None;
        let said = match file {
            Some(mut file) => {
                let said = settings.speak(synth, text, &mut file, stopped)?;
                // A stopped file is not written (dropped unfinished, the
                // temporary goes).
                if !said.stopped {
                    file.finish()?;
                }
                said
            }
            None => {
                let mut device = Device {
                    output: &mut self.output,
                    cancel: &self.cancel,
                    queued,
                    first_audio_ms: &mut first_audio_ms,
                    speaking: Some((&self.reporter, id)),
                };
                settings.speak(synth, text, &mut device, stopped)?
            }
        };
        Ok(Spoken {
            sentences: said.sentences,
            seconds: said.seconds,
            stopped: said.stopped,
            first_audio_ms,
            cached: false,
        })
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
            self.reporter
                .send(Report::Speech(SpeechReport::Loaded { ms }));
            self.voice_config = Some(voice_config);
            self.synth = Some(synth);
        }
        Ok(self.synth.as_mut().expect("loaded above"))
    }
}

/// The audio device, as a `say` plays on it: opened at the first sentence,
/// each sentence queued at once (the device plays them in turn), all of it
/// cut by the worker's stop.
struct Device<'a> {
    output: &'a mut Option<Output>,
    cancel: &'a Cancel,
    /// When the request was queued, and from then to its first audio.
    queued: Instant,
    first_audio_ms: &'a mut Option<u64>,
    /// Told that request `id` is speaking once its first block plays.
    speaking: Option<(&'a Reporter, u64)>,
}

impl Sink for Device<'_> {
    fn take(&mut self, samples: Vec<f32>, rate: u32) -> Result<()> {
        // The first block is heard sooner on a stream opened for it; later
        // ones follow what plays.
        let output = if self.first_audio_ms.is_none() {
            fresh_output(self.output, rate)?
        } else if let Some(output) = self.output {
            output
        } else {
            self.output.insert(open_output(rate)?)
        };
        self.first_audio_ms
            .get_or_insert_with(|| self.queued.elapsed().as_millis() as u64);
        output.play_until(samples, rate, self.cancel.stopped())?;
        if let Some((reporter, id)) = self.speaking.take() {
            reporter.send(Report::Speech(SpeechReport::Speaking { id }));
        }
        Ok(())
    }
}

/// A phrase heard as it is made: each block played at the phrase's volume
/// and kept at full volume for the cache.
struct Announcing<'a> {
    device: Device<'a>,
    volume: f32,
    kept: Vec<f32>,
}

impl Sink for Announcing<'_> {
    fn take(&mut self, samples: Vec<f32>, rate: u32) -> Result<()> {
        self.kept.extend_from_slice(&samples);
        let mut loud = samples;
        louden(self.volume, &mut loud);
        self.device.take(loud, rate)
    }
}

/// Puts the calling thread at `SCHED_BATCH` (nice unchanged, 0): CPU-bound
/// work at the normal weight, which never waits for idle CPU. (Linux
/// applies the policy to the calling thread; threads it starts, such as the
/// audio stream's, inherit it.)
fn batch_priority() {
    set_policy(libc::SCHED_BATCH, "SCHED_BATCH");
}

/// Opens the audio device with this thread at the normal policy for that
/// moment, so that the device's stream thread, which it starts and which
/// inherits its policy, is a normal thread: what plays never waits for CPU
/// behind a build, and a batch thread's lack of wake-up preference never
/// reaches the audio callback.
fn open_output(rate: u32) -> Result<Output> {
    set_policy(libc::SCHED_OTHER, "the normal policy");
    let output = Output::open(rate);
    set_policy(libc::SCHED_BATCH, "SCHED_BATCH");
    output
}

/// The output to queue samples on now (`audio::fresh`), opened at the
/// normal policy.
fn fresh_output(output: &mut Option<Output>, rate: u32) -> Result<&mut Output> {
    llm_bridge_speech::audio::fresh(output, || open_output(rate))
}

/// Puts the calling thread under `policy` (priority 0, nice unchanged).
fn set_policy(policy: libc::c_int, name: &str) {
    // SAFETY: a zeroed sched_param (priority 0) is valid for SCHED_OTHER
    // and SCHED_BATCH.
    let rc = unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, policy, &raw const param)
    };
    if rc != 0 {
        // Not fatal: the thread keeps the policy it has.
        llm_bridge_core::log::log(format_args!(
            "speech: cannot set {name} ({})",
            std::io::Error::last_os_error()
        ));
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
