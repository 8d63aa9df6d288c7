//! Spoken notifications with the real Piper voice: what is said, when it is
//! not, preemption on a paced (PulseAudio) sink, and the phrase cache.

use crate::speech::{loud_samples, voice, SpeakingDaemon};
use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `[speech]` on, with no noise so that two renderings of one text are
/// alike, plus `extra`.
fn config(env: &Env, extra: &str) {
    env.write_config(&format!(
        "[speech]\nenabled = true\nvoice = \"{}\"\nnoise_scale = 0\nnoise_w = 0\n{extra}",
        voice().display()
    ));
}

fn notifications(env: &Env) -> Value {
    status_json(env)["notifications"].clone()
}

#[track_caller]
fn wait_count(env: &Env, counter: &str, n: u64) {
    wait_until(&format!("notifications.{counter} to reach {n}"), || {
        notifications(env)[counter].as_u64() >= Some(n)
    });
}

fn permission(sid: &str, project: &str, tool: &str) -> llm_bridge_protocol::wire::Event {
    let mut e = event(EventKind::Permission, sid, &format!("/src/{project}"));
    e.tool_name = Some(tool.to_string());
    e
}

fn wait_loaded(env: &Env) {
    // Condition-based: the voice is ready when `status` says how long it took.
    wait_until_long("the voice to load", || {
        status_json(env)["speech_load_ms"].is_u64()
    });
}

/// [`wait_until`] for speech, whose synthesis in a test build under a
/// loaded machine can take longer than the usual deadline.
#[track_caller]
fn wait_until_long(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_permission_request_is_said_once_and_mute_and_quiet_hours_silence_it() {
    let env = Env::new();
    config(&env, "");
    let daemon = SpeakingDaemon::start(&env, &[]);
    wait_loaded(&env);

    env.send(permission("a", "waybar-llm", "Bash"));
    env.wait_text("waiting");
    wait_until_long("the phrase to play", || notifications(&env)["played"] == 1);
    // The phrase is the one `say -o` renders for the same words.
    let out = env.runtime().join("expected.wav");
    let run = env.bridge(&[
        "say",
        "-o",
        out.to_str().unwrap(),
        "waybar llm needs permission for Bash",
    ]);
    assert!(run.status.success(), "{run:?}");
    let expected = wav_loud_samples(&out) as f64;
    let heard = loud_samples(&daemon.capture) as f64;
    assert!(
        (heard - expected).abs() / expected < 0.1,
        "the device got {heard} loud samples, say -o {expected}"
    );

    // The same session and event again within the window: nothing.
    env.send(tool_event(EventKind::ToolEnd, "a", "Bash", "t1"));
    env.send(permission("a", "waybar-llm", "Bash"));
    wait_count(&env, "repeated", 1);
    assert_eq!(notifications(&env)["played"], 1);

    // Muted: not said, and the bar says so.
    assert!(env.bridge(&["mute", "on"]).status.success());
    env.send(permission("b", "api-server", "Edit"));
    wait_count(&env, "muted", 1);
    // The module is written on the debounce timer's edge, not with the reply.
    wait_until("the bar to show the mute", || {
        env.module()["class"]
            .as_array()
            .is_some_and(|c| c.contains(&Value::from("muted")))
    });
    assert!(env.bridge(&["mute", "off"]).status.success());

    // Quiet hours around now: not said.
    let hour: u32 = String::from_utf8(Command::new("date").arg("+%H").output().unwrap().stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    config(
        &env,
        &format!(
            "quiet_hours = \"{:02}:00-{:02}:00\"\n",
            (hour + 23) % 24,
            (hour + 1) % 24
        ),
    );
    assert!(env.bridge(&["reload"]).status.success());
    env.send(permission("c", "docs", "Write"));
    wait_count(&env, "quiet_hours", 1);
    let n = notifications(&env);
    assert_eq!(
        (n["played"].as_u64(), n["queued"].as_u64()),
        (Some(1), Some(1)),
        "{n}"
    );
    assert_eq!(
        loud_samples(&daemon.capture) as f64,
        heard,
        "nothing more was heard"
    );
}

#[test]
fn phrases_rendered_ahead_survive_a_restart_within_their_bound() {
    let env = Env::new();
    // About three phrases fit.
    config(&env, "cache_mib = 0.3\n");
    let daemon = SpeakingDaemon::start(&env, &[]);
    env.send(event(EventKind::SessionStart, "s", "/src/alpha"));
    // Four permission phrases (Bash, Edit, Write, WebFetch), done, failed.
    wait_until_long("six phrases rendered ahead", || {
        status_json(&env)["phrase_cache"]["rendered"] == 6
    });
    let cache = env.runtime().join("home/.cache/llm-bridge/phrases");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let bound = (0.3 * 1024.0 * 1024.0) as u64;
    let files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(
        total <= bound && files.len() >= 2,
        "{} files, {total} bytes",
        files.len()
    );
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(daemon.stop());

    // A new daemon plays the last phrase rendered from the disk cache.
    let _daemon = SpeakingDaemon::start(&env, &[]);
    env.send(event(EventKind::Submit, "s", "/src/alpha"));
    env.send(event(EventKind::StopFail, "s", "/src/alpha"));
    wait_until_long("the failed phrase to play", || {
        notifications(&env)["played"] == 1
    });
    let v = status_json(&env);
    assert_eq!(v["notifications"]["from_cache"], 1, "{v}");
    assert_eq!(v["phrase_cache"]["rendered"], 0, "nothing synthesized: {v}");
}

#[test]
fn a_permission_request_cuts_a_done_that_plays_on_a_paced_sink() {
    let env = Env::new();
    let pulse = PulseSink::start(&env);
    let long = "{project} is done. It ran many steps, and every one of them worked as \
                planned, so this sentence goes on for a good while before it ends.";
    config(
        &env,
        &format!("[speech.events.done]\nsay = \"{long}\"\nmin_turn_secs = 0\n"),
    );
    let _daemon = SpeakingDaemon::start(
        &env,
        &[
            ("ALSA_CONFIG_PATH", pulse.alsa_config.to_str().unwrap()),
            ("PULSE_SERVER", pulse.server.as_str()),
        ],
    );
    // Loud samples of a text as `say -o` renders it.
    let loud_of = |name: &str, text: &str| {
        let out = env.runtime().join(name);
        assert!(env
            .bridge(&["say", "-o", out.to_str().unwrap(), text])
            .status
            .success());
        wav_loud_samples(&out)
    };
    let full_done = loud_of("done.wav", &long.replace("{project}", "alpha"));
    let full_permission = loud_of("permission.wav", "beta needs permission for Bash");
    // The permission phrase is rendered ahead (SessionStart), as a dialog's
    // usually is, so that it is ready while the done still plays, however
    // slowly a loaded machine synthesizes.
    env.send(event(EventKind::SessionStart, "b", "/src/beta"));
    wait_until_long("beta's phrases rendered ahead", || {
        status_json(&env)["phrase_cache"]["rendered"] == 6
    });
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.send(event(EventKind::Stop, "a", "/src/alpha"));
    wait_until_long("the done phrase to be heard", || pulse.loud() > 2000);
    env.send(permission("b", "beta", "Bash"));
    wait_until_long("the permission phrase to play", || {
        notifications(&env)["played"] == 2
    });
    let n = notifications(&env);
    assert_eq!(n["preempted"], 1, "{n}");
    // What was heard: part of the done, then the permission. Its second,
    // long sentence was cut, so at least 30% of the done's loud samples are
    // missing. (Loud samples, not the span: on a loaded machine a gap of
    // silence may come before the permission.)
    wait_until_long("the permission phrase to be heard", || {
        pulse.loud() > full_permission
    });
    let heard = pulse.loud();
    assert!(
        heard + full_done * 3 / 10 < full_done + full_permission,
        "heard {heard} loud samples; the whole done has {full_done}, the permission {full_permission}"
    );
}

/// A PulseAudio server with a null sink (played in real time, as a sound
/// card would) and `parec` recording its monitor; both killed on drop.
struct PulseSink {
    server: String,
    alsa_config: PathBuf,
    recording: PathBuf,
    daemon: Child,
    parec: Child,
}

impl PulseSink {
    #[track_caller]
    fn start(env: &Env) -> PulseSink {
        let dir = env.runtime().join("pulse");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("native");
        let server = format!("unix:{}", socket.display());
        let daemon = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix socket={}",
                socket.display()
            ))
            .arg("--load=module-null-sink sink_name=nullsink")
            .env("HOME", &dir)
            .env("XDG_RUNTIME_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pulseaudio.log")).unwrap())
            .spawn()
            .expect("pulseaudio is needed for the paced sink (.ci/run installs it)");
        wait_until("pulseaudio's socket", || socket.exists());
        let recording = dir.join("recording.raw");
        let parec = Command::new("parec")
            .args([
                "-d",
                "nullsink.monitor",
                "--format=s16le",
                "--rate=22050",
                "--channels=1",
            ])
            .env("PULSE_SERVER", &server)
            .env("HOME", &dir)
            .stdout(std::fs::File::create(&recording).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec (pulseaudio-utils)");
        // The monitor streams silence as soon as parec records.
        wait_until("parec to record", || {
            std::fs::metadata(&recording).is_ok_and(|m| m.len() > 0)
        });
        let alsa = dir.join("asound-pulse.conf");
        std::fs::write(
            &alsa,
            format!("pcm.!default {{ type pulse server \"{server}\" }}\nctl.!default {{ type pulse server \"{server}\" }}\n"),
        )
        .unwrap();
        PulseSink {
            server,
            alsa_config: PathBuf::from(format!("/usr/share/alsa/alsa.conf:{}", alsa.display())),
            recording,
            daemon,
            parec,
        }
    }

    fn loud(&self) -> usize {
        loud_samples(&self.recording)
    }
}

impl Drop for PulseSink {
    fn drop(&mut self) {
        for child in [&mut self.parec, &mut self.daemon] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn samples(raw: &[u8]) -> impl Iterator<Item = i16> + '_ {
    raw.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
}

fn wav_loud_samples(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    samples(&bytes[44..])
        .filter(|s| s.unsigned_abs() > 1000)
        .count()
}
