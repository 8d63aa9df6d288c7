//! A build without the speech engine (`--no-default-features`, as .ci/run
//! builds and tests it): `say` answers with one line, through the daemon and
//! without one, and the bar is untouched.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;

#[track_caller]
fn assert_not_built(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("speech is not built"), "{stderr}");
}

#[test]
fn say_answers_that_speech_was_not_built() {
    let env = Env::new();
    assert_not_built(&env.bridge(&["say", "hello"]));
    let _daemon = env.daemon();
    assert_not_built(&env.bridge(&["say", "hello"]));
    assert_eq!(status_json(&env)["counters"]["speech_refused"], 1);
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.wait_text("working");
}
