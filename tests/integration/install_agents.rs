//! `llm-bridge install --agent`: every agent's hooks file, merged with the
//! care Claude Code's settings.json gets; `all` (the default) is Claude
//! Code and every agent whose configuration directory exists.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn home(env: &Env) -> PathBuf {
    env.runtime().join("home")
}

/// `llm-bridge install ARGS` with a bin dir of stand-ins.
fn install(env: &Env, args: &[&str]) -> Output {
    let bin = env.runtime().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in [
        "llm-bridge",
        "llm-bridge-hook",
        "llm-bridge-statusline",
        "llm-bridge-waybar",
        "llm-bridge-apply",
    ] {
        let path = bin.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = env.command(&bridge_bin());
    cmd.env_remove("CODEX_HOME")
        .args(["install", "--bin-dir", bin.to_str().unwrap()])
        .args(args);
    cmd.output().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn all_writes_claude_and_each_present_agent_and_says_so() {
    let env = Env::new();
    let gemini = home(&env).join(".gemini/settings.json");
    std::fs::create_dir_all(gemini.parent().unwrap()).unwrap();
    let mine = "{\n  // my theme\n  \"theme\": \"Dracula\"\n}\n";
    std::fs::write(&gemini, mine).unwrap();
    std::fs::create_dir_all(home(&env).join(".codex")).unwrap();
    let out = install(&env, &["--write"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("--agent all, the default): Claude Code, Gemini CLI, Codex CLI"),
        "{stdout}"
    );
    assert!(stdout.contains("Gemini CLI: updated "), "{stdout}");
    assert!(stdout.contains("Codex CLI: wrote "), "{stdout}");
    assert!(stdout.contains("`/hooks`"), "the approval step: {stdout}");
    assert!(!stdout.contains("Qwen"), "no ~/.qwen: {stdout}");
    let text = read(&gemini);
    assert!(text.contains("// my theme") && text.contains("\"theme\": \"Dracula\""));
    assert!(
        text.contains("llm-bridge-hook gemini AfterAgent\""),
        "{text}"
    );
    // The backup holds the original, comments and all.
    let backups: Vec<_> = std::fs::read_dir(gemini.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".bak-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(read(&backups[0]), mine);
    let codex: serde_json::Value =
        serde_json::from_str(&read(&home(&env).join(".codex/hooks.json"))).unwrap();
    assert!(codex["hooks"]["Interrupt"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .ends_with("llm-bridge-hook codex Interrupt"));
    assert!(read(&home(&env).join(".claude/settings.json")).contains("llm-bridge-hook"));
    // Again: nothing changes.
    let again = install(&env, &["--write"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("Gemini CLI: ") && stdout.contains("unchanged"),
        "{stdout}"
    );
    assert_eq!(read(&gemini), text);

    // Uninstalled: every agent's file loses exactly what install added.
    let codex = home(&env).join(".codex/hooks.json");
    let uninstall = |args: &[&str]| {
        env.command(&bridge_bin())
            .env_remove("CODEX_HOME")
            .arg("uninstall")
            .args(args)
            .output()
            .unwrap()
    };
    let out = uninstall(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Gemini CLI: `llm-bridge uninstall --write` would remove"),
        "{stdout}"
    );
    assert_eq!(read(&gemini), text, "nothing changed without --write");
    let out = uninstall(&["--write"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Gemini CLI: removed llm-bridge's"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Codex CLI: removed llm-bridge's"),
        "{stdout}"
    );
    assert_eq!(read(&gemini), mine, "byte for byte, comments and all");
    assert!(
        !read(&codex).contains("llm-bridge-hook"),
        "{}",
        read(&codex)
    );
    assert!(!read(&home(&env).join(".claude/settings.json")).contains("llm-bridge-hook"));
    let again = uninstall(&["--write"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("Gemini CLI: ") && stdout.contains("has no llm-bridge hooks: unchanged"),
        "{stdout}"
    );
}

#[test]
fn one_agent_prints_its_block_and_writes_only_its_file() {
    let env = Env::new();
    let out = install(&env, &["--agent", "qwen"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.starts_with("// Qwen Code: merge into "), "{stdout}");
    assert!(
        stdout.contains("llm-bridge-hook qwen PermissionRequest"),
        "{stdout}"
    );
    // Qwen Code's status line is llm-bridge's too, as a shell command
    // saying whose session it is.
    assert!(stdout.contains("\"ui\": {\n    \"statusLine\""), "{stdout}");
    assert!(stdout.contains("llm-bridge-statusline qwen\""), "{stdout}");
    let out = install(&env, &["--agent", "qwen", "--write"]);
    assert!(out.status.success());
    let settings = home(&env).join(".qwen/settings.json");
    let written: serde_json::Value = serde_json::from_str(&read(&settings)).unwrap();
    assert!(
        written["ui"]["statusLine"]["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("/llm-bridge-statusline qwen")),
        "{written}"
    );
    assert!(!home(&env).join(".claude").exists());
    let out = install(&env, &["--agent", "gemini", "--write", "--settings", "/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn qwens_own_status_line_is_kept_said_and_replaced_only_when_asked() {
    let env = Env::new();
    let settings = home(&env).join(".qwen/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let mine = "{\n  // my footer\n  \"ui\": { \"statusLine\": { \"type\": \"command\", \"command\": \"~/bin/footer\" } }\n}\n";
    std::fs::write(&settings, mine).unwrap();
    let printed = install(&env, &["--agent", "qwen"]);
    let stdout = String::from_utf8_lossy(&printed.stdout);
    assert!(
        stdout.contains("has its own ui.statusLine (`~/bin/footer`)")
            && !stdout.contains("llm-bridge-statusline"),
        "{stdout}"
    );
    let kept = install(&env, &["--agent", "qwen", "--write"]);
    let stdout = String::from_utf8_lossy(&kept.stdout);
    assert!(kept.status.success(), "{kept:?}");
    assert!(
        stdout.contains("Qwen Code: kept your own ui.statusLine (`~/bin/footer`)"),
        "{stdout}"
    );
    assert!(read(&settings).contains("\"command\": \"~/bin/footer\""));
    let replaced = install(
        &env,
        &["--agent", "qwen", "--write", "--replace-statusline"],
    );
    assert!(replaced.status.success(), "{replaced:?}");
    assert!(
        String::from_utf8_lossy(&replaced.stdout)
            .contains("Qwen Code: replaced your own ui.statusLine (`~/bin/footer`)"),
        "{replaced:?}"
    );
    let text = read(&settings);
    assert!(
        text.contains("// my footer") && text.contains("llm-bridge-statusline qwen"),
        "{text}"
    );
}
