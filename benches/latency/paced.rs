//! Speech as a listener hears it: the time from asking to the first loud
//! sample at a *paced* sink (a PulseAudio null sink, recorded with `parec`
//! from its monitor, which runs at the real sample rate), and the memory
//! it takes, side by side with the reference, piper-tts (Python,
//! onnxruntime), on the same voice and text. The captured ALSA device of
//! the other speech scenarios is not paced: it takes samples as fast as
//! they come, so it shows when synthesis hands them over, not when they
//! are heard.
//!
//! Three ways to speak: the daemon with the voice loaded (`say --wait`),
//! `llm-bridge say` without a daemon (it loads the voice itself, as the
//! reference does), and `piper --output-raw | pacat`. Each is measured
//! idle and with one busy loop per core at normal priority (a build).
//! Then a spoken notification the daemon never rendered ahead: the real
//! hook's start (PermissionRequest, a new project each time) to the first
//! loud sample of its phrase at the same sink.
//! Needs `pulseaudio`, `parec` and `pacat`, the PyPI test voice and the
//! piper-tts venv of `scripts/fetch-test-voice`; says which is missing.

use crate::env::BenchEnv;
use crate::figures::{median, ms, row};
use crate::procfs::proc_status;
use crate::speech::{permission_request, test_cache, test_voice, wait_until, BusyLoops, Speaking};
use crate::Ctx;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A sample this far from silence is heard (about -30 dBFS).
const LOUD: u16 = 1000;

/// A PulseAudio server with one null sink, in its own directory; killed on
/// drop.
struct Pulse {
    child: Child,
    server: String,
    env: BenchEnv,
}

impl Pulse {
    fn start() -> Pulse {
        let env = BenchEnv::new();
        let socket = env.dir.join("pulse.sock");
        let server = format!("unix:{}", socket.display());
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .arg("--load=module-null-sink sink_name=paced rate=22050 channels=1")
            .env("HOME", &env.dir)
            .env("XDG_RUNTIME_DIR", &env.dir)
            .env("PULSE_RUNTIME_PATH", env.dir.join("pulse"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Command::new("pactl")
            .args(["--server", &server, "info"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Pulse { child, server, env }
    }

    /// `ALSA_CONFIG_PATH` whose default device is this server.
    fn alsa(&self) -> String {
        let conf = self.env.dir.join("asound.conf");
        std::fs::write(
            &conf,
            format!(
                "pcm.!default {{\n type pulse\n server \"{0}\"\n}}\nctl.!default {{\n type pulse\n server \"{0}\"\n}}\n",
                self.server
            ),
        )
        .unwrap();
        format!("/usr/share/alsa/alsa.conf:{}", conf.display())
    }

    /// The sink's monitor, recorded: the instant of each loud chunk.
    fn listen(&self) -> (Child, Receiver<Instant>) {
        let mut parec = Command::new("parec")
            .args(["--server", &self.server, "-d", "paced.monitor", "--raw"])
            .args(["--format=s16le", "--rate=22050", "--channels=1"])
            .arg("--latency-msec=5")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec runs");
        let mut out = parec.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            // About 5 ms of samples a read.
            let mut buf = [0u8; 220];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let loud = buf[..n & !1]
                    .chunks_exact(2)
                    .any(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > LOUD);
                if loud && tx.send(Instant::now()).is_err() {
                    break;
                }
            }
        });
        (parec, rx)
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One way to speak `text`: the processes it starts.
trait Speaker {
    fn name(&self) -> &str;
    fn start(&self, text: &str) -> Vec<Child>;
    /// The process among `start`'s whose peak memory is reported: the one
    /// that synthesizes (`None`: the daemon does, reported on its own).
    fn synthesizer(&self) -> Option<usize> {
        Some(0)
    }
}

/// `llm-bridge say`, with the daemon of `env` (it synthesizes, and its
/// memory is reported on its own) or without one (`alsa` set: `say` loads
/// the voice and plays it itself).
struct BridgeSay<'a> {
    name: &'a str,
    env: &'a BenchEnv,
    bridge: &'a Path,
    args: &'a [&'a str],
    alsa: Option<&'a str>,
}

impl Speaker for BridgeSay<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn synthesizer(&self) -> Option<usize> {
        self.alsa.map(|_| 0)
    }
    fn start(&self, text: &str) -> Vec<Child> {
        let mut command = self.env.command(self.bridge);
        command
            .args(self.args)
            .arg(text)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(alsa) = self.alsa {
            command.env("ALSA_CONFIG_PATH", alsa);
        }
        vec![command.spawn().unwrap()]
    }
}

struct PiperTts<'a> {
    piper: &'a Path,
    voice: &'a Path,
    server: &'a str,
}

impl Speaker for PiperTts<'_> {
    fn name(&self) -> &str {
        "piper-tts 1.x (Python, onnxruntime): `piper --output-raw | pacat` (loads the voice)"
    }
    fn start(&self, text: &str) -> Vec<Child> {
        let mut piper = Command::new(self.piper)
            .arg("-m")
            .arg(self.voice)
            .arg("--output-raw")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = piper.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, text.as_bytes()).unwrap();
        drop(stdin);
        let pacat = Command::new("pacat")
            .args(["--server", self.server, "-d", "paced", "--raw"])
            .args(["--format=s16le", "--rate=22050", "--channels=1"])
            .stdin(Stdio::from(piper.stdout.take().unwrap()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        vec![piper, pacat]
    }
}

/// Waits for `child` and returns its peak RSS in KiB.
fn wait_peak(child: Child) -> u64 {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the PID is our child's, not waited for yet.
    let pid = unsafe { libc::wait4(child.id() as i32, &raw mut status, 0, &raw mut usage) };
    assert!(pid > 0, "wait4 failed");
    std::mem::forget(child);
    u64::try_from(usage.ru_maxrss).unwrap_or(0)
}

/// Speaks `text` `runs` times with `speaker`: the times to the first loud
/// sample heard and the synthesizing process's peak RSS (KiB; 0 when the
/// daemon synthesizes).
fn measure(
    speaker: &dyn Speaker,
    heard: &Receiver<Instant>,
    text: &str,
    runs: usize,
) -> (Vec<Duration>, u64) {
    let mut first = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        // What was still sounding from the last run is not this one's.
        while heard.recv_timeout(Duration::from_millis(300)).is_ok() {}
        let t0 = Instant::now();
        let children = speaker.start(text);
        let at = loop {
            match heard.recv_timeout(Duration::from_secs(60)) {
                Ok(at) if at >= t0 => break at,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: nothing heard in 60 s", speaker.name())
                }
                Err(RecvTimeoutError::Disconnected) => panic!("parec stopped"),
            }
        };
        first.push(at - t0);
        for (i, child) in children.into_iter().enumerate() {
            let kib = wait_peak(child);
            if Some(i) == speaker.synthesizer() {
                peak = peak.max(kib);
            }
        }
    }
    (first, peak)
}

pub fn speech_paced(ctx: &mut Ctx) {
    let what = "speech at a paced sink (PulseAudio null sink + parec)";
    let missing: Vec<&str> = ["pulseaudio", "parec", "pacat", "pactl"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if !missing.is_empty() {
        row(what, &format!("not measured: no {}", missing.join(", ")));
        return;
    }
    let Some((voice, piper)) = test_voice_and_piper() else {
        row(
            what,
            "not measured: no test voice or piper-tts venv (run scripts/fetch-test-voice)",
        );
        return;
    };
    let runs = if ctx.quick { 2 } else { 5 };
    let hook = ctx.hook();
    let pulse = Pulse::start();
    let alsa = pulse.alsa();
    let (mut parec, heard) = pulse.listen();

    // The daemon, with the voice loaded at start, on the paced sink.
    let (daemon, _) = Speaking::start(&ctx.bridge, &voice, Some(alsa.clone()));
    let ready_kib = kib(&proc_status(daemon.child.id(), "VmRSS"));
    // Without a daemon: another runtime directory, the same config.
    let inline_env = BenchEnv::new();
    std::fs::copy(
        daemon.env.dir.join("none.toml"),
        inline_env.dir.join("none.toml"),
    )
    .unwrap();

    let long = "While you were away the assistant read the whole repository, found the \
                failing test in the parser module, traced it to an off by one error in the \
                tokenizer, wrote a fix with two new regression tests, ran the complete suite \
                twice on both targets, updated the changelog and the documentation, and is \
                now waiting for you to review the pull request before it merges anything.";
    let speakers: [&dyn Speaker; 3] = [
        &BridgeSay {
            name: "llm-bridge daemon, voice loaded: `say --wait`",
            env: &daemon.env,
            bridge: &ctx.bridge,
            args: &["say", "--wait"],
            alsa: None,
        },
        &BridgeSay {
            name: "llm-bridge without a daemon: `say` (loads the voice)",
            env: &inline_env,
            bridge: &ctx.bridge,
            args: &["say"],
            alsa: Some(&alsa),
        },
        &PiperTts {
            piper: &piper,
            voice: &voice,
            server: &pulse.server,
        },
    ];
    for busy in [false, true] {
        let _busy = busy.then(BusyLoops::start);
        let condition = if busy { "every core busy: " } else { "" };
        for (label, text) in [("five words", "The build is done now."), ("60 words", long)] {
            let mut cells = Vec::new();
            for speaker in speakers {
                let (mut first, peak) = measure(speaker, &heard, text, runs);
                let max = *first.iter().max().unwrap();
                let peak = if peak > 0 {
                    format!(", peak RSS {} MiB", peak / 1024)
                } else {
                    String::new()
                };
                cells.push(format!(
                    "{}: p50 {} max {}{peak}",
                    speaker.name(),
                    ms(median(&mut first)),
                    ms(max)
                ));
            }
            row(
                &format!("{condition}{what}: ask → first loud sample heard, {label}"),
                &cells.join(" · "),
            );
        }
        let mut first = never_rendered(&daemon.env, &hook, &ctx.samples, &heard, runs, busy);
        let max = *first.iter().max().unwrap();
        row(
            &format!("{condition}{what}: the hook's start (PermissionRequest, a new project) → first loud sample of a phrase never rendered ahead"),
            &format!("llm-bridge daemon: p50 {} max {}", ms(median(&mut first)), ms(max)),
        );
    }
    let hwm_kib = kib(&proc_status(daemon.child.id(), "VmHWM"));
    let rss_kib = kib(&proc_status(daemon.child.id(), "VmRSS"));
    // The worker keeps its working memory while the device is open and
    // gives it back once it closes the device, after `close_after_secs`
    // (5 s by default) of silence.
    std::thread::sleep(Duration::from_secs(7));
    let rest_kib = kib(&proc_status(daemon.child.id(), "VmRSS"));
    row(
        &format!("{what}: the daemon's memory"),
        &format!(
            "RSS {} MiB with the voice loaded, {} MiB right after the runs, {} MiB 7 s later (the device closed), peak {} MiB",
            ready_kib / 1024,
            rss_kib / 1024,
            rest_kib / 1024,
            hwm_kib / 1024
        ),
    );
    drop(daemon);
    let _ = parec.kill();
    let _ = parec.wait();
}

/// A permission phrase the daemon of `env` never rendered ahead, `runs`
/// times: the real hook is fed `hook-PermissionRequest.json` for a project
/// it has not heard of (a new one each run, `busy` or not), and the time is
/// from the hook's start to the first loud sample heard. Each run waits for
/// the phrase to end and for the new session's phrases to be rendered
/// ahead, so that the next starts from a quiet worker.
fn never_rendered(
    env: &BenchEnv,
    hook: &Path,
    samples: &Path,
    heard: &Receiver<Instant>,
    runs: usize,
    busy: bool,
) -> Vec<Duration> {
    let template = std::fs::read_to_string(samples.join("hook-PermissionRequest.json")).unwrap();
    let input = env.dir.join("paced-hook-input.json");
    let mut first = Vec::new();
    for i in 0..runs {
        let project = format!("paced-{}-{i}", if busy { "busy" } else { "idle" });
        std::fs::write(&input, permission_request(&template, &project, &project)).unwrap();
        let played = env.figure(&["notifications", "played"]);
        let rendered = env.figure(&["phrase_cache", "rendered"]);
        while heard.recv_timeout(Duration::from_millis(300)).is_ok() {}
        let t0 = Instant::now();
        env.run(hook, &[], &input);
        let at = loop {
            match heard.recv_timeout(Duration::from_secs(60)) {
                Ok(at) if at >= t0 => break at,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("the permission phrase was never heard"),
                Err(RecvTimeoutError::Disconnected) => panic!("parec stopped"),
            }
        };
        first.push(at - t0);
        wait_until("the phrase to end", &|| {
            env.figure(&["notifications", "played"]) > played
        });
        wait_until("the new project's phrases", &|| {
            env.figure(&["phrase_cache", "rendered"]) >= rendered + 6
        });
    }
    first
}

/// "123456 kB" → 123456.
fn kib(field: &str) -> u64 {
    field
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The test voice and piper-tts from `scripts/fetch-test-voice`'s cache.
fn test_voice_and_piper() -> Option<(PathBuf, PathBuf)> {
    let piper = test_cache()?.join("piper-venv/bin/piper");
    let voice = test_voice()?;
    piper.is_file().then_some((voice, piper))
}
