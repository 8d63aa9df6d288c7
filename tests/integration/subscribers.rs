//! `waybar --follow` and `status --watch`: the one subscribe client follows a
//! restarted daemon and unsubscribes when it ends, so a socket-activated
//! daemon can exit when idle.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;

#[track_caller]
fn wait_subscribers(env: &Env, n: u64) {
    wait_until(&format!("{n} subscriber(s)"), || {
        status_json(env)["subscribers"] == n
    });
}

/// Both clients, stopped the way they are in real life: Ctrl-C for
/// `status --watch`, SIGTERM from Waybar for `waybar --follow`.
#[test]
fn a_stopped_subscriber_unsubscribes_and_the_activated_daemon_exits_when_idle() {
    for (args, signal, first) in [
        (&["status", "--watch"][..], libc::SIGINT, "none"),
        (
            &["waybar", "--follow"][..],
            libc::SIGTERM,
            "\"alt\":\"none\"",
        ),
    ] {
        let env = Env::new();
        env.write_config("idle_exit_secs = 1\n");
        let listener = bind_like_systemd(&env);
        let mut daemon = socket_activated_daemon(&env, &listener);
        let mut client = Streaming::start(&env, args);
        client.expect(first);
        wait_subscribers(&env, 1);
        let status = client.signal_and_wait(signal);
        assert!(status.success(), "{args:?} ended with {status:?}");
        wait_until("the idle exit after the subscriber left", || {
            daemon.try_wait().unwrap().is_some()
        });
        assert!(daemon.wait().unwrap().success());
    }
}

#[test]
fn status_watch_and_waybar_follow_follow_a_restarted_daemon() {
    let env = Env::new();
    let daemon = env.daemon();
    let watch = Streaming::start(&env, &["status", "--watch"]);
    let follow = Streaming::start(&env, &["waybar", "--follow"]);
    watch.expect("none");
    follow.expect("none");
    wait_subscribers(&env, 2);
    daemon.stop();
    let _daemon = env.daemon();
    wait_subscribers(&env, 2);
    env.send(event(EventKind::Permission, "a", "/src/alpha"));
    watch.expect("alpha: waiting");
    follow.expect("\"alt\":\"waiting\"");
}

#[test]
fn status_watch_prints_names_as_plain_text() {
    let env = Env::new();
    let _daemon = env.daemon();
    let watch = Streaming::start(&env, &["status", "--watch"]);
    watch.expect("none");
    env.send(event(EventKind::Permission, "a", "/src/R&D <x>"));
    let line = watch.expect("waiting since");
    assert!(line.contains("R&D <x>: waiting"), "{line}");
}

#[test]
fn a_module_larger_than_a_request_reaches_waybar_follow_whole() {
    let env = Env::new();
    let _daemon = env.daemon();
    let follow = Streaming::start(&env, &["waybar", "--follow"]);
    follow.expect("none");
    wait_subscribers(&env, 1);
    // Twenty long project names: the module is over 4 KiB (the largest
    // request datagram), as 40 ordinary sessions' tooltip used to be.
    let long = "x".repeat(300);
    for i in 0..20 {
        env.send(event(
            EventKind::Permission,
            &format!("s{i}"),
            &format!("/src/p{i}-{long}"),
        ));
    }
    loop {
        let line = follow.expect("waiting");
        let module: serde_json::Value = serde_json::from_str(&line).expect("a whole module");
        if module["text"] == "waiting 20" {
            assert!(line.len() > 4096, "{} bytes", line.len());
            assert!(module["tooltip"]
                .as_str()
                .unwrap()
                .contains(&format!("p19-{long}")));
            break;
        }
    }
}
