//! Signalling Waybar: leading edge, coalescing, the handler check, and
//! keeping login sessions apart. The recorder stands in for Waybar (the real
//! one is exercised by the end-to-end script).

use crate::support::*;
use llm_bridge_protocol::wire::{line_digest, EventKind, Message};
use std::time::{Duration, Instant};

#[test]
fn an_isolated_event_signals_once_after_the_file_is_written() {
    let env = Env::new();
    let waybar = env.fake_waybar(false);
    let _daemon = env.daemon();
    let got = waybar.wait_signals(1);
    assert!(
        got[0].module.contains("\"alt\":\"none\""),
        "start-up publishes the none module: {got:?}"
    );
    env.hook(&sample("UserPromptSubmit"));
    let got = waybar.wait_signals(2);
    assert_eq!(got.len(), 2);
    let module: serde_json::Value = serde_json::from_str(&got[1].module)
        .expect("waybar.json was complete when the signal arrived");
    assert_eq!(module["alt"], "working");
    // A second isolated event is a new leading edge: one more signal.
    env.hook(&sample("Stop"));
    let got = waybar.wait_signals(3);
    assert!(got[2].module.contains("\"alt\":\"idle\""), "{got:?}");
}

#[test]
fn an_unchanged_module_is_not_signalled() {
    let env = Env::new();
    let waybar = env.fake_waybar(false);
    let daemon = env.daemon();
    waybar.wait_signals(1);
    env.hook(&sample("UserPromptSubmit"));
    waybar.wait_signals(2);
    // Same module text: the session was already working. Only the
    // tooltip changes (a subagent), which is published only when the two
    // hooks land in different debounce windows: the bar is signalled for
    // each module that differs from the last one, never for the same one.
    env.hook(&sample("SubagentStart"));
    env.hook(&sample("Stop"));
    let idle = |r: &Received| r.module.contains("\"alt\":\"idle\"");
    wait_until("the idle module", || {
        waybar.received().last().is_some_and(idle)
    });
    let log = daemon.stop();
    let received = waybar.received();
    assert!(received.last().is_some_and(idle), "{received:?}\n{log}");
    assert!(
        received.windows(2).all(|w| w[0].module != w[1].module),
        "a signal for an unchanged module: {received:?}\n{log}"
    );
    assert!(received.len() <= 4, "{received:?}\n{log}");
}

#[test]
fn a_burst_is_coalesced_but_never_held_back_beyond_the_cap() {
    let env = Env::new();
    let waybar = env.fake_waybar(false);
    let _daemon = env.daemon();
    waybar.wait_signals(1);
    // 300 ms of events every 2 ms, each one changing the module (a new tool).
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_millis(300) {
        env.send(tool_event(
            EventKind::ToolStart,
            "s",
            &format!("T{sent}"),
            &format!("t{sent}"),
        ));
        sent += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    env.send(tool_event(EventKind::ToolStart, "s", "Grep", "last"));
    env.wait_text("working: Grep");
    let got = waybar.wait_signals(1);
    let last = waybar
        .wait_signals(got.len())
        .last()
        .unwrap()
        .module
        .clone();
    wait_until("the final module to be signalled", || {
        waybar
            .received()
            .last()
            .is_some_and(|r| r.module.contains("working: Grep"))
    });
    let n = waybar.received().len() - 1;
    // Without the 50 ms cap a steady stream would flush once at its end;
    // without debouncing every event would signal.
    assert!(
        n >= 3,
        "only {n} signals for a 300 ms stream ({sent} events); last: {last}"
    );
    assert!(n < sent / 3, "{n} signals for {sent} events: not coalesced");
}

#[test]
fn trailing_mode_waits_for_the_window() {
    let env = Env::new();
    env.write_config("[debounce]\nmode = \"trailing\"\nwindow_ms = 40\ncap_ms = 100\n");
    let waybar = env.fake_waybar(false);
    let _daemon = env.daemon();
    waybar.wait_signals(1);
    let sent_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    env.hook(&sample("UserPromptSubmit"));
    let got = waybar.wait_signals(2);
    let waited = Duration::from_nanos((got[1].at_ns - sent_ns) as u64);
    assert!(
        waited >= Duration::from_millis(40),
        "signalled after {waited:?}, before the 40 ms window"
    );
}

#[test]
fn waybar_is_not_signalled_before_its_handler_is_installed() {
    let env = Env::new();
    let mut waybar = env.fake_waybar(true);
    let daemon = env.daemon();
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    env.hook(&sample("PermissionRequest"));
    env.wait_text("waiting");
    assert!(waybar.is_alive());
    assert!(
        waybar.received().is_empty(),
        "signalled without a handler: {:?}",
        waybar.received()
    );
    waybar.install_handler();
    env.hook(&sample("Stop"));
    // The flush that wrote "waiting" may check SigCgt just after the handler
    // went in (the file is renamed before the check), so a signal carrying
    // "waiting" is legitimate; one before the handler (EARLY) never is.
    wait_until("a signal carrying the idle module", || {
        waybar
            .received()
            .iter()
            .any(|r| r.module.contains("\"idle\""))
    });
    let got = waybar.received();
    assert!(
        got.iter().all(|r| !r.early),
        "signalled before the handler: {got:?}"
    );
    assert!(waybar.is_alive());
    drop(daemon);
}

#[test]
fn only_the_waybar_of_our_login_session_is_signalled() {
    let ours = Env::new();
    let other = Env::new();
    let stranger = other.fake_waybar(false);
    let waybar = ours.fake_waybar(false);
    let _daemon = ours.daemon();
    waybar.wait_signals(1);
    ours.hook(&sample("UserPromptSubmit"));
    waybar.wait_signals(2);
    ours.hook(&sample("Stop"));
    waybar.wait_signals(3);
    assert!(
        stranger.received().is_empty(),
        "a Waybar with another XDG_RUNTIME_DIR was signalled"
    );
}

#[test]
fn the_fallback_signals_waybar_too() {
    let env = Env::new();
    let waybar = env.fake_waybar(false);
    env.hook(&sample("UserPromptSubmit"));
    let got = waybar.wait_signals(1);
    assert!(got[0].module.contains("\"working\""), "{got:?}");
}

#[test]
fn the_fallback_remembers_waybar_instead_of_rescanning() {
    let env = Env::new();
    let first = env.fake_waybar(false);
    env.hook(&sample("UserPromptSubmit"));
    first.wait_signals(1);
    let cache = std::fs::read_to_string(env.runtime().join("llm-bridge/waybar.pids")).unwrap();
    assert!(
        cache
            .lines()
            .skip(1)
            .any(|l| l == first.child.id().to_string()),
        "{cache}"
    );
    // A Waybar started after the scan is not looked for while a cached one
    // is alive (a rescan happens only when none is known): proof that the
    // second fallback used the cache.
    let second = env.fake_waybar(false);
    env.hook(&sample("Stop"));
    first.wait_signals(2);
    assert!(second.received().is_empty());
}

#[test]
fn a_restarted_waybar_is_signalled_from_its_first_change() {
    let env = Env::new();
    let first = env.fake_waybar(false);
    let _daemon = env.daemon();
    first.wait_signals(1);
    drop(first);
    // A new Waybar within the rescan interval: only its exec, which names
    // it to the daemon, can make it known this soon.
    let second = env.fake_waybar_running_exec(false);
    env.hook(&sample("UserPromptSubmit"));
    let got = second.wait_signals(1);
    assert!(got[0].module.contains("\"working\""), "{got:?}");
}

#[test]
fn a_waybar_named_after_a_change_it_did_not_print_is_signalled() {
    let env = Env::new();
    let _daemon = env.daemon();
    let before = std::fs::read_to_string(env.waybar_json()).unwrap_or_default();
    let before = before.lines().next().unwrap_or("").to_string();
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    // Started after the daemon's scan and after the change was signalled:
    // only its exec's naming makes it known. That exec printed the module
    // from before the change (its naming can arrive after the change).
    let waybar = env.fake_waybar(false);
    env.send_raw(
        &Message::Waybar {
            pid: waybar.child.id(),
            shown: Some(line_digest(&before)),
        }
        .encode(),
    );
    let got = waybar.wait_signals(1);
    assert!(got[0].module.contains("\"working\""), "{got:?}");
}

#[test]
fn a_waybar_whose_handler_comes_late_is_signalled_once_it_is_there() {
    let env = Env::new();
    let _daemon = env.daemon();
    let mut waybar = env.fake_waybar_running_exec(true);
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    assert!(waybar.received().is_empty(), "no signal before the handler");
    waybar.install_handler();
    // No new event: the daemon's retry delivers the change it owes.
    let got = waybar.wait_signals(1);
    assert!(got.iter().all(|r| !r.early), "{got:?}");
    assert!(got[0].module.contains("\"working\""), "{got:?}");
    assert!(waybar.is_alive());
}
