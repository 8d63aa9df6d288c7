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

/// The largest difference between two signals' samples, over the common
/// length. (Not every test binary compares samples: playback's does not.)
#[allow(dead_code)]
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Pearson correlation over the common length.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}
