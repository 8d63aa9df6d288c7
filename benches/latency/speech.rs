//! Speech against the bar and the ear: an event's latency while the speech
//! worker synthesizes flat out, the daemon's memory with the voice, time to
//! first audio, and spoken notifications from the hook's start to the first
//! loud sample at a captured ALSA device. They need the PyPI test voice
//! (`scripts/fetch-test-voice`).

use crate::env::BenchEnv;
use crate::figures::{median, ms, now_ns, pct, ratio, row};
use crate::procfs::{ctxt, proc_status, threads};
use crate::Ctx;
use llm_bridge_hooks::send::{send_datagram, SEND_TIMEOUT};
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon with `[speech] enabled`, the voice loaded at start; stopped
/// (SIGTERM) on drop.
pub struct Speaking {
    pub child: Child,
    pub env: BenchEnv,
}

impl Speaking {
    /// Starts one and waits until its voice is loaded; also returns the
    /// value of `ALSA_CONFIG_PATH` its clients need. Its audio goes to
    /// the ALSA configuration `alsa` (a value of `ALSA_CONFIG_PATH`), or by
    /// default to a captured device: `captured.raw` in its runtime
    /// directory.
    pub fn start(bridge: &Path, voice: &Path, alsa: Option<String>) -> (Speaking, String) {
        let env = BenchEnv::new();
        std::fs::write(
            env.dir.join("none.toml"),
            format!(
                "[speech]\nenabled = true\nvoice = \"{}\"\n",
                voice.display()
            ),
        )
        .unwrap();
        let alsa = alsa.unwrap_or_else(|| captured_device(&env));
        let child = env
            .command(bridge)
            .arg("daemon")
            .arg("--no-keeper")
            .env("ALSA_CONFIG_PATH", &alsa)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while env.status()["speech_load_ms"].as_u64().is_none() {
            assert!(Instant::now() < deadline, "the voice never loaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        (Speaking { child, env }, alsa)
    }
}

impl Drop for Speaking {
    fn drop(&mut self) {
        // SAFETY: signalling a process this program started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Speech never delays the bar: isolated event → signal with the speech
/// worker idle and synthesizing flat out, in alternating blocks; then time
/// to first audio on a speaking daemon, which is left for `notifications`.
pub fn speech(ctx: &mut Ctx) {
    let (bridge, quick) = (ctx.bridge.clone(), ctx.quick);
    let Some(voice) = test_voice() else {
        row(
            "event → signal while speech synthesizes",
            "not measured: no test voice (run scripts/fetch-test-voice)",
        );
        return;
    };
    bar_while_synthesizing(&bridge, &voice, quick);
    // Time to first audio: `[speech] enabled` (the voice loaded at start),
    // five words, `say --wait`, the audio on a captured ALSA device (a
    // file); the daemon's own figure is from the request's arrival to its
    // first samples handed to the device.
    let (speaking, alsa) = Speaking::start(&bridge, &voice, None);
    let env = &speaking.env;
    let load_ms = env.status()["speech_load_ms"].as_u64().unwrap_or(0);
    // Five words, and one sentence of 60 words: each sentence streams, so
    // the first audio waits for the encoder and one decoder window only.
    let long = "While you were away the assistant read the whole repository, found the \
                failing test in the parser module, traced it to an off by one error in the \
                tokenizer, wrote a fix with two new regression tests, ran the complete suite \
                twice on both targets, updated the changelog and the documentation, and is \
                now waiting for you to review the pull request before it merges anything.";
    for (label, text, runs) in [
        (
            "five words",
            "The build is done now.",
            if quick { 3 } else { 10 },
        ),
        ("one 60-word sentence", long, if quick { 2 } else { 5 }),
    ] {
        let (mut first, mut wall) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            let ok = env
                .command(&bridge)
                .args(["say", "--wait", text])
                .env("ALSA_CONFIG_PATH", &alsa)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "say --wait failed");
            wall.push(t0.elapsed());
            let ms = env.status()["speech_first_audio_ms"].as_u64().unwrap_or(0);
            first.push(Duration::from_millis(ms));
        }
        row(
            &format!(
                "speech, daemon warm (`[speech] enabled`): `say --wait` {label} → first audio at the device (captured ALSA)"
            ),
            &format!(
                "p50 {} · max {} (`status`: request → first samples to the device) · \
                 the whole `say --wait` p50 {} · voice load at start {load_ms} ms",
                ms(median(&mut first)),
                ms(*first.iter().max().unwrap()),
                ms(median(&mut wall)),
            ),
        );
    }
    ctx.speaking = Some(speaking);
}

/// Isolated event → signal, the speech worker idle and synthesizing flat
/// out (a `say` into a WAV file, again and again), in alternating blocks;
/// then the daemon's memory with the voice loaded.
fn bar_while_synthesizing(bridge: &Path, voice: &Path, quick: bool) {
    let env = BenchEnv::new();
    std::fs::write(
        env.dir.join("none.toml"),
        format!("[speech]\nvoice = \"{}\"\n", voice.display()),
    )
    .unwrap();
    let waybar = env.recorder();
    let mut daemon = env.daemon(bridge);
    let socket = env.socket();
    let text = "This sentence keeps the speech worker busy. ".repeat(12);
    let wav = env.dir.join("busy.wav");
    let busy = std::sync::atomic::AtomicBool::new(false);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (mut idle_lat, mut busy_lat) = (Vec::new(), Vec::new());
    let rounds = if quick { 3 } else { 8 };
    std::thread::scope(|scope| {
        // Keeps the daemon's worker synthesizing into a WAV file
        // (a SAY request with `out`: `say -o` synthesizes in its own
        // process) whenever `busy` is set.
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if busy.load(std::sync::atomic::Ordering::SeqCst) {
                    env.say_to_file(&text, &wav);
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        for round in 0..rounds * 2 {
            let synthesizing = round % 2 == 1;
            busy.store(synthesizing, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            for i in 0..20 {
                let kind = if i % 2 == 0 {
                    EventKind::Submit
                } else {
                    EventKind::Stop
                };
                let e = Event::new(kind, "speech-bench");
                let before = waybar.count();
                let t0 = now_ns();
                send_datagram(&socket, &Message::Event(e).encode(), SEND_TIMEOUT).expect("send");
                let arrivals = waybar.wait_count(before + 1);
                let took = Duration::from_nanos((arrivals[before] - t0) as u64);
                if synthesizing {
                    busy_lat.push(took);
                } else {
                    idle_lat.push(took);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        busy.store(false, std::sync::atomic::Ordering::SeqCst);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let said = env.status()["counters"]["said"].as_u64().unwrap_or(0);
    let (m_idle, m_busy) = (median(&mut idle_lat), median(&mut busy_lat));
    row(
        &format!(
            "event → signal, speech idle vs synthesizing flat out ({} + {} events, {said} say jobs, alternating blocks)",
            idle_lat.len(),
            busy_lat.len()
        ),
        &format!(
            "idle p50 {} · p99 {} · synthesizing p50 {} · p99 {} · **{:.2}x**",
            ms(m_idle),
            ms(pct(&mut idle_lat, 99.0)),
            ms(m_busy),
            ms(pct(&mut busy_lat, 99.0)),
            ratio(m_busy, m_idle)
        ),
    );
    row(
        "daemon RSS with the voice loaded (VmRSS / VmHWM)",
        &format!(
            "{} / {}",
            proc_status(daemon.child.id(), "VmRSS"),
            proc_status(daemon.child.id(), "VmHWM")
        ),
    );
    daemon.stop();
}

/// Spoken notifications, on the speaking daemon `speech` left, or a new
/// one.
pub fn notifications(ctx: &mut Ctx) {
    let (hook, quick) = (ctx.hook(), ctx.quick);
    let speaking = match ctx.speaking.take() {
        Some(speaking) => speaking,
        None => match test_voice() {
            Some(voice) => Speaking::start(&ctx.bridge, &voice, None).0,
            None => {
                row(
                    "spoken notifications",
                    "not measured: no test voice (run scripts/fetch-test-voice)",
                );
                return;
            }
        },
    };
    notification_latency(
        &speaking.env,
        &hook,
        &ctx.samples,
        speaking.child.id(),
        quick,
        "",
    );
}

/// Spoken notifications with every core busy (issue 21): one busy loop per
/// core at the normal priority, as a user's build keeps them, for the whole
/// measurement.
pub fn notifications_busy(ctx: &mut Ctx) {
    let (hook, quick) = (ctx.hook(), ctx.quick);
    let Some(voice) = test_voice() else {
        row(
            "spoken notifications, every core busy",
            "not measured: no test voice (run scripts/fetch-test-voice)",
        );
        return;
    };
    let speaking = Speaking::start(&ctx.bridge, &voice, None).0;
    let loops = BusyLoops::start();
    notification_latency(
        &speaking.env,
        &hook,
        &ctx.samples,
        speaking.child.id(),
        quick,
        &format!(
            "with every core busy ({} busy loops at normal priority): ",
            loops.0.len()
        ),
    );
}

/// Waits until `cond` holds, at most 120 s, then panics naming `what`.
pub fn wait_until(what: &str, cond: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `template` (tests/samples/hook-PermissionRequest.json) for session
/// `session` in a project named `project`.
pub fn permission_request(template: &str, session: &str, project: &str) -> String {
    template
        .replace("8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91", session)
        .replace(
            "/home/user/src/waybar-llm",
            &format!("/home/user/src/{project}"),
        )
}

/// Busy loops at normal priority, one per core (a build), killed however
/// the measurement ends.
pub struct BusyLoops(Vec<Child>);

impl BusyLoops {
    pub fn start() -> BusyLoops {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        BusyLoops(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An ALSA configuration whose default device writes what it plays to
/// `captured.raw` in `env`'s directory, as fast as it comes; returns the
/// value of `ALSA_CONFIG_PATH`.
fn captured_device(env: &BenchEnv) -> String {
    let conf = env.dir.join("asound.conf");
    std::fs::write(
        &conf,
        format!(
            "pcm.!default {{\n type plug\n slave {{ pcm \"cap\" format S16_LE channels 1 rate 22050 }}\n}}\n\
             pcm.cap {{\n type file\n slave.pcm \"null\"\n file \"{}\"\n format \"raw\"\n}}\n",
            env.dir.join("captured.raw").display()
        ),
    )
    .unwrap();
    // ALSA's own definitions first (the `null` plugin), then ours.
    format!("/usr/share/alsa/alsa.conf:{}", conf.display())
}

/// Spoken notifications, with the daemon of `env` (`[speech] enabled`, its
/// audio on the captured ALSA device `captured.raw`): the time from the
/// hook's start (PermissionRequest) to the first loud sample of the phrase
/// at the device, rendered ahead (SessionStart named the project) and not
/// (a new project each time), interleaved; then the daemon's memory with
/// its phrase cache, and its wakeups once speech has ended.
fn notification_latency(
    env: &BenchEnv,
    hook: &Path,
    samples: &Path,
    pid: u32,
    quick: bool,
    condition: &str,
) {
    let capture = env.dir.join("captured.raw");
    let figure = |path: &[&str]| env.figure(path);
    let rendered = || figure(&["phrase_cache", "rendered"]);
    let input = env.dir.join("hook-input.json");
    // The session starts: its phrases are rendered ahead.
    let before = rendered();
    env.run(hook, &[], &samples.join("hook-SessionStart.json"));
    wait_until("the phrases rendered ahead", &|| rendered() >= before + 6);
    let template = std::fs::read_to_string(samples.join("hook-PermissionRequest.json")).unwrap();
    let (mut ahead, mut fresh, mut daemon_ahead) = (Vec::new(), Vec::new(), Vec::new());
    let rounds = if quick { 3 } else { 10 };
    let mut cold = None;
    for i in 0..=rounds * 2 {
        // The last round finds the audio device closed (`close_after_secs`
        // of silence): it is opened for the phrase.
        let closed = i == rounds * 2;
        if closed {
            std::thread::sleep(Duration::from_secs(7));
        }
        let prerendered = i % 2 == 0;
        let project = if prerendered {
            "waybar-llm".to_string()
        } else {
            format!("fresh-project-{i}")
        };
        std::fs::write(
            &input,
            permission_request(&template, &format!("bench-{i}"), &project),
        )
        .unwrap();
        let played = figure(&["notifications", "played"]);
        let rendered_before = rendered();
        // Read only what the device gets from now on: the file plugin is
        // not paced, so an open device writes silence into it quickly.
        let mut file = File::open(&capture).ok();
        if let Some(f) = &mut file {
            f.seek(std::io::SeekFrom::End(0)).unwrap();
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut odd: Option<u8> = None;
        let t0 = Instant::now();
        env.run(hook, &[], &input);
        let took = 'heard: loop {
            if file.is_none() {
                file = File::open(&capture).ok();
            }
            if let Some(f) = &mut file {
                // A device opened again truncates its file: read it anew.
                let at = f.stream_position().unwrap_or(0);
                if f.metadata().map_or(0, |m| m.len()) < at {
                    f.seek(std::io::SeekFrom::Start(0)).unwrap();
                    odd = None;
                }
                loop {
                    let n = f.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    let mut bytes: Vec<u8> = odd.take().into_iter().collect();
                    bytes.extend_from_slice(&buf[..n]);
                    if bytes.len() % 2 == 1 {
                        odd = bytes.pop();
                    }
                    let loud = bytes
                        .chunks_exact(2)
                        .any(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > 1000);
                    if loud {
                        break 'heard t0.elapsed();
                    }
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the phrase was never heard"
            );
            std::thread::sleep(Duration::from_micros(100));
        };
        // Played to its end, and (a new project) its session's phrases
        // rendered ahead, so that the next round starts from a quiet worker.
        wait_until("the phrase to end", &|| {
            figure(&["notifications", "played"]) > played
        });
        if closed {
            let share = figure(&["notifications", "last_first_audio_ms"]);
            cold = Some((took, share));
        } else if prerendered {
            ahead.push(took);
            daemon_ahead.push(Duration::from_millis(figure(&[
                "notifications",
                "last_first_audio_ms",
            ])));
        } else {
            fresh.push(took);
            wait_until("a new project's phrases", &|| {
                rendered() >= rendered_before + 6
            });
        }
    }
    row(
        &format!("{condition}spoken notification: the hook's start (PermissionRequest) → first loud sample of \"waybar llm needs permission for Bash\" at the device (captured ALSA), **rendered ahead**"),
        &format!(
            "p50 {} · max {} · daemon's share (queued → handed to the device) p50 {}",
            ms(median(&mut ahead)),
            ms(*ahead.iter().max().unwrap()),
            ms(median(&mut daemon_ahead)),
        ),
    );
    row(
        &format!(
            "{condition}the same, rendered ahead, the audio device closed (after 5 s of silence)"
        ),
        &{
            let (took, share) = cold.expect("measured");
            format!("{} (one round) · daemon's share {share} ms", ms(took))
        },
    );
    row(
        &format!("{condition}the same, not rendered ahead (a new project each time: synthesized on the spot)"),
        &format!(
            "p50 {} · max {}",
            ms(median(&mut fresh)),
            ms(*fresh.iter().max().unwrap()),
        ),
    );
    if !condition.is_empty() {
        return;
    }
    let v = env.status();
    row(
        "daemon RSS with the voice and the phrase cache (VmRSS / VmHWM)",
        &format!(
            "{} / {} · cache: {} KiB in memory (bound 4096), {} files / {} KiB on disk",
            proc_status(pid, "VmRSS"),
            proc_status(pid, "VmHWM"),
            v["phrase_cache"]["memory_bytes"].as_u64().unwrap_or(0) / 1024,
            v["phrase_cache"]["disk_files"],
            v["phrase_cache"]["disk_bytes"].as_u64().unwrap_or(0) / 1024,
        ),
    );
    // Speech over: once the device is closed (`close_after_secs`, 5 s) the
    // daemon sleeps, every thread of it.
    std::thread::sleep(Duration::from_secs(7));
    let idle = if quick { 2 } else { 10 };
    let (before, threads_before) = (ctxt(pid), threads(pid));
    std::thread::sleep(Duration::from_secs(idle));
    let (after, threads_after) = (ctxt(pid), threads(pid));
    assert_eq!(threads_before, threads_after, "a thread came or went");
    row(
        &format!(
            "daemon wakeups over {idle} s after speech ended (context switches, all {threads_after} threads)"
        ),
        &format!("{}", after - before),
    );
}

/// `scripts/fetch-test-voice`'s cache.
pub fn test_cache() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("llm-bridge-test"))
}

/// The speech tests' voice, if scripts/fetch-test-voice fetched it.
pub fn test_voice() -> Option<PathBuf> {
    let path = std::env::var_os("LLM_BRIDGE_TEST_VOICE")
        .map(PathBuf::from)
        .or_else(|| Some(test_cache()?.join("voice/en_US-joe-medium.onnx")))?;
    path.is_file().then_some(path)
}
