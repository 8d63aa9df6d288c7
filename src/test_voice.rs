//! Where the tests find the Piper voice that `scripts/fetch-test-voice`
//! fetches from PyPI: one rule for the unit tests and the integration tests.
//! Not used by the program itself.

use std::path::PathBuf;

/// `$LLM_BRIDGE_TEST_VOICE`, else `en_US-joe-medium.onnx` under the test
/// cache (`$LLM_BRIDGE_TEST_CACHE`, else `$XDG_CACHE_HOME/llm-bridge-test`,
/// else `~/.cache/llm-bridge-test`). Panics, saying how to fetch it, when
/// it is missing: a speech test never passes without its voice.
#[track_caller]
pub fn test_voice() -> PathBuf {
    let path = std::env::var_os("LLM_BRIDGE_TEST_VOICE")
        .map(PathBuf::from)
        .unwrap_or_else(|| test_cache().join("voice/en_US-joe-medium.onnx"));
    assert!(
        path.is_file(),
        "the test voice is missing at {}: run scripts/fetch-test-voice",
        path.display()
    );
    path
}

/// The folder of what `scripts/fetch-test-voice` fetches.
pub fn test_cache() -> PathBuf {
    std::env::var_os("LLM_BRIDGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                })
                .join("llm-bridge-test")
        })
}

/// espeak-ng keeps one global state per process, so the tests of one
/// process that make a synthesizer take turns: each holds this while its
/// synthesizer lives.
pub fn one_synthesizer_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
