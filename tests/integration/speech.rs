//! `llm-bridge say` with the real Piper voice (scripts/fetch-test-voice puts
//! it in the test cache), through the daemon's speech worker and inline,
//! into a WAV file and into a captured ALSA device.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The PyPI test voice (one rule with the unit tests').
#[track_caller]
pub(crate) fn voice() -> PathBuf {
    llm_bridge::test_voice::test_voice()
}

fn speech_config(env: &Env) {
    env.write_config(&format!("[speech]\nvoice = \"{}\"\n", voice().display()));
}

/// An ALSA configuration whose default device writes raw S16 mono 22050 Hz
/// samples into `capture`; returns the value for `ALSA_CONFIG_PATH`.
pub(crate) fn captured_alsa(env: &Env, capture: &Path) -> String {
    let conf = env.runtime().join("asound-capture.conf");
    std::fs::write(
        &conf,
        format!(
            "pcm.!default {{\n type plug\n slave {{ pcm \"llmb_capture\" format S16_LE channels 1 rate 22050 }}\n}}\n\
             pcm.llmb_capture {{\n type file\n slave.pcm \"null\"\n file \"{}\"\n format \"raw\"\n}}\n",
            capture.display()
        ),
    )
    .unwrap();
    format!("/usr/share/alsa/alsa.conf:{}", conf.display())
}

/// Samples louder than a whisper in a raw S16 capture.
pub(crate) fn loud_samples(capture: &Path) -> usize {
    let bytes = std::fs::read(capture).unwrap_or_default();
    bytes
        .chunks_exact(2)
        .filter(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > 1000)
        .count()
}

/// The seconds of audio in a 16-bit mono WAV file, checking its header.
fn wav_seconds(path: &Path) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    assert_eq!(rate, 22050, "the voice's rate");
    (bytes.len() - 44) as f64 / 2.0 / f64::from(rate)
}

#[test]
fn say_through_the_daemon_keeps_the_voice_loaded_and_say_o_writes_its_own_file() {
    let env = Env::new();
    speech_config(&env);
    let daemon = SpeakingDaemon::start(&env, &[]);
    for text in ["Hello there. This is a test.", "waybar llm is done"] {
        let run = env.bridge(&["say", "--wait", text]);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{run:?}");
        assert!(stdout.starts_with("said "), "{stdout}");
    }
    // `-o` is synthesized by the `say` process itself (a sandboxed daemon
    // cannot write the user's directories): the daemon does not see it.
    let out = env.runtime().join("said.wav");
    let run = env.bridge(&["say", "-o", out.to_str().unwrap(), "waybar llm is done"]);
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("wrote "));
    let seconds = wav_seconds(&out);
    assert!((0.5..10.0).contains(&seconds), "{seconds} s of audio");
    let v = status_json(&env);
    assert_eq!(v["counters"]["said"], 2, "{v}");
    assert_eq!(v["speech_voice"], voice().to_str().unwrap());
    let log = daemon.stop();
    assert_eq!(
        log.matches("speech: loaded").count(),
        1,
        "the voice is loaded once and kept: {log}"
    );
}

#[test]
fn say_without_a_daemon_works_inline() {
    let env = Env::new();
    speech_config(&env);
    let out = env.runtime().join("inline.wav");
    let run = env.bridge(&["say", "-o", out.to_str().unwrap(), "No daemon runs."]);
    assert!(run.status.success(), "{run:?}");
    assert!(wav_seconds(&out) > 0.5);
}

#[test]
fn say_without_a_voice_says_how_to_get_one() {
    let env = Env::new();
    let _daemon = env.daemon();
    let run = env.bridge(&["say", "hello"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no voice") && stderr.contains("[speech] voice"),
        "{stderr}"
    );
    assert_eq!(status_json(&env)["counters"]["speech_refused"], 1);
}

#[test]
fn the_daemon_speaks_into_the_audio_device_and_stop_cuts_it() {
    let env = Env::new();
    speech_config(&env);
    // The daemon plays on the captured device.
    let daemon = SpeakingDaemon::start(&env, &[]);
    let capture = daemon.capture.clone();

    let run = env.bridge(&["say", "--wait", "Claude finished the task."]);
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("said 1 sentence"));
    let loud = loud_samples(&capture);
    assert!(loud > 2000, "the device got speech: {loud} loud samples");
    // No thread of the daemon waits for idle CPU: the speech thread is a
    // batch thread at the normal weight, and every other one, the audio
    // device's stream thread that the speech thread started included, is
    // at the normal policy.
    let policies = thread_policies(daemon.child.id());
    assert!(policies.len() >= 3, "loop, speech, audio: {policies:?}");
    for (name, policy) in &policies {
        let expected = if name == "llm-bridge-spee" {
            libc::SCHED_BATCH
        } else {
            libc::SCHED_OTHER
        };
        assert_eq!(*policy, expected, "thread {name}: {policies:?}");
    }
    // `status` says how long the voice took to load and the first audio to come.
    let v = status_json(&env);
    assert!(v["speech_load_ms"].as_u64().is_some(), "{v}");
    assert!(v["speech_first_audio_ms"].as_u64().is_some(), "{v}");
    assert_eq!(v["speech_queue"], 0, "{v}");

    // Without --wait, `say` returns once the daemon has queued the words.
    let run = env.bridge(&["say", "Queued only."]);
    assert!(run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).starts_with("queued"),
        "{run:?}"
    );

    // A long text, stopped early: fewer sentences than asked.
    let long: Vec<String> = (1..=12)
        .map(|i| format!("This is sentence number {i} of a long message."))
        .collect();
    let speaking = env
        .command(&bridge_bin())
        .args(["say", "--wait"])
        .args(&long)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the long say to be queued", || {
        status_json(&env)["counters"]["said"] == 3
    });
    let stop = env.bridge(&["say", "--stop"]);
    assert!(stop.status.success(), "{stop:?}");
    let out = speaking.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("stopped after"), "{stdout}");
    let n: usize = stdout
        .split("stopped after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(n < 12, "stopped after {n} of 12 sentences");
}

#[test]
fn a_panic_in_a_speech_job_is_reported_and_the_worker_goes_on() {
    let env = Env::new();
    speech_config(&env);
    let _daemon = SpeakingDaemon::start(&env, &[("LLM_BRIDGE_SPEECH_TEST_PANIC", "boom")]);
    let run = env.bridge(&["say", "--wait", "boom"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("internal error in speech"), "{stderr}");
    // The worker carries on, and the bar never stopped.
    let run = env.bridge(&["say", "--wait", "Still here."]);
    assert!(run.status.success(), "{run:?}");
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.wait_text("working");
    assert_eq!(status_json(&env)["counters"]["speech_failures"], 1);
}

/// A daemon whose audio goes to a captured ALSA device (a file), with
/// extra environment; killed when the test ends, however it ends.
pub(crate) struct SpeakingDaemon {
    child: std::process::Child,
    log: PathBuf,
    pub(crate) capture: PathBuf,
}

impl SpeakingDaemon {
    #[track_caller]
    pub(crate) fn start(env: &Env, vars: &[(&str, &str)]) -> SpeakingDaemon {
        let capture = env.runtime().join("captured.raw");
        let alsa = captured_alsa(env, &capture);
        let log = env.runtime().join("speech-daemon.log");
        let mut cmd = env.command(&bridge_bin());
        cmd.arg("daemon")
            .arg("--no-keeper")
            .env("ALSA_CONFIG_PATH", &alsa)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        wait_until("the daemon", || status_json(env)["pid"].is_u64());
        SpeakingDaemon {
            child,
            log,
            capture,
        }
    }

    /// Stops it (SIGTERM) and returns its log.
    pub(crate) fn stop(mut self) -> String {
        // SAFETY: signalling a process this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SpeakingDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each thread of `pid`: its name (`comm`, 15 bytes at most) and its
/// scheduling policy (`/proc/PID/task/TID/stat`, field 41).
fn thread_policies(pid: u32) -> Vec<(String, i32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(") ")?;
            let name = head.split_once(" (")?.1.to_string();
            let policy = rest.split(' ').nth(41 - 3)?.parse().ok()?;
            Some((name, policy))
        })
        .collect()
}

/// The loudest sample of a 16-bit mono WAV file.
fn wav_peak(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    bytes[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
        .max()
        .unwrap_or(0)
}

#[test]
fn enabled_loads_the_voice_at_start_and_rate_and_volume_shape_the_speech() {
    let env = Env::new();
    env.write_config(&format!(
        "[speech]\nenabled = true\nvoice = \"{}\"\nvolume = 0.5\n",
        voice().display()
    ));
    let _daemon = env.daemon();
    wait_until("the voice loaded at start", || {
        status_json(&env)["speech_load_ms"].as_u64().is_some()
    });
    assert_eq!(status_json(&env)["counters"]["said"], 0, "before any say");

    let text = "The build finished without a single error.";
    let normal = env.runtime().join("normal.wav");
    let fast = env.runtime().join("fast.wav");
    for (path, extra) in [(&normal, &[][..]), (&fast, &["--rate", "2"][..])] {
        let mut args = vec!["say", "-o", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(text);
        let run = env.bridge(&args);
        assert!(run.status.success(), "{run:?}");
    }
    // Length scale 0.5: each phoneme's duration is halved and rounded up to
    // whole frames, so the speech is clearly shorter, not exactly half
    // (0.67 with the test voice).
    let ratio = wav_seconds(&fast) / wav_seconds(&normal);
    assert!(
        (0.45..0.8).contains(&ratio),
        "rate 2: {ratio:.2} of the length"
    );
    // Volume 0.5 halves the samples, which are within full scale before:
    // the peak is at most half of it, and clearly audible.
    let peak = wav_peak(&normal);
    assert!((6000..=16384).contains(&peak), "peak {peak}");

    // No noise is no noise: the same words twice give the same file.
    let zero = ["--noise-scale", "0", "--noise-w", "0"];
    let mut files = Vec::new();
    for name in ["zero-1.wav", "zero-2.wav"] {
        let path = env.runtime().join(name);
        let mut args = vec!["say", "-o", path.to_str().unwrap()];
        args.extend_from_slice(&zero);
        args.push(text);
        let run = env.bridge(&args);
        assert!(run.status.success(), "{run:?}");
        files.push(std::fs::read(&path).unwrap());
    }
    assert!(files[0].len() > 10_000);
    assert!(files[0] == files[1], "zero noise, yet two different files");

    // A setting out of range is refused with one line; nothing is queued.
    let run = env.bridge(&["say", "--noise-w", "5", "x"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("noise w 5 is out of range"), "{stderr}");
    let v = status_json(&env);
    assert_eq!(
        (&v["counters"]["said"], &v["counters"]["speech_refused"]),
        (&0.into(), &1.into()),
        "-o is written by say itself; the refused one reached the daemon: {v}"
    );
}

#[test]
fn a_reload_to_a_voice_that_cannot_load_keeps_the_running_one() {
    let env = Env::new();
    speech_config(&env);
    let _daemon = SpeakingDaemon::start(&env, &[]);
    let broken = env.runtime().join("broken.onnx");
    std::fs::write(&broken, b"not a model").unwrap();
    std::fs::write(env.runtime().join("broken.onnx.json"), b"{\"audio\": 5}").unwrap();
    env.write_config(&format!("[speech]\nvoice = \"{}\"\n", broken.display()));
    let out = env.bridge(&["reload"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("broken.onnx"), "{stderr}");
    // The running voice speaks on.
    assert_eq!(status_json(&env)["speech_voice"], voice().to_str().unwrap());
    let run = env.bridge(&["say", "--wait", "Still the old voice."]);
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("said 1 sentence"));
}

#[test]
fn a_text_longer_than_one_request_goes_to_the_daemon_in_parts() {
    let env = Env::new();
    speech_config(&env);
    let _daemon = SpeakingDaemon::start(&env, &[]);
    // Over the 2048 bytes one SAY carries, but cheap to speak: two words
    // far apart.
    let text = format!("Hello.{}World.", " ".repeat(2100));
    let run = env.bridge(&["say", "--wait", &text]);
    assert!(run.status.success(), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("said 2 sentence(s)"), "{stdout}");
    assert_eq!(status_json(&env)["counters"]["said"], 2, "two requests");
}
