//! `llm-bridge-statusline`: the line it prints and the STATUS it sends.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn prints_the_sample_line_without_a_daemon_and_writes_nothing() {
    let env = Env::new();
    let out = env.statusline(&sample_file("statusline.json"), &[("NO_COLOR", "1")]);
    assert_eq!(
        stdout(&out),
        "Sonnet 4.5 waybar-llm ctx 42% $1.87 37m +412 -57 5h 24%\n"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !env.runtime().join("llm-bridge").exists(),
        "the statusline never writes files"
    );
}

#[test]
fn the_first_render_shows_a_context_placeholder() {
    let env = Env::new();
    let out = env.statusline(
        &sample_file("statusline-first-render.json"),
        &[("NO_COLOR", "1")],
    );
    assert_eq!(
        stdout(&out),
        "Sonnet 4.5 waybar-llm ctx -- $0.00 1s +0 -0\n"
    );
}

#[test]
fn inside_a_git_checkout_it_shows_the_branch() {
    let env = Env::new();
    let repo = env.runtime().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/feature/bar\n").unwrap();
    let input = String::from_utf8(sample_file("statusline.json"))
        .unwrap()
        .replace(
            "/home/user/src/waybar-llm",
            repo.join("src").to_str().unwrap(),
        );
    let out = env.statusline(input.as_bytes(), &[("NO_COLOR", "1")]);
    assert!(
        stdout(&out).contains(" src ⎇ feature/bar ctx 42%"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn colour_by_default_and_none_with_no_color() {
    let env = Env::new();
    let coloured = stdout(&env.statusline(&sample_file("statusline.json"), &[]));
    assert!(coloured.contains("\x1b[32mctx 42%\x1b[0m"), "{coloured:?}");
    let plain = stdout(&env.statusline(&sample_file("statusline.json"), &[("NO_COLOR", "1")]));
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn narrow_columns_keep_the_important_segments() {
    let env = Env::new();
    let line = stdout(&env.statusline(
        &sample_file("statusline.json"),
        &[("NO_COLOR", "1"), ("COLUMNS", "24")],
    ));
    let line = line.trim_end();
    assert!(line.chars().count() <= 24, "{line:?}");
    assert!(line.contains("ctx 42%"), "{line:?}");
}

#[test]
fn bad_input_still_prints_a_line() {
    let env = Env::new();
    let huge = format!(
        r#"{{"model":{{"display_name":"Big"}},"junk":"{}"}}"#,
        "x".repeat(5_000_000)
    );
    let deep = "[".repeat(1_000_000);
    let inputs: [&[u8]; 7] = [
        b"",
        b"not json",
        b"null",
        b"{}",
        br#"{"model":null,"context_window":null,"cost":null,"workspace":null}"#,
        huge.as_bytes(),
        deep.as_bytes(),
    ];
    for input in inputs {
        let out = env.statusline(input, &[("NO_COLOR", "1")]);
        let line = stdout(&out);
        assert_eq!(line.lines().count(), 1, "{line:?}");
    }
    assert!(
        stdout(&env.statusline(huge.as_bytes(), &[("NO_COLOR", "1")])).starts_with("Big ctx --")
    );
}

#[test]
fn a_bad_template_is_reported_and_the_default_is_used() {
    let env = Env::new();
    env.write_config("[statusline]\nformat = \"{modle} {cost}\"\n");
    let out = env.statusline(&sample_file("statusline.json"), &[("NO_COLOR", "1")]);
    assert!(
        stdout(&out).starts_with("Sonnet 4.5 waybar-llm"),
        "{}",
        stdout(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown placeholder {modle}"), "{stderr}");
}

#[test]
fn a_custom_two_row_format_from_the_config() {
    let env = Env::new();
    env.write_config(
        "[statusline]\nformat = \"{model} | {context}\\n{cost} {tokens}\"\ncolor = false\n",
    );
    let out = env.statusline(&sample_file("statusline.json"), &[]);
    assert_eq!(stdout(&out), "Sonnet 4.5 | ctx 42%\n$1.87 86k tok\n");
}

#[test]
fn the_status_reaches_the_waybar_tooltip_and_percentage() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.hook(&sample("SessionStart"));
    env.wait_text("idle");
    env.statusline(&sample_file("statusline.json"), &[]);
    wait_until("the STATUS figures in waybar.json", || {
        let m = env.module();
        m["percentage"] == 42
            && m["tooltip"]
                .as_str()
                .is_some_and(|t| t.contains("· Sonnet 4.5 · $1.87 · 42% context"))
    });
}

#[test]
fn a_status_never_creates_a_session() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.statusline(&sample_file("statusline.json"), &[]);
    // Datagrams are handled in order: once this event shows, the STATUS was handled.
    env.send(event(EventKind::SessionStart, "other", "/src/other"));
    env.wait_text("idle");
    assert!(!env.module()["tooltip"]
        .as_str()
        .unwrap()
        .contains("waybar-llm"));
}
