//! No audio device that opens: `say` fails at once with one line naming
//! the device and the way around it (through the daemon, with or without
//! `--wait`, and inline), and none of ALSA's or JACK's own messages reach
//! the user or the daemon's log.

use crate::speech::{voice, SpeakingDaemon};
use crate::support::*;

/// An ALSA configuration whose default device is a sound card that does
/// not exist; returns the value for `ALSA_CONFIG_PATH`.
fn no_device(env: &Env) -> String {
    let conf = env.runtime().join("asound-none.conf");
    std::fs::write(&conf, "pcm.!default {\n type hw\n card 29\n}\n").unwrap();
    format!("/usr/share/alsa/alsa.conf:{}", conf.display())
}

#[track_caller]
fn assert_one_plain_line(stderr: &[u8]) {
    let stderr = String::from_utf8_lossy(stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot open the audio device ALSA \"default\"")
            && stderr.contains("llm-bridge say -o FILE.wav"),
        "{stderr}"
    );
}

#[test]
fn say_without_an_audio_device_fails_at_once_with_one_line() {
    let env = Env::new();
    env.write_config(&format!("[speech]\nvoice = \"{}\"\n", voice().display()));
    let alsa = no_device(&env);
    let daemon = SpeakingDaemon::start(&env, &[("ALSA_CONFIG_PATH", &alsa)]);

    for args in [&["say", "hello"][..], &["say", "--wait", "hello"]] {
        let run = env.bridge(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        assert_one_plain_line(&run.stderr);
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert_eq!(status_json(&env)["counters"]["speech_failures"], 2);
    let log = daemon.stop();
    assert!(!log.contains("ALSA lib"), "{log}");
    assert!(!log.to_lowercase().contains("jack"), "{log}");
    assert_eq!(
        log.matches("cannot open the audio device").count(),
        2,
        "{log}"
    );

    // Without a daemon, `say` opens the device itself: the same one line.
    let inline = env
        .command(&bridge_bin())
        .args(["say", "hello"])
        .env("ALSA_CONFIG_PATH", &alsa)
        .output()
        .unwrap();
    assert_eq!(inline.status.code(), Some(2), "{inline:?}");
    assert_one_plain_line(&inline.stderr);
}
