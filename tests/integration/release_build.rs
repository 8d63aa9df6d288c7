//! The release hook binaries are what Claude Code runs on every event and
//! every message: they must be linked statically (or against nothing beyond
//! libc), built by the documented script.

use crate::support::*;
use std::path::Path;
use std::process::Command;

#[test]
fn the_release_hook_binaries_link_nothing_but_libc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(root.join("scripts/build-release"))
        .arg("--hooks-only")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "scripts/build-release --hooks-only failed"
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let hook = target.join("release/llm-bridge-hook");
    let out = Command::new("ldd").arg(&hook).output().expect("run ldd");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !text.contains("statically linked") {
        for line in text.lines() {
            let lib = line.split_whitespace().next().unwrap_or("");
            let allowed = ["linux-vdso", "libc.so", "libgcc_s.so", "ld-linux"]
                .iter()
                .any(|a| lib.contains(a));
            assert!(allowed, "{} links {lib}:\n{text}", hook.display());
        }
    }

    // The release hook works like the debug one: replay one event.
    let env = Env::new();
    let _daemon = env.daemon();
    let mut child = env
        .command(&hook)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        &sample("UserPromptSubmit"),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
    env.wait_text("working");
}
