//! Helpers shared by the integration tests: a private runtime directory per
//! test, the daemon as a child process killed on drop, the real hook binary,
//! and a `waybar`-named recorder of signals.

use llm_bridge_protocol::wire::{Event, EventKind, Message};
use serde_json::Value;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// How long a test waits for a condition before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// target/debug (or the profile dir the tests run from).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `cargo test -p llm-bridge` builds neither the hooks package's binaries
/// nor examples: build them once per test run.
fn ensure_helper_binaries() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "llm-bridge-hooks",
            "-p",
            "llm-bridge-core",
            "--bins",
        ]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the hot-path binaries failed");
        // The Waybar stand-in is an example of this package.
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "llm-bridge",
            "--example",
            "signal_recorder",
        ]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("run cargo build").success(),
            "building the signal recorder failed"
        );
    });
}

pub fn hook_bin() -> PathBuf {
    ensure_helper_binaries();
    bin_dir().join("llm-bridge-hook")
}

pub fn statusline_bin() -> PathBuf {
    ensure_helper_binaries();
    bin_dir().join("llm-bridge-statusline")
}

/// A sample file's bytes by its full name (`statusline.json`).
pub fn sample_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn bridge_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llm-bridge"))
}

fn recorder_bin() -> PathBuf {
    ensure_helper_binaries();
    bin_dir().join("examples").join("signal_recorder")
}

/// The shared sample inputs beside the project.
pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(format!("hook-{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `cond` until it holds or the deadline passes.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A private XDG_RUNTIME_DIR (short, so the socket path fits in 108 bytes).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        // 0700, as logind makes /run/user/UID: a wider one is refused.
        let dir = tempfile::Builder::new()
            .prefix("lb")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in("/tmp")
            .unwrap();
        Env { dir }
    }

    pub fn runtime(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime().join("llm-bridge.sock")
    }

    pub fn waybar_json(&self) -> PathBuf {
        self.runtime().join("llm-bridge/waybar.json")
    }

    pub fn state_json(&self) -> PathBuf {
        self.runtime().join("llm-bridge/state.json")
    }

    /// A command with this environment (and no inherited config).
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", self.runtime())
            .env("XDG_STATE_HOME", self.runtime().join("state"))
            .env("HOME", self.runtime().join("home"))
            .env_remove("LLM_BRIDGE_SOCKET")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("CACHE_DIRECTORY")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("NOTIFY_SOCKET")
            .env("LLM_BRIDGE_CONFIG", self.runtime().join("config.toml"));
        cmd
    }

    /// Runs `llm-bridge ARGS...` to completion.
    pub fn bridge(&self, args: &[&str]) -> Output {
        self.command(&bridge_bin())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.runtime().join("llm-bridge.pid")
    }

    pub fn write_config(&self, toml: &str) {
        std::fs::write(self.runtime().join("config.toml"), toml).unwrap();
    }

    /// Starts `llm-bridge daemon` and waits until its socket answers.
    #[track_caller]
    pub fn daemon(&self) -> Daemon {
        // Killed on drop: no keeper to start another.
        self.daemon_with(&["--no-keeper"])
    }

    /// Starts `llm-bridge daemon` as a user would, leaving a keeper of its
    /// socket; returns it with the keeper's PID, which is killed on drop
    /// (before the daemon, if declared after it).
    #[track_caller]
    pub fn daemon_with_keeper(&self) -> (Daemon, KillOnDrop) {
        let daemon = self.daemon_with(&[]);
        let mut keeper = None;
        wait_until("the keeper's PID in the daemon's log", || {
            keeper = daemon
                .log()
                .split("its socket's keeper (pid ")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .and_then(|pid| pid.parse().ok());
            keeper.is_some()
        });
        (daemon, KillOnDrop(keeper.unwrap()))
    }

    #[track_caller]
    fn daemon_with(&self, args: &[&str]) -> Daemon {
        let log = self
            .runtime()
            .join(format!("daemon-{}.log", std::process::id()));
        let child = self
            .command(&bridge_bin())
            .arg("daemon")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, log };
        let socket = self.socket();
        wait_until("the daemon's socket", || {
            UnixDatagram::unbound().unwrap().connect(&socket).is_ok()
        });
        daemon
    }

    /// Runs the real hook binary with `input` on stdin.
    #[track_caller]
    pub fn hook(&self, input: &[u8]) -> Output {
        let out = run_with_stdin(self.command(&hook_bin()), input);
        assert!(
            out.status.success(),
            "hook exited with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "hook printed on stdout: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        out
    }

    /// Runs the statusline binary with `input` on stdin and extra `env`.
    #[track_caller]
    pub fn statusline(&self, input: &[u8], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(&statusline_bin());
        cmd.env_remove("NO_COLOR").env_remove("COLUMNS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_with_stdin(cmd, input);
        assert!(
            out.status.success(),
            "statusline exited with {:?}",
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.ends_with('\n') && !stdout.trim().is_empty(),
            "statusline printed no line: {stdout:?}"
        );
        out
    }

    /// Sends one raw datagram to the daemon.
    pub fn send_raw(&self, bytes: &[u8]) {
        let sock = UnixDatagram::unbound().unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        sock.connect(self.socket()).unwrap();
        sock.send(bytes).unwrap();
    }

    pub fn send(&self, event: Event) {
        self.send_raw(&Message::Event(event).encode());
    }

    /// The module JSON in waybar.json (`Null` if absent).
    pub fn module(&self) -> Value {
        match std::fs::read_to_string(self.waybar_json()) {
            Ok(s) => serde_json::from_str(s.trim()).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Waits until waybar.json's `text` is `text`.
    #[track_caller]
    pub fn wait_text(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let last = self.module();
            if last["text"] == text {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waybar.json never showed text {text:?}; last: {last}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Starts a `waybar`-named process that records our signals.
    pub fn fake_waybar(&self, handler_on_usr1: bool) -> FakeWaybar {
        self.fake_waybar_with(handler_on_usr1, false)
    }

    /// Like [`Env::fake_waybar`], and it runs `llm-bridge waybar` at start-up
    /// as a real Waybar runs its module's exec; returns once the exec ran.
    pub fn fake_waybar_running_exec(&self, handler_on_usr1: bool) -> FakeWaybar {
        self.fake_waybar_with(handler_on_usr1, true)
    }

    fn fake_waybar_with(&self, handler_on_usr1: bool, exec: bool) -> FakeWaybar {
        let log = self
            .runtime()
            .join(format!("signals-{}.log", rand_suffix()));
        let mut cmd = self.command(&recorder_bin());
        cmd.arg(&log).arg(self.waybar_json());
        if handler_on_usr1 {
            cmd.arg("--handler-on-usr1");
        }
        let exec_log = PathBuf::from(format!("{}.exec", log.display()));
        if exec {
            cmd.arg("--exec")
                .arg(format!("'{}' waybar", bridge_bin().display()))
                .env("LLM_BRIDGE_EXEC_LOG", &exec_log);
        }
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .expect("run the signal recorder");
        let fake = FakeWaybar { child, log };
        if exec {
            wait_until("the Waybar stand-in's exec", || exec_log.exists());
        }
        if !handler_on_usr1 {
            fake.wait_ready();
        } else {
            wait_until("the recorder to name itself waybar", || {
                std::fs::read_to_string(format!("/proc/{}/comm", fake.child.id()))
                    .is_ok_and(|c| c.trim() == "waybar")
            });
        }
        fake
    }
}

/// Runs `cmd` with `input` on stdin, capturing stdout and stderr.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A binary may exit before reading everything; a broken pipe here must
    // not fail the test by itself.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn event(kind: EventKind, sid: &str, cwd: &str) -> Event {
    let mut e = Event::new(kind, sid);
    e.cwd = Some(cwd.to_string());
    e
}

pub fn tool_event(kind: EventKind, sid: &str, tool: &str, id: &str) -> Event {
    let mut e = event(kind, sid, "/src/proj");
    e.tool_name = Some(tool.to_string());
    e.tool_use_id = Some(id.to_string());
    e
}

/// The daemon process; killed (SIGKILL) on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for a clean exit.
    #[track_caller]
    pub fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "daemon exited with {status:?}: {}",
            self.log()
        );
        self.log()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One signal the recorder received.
#[derive(Debug, Clone)]
pub struct Received {
    pub early: bool,
    pub at_ns: u128,
    /// waybar.json's first line when the signal arrived.
    pub module: String,
}

pub struct FakeWaybar {
    pub child: Child,
    pub log: PathBuf,
}

impl FakeWaybar {
    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                let tag = parts.next()?;
                let at_ns = parts.next()?.parse().ok()?;
                Some(Received {
                    early: tag == "EARLY",
                    at_ns,
                    module: parts.next().unwrap_or("").to_string(),
                })
            })
            .collect()
    }

    #[track_caller]
    pub fn wait_ready(&self) {
        let ready = PathBuf::from(format!("{}.ready", self.log.display()));
        wait_until("the recorder's handler", || ready.exists());
    }

    /// Asks a `--handler-on-usr1` recorder to install its handler.
    #[track_caller]
    pub fn install_handler(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGUSR1) };
        self.wait_ready();
    }

    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until at least `n` signals were recorded; returns them all.
    #[track_caller]
    pub fn wait_signals(&self, n: usize) -> Vec<Received> {
        wait_until(&format!("{n} signal(s)"), || self.received().len() >= n);
        self.received()
    }
}

impl Drop for FakeWaybar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Binds the socket as systemd would and starts the daemon with it on fd 3.
pub fn socket_activated_daemon(env: &Env, listener: &OwnedFd) -> Child {
    let raw = listener.as_raw_fd();
    let mut cmd = env.command(Path::new("/bin/sh"));
    // `exec` keeps the shell's PID, so $$ is the daemon's LISTEN_PID.
    cmd.arg("-c")
        .arg(format!(
            "LISTEN_PID=$$ LISTEN_FDS=1 exec '{}' daemon",
            bridge_bin().display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Appended: a test that restarts it keeps every daemon's log.
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(env.runtime().join("activated.log"))
                .unwrap(),
        );
    // SAFETY: the closure only calls fcntl/dup2, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself is a no-op that keeps close-on-exec: clear it.
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

pub fn bind_like_systemd(env: &Env) -> OwnedFd {
    let sock = UnixDatagram::bind(env.socket()).unwrap();
    std::fs::set_permissions(
        env.socket(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // SAFETY: into_raw_fd gives up ownership of the descriptor.
    unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(sock)) }
}

/// `llm-bridge status --json`, parsed; `Null` when the daemon is not running.
pub fn status_json(env: &Env) -> Value {
    let out = env.bridge(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A long-running `llm-bridge ARGS...` whose stdout lines arrive on a channel.
pub struct Streaming {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Streaming {
    pub fn start(env: &Env, args: &[&str]) -> Streaming {
        let mut child = env
            .command(&bridge_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Streaming { child, lines }
    }

    /// Waits for a line containing `word`; returns it.
    #[track_caller]
    pub fn expect(&self, word: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("never printed a line with {word:?}"));
            if line.contains(word) {
                return line;
            }
        }
    }

    /// Waits for a module line (`waybar --follow`) whose `text` is `text`.
    #[track_caller]
    pub fn expect_text(&self, text: &str) {
        loop {
            let line = self
                .lines
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("never printed a module with text {text:?}"));
            let module: Value = serde_json::from_str(&line).expect("a module is JSON");
            if module["text"] == text {
                return;
            }
        }
    }

    /// Sends `signal` and waits for the process to end; returns its status.
    pub fn signal_and_wait(&mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.child.wait().unwrap()
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a binary the test has just copied. Another test thread may fork
/// while the copy's descriptor is still open (before its exec closes it),
/// which makes exec fail with ETXTBSY for a moment: retry until it passes.
#[track_caller]
pub fn output_of_fresh_copy(mut cmd: Command) -> Output {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::yield_now();
            }
            result => return result.unwrap(),
        }
    }
}

/// Stops a daemon started with `start` if a test failed before `stop`.
pub struct StopOnDrop<'a>(pub &'a Env);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(self.0.pid_file())
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            // `start`'s supervisor first, or it would start another daemon.
            if let Some(supervisor) = supervisor_of(pid) {
                // SAFETY: signalling the supervisor this test started.
                unsafe { libc::kill(supervisor as i32, libc::SIGKILL) };
            }
            // SAFETY: signalling the daemon this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// A process this test started but does not own as a `Child`, SIGKILLed
/// on drop.
pub struct KillOnDrop(pub u32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signalling a process this test started.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

/// The PID of the `llm-bridge supervise` that runs the daemon `pid`, if one does.
pub fn supervisor_of(pid: u32) -> Option<u32> {
    let ppid = llm_bridge_hooks::proc_stat::read(pid)?.ppid;
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).ok()?;
    cmdline
        .split(|&b| b == 0)
        .any(|arg| arg == b"supervise")
        .then_some(ppid)
}

/// Whether this test runs as root (CI does). A test that needs root and
/// cannot have it fails, unless `LLM_BRIDGE_TEST_NO_ROOT=1` asks to skip it,
/// which it then says on stderr: never a silent pass.
#[track_caller]
pub fn running_as_root(what: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("LLM_BRIDGE_TEST_NO_ROOT").is_some(),
        "this test {what} and needs root (CI runs as root); \
         set LLM_BRIDGE_TEST_NO_ROOT=1 to skip it"
    );
    eprintln!("SKIPPED: this test {what} and needs root");
    false
}
