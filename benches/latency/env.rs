//! The world a scenario runs in: a private runtime directory on tmpfs
//! ([`BenchEnv`]), the daemon started in it, the stand-in Waybar that
//! records each signal's arrival (this bench re-executed in the `waybar`
//! role), stand-in clients, and the C fixtures.

use crate::figures::now_ns;
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable that tells this bench, re-executed, to be the recorder.
pub const ROLE: &str = "LLM_BRIDGE_BENCH_ROLE";

/// A stand-in client (`sleep 600`, kept in `clients`) and a Submit that
/// names it by PID and start time, as the hook does.
pub fn client(clients: &mut Vec<Child>, sid: &str, transcript: Option<&Path>) -> Event {
    let child = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let stat = llm_bridge_hooks::proc_stat::read(pid).expect("its stat");
    clients.push(child);
    let mut e = Event::new(EventKind::Submit, sid);
    e.cwd = Some(format!("/home/u/src/{sid}"));
    e.ppid = Some(pid);
    e.pstart = Some(stat.start_time);
    e.transcript_path = transcript.map(|t| t.display().to_string());
    e
}

/// Compiles `benches/fixtures/NAME.c` statically (`cc -O2 -static`).
pub fn build_fixture(target: &Path, name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = target.join("bench-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(root.join(format!("benches/fixtures/{name}.c")))
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed for {name}.c");
    out
}

/// A private runtime directory (`XDG_RUNTIME_DIR`), removed on drop.
pub struct BenchEnv {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl BenchEnv {
    /// A private runtime directory on tmpfs, as `XDG_RUNTIME_DIR`
    /// (`/run/user/UID`) is on a desktop: /dev/shm, else /tmp.
    pub fn new() -> BenchEnv {
        let base = if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        };
        // 0700, as logind makes it: a wider one is refused.
        let tmp = tempfile::Builder::new()
            .prefix("lbb")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(base)
            .unwrap();
        let dir = tmp.path().to_path_buf();
        BenchEnv { _tmp: tmp, dir }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("llm-bridge.sock")
    }

    /// `llm-bridge status --json` for the daemon of this environment.
    pub fn status(&self) -> serde_json::Value {
        let bridge = PathBuf::from(env!("CARGO_BIN_EXE_llm-bridge"));
        let out = self
            .command(&bridge)
            .args(["status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// One number of `status --json`, by its path of keys (0 if absent).
    pub fn figure(&self, path: &[&str]) -> u64 {
        let mut v = self.status();
        for key in path {
            v = v[*key].take();
        }
        v.as_u64().unwrap_or(0)
    }

    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.dir)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env_remove("CACHE_DIRECTORY")
            .env_remove("LLM_BRIDGE_SOCKET")
            .env("LLM_BRIDGE_CONFIG", self.dir.join("none.toml"));
        cmd
    }

    pub fn daemon(&self, bridge: &Path) -> Daemon {
        let child = self
            .command(bridge)
            .arg("daemon")
            .arg("--no-keeper")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixDatagram::unbound()
            .unwrap()
            .connect(self.socket())
            .is_err()
        {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Daemon { child }
    }

    pub fn recorder(&self) -> Recorder {
        let log = self.dir.join("signals.log");
        File::create(&log).unwrap();
        let child = self
            .command(&std::env::current_exe().unwrap())
            .env(ROLE, "waybar")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let ready = self.dir.join("signals.log.ready");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "recorder did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Recorder { child, log }
    }

    pub fn run(&self, program: &Path, args: &[&str], stdin: &Path) {
        let status = self
            .command(program)
            .args(args)
            .stdin(File::open(stdin).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Asks the daemon to synthesize `text` into `wav` and waits for it
    /// (the SAY request `say -o` no longer sends: it writes files itself).
    pub fn say_to_file(&self, text: &str, wav: &Path) {
        let path = self.dir.join("llm-bridge/client-bench.sock");
        let _ = std::fs::remove_file(&path);
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.connect(self.socket()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let request = Message::Say {
            text: text.to_string(),
            out: Some(wav.to_str().unwrap().to_string()),
            tuning: Default::default(),
        };
        sock.send(&request.encode()).unwrap();
        let mut buf = [0u8; 4096];
        // QUEUED, then OK (or an error) once the file is written.
        for _ in 0..2 {
            if sock.recv(&mut buf).is_err() {
                break;
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    pub fn time_run(&self, program: &Path, args: &[&str], stdin: &Path) -> Duration {
        let start = Instant::now();
        self.run(program, args, stdin);
        start.elapsed()
    }
}

/// A daemon this bench started, killed on drop.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn stop(&mut self) {
        // SAFETY: signalling a process this program started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stand-in Waybar, killed on drop.
pub struct Recorder {
    pub child: Child,
    log: PathBuf,
}

impl Recorder {
    pub fn arrivals(&self) -> Vec<u128> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.arrivals().len()
    }

    pub fn wait_count(&self, n: usize) -> Vec<u128> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let a = self.arrivals();
            if a.len() >= n {
                return a;
            }
            assert!(Instant::now() < deadline, "no signal arrived");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Waybar stand-in: records the arrival of each SIGRTMIN+8.
pub fn recorder(log: &str) {
    extern "C" fn noop(_: libc::c_int) {}
    let signal = libc::SIGRTMIN() + 8;
    // SAFETY: plain libc calls on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"waybar".as_ptr());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = noop as *const () as usize;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
    std::fs::write(format!("{log}.ready"), b"").unwrap();
    let mut out = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    loop {
        // SAFETY: waiting for the blocked signal.
        let got = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigwaitinfo(&set, std::ptr::null_mut())
        };
        if got == signal {
            let _ = writeln!(out, "{}", now_ns());
        }
    }
}
