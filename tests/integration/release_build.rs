//! The release hot-path binaries are what runs on every Claude Code event,
//! every status refresh and every bar update: they must be static, free of
//! the daemon's heavy parts, and behave like the debug ones. Built by the
//! documented script.

use crate::support::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOT_PATH: [&str; 4] = [
    "llm-bridge-hook",
    "llm-bridge-statusline",
    "llm-bridge-waybar",
    "llm-bridge-apply",
];

/// Builds the static binaries once; returns target/release.
fn release_dir() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    BUILD.call_once(|| {
        let status = Command::new(root.join("scripts/build-release"))
            .arg("--static-only")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "scripts/build-release --static-only failed"
        );
    });
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release")
}

/// Strings found only in the daemon's heavy parts: ALSA, espeak-ng, tract
/// and the poll loop.
const HEAVY: [&[u8]; 6] = [
    b"libasound",
    b"espeak-ng",
    b"espeak_",
    b"tract_",
    b"onnx",
    b"mio::",
];

fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(bytes, needle).is_some()
}

#[test]
fn the_markers_of_the_heavy_parts_are_found_in_the_daemon() {
    // The control for the test below: each marker is really present in the
    // binary that links the heavy parts, so its absence means something.
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_llm-bridge")).unwrap();
    if cfg!(feature = "speech") {
        for heavy in HEAVY {
            assert!(
                contains(&bytes, heavy),
                "the daemon lacks {:?}",
                String::from_utf8_lossy(heavy)
            );
        }
    } else {
        // Built without speech, the daemon links none of the engine (the
        // markers that are words of its own messages, `onnx`, or parts of
        // std's symbols, `tract_`, are left out).
        for heavy in [&b"libasound"[..], b"espeak_", b"tract_core", b"tract_onnx"] {
            assert!(
                !contains(&bytes, heavy),
                "the daemon built without speech has {:?}",
                String::from_utf8_lossy(heavy)
            );
        }
    }
}

#[test]
fn the_hot_path_binaries_are_static_and_link_no_speech_parts() {
    let dir = release_dir();
    for name in HOT_PATH {
        let bin = dir.join(name);
        let out = Command::new("ldd").arg(&bin).output().expect("run ldd");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("not a dynamic executable") || text.contains("statically linked"),
            "{name} is not static:\n{text}"
        );
        let bytes = std::fs::read(&bin).unwrap();
        for heavy in HEAVY {
            assert!(
                !contains(&bytes, heavy),
                "{name} contains {:?}",
                String::from_utf8_lossy(heavy)
            );
        }
    }
}

#[test]
fn the_release_binaries_work_like_the_debug_ones() {
    let dir = release_dir();
    let env = Env::new();
    // No daemon: the hook hands the event to llm-bridge-apply beside it.
    let hook = || env.command(&dir.join("llm-bridge-hook"));
    let out = run_with_stdin(hook(), &sample("UserPromptSubmit"));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    env.wait_text("working");
    // With a daemon.
    let _daemon = env.daemon();
    let out = run_with_stdin(hook(), &sample("PermissionRequest"));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    env.wait_text("waiting");
    let out = env
        .command(&dir.join("llm-bridge-waybar"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let module: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(module["alt"], "waiting");
    let mut statusline = env.command(&dir.join("llm-bridge-statusline"));
    statusline.env("NO_COLOR", "1").env_remove("COLUMNS");
    let out = run_with_stdin(statusline, &sample_file("statusline.json"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Sonnet 4.5 waybar-llm"));
    // Run by hand with garbage, the fallback complains and still exits 0.
    let out = env
        .command(&dir.join("llm-bridge-apply"))
        .arg("nonsense")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid message"));
}

/// With `#![no_main]` the panic hook is ours to install: a panic must still
/// reach it, end in exit 0, print nothing on the hook's stdout, and leave no
/// core dump (release binaries abort on panic, so only the hook prevents it).
#[test]
fn a_panic_in_a_release_hot_path_binary_still_exits_0() {
    let dir = release_dir();
    let env = Env::new();
    let mut hook = env.command(&dir.join("llm-bridge-hook"));
    hook.env("LLM_BRIDGE_HOOK_TEST_PANIC", "1");
    let out = run_with_stdin(hook, &sample("Stop"));
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status.signal());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("internal error"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let mut statusline = env.command(&dir.join("llm-bridge-statusline"));
    statusline.env("LLM_BRIDGE_STATUSLINE_TEST_PANIC", "1");
    let out = run_with_stdin(statusline, &sample_file("statusline.json"));
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status.signal());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Claude Code\n");
}
