//! A daemon started before any voice existed: `say` names the places it
//! looked at, and a voice installed afterwards speaks without a `reload`
//! (the daemon watches the voices directory it created).

use crate::speech::{loud_samples, SpeakingDaemon};
use crate::support::*;
use crate::voice::voices_dir;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

#[test]
fn a_voice_installed_while_the_daemon_runs_speaks_without_reload() {
    let env = Env::new();
    let daemon = SpeakingDaemon::start(&env, &[]);
    let dir = voices_dir(&env);
    let data = env.runtime().join("home/.local/share/llm-bridge");
    // The daemon made the directory it watches, private.
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    let run = env.bridge(&["say", "hello"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for place in [dir.join("voice.onnx"), data.join("voice.onnx")] {
        assert!(stderr.contains(place.to_str().unwrap()), "{stderr}");
    }
    assert!(stderr.contains("llm-bridge voice install"), "{stderr}");

    let voice = llm_bridge::test_voice::test_voice();
    let install = env.bridge(&["voice", "install", "--from", voice.to_str().unwrap()]);
    assert!(install.status.success(), "{install:?}");

    // No reload: the daemon loads the voice it saw appear.
    let mut last: Option<Output> = None;
    wait_until("the daemon to speak with the new voice", || {
        let said = env.bridge(&["say", "--wait", "A new voice."]);
        let done = said.status.success();
        last = Some(said);
        done || !String::from_utf8_lossy(&last.as_ref().unwrap().stderr).contains("no voice")
    });
    let said = last.unwrap();
    assert!(said.status.success(), "{said:?}");
    assert!(
        loud_samples(&daemon.capture) > 2000,
        "the device got speech"
    );
    let log = daemon.stop();
    assert!(log.contains("speech: found the voice"), "{log}");
}
