//! Speech, as one service of the daemon: the worker thread that speaks
//! (`worker.rs`, with its handle in `handle.rs`), the `say` requests waiting
//! for their outcome, the spoken notifications (`notifications.rs`, through
//! the policy of `announcer.rs`), and the figures `status` shows.
//!
//! The loop owns one [`SpeechService`] and calls it where speech is
//! concerned: a `SAY` or `SAY-STOP` request, the core's effects, a mute,
//! a reload, a report from the worker, a change in the voices directory,
//! `status`, and the exit. Its worker reports through the loop's one waker
//! (`reports.rs`), and it never blocks the loop. The one descriptor it
//! registers in the loop's `Poll` is the watch of the voices directory
//! (`voice_dir.rs`): a voice installed there while the daemon runs is
//! loaded without a `reload`.
//!
//! A build without the Cargo feature `speech` has this same service and
//! handle; only the worker thread (`worker.rs`, `phrase_cache.rs`) is left
//! out, so every `say` is refused with one line.

mod announcer;
mod handle;
mod notifications;
#[cfg(feature = "speech")]
mod phrase_cache;
mod types;
mod voice_dir;
#[cfg(feature = "speech")]
mod worker;

pub use notifications::NotificationCounters;
pub use types::{CacheFigures, SpeechReport};

use super::ipc::{self, Ipc};
use super::reports::Reporter;
use crate::datagram::PeerAddr;
use crate::voice_settings::VoiceSettings;
use handle::Handle;
use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{one_line, Context, Result};
use llm_bridge_core::log::log;
use llm_bridge_core::state::{Effects, Millis};
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::SayTuning;
use notifications::Notifications;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use types::{Refused, Spoken};
use voice_dir::VoiceDir;

/// The speech service: everything the daemon knows about speech.
#[derive(Default)]
pub struct SpeechService {
    /// `[speech]` as last started or reloaded.
    config: SpeechConfig,
    /// The worker, once started with a voice.
    worker: Option<Handle>,
    /// Kept from `start`, for a worker a reload starts.
    reporter: Option<Reporter>,
    /// Who asked for each `say` still under way.
    waiting: HashMap<u64, PeerAddr>,
    next_say: u64,
    figures: Figures,
    notifications: Notifications,
    /// The one directory a `SAY` request may have a WAV file written in
    /// (the runtime directory: a sandboxed daemon writes nowhere else, and
    /// `llm-bridge say -o` writes other files itself); none: no file.
    wav_dir: Option<PathBuf>,
    /// The watch of the voices directory, once made.
    voices: Option<VoiceDir>,
}

/// What `status` says of speech that only the service knows.
#[derive(Debug, Default)]
struct Figures {
    load_ms: Option<u64>,
    /// `say` requests queued or playing.
    queue: usize,
    first_audio_ms: Option<u64>,
    /// The phrase cache's size, as the worker last said.
    phrases: Option<CacheFigures>,
    said: u64,
    refused: u64,
    failures: u64,
}

/// Speech's part of `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechStatus {
    pub voice: Option<PathBuf>,
    pub load_ms: Option<u64>,
    pub queue: usize,
    pub first_audio_ms: Option<u64>,
    pub notifications: NotificationCounters,
    pub phrase_cache: Option<CacheFigures>,
    /// `say` requests queued, refused, and failed.
    pub said: u64,
    pub refused: u64,
    pub failures: u64,
}

impl SpeechService {
    /// The service for `[speech]`; no thread yet.
    pub fn new(config: &SpeechConfig) -> SpeechService {
        SpeechService {
            config: config.clone(),
            ..SpeechService::default()
        }
    }

    /// Lets `SAY` requests have WAV files written under `dir` alone.
    pub fn writing_wav_under(mut self, dir: &Path) -> SpeechService {
        self.wav_dir = Some(dir.to_path_buf());
        self
    }

    /// Starts the worker if a voice is configured; called from the loop's
    /// `run`, after start-up (threads start there).
    pub fn start(&mut self, reporter: Reporter) {
        self.reporter = Some(reporter);
        self.start_worker();
    }

    /// Creates the voices directory and watches it (see `voice_dir.rs`);
    /// a directory that cannot be made or watched (a read-only home under
    /// systemd) is one line in the log: a voice then needs a `reload`.
    pub fn watch_voices(&mut self, registry: &mio::Registry) {
        let Some(path) = llm_bridge_core::paths::voices_dir() else {
            return;
        };
        let watched = VoiceDir::open(&path).and_then(|voices| {
            voices.register(registry)?;
            Ok(voices)
        });
        match watched {
            Ok(voices) => self.voices = Some(voices),
            Err(e) => log(format_args!(
                "speech: cannot watch the voices directory ({}); a voice put there \
                 is loaded on `llm-bridge reload`",
                one_line(&e)
            )),
        }
    }

    /// The voices directory changed: a voice that appeared is started, one
    /// that changed is loaded again; other voices' files change nothing.
    pub fn voices_changed(&mut self) {
        let Some(voices) = &mut self.voices else {
            return;
        };
        let changed = voices.drain();
        if changed.is_empty() {
            return;
        }
        let Some(voice) = self.config.voice_path() else {
            return;
        };
        match &mut self.worker {
            None => {
                self.start_worker();
                if self.worker.is_some() {
                    log(format_args!("speech: found the voice {}", voice.display()));
                }
            }
            Some(worker) if voice_dir::concerns(&voice, &changed) => {
                log(format_args!(
                    "speech: the voice {} changed: loading it again",
                    voice.display()
                ));
                worker.reconfigure(&self.config);
            }
            Some(_) => {}
        }
    }

    /// Whether the worker loads the voice as it starts (`[speech] enabled`
    /// with a voice, in a build with the engine): it reports
    /// [`SpeechReport::Warmed`] when that is over, loaded or not.
    pub fn loads_at_start(&self) -> bool {
        cfg!(feature = "speech")
            && self.config.enabled
            && self.config.voice_path().is_some()
            && self.worker.is_some()
    }

    fn start_worker(&mut self) {
        let Some(reporter) = &self.reporter else {
            return;
        };
        if self.config.voice_path().is_none() {
            return;
        }
        // Without the engine the service refuses each request instead.
        self.worker = Handle::spawn(&self.config, reporter.clone()).ok();
    }

    /// Whether a reload to `config` may go on: a new voice that cannot be
    /// read keeps the running one (and the whole running config). Its
    /// model loads on the worker later; here only what is cheap to check.
    pub fn check(&self, config: &SpeechConfig) -> Result<()> {
        if *config == self.config {
            return Ok(());
        }
        match config.voice_path() {
            Some(voice) => check_voice(&voice, &config.speaker)
                .with_context(|| format!("voice {}", voice.display())),
            None => Ok(()),
        }
    }

    /// Takes a reloaded `[speech]` (checked with [`SpeechService::check`]).
    /// A new engine (voice, scales, cache...) goes to the running worker,
    /// which cuts what it says and takes it itself: nothing here waits,
    /// and no thread is left behind.
    pub fn reload(&mut self, config: SpeechConfig) {
        let engine_changed = !config.same_engine(&self.config);
        self.config = config;
        if engine_changed {
            match &mut self.worker {
                Some(worker) => worker.reconfigure(&self.config),
                None => self.start_worker(),
            }
        }
    }

    /// Why the daemon will not write a WAV file at `path`, if it will not.
    fn unwritable(&self, path: &Path) -> Option<String> {
        use std::path::Component;
        if !path.is_absolute() {
            return Some("the WAV file's path must be absolute".into());
        }
        let plain = path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        match &self.wav_dir {
            Some(dir) if plain && path.parent().is_some_and(|p| p.starts_with(dir)) => None,
            Some(dir) => Some(format!(
                "the daemon writes WAV files only under {} (`llm-bridge say -o FILE` writes anywhere)",
                dir.display()
            )),
            None => Some("this daemon writes no WAV files".into()),
        }
    }

    /// A `SAY` request: queues it (never waiting) and says so, or refuses;
    /// the outcome is the second reply, when the worker reports it.
    pub fn say(
        &mut self,
        ipc: &Ipc,
        peer: PeerAddr,
        text: String,
        out: Option<String>,
        tuning: &SayTuning,
    ) {
        let out = out.map(PathBuf::from);
        if let Some(why) = out.as_deref().and_then(|p| self.unwritable(p)) {
            ipc.reply(&peer, &Reply::Error(why));
            return;
        }
        let settings = match VoiceSettings::from_config(&self.config).with(tuning) {
            Ok(s) => s,
            Err(e) => {
                self.figures.refused += 1;
                ipc.reply(&peer, &Reply::Error(one_line(&e)));
                return;
            }
        };
        let id = self.next_say;
        self.next_say += 1;
        let queued = match &self.worker {
            Some(worker) => worker.say(id, text, out, settings),
            None if cfg!(feature = "speech") => Err(Refused::NoVoice),
            None => Err(Refused::NotBuilt),
        };
        match queued {
            Ok(()) => {
                self.figures.said += 1;
                self.figures.queue += 1;
                ipc.reply(&peer, &Reply::Queued);
                // The answer may come minutes later: only to an address
                // nobody else can have bound by then.
                if ipc::private(&peer) {
                    self.waiting.insert(id, peer);
                }
            }
            Err(why) => {
                self.figures.refused += 1;
                ipc.reply(&peer, &Reply::Error(why.to_string()));
            }
        }
    }

    /// A `SAY-STOP` request: cuts the speech playing and everything queued.
    pub fn stop(&mut self, ipc: &Ipc, peer: PeerAddr) {
        if let Some(worker) = &mut self.worker {
            worker.stop();
        }
        ipc.reply(&peer, &Reply::Ok);
    }

    /// Carries out the speech part of the core's `effects` (a mute's
    /// `hush_all` cuts every phrase queued or playing). Returns the session
    /// the last phrase queued names.
    pub fn carry_out(&mut self, effects: &Effects, muted: bool, now_ms: Millis) -> Option<String> {
        let worker = match &mut self.worker {
            Some(worker) => Ok(worker),
            // A voice, but no engine to speak it with: each one fails.
            None if !cfg!(feature = "speech") && self.config.voice_path().is_some() => {
                Err(Refused::NotBuilt)
            }
            None => Err(Refused::NoVoice),
        };
        self.notifications
            .carry_out(effects, worker, &self.config, muted, now_ms)
    }

    /// Takes what the worker reported.
    pub fn report(&mut self, report: SpeechReport, ipc: &Ipc) {
        match report {
            SpeechReport::Said { id, outcome } => self.said(id, outcome, ipc),
            SpeechReport::Speaking { id } => {
                if let Some(peer) = self.waiting.get(&id) {
                    ipc.reply(peer, &Reply::Speaking);
                }
            }
            SpeechReport::Phrase { id, outcome } => {
                self.notifications.done(id, &outcome, self.worker.as_mut());
            }
            SpeechReport::Loaded { ms } => self.figures.load_ms = Some(ms),
            SpeechReport::Warmed => {}
            SpeechReport::Phrases(figures) => self.figures.phrases = Some(figures),
        }
    }

    /// The worker finished `say` request `id`: tell whoever asked.
    fn said(&mut self, id: u64, outcome: Result<Spoken>, ipc: &Ipc) {
        self.figures.queue = self.figures.queue.saturating_sub(1);
        if let Some(ms) = outcome.as_ref().ok().and_then(|s| s.first_audio_ms) {
            self.figures.first_audio_ms = Some(ms);
        }
        let reply = match &outcome {
            Ok(s) => Reply::Said {
                sentences: s.sentences as u64,
                seconds: f64::from(s.seconds),
                stopped: s.stopped,
            },
            Err(e) => {
                self.figures.failures += 1;
                let why = one_line(e);
                log(format_args!("speech: {why}"));
                Reply::Error(why)
            }
        };
        if let Some(peer) = self.waiting.remove(&id) {
            ipc.reply(&peer, &reply);
        }
    }

    /// What `status` shows of speech.
    pub fn status(&self) -> SpeechStatus {
        let f = &self.figures;
        SpeechStatus {
            voice: self.config.voice_path(),
            load_ms: f.load_ms,
            queue: f.queue,
            first_audio_ms: f.first_audio_ms,
            notifications: self.notifications.counters.clone(),
            phrase_cache: f.phrases,
            said: f.said,
            refused: f.refused,
            failures: f.failures,
        }
    }

    /// Ends the worker: cancelled, its thread joined (one sentence at most).
    pub fn shutdown(&mut self, registry: &mio::Registry) {
        self.worker = None;
        if let Some(voices) = self.voices.take() {
            voices.deregister(registry);
        }
    }
}

/// Whether a voice can be loaded, as far as is cheap to tell: its `.onnx`
/// is a file and its `.onnx.json` a Piper voice config that knows
/// `speaker`. Without the speech engine no voice is ever loaded: nothing
/// to check.
#[cfg_attr(not(feature = "speech"), allow(unused_variables))]
fn check_voice(onnx: &Path, speaker: &str) -> Result<()> {
    #[cfg(feature = "speech")]
    {
        let meta = std::fs::metadata(onnx).context("cannot read the .onnx file")?;
        if !meta.is_file() {
            llm_bridge_core::error::bail!("the .onnx path is not a file");
        }
        let mut json = onnx.as_os_str().to_owned();
        json.push(".json");
        let config = llm_bridge_speech::VoiceConfig::load(Path::new(&json))?;
        if !speaker.trim().is_empty() {
            config.speaker_id(speaker.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_core::error::anyhow;
    use llm_bridge_protocol::wire::Message;
    use std::io::ErrorKind;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;

    /// The daemon's socket and a client bound in a private directory, with
    /// the client's address as the daemon saw it.
    struct Wire {
        _dir: tempfile::TempDir,
        ipc: Ipc,
        client: UnixDatagram,
        peer: PeerAddr,
    }

    impl Wire {
        fn new() -> Wire {
            let dir = tempfile::tempdir().unwrap();
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(dir.path(), private).unwrap();
            let ipc =
                Ipc::open(&dir.path().join("daemon.sock"), &dir.path().join("spool")).unwrap();
            let client = UnixDatagram::bind(dir.path().join("client.sock")).unwrap();
            client.connect(ipc.path()).unwrap();
            client.send(&Message::Ping.encode()).unwrap();
            let peer = ipc.recv(&mut [0; 512]).expect("the ping").peer;
            assert!(ipc::private(&peer), "a client in a 0700 directory");
            client.set_nonblocking(true).unwrap();
            Wire {
                _dir: dir,
                ipc,
                client,
                peer,
            }
        }

        /// The reply waiting for the client, if any.
        fn reply(&self) -> Option<Reply> {
            let mut buf = [0; 4096];
            match self.client.recv(&mut buf) {
                Ok(n) => Some(Reply::decode(&buf[..n]).unwrap()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn spoken(sentences: usize) -> Spoken {
        Spoken {
            sentences,
            seconds: 1.5,
            stopped: false,
            first_audio_ms: Some(40),
            cached: false,
        }
    }

    #[test]
    fn a_say_without_a_worker_is_refused_with_one_line_and_counted() {
        let wire = Wire::new();
        let mut speech = SpeechService::new(&SpeechConfig::default());
        let tuning = SayTuning::default();
        speech.say(&wire.ipc, wire.peer, "hi".into(), None, &tuning);
        let Some(Reply::Error(why)) = wire.reply() else {
            panic!("refused");
        };
        let expected = if cfg!(feature = "speech") {
            "no voice"
        } else {
            "not built"
        };
        assert!(why.contains(expected), "{why}");

        // A relative WAV path is refused before anything is counted.
        let out = Some("relative.wav".to_string());
        speech.say(&wire.ipc, wire.peer, "hi".into(), out, &tuning);
        let Some(Reply::Error(why)) = wire.reply() else {
            panic!("refused");
        };
        assert!(why.contains("must be absolute"), "{why}");
        let status = speech.status();
        assert_eq!((status.said, status.refused, status.queue), (0, 1, 0));
    }

    #[test]
    fn a_phrase_report_never_answers_a_say_with_the_same_id() {
        let wire = Wire::new();
        let mut speech = SpeechService::new(&SpeechConfig::default());
        // `say` request 0 waits for its outcome.
        speech.waiting.insert(0, wire.peer);
        speech.figures.queue = 1;

        let phrase = SpeechReport::Phrase {
            id: 0,
            outcome: Ok(spoken(1)),
        };
        speech.report(phrase, &wire.ipc);
        assert_eq!(wire.reply(), None, "a phrase answers nobody");
        assert_eq!(speech.status().notifications.played, 1);
        assert_eq!(speech.status().queue, 1);

        let said = SpeechReport::Said {
            id: 0,
            outcome: Ok(spoken(2)),
        };
        speech.report(said, &wire.ipc);
        assert_eq!(
            wire.reply(),
            Some(Reply::Said {
                sentences: 2,
                seconds: 1.5,
                stopped: false
            })
        );
        let status = speech.status();
        assert_eq!((status.queue, status.first_audio_ms), (0, Some(40)));
        assert_eq!(status.notifications.played, 1, "the say is not a phrase");
    }

    #[test]
    fn a_failed_say_is_answered_with_its_causes_on_one_line() {
        let wire = Wire::new();
        let mut speech = SpeechService::new(&SpeechConfig::default());
        speech.waiting.insert(7, wire.peer);
        let failed = SpeechReport::Said {
            id: 7,
            outcome: Err(anyhow!("No such device").context("cannot open the audio output")),
        };
        speech.report(failed, &wire.ipc);
        assert_eq!(
            wire.reply(),
            Some(Reply::Error(
                "cannot open the audio output: No such device".into()
            ))
        );
        assert_eq!(speech.status().failures, 1);
    }

    #[cfg(feature = "speech")]
    #[test]
    fn a_wav_file_is_written_only_under_the_runtime_directory() {
        let wire = Wire::new();
        let mut speech =
            SpeechService::new(&SpeechConfig::default()).writing_wav_under(Path::new("/run/u"));
        let tuning = SayTuning::default();
        for (out, refused) in [
            ("/home/u/said.wav", true),
            ("/run/u/../../home/u/said.wav", true),
            ("/run/u", true),
            ("/run/u/said.wav", false),
            ("/run/u/llm-bridge/said.wav", false),
        ] {
            speech.say(&wire.ipc, wire.peer, "hi".into(), Some(out.into()), &tuning);
            let Some(Reply::Error(why)) = wire.reply() else {
                panic!("refused: no voice, or the path");
            };
            assert_eq!(why.contains("only under /run/u"), refused, "{out}: {why}");
        }
    }

    #[test]
    fn a_reload_to_a_voice_that_cannot_be_read_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let speech = SpeechService::new(&SpeechConfig::default());
        let missing = dir.path().join("missing.onnx");
        let config = SpeechConfig {
            voice: missing.to_str().unwrap().into(),
            ..SpeechConfig::default()
        };
        let e = speech.check(&config).unwrap_err();
        let why = one_line(&e);
        assert!(
            why.contains("missing.onnx") && why.contains(".onnx file"),
            "{why}"
        );
        assert!(
            speech.check(&SpeechConfig::default()).is_ok(),
            "the running config"
        );
    }
}
