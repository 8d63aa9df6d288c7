//! What the speech service and its worker thread exchange: a `say`'s
//! outcome, the phrase cache's figures, why a job was refused, and the
//! stop button. None of it needs the speech engine, so a build without it
//! has the same types.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a finished `say` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Spoken {
    pub sentences: usize,
    /// Seconds of audio produced.
    pub seconds: f32,
    /// A stop cut it short.
    pub stopped: bool,
    /// From the request's arrival to its first audio handed to the device.
    pub first_audio_ms: Option<u64>,
    /// A notification played from the phrase cache (no synthesis).
    pub cached: bool,
}

/// The phrase cache's size, for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheFigures {
    pub memory_bytes: usize,
    pub disk_bytes: u64,
    pub disk_files: usize,
    /// Phrases synthesized and kept, and phrases found.
    pub rendered: u64,
    pub hits: u64,
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "speech"), allow(dead_code))]
pub enum Refused {
    /// No voice is configured or found.
    NoVoice,
    /// The queue is full.
    Busy,
    /// The thread is gone (it could not start, or died).
    Gone,
    /// This binary was built without the speech engine.
    NotBuilt,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::NoVoice => {
                return f.write_str(&llm_bridge_core::config::SpeechConfig::no_voice());
            }
            Refused::Busy => "speech is busy: too many requests wait already",
            Refused::Gone => "the speech worker is not running (see the daemon's log)",
            Refused::NotBuilt => {
                "speech is not built into this llm-bridge (built without the `speech` feature)"
            }
        })
    }
}

/// A stop button shared between threads: [`Cancel::cancel`] ends the audio
/// queued with [`Cancel::stopped`] before it, and tells a synthesis loop
/// (through [`Cancel::generation`]) to stop. Cancelling is one atomic add:
/// it never blocks the caller.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicU64>);

impl Cancel {
    /// The current generation: work started now is cancelled once it changes.
    pub fn generation(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Cancels everything started before now.
    pub fn cancel(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether work started at generation `at` was cancelled since.
    pub fn is_cancelled(&self, at: u64) -> bool {
        self.generation() != at
    }

    /// Whether a cancel came after now, asked later from any thread (the
    /// audio thread asks before each sample).
    #[cfg_attr(not(feature = "speech"), allow(dead_code))]
    pub fn stopped(&self) -> impl Fn() -> bool + Send + 'static {
        let (cancel, at) = (self.clone(), self.generation());
        move || cancel.is_cancelled(at)
    }
}

/// What the speech worker tells the loop, which hands it to the service
/// ([`super::SpeechService::report`]). An error keeps its chain of causes
/// until the service shows it (a reply, the log) as one line.
#[derive(Debug)]
pub enum SpeechReport {
    /// `say` request `id` ended (played, written, stopped, or failed).
    Said {
        id: u64,
        outcome: Result<Spoken, anyhow::Error>,
    },
    /// `say` request `id` has started: the device is open (or the file
    /// made); its outcome follows.
    #[cfg_attr(not(feature = "speech"), allow(dead_code))]
    Speaking { id: u64 },
    /// Notification `id` ended (played, cut, or failed). Its ids are
    /// counted apart from the `say` requests'.
    Phrase {
        id: u64,
        outcome: Result<Spoken, anyhow::Error>,
    },
    /// The voice loaded in `ms`.
    #[cfg_attr(not(feature = "speech"), allow(dead_code))]
    Loaded { ms: u64 },
    /// The voice's loading at start is over (loaded, or failed: the log
    /// says why); the daemon tells systemd it is ready.
    #[cfg_attr(not(feature = "speech"), allow(dead_code))]
    Warmed,
    /// The phrase cache's size after a job.
    #[cfg_attr(not(feature = "speech"), allow(dead_code))]
    Phrases(CacheFigures),
}
