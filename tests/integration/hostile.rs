//! Another local user gets nothing. Run as root (as CI does), the tests
//! take the part of both users: root is the attacker, `nobody` (uid 65534)
//! runs our binaries through `setpriv`.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;

const VICTIM: u32 = 65534;

/// Whether the test can act as two users; a test that cannot says so loudly.
fn as_root() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("LLM_BRIDGE_TEST_NO_ROOT").is_some(),
        "this test plays two users and needs root (CI runs as root); \
         set LLM_BRIDGE_TEST_NO_ROOT=1 to skip it"
    );
    eprintln!("SKIPPED: needs root to play two users");
    false
}

/// Runs the hook as the victim, without XDG_RUNTIME_DIR.
fn hook_as_victim() -> std::process::Output {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        &VICTIM.to_string(),
        "--regid",
        &VICTIM.to_string(),
    ])
    .args(["--clear-groups", "--"])
    .arg(hook_bin())
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("HOME", "/nonexistent");
    run_with_stdin(cmd, &sample("UserPromptSubmit"))
}

fn received(sock: &UnixDatagram) -> usize {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 65536];
    let mut n = 0;
    while sock.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

fn chown(path: &Path, uid: u32) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, uid) }, 0);
}

#[test]
fn a_tmp_runtime_dir_taken_by_another_user_receives_no_event() {
    if !as_root() {
        return;
    }
    let dir = Path::new("/tmp/llm-bridge-65534");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = dir.join("llm-bridge.sock");
    let attacker = UnixDatagram::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();

    // Taken first by root, open to all: the event is dropped, with a line.
    let out = hook_as_victim();
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing /tmp/llm-bridge-65534") && stderr.contains("owned by uid 0"),
        "{stderr}"
    );
    assert_eq!(received(&attacker), 0, "the attacker received an event");

    // The control: the victim's own private directory does receive it.
    chown(dir, VICTIM);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = hook_as_victim();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(received(&attacker), 1, "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
