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
    assert_eq!(m["exec"], "llm-bridge waybar");
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
        llm_bridge::config::DEFAULT_CONFIG_TOML,
        "README's config reference is out of date"
    );
}
