//! Another local user gets nothing. Run as root (as CI does), the tests
//! take the part of both users: root is the attacker, `nobody` (uid 65534)
//! runs our binaries through `setpriv`.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;

const VICTIM: u32 = 65534;

/// Whether the test can act as two users; a test that cannot says so loudly.
fn as_root() -> bool {
    running_as_root("plays two users")
}

/// Runs the hook as the victim, without XDG_RUNTIME_DIR.
fn hook_as_victim() -> std::process::Output {
    let mut cmd = as_user(VICTIM);
    cmd.arg(hook_bin())
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
    // The commands say what is wrong, and start no daemon there.
    for command in ["status", "start"] {
        let out = as_user(VICTIM)
            .arg(bridge_bin())
            .arg(command)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("refusing /tmp/llm-bridge-65534: owned by uid 0"),
            "{command}: {stderr}"
        );
    }
    assert_eq!(received(&attacker), 0, "the attacker received a request");

    // The control: the victim's own private directory does receive it.
    chown(dir, VICTIM);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = hook_as_victim();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(received(&attacker), 1, "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A command that runs as `uid` (and its group), with no supplementary
/// groups: `setpriv ... --`, to which the program and its arguments follow.
fn as_user(uid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
        .args(["--clear-groups", "--"]);
    cmd
}

/// Runs a few lines of Python as `uid` (through setpriv, unless it is
/// root): the attacker's tool. Returns what the script printed.
fn python_as(uid: u32, script: &str, args: &[&str]) -> String {
    let mut cmd = as_user(uid);
    cmd.args(["/usr/bin/python3", "-c", script]).args(args);
    let out = cmd.output().expect("run python3 through setpriv");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Sends one datagram to a path; prints `sent` or the errno.
const SEND: &str = "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.sendto(sys.argv[2].encode(), sys.argv[1])
    print('sent')
except OSError as e:
    print(e.errno)
";

/// Binds a path; prints `bound` or the errno.
const BIND: &str = "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.bind(sys.argv[1])
    print('bound')
except OSError as e:
    print(e.errno)
";

fn client_sockets(env: &Env) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(env.runtime().join("llm-bridge"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("client-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_subscriber_takes_pushes_only_from_the_daemon_and_its_name_cannot_be_taken() {
    if !as_root() {
        return;
    }
    let env = Env::new();
    let _daemon = env.daemon();
    let follow = Streaming::start(&env, &["waybar", "--follow"]);
    follow.expect("none");
    wait_until("the subscriber is counted", || {
        status_json(&env)["subscribers"].as_u64() == Some(1)
    });
    let sockets = client_sockets(&env);
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    let address = sockets[0].to_str().unwrap();
    let forged = r#"MODULE {"text":"FAKE","alt":"waiting","class":"waiting"}"#;

    // Another user can neither reach it nor take its name.
    assert_eq!(python_as(VICTIM, SEND, &[address, forged]), "13");
    assert_eq!(python_as(VICTIM, BIND, &[address]), "13");
    // Its own user, from another socket: the kernel refuses too (it is
    // connected to the daemon).
    assert_eq!(python_as(0, SEND, &[address, forged]), "1");

    // The control: the daemon's push arrives, and the forged one never did.
    env.send(event(EventKind::Permission, "s", "/src/alpha"));
    let line = follow.expect("\"alt\":\"waiting\"");
    assert!(!line.contains("FAKE"), "{line}");

    // Gone with its process.
    let mut follow = follow;
    assert!(follow.signal_and_wait(libc::SIGTERM).success());
    assert_eq!(client_sockets(&env), Vec::<std::path::PathBuf>::new());

    // A killed subscriber expires: the next push is refused, and the daemon
    // forgets it and removes the file it left.
    let killed = Streaming::start(&env, &["waybar", "--follow"]);
    killed.expect("waiting");
    wait_until("the subscriber is counted", || {
        status_json(&env)["subscribers"].as_u64() == Some(1)
    });
    assert_eq!(client_sockets(&env).len(), 1);
    drop(killed); // SIGKILL: no UNSUBSCRIBE, the file stays.
    assert_eq!(client_sockets(&env).len(), 1);
    env.send(event(EventKind::Stop, "s", "/src/alpha"));
    wait_until("the killed subscriber is dropped", || {
        status_json(&env)["subscribers"].as_u64() == Some(0)
    });
    assert_eq!(client_sockets(&env), Vec::<std::path::PathBuf>::new());
}

#[test]
fn the_daemon_drops_datagrams_from_another_user() {
    if !as_root() {
        return;
    }
    let env = Env::new();
    let _daemon = env.daemon();
    // Opened up by hand (the daemon never does this): a second name for the
    // socket in a directory anyone can enter, the socket writable by all.
    // The other user can now reach it; the daemon's own check is the last
    // wall. (The runtime directory itself is left alone: every command
    // refuses a runtime directory open to others.)
    let public = tempfile::Builder::new()
        .prefix("lbpub")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(public.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exposed = public.path().join("llm-bridge.sock");
    std::fs::hard_link(env.socket(), &exposed).unwrap();
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut cmd = as_user(VICTIM);
    cmd.arg(hook_bin())
        .env_clear()
        .env("XDG_RUNTIME_DIR", public.path())
        .env("LLM_BRIDGE_SOCKET", &exposed);
    let out = run_with_stdin(cmd, &sample("UserPromptSubmit"));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    wait_until("the foreign datagram is counted", || {
        status_json(&env)["counters"]["foreign"].as_u64() == Some(1)
    });
    assert_eq!(status_json(&env)["session_count"], 0);

    // The control: the same event from the daemon's own user is applied.
    env.hook(&sample("UserPromptSubmit"));
    wait_until("the session appears", || {
        status_json(&env)["session_count"].as_u64() == Some(1)
    });
    assert_eq!(status_json(&env)["counters"]["foreign"], 1);
}

#[test]
fn the_fallback_gets_the_event_on_a_pipe_not_in_its_arguments() {
    // Not a second user: the arguments of any process are readable by all
    // (/proc/PID/cmdline), so the test records what the fallback received.
    let env = Env::new();
    let dir = env.runtime().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let hook = dir.join("llm-bridge-hook");
    std::fs::copy(hook_bin(), &hook).unwrap();
    let recorded = env.runtime().join("recorded");
    let fallback = dir.join("llm-bridge-apply");
    std::fs::write(
        &fallback,
        format!(
            "#!/bin/sh\nprintf '%s' \"$*\" > '{0}.args'\ncat > '{0}.stdin'\n",
            recorded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = output_of_fresh_copy({
        let mut cmd = env.command(&hook);
        let sample =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples/hook-UserPromptSubmit.json");
        cmd.stdin(std::fs::File::open(sample).unwrap());
        cmd
    });
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let args = std::fs::read_to_string(recorded.with_extension("args")).unwrap();
    let stdin = std::fs::read_to_string(recorded.with_extension("stdin")).unwrap();
    assert_eq!(args, "");
    assert!(stdin.starts_with("LLMB/1 EVENT:submit\nsid="), "{stdin:?}");
}

/// This process's peak RSS (VmHWM) in KiB.
fn own_peak_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs `program` with `prefix`, `size` bytes of filler and `suffix` on its
/// stdin (written by a thread, as a client would) and returns its output
/// and its peak RSS in KiB. The child is reaped by `wait4`, which also
/// gives its resource usage.
#[allow(clippy::zombie_processes)]
fn run_fed(env: &Env, program: &Path, prefix: &[u8], size: usize, suffix: &[u8]) -> (Vec<u8>, i64) {
    use std::io::Write;
    let mut child = env
        .command(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (prefix, suffix) = (prefix.to_vec(), suffix.to_vec());
    let writer = std::thread::spawn(move || {
        stdin.write_all(&prefix)?;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..size >> 20 {
            stdin.write_all(&chunk)?;
        }
        stdin.write_all(&suffix)
    });
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status}"
    );
    // Every byte was read: the writer never met a closed pipe.
    writer.join().unwrap().expect("the whole input was read");
    (out, usage.ru_maxrss)
}

#[test]
fn a_huge_payload_is_read_to_its_end_in_bounded_memory() {
    let env = Env::new();
    let daemon = UnixDatagram::bind(env.socket()).unwrap();
    let size = 256 << 20;
    // The field the hook needs comes after the megabytes, as Claude Code
    // orders a PreToolUse payload.
    let (out, rss_kib) = run_fed(
        &env,
        &hook_bin(),
        br#"{"session_id":"big","hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"content":""#,
        size,
        br#""},"tool_use_id":"toolu_after"}"#,
    );
    assert!(out.is_empty());
    // The kernel counts the spawning process's peak in a child's peak RSS
    // (the memory it had before its exec), and this test binary may have
    // grown with other tests: the hook may add at most 16 MiB to it, far
    // below the 256 MiB it would hold if it read the payload whole.
    let own = own_peak_rss_kib();
    assert!(
        rss_kib < own + 16 * 1024,
        "the hook's peak RSS was {rss_kib} KiB (this test binary's: {own} KiB)"
    );
    let mut buf = [0u8; 65536];
    daemon.set_nonblocking(true).unwrap();
    let n = daemon.recv(&mut buf).expect("the event was sent");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains("tuid=toolu_after"), "{text}");

    // The statusline: a line, the input drained, memory bounded.
    let (out, rss_kib) = run_fed(&env, &statusline_bin(), b"{\"x\":\"", size, b"\"}");
    assert_eq!(out, b"Claude Code\n");
    // It keeps at most 8 MiB of input (a status is a few KiB); measured
    // against this binary's peak for the reason given above.
    let own = own_peak_rss_kib();
    assert!(
        rss_kib < own + 16 * 1024,
        "the statusline's peak RSS was {rss_kib} KiB (this test binary's: {own} KiB)"
    );
}
