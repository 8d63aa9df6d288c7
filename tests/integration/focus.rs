//! `llm-bridge focus`: the window is found by walking a real process chain
//! up to a window's PID, and each compositor's protocol is spoken to a fake
//! compositor on a real Unix socket, which records every request: sway's
//! recorded `GET_TREE` reply; Hyprland's and niri's replies written from
//! their documented formats (tests/samples/README.md says which is which).

use crate::support::*;
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// The PIDs of the two windows in the recorded replies.
const RECORDED_BETA: &str = "13463";
const RECORDED_ALPHA: &str = "13464";

/// A terminal (`sh`) running a shell that runs the agent (`sleep`): the
/// agent's grandparent owns the window. Killed on drop.
struct Chain {
    terminal: Child,
    agent: u32,
}

impl Chain {
    #[track_caller]
    fn spawn() -> Chain {
        let mut terminal = Command::new("sh")
            .args(["-c", "sh -c 'sleep 120 & echo $!; wait'; :"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(terminal.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let agent = line.trim().parse().unwrap();
        Chain { terminal, agent }
    }

    fn terminal(&self) -> u32 {
        self.terminal.id()
    }

    fn agent_start(&self) -> u64 {
        llm_bridge_hooks::proc_stat::read(self.agent)
            .unwrap()
            .start_time
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        // SAFETY: killing the sleep this test started.
        unsafe { libc::kill(self.agent as i32, libc::SIGKILL) };
        let _ = self.terminal.kill();
        let _ = self.terminal.wait();
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    Sway,
    Hyprland,
    Niri,
}

/// A compositor on a real socket: answers each connection with the next
/// reply, and records each request (before answering it).
struct FakeCompositor {
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeCompositor {
    fn start(path: &Path, protocol: Protocol, replies: Vec<String>) -> FakeCompositor {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let listener = UnixListener::bind(path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            let mut replies = replies.into_iter();
            loop {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                // A connection closed unasked is a probe (is anyone there?).
                let Some(request) = read_request(&mut conn, protocol) else {
                    continue;
                };
                recorded.lock().unwrap().push(request.text);
                let Some(reply) = replies.next() else {
                    return;
                };
                let answer = match protocol {
                    Protocol::Sway => {
                        let mut answer = b"i3-ipc".to_vec();
                        answer.extend_from_slice(&(reply.len() as u32).to_ne_bytes());
                        answer.extend_from_slice(&request.sway_type.to_ne_bytes());
                        answer.extend_from_slice(reply.as_bytes());
                        answer
                    }
                    Protocol::Hyprland => reply.into_bytes(),
                    Protocol::Niri => format!("{reply}\n").into_bytes(),
                };
                conn.write_all(&answer).unwrap();
            }
        });
        FakeCompositor { requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Sway's `RUN_COMMAND`s (type 0), without the `GET_TREE`s.
    fn commands(&self) -> Vec<String> {
        let requests = self.requests();
        requests
            .into_iter()
            .filter(|r| r.starts_with("0 "))
            .collect()
    }
}

struct Request {
    text: String,
    sway_type: u32,
}

/// One request as the protocol frames it; `None` if the peer sent nothing.
fn read_request(conn: &mut UnixStream, protocol: Protocol) -> Option<Request> {
    match protocol {
        Protocol::Sway => {
            let mut header = [0u8; 14];
            conn.read_exact(&mut header).ok()?;
            assert_eq!(&header[..6], b"i3-ipc");
            let len = u32::from_ne_bytes(header[6..10].try_into().unwrap());
            let sway_type = u32::from_ne_bytes(header[10..14].try_into().unwrap());
            let mut payload = vec![0; len as usize];
            conn.read_exact(&mut payload).unwrap();
            let payload = String::from_utf8(payload).unwrap();
            Some(Request {
                text: format!("{sway_type} {payload}"),
                sway_type,
            })
        }
        Protocol::Hyprland => {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            (n > 0).then(|| Request {
                text: String::from_utf8(buf[..n].to_vec()).unwrap(),
                sway_type: 0,
            })
        }
        Protocol::Niri => {
            let mut line = String::new();
            BufReader::new(&*conn).read_line(&mut line).unwrap();
            (!line.is_empty()).then_some(Request {
                text: line,
                sway_type: 0,
            })
        }
    }
}

fn recorded(name: &str, beta: u32, alpha: u32) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace(RECORDED_BETA, &beta.to_string())
        .replace(RECORDED_ALPHA, &alpha.to_string())
}

/// A session whose client process is `agent`, in project `project`.
fn start_session(env: &Env, sid: &str, project: &str, agent: u32, start: u64) {
    let mut e = event(EventKind::SessionStart, sid, &format!("/src/{project}"));
    e.ppid = Some(agent);
    e.pstart = Some(start);
    env.send(e);
}

fn wait_for_permission(env: &Env, sid: &str, project: &str) {
    let mut e: Event = event(EventKind::Permission, sid, &format!("/src/{project}"));
    e.tool_name = Some("Bash".into());
    env.send(e);
}

/// `llm-bridge focus ARGS` with only the compositor variables in `vars`.
fn focus(env: &Env, args: &[&str], vars: &[(&str, &Path)]) -> Output {
    let mut cmd = env.command(&bridge_bin());
    cmd.arg("focus").args(args).stdin(Stdio::null());
    for var in [
        "SWAYSOCK",
        "HYPRLAND_INSTANCE_SIGNATURE",
        "NIRI_SOCKET",
        "I3SOCK",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stderr_has: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(stderr_has), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[track_caller]
fn assert_focused(out: &Output) {
    assert!(
        out.status.success(),
        "focus failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A daemon and one session, in `project`, whose agent is a new chain's.
fn one_session(sid: &str, project: &str) -> (Env, Daemon, Chain) {
    let env = Env::new();
    let daemon = env.daemon();
    let chain = Chain::spawn();
    start_session(&env, sid, project, chain.agent, chain.agent_start());
    wait_for_session(&env, sid);
    (env, daemon, chain)
}

fn wait_for_session(env: &Env, sid: &str) {
    wait_until("the session in the state", || {
        status_json(env)["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["id"] == sid))
    });
}

#[test]
fn sway_focuses_the_window_of_the_agents_grandparent() {
    let (env, _daemon, chain) = one_session("s-beta", "beta");
    // The window "beta" (con 5) is the chain's terminal; "alpha" (con 6) is
    // a process of no relation (PID 1's window, as a stand-in).
    let tree = recorded("sway-get-tree.json", chain.terminal(), 1);
    let sock = env.runtime().join("sway.sock");
    let sway = FakeCompositor::start(
        &sock,
        Protocol::Sway,
        vec![tree, r#"[{"success":true}]"#.into()],
    );
    let out = focus(&env, &[], &[("SWAYSOCK", &sock)]);
    assert_focused(&out);
    assert_eq!(sway.requests(), ["4 ", "0 [con_id=5] focus"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("focused beta (sway window 5"));
}

#[test]
fn a_reused_pid_is_never_taken() {
    // No daemon: a daemon would see the mismatch itself and end the session.
    let env = Env::new();
    let chain = Chain::spawn();
    // The hook recorded another start time: the PID now names another process.
    let mut e = event(EventKind::SessionStart, "s-old", "/src/old");
    e.ppid = Some(chain.agent);
    e.pstart = Some(chain.agent_start() + 1);
    let applied = env
        .command(&bridge_bin())
        .arg("apply")
        .arg(std::ffi::OsStr::from_bytes(&Message::Event(e).encode()))
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");
    let sock = env.runtime().join("sway.sock");
    let sway = FakeCompositor::start(&sock, Protocol::Sway, vec![]);
    let out = focus(&env, &[], &[("SWAYSOCK", &sock)]);
    assert_exit(&out, 1, "has exited");
    assert!(sway.requests().is_empty());
}

#[test]
fn hyprland_lists_clients_then_focuses_by_pid() {
    let (env, _daemon, chain) = one_session("s-alpha", "alpha");
    let sock = env.runtime().join("hypr/sig_1_2/.socket.sock");
    let clients = recorded("hyprland-clients.json", 1, chain.terminal());
    let hypr = FakeCompositor::start(&sock, Protocol::Hyprland, vec![clients, "ok".into()]);
    let out = focus(
        &env,
        &[],
        &[("HYPRLAND_INSTANCE_SIGNATURE", Path::new("sig_1_2"))],
    );
    assert_focused(&out);
    assert_eq!(
        hypr.requests(),
        [
            "j/clients".to_string(),
            format!("dispatch focuswindow pid:{}", chain.terminal())
        ]
    );
}

#[test]
fn niri_lists_windows_then_focuses_by_id() {
    let (env, _daemon, chain) = one_session("s-alpha", "alpha");
    let sock = env.runtime().join("niri.sock");
    let windows = recorded("niri-windows.json", 1, chain.terminal());
    let niri = FakeCompositor::start(
        &sock,
        Protocol::Niri,
        vec![windows, r#"{"Ok":"Handled"}"#.into()],
    );
    let out = focus(&env, &[], &[("NIRI_SOCKET", &sock)]);
    assert_focused(&out);
    assert_eq!(
        niri.requests(),
        [
            "\"Windows\"\n",
            "{\"Action\":{\"FocusWindow\":{\"id\":13}}}\n"
        ]
    );
}

#[test]
fn a_terminal_server_is_told_apart_by_title_or_not_at_all() {
    let (env, _daemon, chain) = one_session("s-beta", "beta");
    // Both windows belong to the terminal (one server process).
    let clients = recorded("hyprland-clients.json", chain.terminal(), chain.terminal());
    let sock = env.runtime().join("hypr/srv/.socket.sock");
    let hypr = FakeCompositor::start(
        &sock,
        Protocol::Hyprland,
        vec![clients.clone(), "ok".into()],
    );
    let sig = [("HYPRLAND_INSTANCE_SIGNATURE", Path::new("srv"))];
    assert_focused(&focus(&env, &[], &sig));
    assert_eq!(
        hypr.requests(),
        ["j/clients", "dispatch focuswindow address:0x55d6e3c4a2b0"]
    );
    // Titles that name neither project: one line, and nothing focused.
    let untitled = clients
        .replace("~/src/beta", "foot")
        .replace("~/src/alpha", "foot");
    std::fs::remove_file(&sock).unwrap();
    let hypr = FakeCompositor::start(&sock, Protocol::Hyprland, vec![untitled, "ok".into()]);
    let out = focus(&env, &[], &sig);
    assert_exit(&out, 3, "titles do not name the project");
    assert_eq!(hypr.requests(), ["j/clients"]);
}

#[test]
fn the_socket_is_found_under_the_runtime_dir_when_the_variables_are_unset() {
    let (env, _daemon, chain) = one_session("s-beta", "beta");
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // A socket left by a sway that is gone (no such PID) is passed over.
    let dead: PathBuf = env.runtime().join(format!("sway-ipc.{uid}.999999999.sock"));
    drop(UnixListener::bind(&dead).unwrap());
    let live = env
        .runtime()
        .join(format!("sway-ipc.{uid}.{}.sock", std::process::id()));
    let tree = recorded("sway-get-tree.json", chain.terminal(), 1);
    let sway = FakeCompositor::start(
        &live,
        Protocol::Sway,
        vec![tree, r#"[{"success":true}]"#.into()],
    );
    assert_focused(&focus(&env, &[], &[]));
    assert_eq!(sway.requests(), ["4 ", "0 [con_id=5] focus"]);
    // Without it: no supported compositor, one line, exit 4.
    std::fs::remove_file(&live).unwrap();
    assert_exit(&focus(&env, &[], &[]), 4, "no supported compositor");
}

#[test]
fn nothing_to_focus_without_a_session_with_or_without_a_daemon() {
    let env = Env::new();
    assert_exit(&focus(&env, &[], &[]), 1, "nothing to focus: no session");
    let _daemon = env.daemon();
    assert_exit(&focus(&env, &[], &[]), 1, "nothing to focus: no session");
    let chain = Chain::spawn();
    start_session(&env, "s-beta", "beta", chain.agent, chain.agent_start());
    wait_for_session(&env, "s-beta");
    assert_exit(
        &focus(&env, &["--session", "nope"], &[]),
        1,
        "no session \"nope\"",
    );
}

/// The sway windows of two chains: con 5 is `first`'s terminal, con 6 `second`'s.
fn two_windows(first: &Chain, second: &Chain) -> String {
    recorded("sway-get-tree.json", first.terminal(), second.terminal())
}

/// `n` rounds of a tree and a command's answer.
fn rounds(tree: &str, answer: &str, n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|_| [tree.to_string(), answer.to_string()])
        .collect()
}

#[test]
fn the_waiting_session_first_then_next_in_the_tooltips_order() {
    let env = Env::new();
    let daemon = env.daemon();
    let (beta, alpha) = (Chain::spawn(), Chain::spawn());
    start_session(&env, "s-beta", "beta", beta.agent, beta.agent_start());
    start_session(&env, "s-alpha", "alpha", alpha.agent, alpha.agent_start());
    wait_for_session(&env, "s-alpha");
    wait_for_permission(&env, "s-beta", "beta");
    env.wait_text("waiting 1");
    let tooltip = env.module()["tooltip"].as_str().unwrap().to_string();
    assert!(tooltip.ends_with("click: beta"), "{tooltip}");
    let sock = env.runtime().join("sway.sock");
    let ok = r#"[{"success":true}]"#.to_string();
    let tree = two_windows(&beta, &alpha);
    let sway = FakeCompositor::start(&sock, Protocol::Sway, rounds(&tree, &ok, 3));
    let vars = [("SWAYSOCK", sock.as_path())];
    assert_focused(&focus(&env, &[], &vars));
    // The tooltip's order: beta (waiting), then alpha; then round again.
    assert_focused(&focus(&env, &["--next"], &vars));
    assert_focused(&focus(&env, &["--next"], &vars));
    assert_eq!(
        sway.commands(),
        [
            "0 [con_id=5] focus",
            "0 [con_id=6] focus",
            "0 [con_id=5] focus"
        ]
    );
    // Without the daemon the state files choose, and remember, the same way.
    daemon.stop();
    std::fs::remove_file(&sock).unwrap();
    let sway = FakeCompositor::start(&sock, Protocol::Sway, rounds(&tree, &ok, 2));
    assert_focused(&focus(&env, &["--next"], &vars));
    assert_focused(&focus(&env, &["--next"], &vars));
    assert_eq!(
        sway.commands(),
        ["0 [con_id=6] focus", "0 [con_id=5] focus"]
    );
}
