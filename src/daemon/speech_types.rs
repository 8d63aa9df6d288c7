//! What the loop and the speech worker say to each other about a `say`,
//! shared by the worker and by its stand-in in a build without speech.

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
                "no voice: set [speech] voice in config.toml to a Piper .onnx file \
                 (or put one at ~/.local/share/llm-bridge/voice.onnx)"
            }
            Refused::Busy => "speech is busy: too many requests wait already",
            Refused::Gone => "the speech worker is not running (see the daemon's log)",
            Refused::NotBuilt => {
                "speech is not built into this llm-bridge (built without the `speech` feature)"
            }
        })
    }
}
