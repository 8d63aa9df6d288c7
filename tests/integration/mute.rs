//! `llm-bridge mute`: the bar shows it, with or without a daemon, a daemon
//! started later keeps it, and a timed mute ends by itself.

use crate::support::*;

fn classes(env: &Env) -> Vec<String> {
    env.module()["class"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn mute(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["mute"];
    all.extend_from_slice(args);
    let run = env.bridge(&all);
    assert!(run.status.success(), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn mute_shows_on_the_bar_with_or_without_a_daemon_and_a_timed_one_ends() {
    let env = Env::new();
    // No daemon: the state files change under the lock, as the fallback's do.
    assert_eq!(mute(&env, &["on"]), "spoken notifications muted\n");
    assert_eq!(classes(&env), ["none", "muted"]);
    assert_eq!(env.module()["text"], "none 🔇");
    assert!(env.module()["tooltip"]
        .as_str()
        .unwrap()
        .contains("Spoken notifications muted"));

    // A daemon started later keeps it.
    let _daemon = env.daemon();
    assert_eq!(status_json(&env)["muted"], true);
    assert_eq!(mute(&env, &[]), "spoken notifications unmuted\n", "toggle");
    wait_until("the bar to drop the muted class", || {
        classes(&env) == ["none"]
    });
    assert_eq!(status_json(&env)["muted"], false);

    // A timed mute: shown with its end, and gone by itself (the daemon's
    // timer, not a poll, ends it).
    let said = mute(&env, &["on", "--for", "1s"]);
    assert!(
        said.starts_with("spoken notifications muted until "),
        "{said}"
    );
    wait_until("the bar to show the mute", || {
        classes(&env) == ["none", "muted"]
    });
    assert!(status_json(&env)["muted_until"].is_u64());
    wait_until("the timed mute to end", || classes(&env) == ["none"]);
    assert_eq!(status_json(&env)["muted"], false);

    let run = env.bridge(&["mute", "on", "--for", "soon"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("\"soon\" is not a duration"), "{stderr}");
}
