//! Finding what scripts/fetch-test-voice put in the test cache. A missing
//! voice or reference runtime fails the test with what to run: these tests
//! never pass without their real parts.

use std::path::PathBuf;

/// `${LLM_BRIDGE_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-bridge-test}`,
/// as in scripts/fetch-test-voice.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LLM_BRIDGE_TEST_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
        });
    base.join("llm-bridge-test")
}

/// The PyPI test voice: `$LLM_BRIDGE_TEST_VOICE` or the cache's.
pub fn voice_path() -> PathBuf {
    let path = std::env::var_os("LLM_BRIDGE_TEST_VOICE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("voice/en_US-joe-medium.onnx"));
    let mut json = path.clone().into_os_string();
    json.push(".json");
    assert!(
        path.is_file() && PathBuf::from(json).is_file(),
        "the test voice is missing at {} (and its .onnx.json): run scripts/fetch-test-voice",
        path.display()
    );
    path
}
