//! The speech worker's stand-in in a build without the speech engine
//! (`--no-default-features`): the same handle, every `say` refused with
//! one line, no thread.

use super::announcer::Phrase;
use super::reports::Reporter;
pub use super::speech_types::{Refused, Spoken};
use crate::voice_settings::VoiceSettings;
use llm_bridge_core::announce::Hush;
use llm_bridge_core::config::SpeechConfig;
use std::path::PathBuf;

/// The loop's handle: nothing behind it (its `Drop` mirrors the worker's,
/// which the loop ends on a thread of its own).
pub struct Speech;

impl Drop for Speech {
    fn drop(&mut self) {}
}

impl Speech {
    pub fn spawn(_config: &SpeechConfig, _reporter: Reporter) -> std::io::Result<Speech> {
        Ok(Speech)
    }

    pub fn say(
        &self,
        _id: u64,
        _text: String,
        _out: Option<PathBuf>,
        _settings: VoiceSettings,
    ) -> Result<(), Refused> {
        Err(Refused::NotBuilt)
    }

    pub fn stop(&mut self) {}

    pub fn reconfigure(&mut self, _config: &SpeechConfig) {}

    pub fn notify(
        &mut self,
        _id: u64,
        _phrase: Phrase,
        _settings: VoiceSettings,
    ) -> Result<Queuing, Refused> {
        Err(Refused::NotBuilt)
    }

    pub fn prepare(&self, _text: String, _settings: VoiceSettings) {}

    pub fn hush(&mut self, _hush: &Hush) -> usize {
        0
    }

    pub fn hush_all(&mut self) -> usize {
        0
    }

    pub fn phrase_done(&mut self, _id: u64) {}
}

/// What a notification did to those queued (nothing, here).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Queuing {
    pub preempted: usize,
}
