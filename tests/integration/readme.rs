//! The README's snippets are what users paste: keep them valid and complete.

use std::path::Path;

fn readme_json_blocks() -> Vec<String> {
    readme_blocks("json")
}

fn readme_blocks(language: &str) -> Vec<String> {
    let fence = format!("```{language}");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        match (&mut current, trimmed) {
            (None, t) if t == fence => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_settings_block_wires_every_event_in_exec_form() {
    let blocks = readme_json_blocks();
    let settings: serde_json::Value =
        serde_json::from_str(&blocks[0]).expect("README settings block is JSON");
    let hooks = settings["hooks"].as_object().unwrap();
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "PostToolUseFailure",
        "Notification",
        "SubagentStart",
        "SubagentStop",
        "Stop",
        "StopFailure",
        "PreCompact",
        "PostCompact",
        "SessionEnd",
    ] {
        let hook = &hooks[event][0]["hooks"][0];
        assert_eq!(hook["type"], "command", "{event}");
        assert!(
            hook["command"]
                .as_str()
                .unwrap()
                .ends_with("/llm-bridge-hook"),
            "{event}"
        );
        assert!(hook["args"].is_array(), "{event} must use exec form (args)");
    }
}

#[test]
fn the_waybar_block_uses_signal_mode_with_interval_once() {
    let blocks = readme_json_blocks();
    let module: serde_json::Value =
        serde_json::from_str(&format!("{{{}}}", blocks[1])).expect("README Waybar block is JSON");
    let m = &module["custom/llm"];
    assert_eq!(m["return-type"], "json");
    assert_eq!(m["interval"], "once");
    assert_eq!(m["signal"], 8);
    assert_eq!(m["exec"], "llm-bridge-waybar");
    let dedented: Vec<&str> = blocks[1]
        .lines()
        .map(|l| l.strip_prefix("   ").unwrap_or(l))
        .collect();
    assert_eq!(
        dedented.join("\n").trim(),
        llm_bridge::commands::install::WAYBAR_SNIPPET,
        "README's module is what install prints"
    );
    for alt in ["none", "idle", "working", "waiting", "error"] {
        assert!(m["format-icons"][alt].is_string(), "{alt}");
    }
}

#[test]
fn the_statusline_block_runs_the_statusline_binary() {
    let blocks = readme_json_blocks();
    let settings: serde_json::Value =
        serde_json::from_str(&blocks[2]).expect("README statusLine block is JSON");
    assert_eq!(settings["statusLine"]["type"], "command");
    assert!(settings["statusLine"]["command"]
        .as_str()
        .unwrap()
        .ends_with("/llm-bridge-statusline"));
}

#[test]
fn the_config_reference_is_what_config_default_prints() {
    let blocks = readme_blocks("toml");
    assert_eq!(
        blocks[0],
        llm_bridge_core::config::DEFAULT_CONFIG_TOML,
        "README's config reference is out of date"
    );
}

/// The first shell block of "Setup by hand": the binaries installed.
fn by_hand_install() -> String {
    readme_blocks("sh")
        .into_iter()
        .find(|b| b.contains("scripts/build-release"))
        .expect("README's setup by hand builds with scripts/build-release")
}

#[test]
fn the_readme_starts_with_the_install_script_and_the_packages_it_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let blocks = readme_blocks("sh");
    assert!(blocks[0].contains("\nscripts/install "), "{}", blocks[0]);
    // The packages README lists are the ones the script names.
    let script = std::fs::read_to_string(root.join("scripts/install")).unwrap();
    for package in [
        "libasound2-dev",
        "alsa-lib-devel",
        "pkgconf-pkg-config",
        "alsa-lib",
    ] {
        assert!(blocks[1].contains(package), "README lacks {package}");
        let word = package.split(' ').next().unwrap();
        assert!(script.contains(word), "scripts/install lacks {word}");
    }
    // The cargo route leaves no RUSTFLAGS in the user's shell.
    assert!(
        !blocks.iter().any(|b| b.contains("export RUSTFLAGS")),
        "README exports RUSTFLAGS"
    );
}

#[test]
fn the_systemd_unit_runs_the_binary_where_the_readme_installs_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let first_install = by_hand_install();
    assert!(
        first_install.contains("~/.local/bin/"),
        "README's first install: {first_install}"
    );
    let unit = std::fs::read_to_string(root.join("contrib/systemd/llm-bridge.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=%h/.local/bin/llm-bridge daemon"),
        "{unit}"
    );
    assert!(!readme.contains("../shared"), "README must stand alone");
    let samples = std::fs::read_to_string(root.join("tests/samples/README.md")).unwrap();
    assert!(
        !samples.contains("notes/"),
        "tests/samples/README.md: {samples}"
    );
}

/// README's setup, followed as a new user would in a fresh HOME with a
/// realistic settings.json: binaries in ~/.local/bin, `install --write`,
/// then Claude Code running the hooks it wired (exec form, read back from
/// the file), without and with a daemon: the bar works and every one of the
/// user's settings is intact.
#[test]
fn the_readme_setup_in_a_fresh_home_gives_a_working_bar_and_intact_settings() {
    use crate::support::*;
    let env = Env::new();
    let home = env.runtime().join("home");
    let bin = home.join(".local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let install_step = by_hand_install();
    assert!(
        install_step.contains("llm-bridge-{hook,statusline,waybar,apply}"),
        "README installs every binary: {install_step}"
    );
    let build_dir = hook_bin().parent().unwrap().to_path_buf();
    for name in [
        "llm-bridge",
        "llm-bridge-hook",
        "llm-bridge-statusline",
        "llm-bridge-waybar",
        "llm-bridge-apply",
    ] {
        let from = if name == "llm-bridge" {
            bridge_bin()
        } else {
            build_dir.join(name)
        };
        // A hard link never has a writer, so exec cannot meet ETXTBSY.
        std::fs::hard_link(&from, bin.join(name))
            .or_else(|_| std::fs::copy(&from, bin.join(name)).map(drop))
            .unwrap();
    }
    let settings = home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = r#"{
  "env": { "ANTHROPIC_API_KEY": "sk-ant-test-0000" },
  "permissions": { "allow": ["Bash(git status)"], "deny": [] },
  "model": "opus",
  "cleanupPeriodDays": 12345678901234567890123,
  "hooks": {
    "Stop": [{ "hooks": [{ "type": "command", "command": "notify-send done" }] }]
  }
}
"#;
    std::fs::write(&settings, original).unwrap();
    std::fs::set_permissions(
        &settings,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let path = format!("{}:/usr/bin:/bin", bin.display());
    let run = |args: &[&str]| {
        let mut cmd = env.command(&bin.join("llm-bridge"));
        cmd.args(args)
            .env("PATH", &path)
            .stdin(std::process::Stdio::null());
        output_of_fresh_copy(cmd)
    };
    let out = run(&["install", "--write"]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&settings).unwrap();
    for kept in [
        "\"ANTHROPIC_API_KEY\": \"sk-ant-test-0000\"",
        "\"allow\": [\"Bash(git status)\"]",
        "\"cleanupPeriodDays\": 12345678901234567890123",
        "notify-send done",
    ] {
        assert!(text.contains(kept), "{kept} lost:\n{text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&settings).unwrap()) & 0o777,
        0o600
    );

    // Claude Code runs each hook as settings.json says, in exec form.
    let fire = |event: &str, sample_name: &str| {
        let entries = v["hooks"][event].as_array().unwrap();
        let ours = entries
            .iter()
            .flat_map(|e| e["hooks"].as_array().unwrap())
            .find(|h| h["command"].as_str().unwrap().ends_with("/llm-bridge-hook"))
            .unwrap_or_else(|| panic!("{event} is not wired"));
        let mut cmd = env.command(Path::new(ours["command"].as_str().unwrap()));
        for arg in ours["args"].as_array().unwrap() {
            cmd.arg(arg.as_str().unwrap());
        }
        cmd.env("PATH", &path);
        let out = run_with_stdin(cmd, &sample(sample_name));
        assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    };
    // No daemon yet: the fallback keeps the bar true.
    fire("SessionStart", "SessionStart");
    fire("PreToolUse", "PreToolUse-Bash");
    env.wait_text("working: Bash");
    // With the daemon started as README says.
    let _stop = StopOnDrop(&env);
    let out = run(&["start"]);
    assert!(out.status.success(), "{out:?}");
    fire("PermissionRequest", "PermissionRequest");
    env.wait_text("waiting");
    // What Waybar runs, as README's module says.
    let mut waybar = env.command(&bin.join("llm-bridge-waybar"));
    waybar.stdin(std::process::Stdio::null());
    let out = output_of_fresh_copy(waybar);
    let module: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(module["alt"], "waiting");
    fire("SessionEnd", "SessionEnd");
    env.wait_text("none");
    let out = run(&["stop"]);
    assert!(out.status.success(), "{out:?}");
}
