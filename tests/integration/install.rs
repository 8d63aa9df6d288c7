//! `llm-bridge install`: the settings merge on real files through the real
//! binary. A user's settings.json is never damaged: symlinks are written
//! through, their statusLine, hooks, key order and numbers stay, backups
//! keep the file's mode, and the binaries it wires in exist.

use crate::support::*;
use serde_json::{json, Value};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `$HOME/.claude/settings.json` for this environment.
fn default_settings(env: &Env) -> PathBuf {
    env.runtime().join("home/.claude/settings.json")
}

/// A directory holding every binary (stand-ins: `install` only
/// checks that they are there).
fn fake_bin_dir(env: &Env, name: &str) -> PathBuf {
    let dir = env.runtime().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for bin in [
        "llm-bridge",
        "llm-bridge-hook",
        "llm-bridge-statusline",
        "llm-bridge-waybar",
        "llm-bridge-apply",
    ] {
        let path = dir.join(bin);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn write_file(path: &Path, contents: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn backups(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}.bak-")))
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    found
}

/// The entry `install` writes for `event` with binaries in `bin`.
fn our_entry(bin: &Path, event: &str, matcher: bool) -> Value {
    let mut entry = json!({"hooks": [{
        "type": "command",
        "command": bin.join("llm-bridge-hook").to_str().unwrap(),
        "args": [event],
        "timeout": 2
    }]});
    if matcher {
        entry["matcher"] = json!("*");
    }
    entry
}

/// Runs `llm-bridge install --write --bin-dir BIN ARGS...`.
fn install_write(env: &Env, bin: &Path, args: &[&str]) -> Output {
    let mut all = vec!["install", "--write", "--bin-dir", bin.to_str().unwrap()];
    all.extend_from_slice(args);
    env.bridge(&all)
}

#[test]
fn install_write_merges_keeps_other_keys_and_is_idempotent() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    write_file(
        &settings,
        r#"{"model":"opus","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify-send"}]}]}}"#,
        0o644,
    );
    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = read_json(&settings);
    assert_eq!(v["model"], "opus");
    assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["hooks"]["PermissionRequest"][0],
        our_entry(&bin, "PermissionRequest", true)
    );
    assert_eq!(
        v["statusLine"]["command"],
        bin.join("llm-bridge-statusline").to_str().unwrap()
    );
    assert_eq!(
        backups(settings.parent().unwrap(), "settings.json").len(),
        1
    );
    let first = std::fs::read_to_string(&settings).unwrap();
    let out = install_write(&env, &bin, &[]);
    assert!(stdout(&out).contains("unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), first);
    assert_eq!(
        backups(settings.parent().unwrap(), "settings.json").len(),
        1
    );
    // Invalid JSON is left alone with a one-line error.
    std::fs::write(&settings, "{oops").unwrap();
    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{oops");
    // Without --write it only prints, and names everything needed.
    let out = env.bridge(&["install", "--bin-dir", bin.to_str().unwrap()]);
    let printed = text(&out);
    for want in [
        "\"SessionEnd\"",
        "llm-bridge-statusline",
        "\"custom/llm\"",
        "#custom-llm.waiting",
    ] {
        assert!(printed.contains(want), "{want} missing");
    }
}

#[test]
fn install_write_goes_through_a_symlinked_settings_file() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    // A dotfiles manager's layout: ~/.claude/settings.json -> a link in the
    // stow package -> the real file, both links relative.
    let real = env.runtime().join("dotfiles/repo/claude/settings.json");
    write_file(&real, "{\n  \"model\": \"opus\"\n}\n", 0o600);
    let hop = env.runtime().join("dotfiles/claude.json");
    symlink("repo/claude/settings.json", &hop).unwrap();
    let settings = default_settings(&env);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    symlink("../../dotfiles/claude.json", &settings).unwrap();

    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for link in [&settings, &hop] {
        assert!(
            std::fs::symlink_metadata(link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{} is no longer a symlink",
            link.display()
        );
    }
    let v = read_json(&real);
    assert_eq!(v["model"], "opus");
    assert_eq!(v["hooks"]["Stop"][0], our_entry(&bin, "Stop", false));
    assert_eq!(mode(&real), 0o600);
    assert!(
        stdout(&out).contains(real.to_str().unwrap()),
        "the real file is named: {}",
        text(&out)
    );
    // No temporary left beside the target; the backup beside the link the
    // user named (not inside the dotfiles repository, which may be public).
    assert_eq!(listing(real.parent().unwrap()), ["settings.json"]);
    let saved = backups(settings.parent().unwrap(), "settings.json");
    assert_eq!(saved.len(), 1, "{:?}", listing(settings.parent().unwrap()));
    assert_eq!(
        std::fs::read_to_string(&saved[0]).unwrap(),
        "{\n  \"model\": \"opus\"\n}\n"
    );
    assert_eq!(mode(&saved[0]), 0o600);
}

/// Runs `llm-bridge ARGS...` in a private mount namespace in which `dir`
/// is mounted read-only (as a Nix store is).
fn bridge_with_read_only(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let script = r#"dir=$1; shift
mount --bind "$dir" "$dir" && mount -o remount,bind,ro "$dir" || exit 97
exec "$@""#;
    let out = env
        .command(Path::new("unshare"))
        .args(["--map-root-user", "--mount", "sh", "-c", script, "sh"])
        .arg(dir)
        .arg(bridge_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    assert_ne!(
        out.status.code(),
        Some(97),
        "cannot mount read-only in a namespace here: {}",
        text(&out)
    );
    out
}

#[test]
fn install_write_refuses_a_read_only_link_target_and_changes_nothing() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let store = env.runtime().join("store/abc-home-manager-files");
    let real = store.join("settings.json");
    let original = "{\n  \"model\": \"opus\"\n}\n";
    write_file(&real, original, 0o644);
    let settings = default_settings(&env);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    symlink(&real, &settings).unwrap();

    let out = bridge_with_read_only(
        &env,
        &store,
        &["install", "--write", "--bin-dir", bin.to_str().unwrap()],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(real.to_str().unwrap()) && err.contains("`llm-bridge install`"),
        "names the file and what to add by hand: {err}"
    );
    assert!(std::fs::symlink_metadata(&settings)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), original);
    assert_eq!(listing(settings.parent().unwrap()), ["settings.json"]);
    assert_eq!(listing(&store), ["settings.json"]);
}

#[test]
fn install_write_refuses_a_link_to_a_file_without_write_permission() {
    // Files in /nix/store are 0444; root could still replace one whose
    // directory is writable, so the mode bits decide.
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let real = env.runtime().join("generated/settings.json");
    let original = "{\"model\": \"opus\"}\n";
    write_file(&real, original, 0o444);
    let settings = default_settings(&env);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    symlink(&real, &settings).unwrap();

    let out = install_write(&env, &bin, &[]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    assert!(
        stderr(&out).contains("`llm-bridge install`"),
        "{}",
        text(&out)
    );
    assert!(std::fs::symlink_metadata(&settings)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), original);
    assert_eq!(listing(settings.parent().unwrap()), ["settings.json"]);
    assert_eq!(listing(real.parent().unwrap()), ["settings.json"]);
}

#[test]
fn install_keeps_the_users_status_line_unless_told_to_replace_it() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    let theirs = json!({"type": "command", "command": "~/.claude/my-status.sh", "padding": 1});
    write_file(
        &settings,
        &format!("{{\n  \"statusLine\": {theirs}\n}}\n"),
        0o600,
    );

    // Print mode says it before anything is written.
    let out = env.bridge(&["install", "--bin-dir", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = stdout(&out);
    let notice: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains("--replace-statusline"))
        .collect();
    assert_eq!(notice.len(), 1, "{}", text(&out));
    assert!(notice[0].contains("my-status.sh"), "{}", notice[0]);
    // The block printed is what --write adds: the hooks, not a statusLine.
    assert!(!printed.contains("llm-bridge-statusline"), "{printed}");
    assert!(printed.contains("llm-bridge-hook"), "{printed}");

    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = read_json(&settings);
    assert_eq!(v["statusLine"], theirs, "their statusLine is kept");
    assert_eq!(v["hooks"]["Stop"][0], our_entry(&bin, "Stop", false));
    let printed = stdout(&out);
    let said: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains("--replace-statusline"))
        .collect();
    assert_eq!(said.len(), 1, "{}", text(&out));
    assert!(said[0].contains("my-status.sh"), "{}", said[0]);

    // Nothing else to do: unchanged, and it says so again.
    let before = std::fs::read_to_string(&settings).unwrap();
    let out = install_write(&env, &bin, &[]);
    assert!(stdout(&out).contains("unchanged"), "{}", text(&out));
    assert!(
        stdout(&out).contains("--replace-statusline"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);

    let out = install_write(&env, &bin, &["--replace-statusline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = read_json(&settings);
    assert_eq!(
        v["statusLine"]["command"],
        bin.join("llm-bridge-statusline").to_str().unwrap()
    );
    assert!(
        !stdout(&out).contains("--replace-statusline"),
        "{}",
        text(&out)
    );

    // Ours now: print mode has nothing to warn about.
    let out = env.bridge(&["install", "--bin-dir", bin.to_str().unwrap()]);
    assert!(
        !stdout(&out).contains("--replace-statusline"),
        "{}",
        text(&out)
    );
}

#[test]
fn install_write_removes_only_its_own_hook_commands() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    let audit = json!({"type": "command", "command": "/usr/local/bin/audit", "timeout": 5});
    let old_ours =
        json!({"type": "command", "command": "/old/bin/llm-bridge-hook", "args": ["PreToolUse"]});
    let edit = json!({"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]});
    let doc = json!({
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [audit, old_ours]},
                edit,
                {"matcher": "*", "hooks": [{"type": "command", "command": "llm-bridge-hook"}]}
            ]
        }
    });
    write_file(
        &settings,
        &serde_json::to_string_pretty(&doc).unwrap(),
        0o600,
    );

    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = read_json(&settings);
    assert_eq!(
        v["hooks"]["PreToolUse"],
        json!([
            {"matcher": "Bash", "hooks": [audit]},
            edit,
            our_entry(&bin, "PreToolUse", true)
        ])
    );

    let before = std::fs::read_to_string(&settings).unwrap();
    let out = install_write(&env, &bin, &[]);
    assert!(stdout(&out).contains("unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    assert_eq!(
        backups(settings.parent().unwrap(), "settings.json").len(),
        1
    );
}

/// A settings.json as people have them: secrets, permissions, numbers
/// serde_json would rewrite, unicode, keys in their own order, their own
/// hooks (one entry mixing theirs with an old llm-bridge command) and their
/// own statusLine.
const REALISTIC: &str = r#"{
  "env": {
    "ANTHROPIC_API_KEY": "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "DISABLE_TELEMETRY": "1"
  },
  "permissions": {
    "deny": ["Read(./.env)", "Bash(rm -rf:*)"],
    "allow": ["Bash(cargo test:*)", "WebFetch(domain:docs.rs)"],
    "defaultMode": "acceptEdits"
  },
  "model": "opus",
  "cleanupPeriodDays": 12345678901234567890123,
  "spinnerRate": 1.50,
  "tiny": 1e-7,
  "greeting": "Grüß dich, 世界 🌍 \u00e9\n",
  "zeta": {"y": 1, "b": {"z": true, "a": null}},
  "hooks": {
    "Stop": [
      {
        "hooks": [
          {"type": "command", "command": "notify-send 'Claude' 'fertig ✓'"}
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {"type": "command", "command": "/home/you/bin/audit-bash", "timeout": 5},
          {"type": "command", "command": "/home/you/.local/bin/llm-bridge-hook", "args": ["PreToolUse"], "timeout": 2}
        ]
      }
    ],
    "UserPromptSubmit": [
      {"hooks": [{"type": "command", "command": "llm-bridge-hook"}]}
    ]
  },
  "statusLine": {"type": "command", "command": "~/.claude/my-status.sh", "padding": 1},
  "includeCoAuthoredBy": false
}
"#;

#[test]
fn install_write_keeps_order_numbers_and_every_other_byte() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    write_file(&settings, REALISTIC, 0o600);

    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = std::fs::read_to_string(&settings).unwrap();

    // Everything before "hooks" and from "statusLine" on is byte-identical.
    let head = &REALISTIC[..REALISTIC.find("  \"hooks\"").unwrap()];
    let tail = &REALISTIC[REALISTIC.find("  \"statusLine\"").unwrap()..];
    assert!(after.starts_with(head), "changed before hooks:\n{after}");
    assert!(after.ends_with(tail), "changed after hooks:\n{after}");
    // Inside "hooks", every line of theirs is still there, in order (a
    // comma may go with a removed neighbour).
    let mut rest = after.lines();
    for line in REALISTIC.lines().filter(|l| !l.contains("llm-bridge")) {
        let want = line.trim_end_matches(',');
        assert!(
            rest.any(|l| l.trim_end_matches(',') == want),
            "line {line:?} lost or moved:\n{after}"
        );
    }

    let v: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        v["hooks"]["PreToolUse"],
        json!([
            {"matcher": "Bash", "hooks": [
                {"type": "command", "command": "/home/you/bin/audit-bash", "timeout": 5}
            ]},
            our_entry(&bin, "PreToolUse", true)
        ])
    );
    assert_eq!(
        v["hooks"]["UserPromptSubmit"],
        json!([our_entry(&bin, "UserPromptSubmit", false)])
    );
    assert_eq!(v["hooks"]["Stop"][1], our_entry(&bin, "Stop", false));
    assert_eq!(
        v["hooks"]["SessionEnd"][0],
        our_entry(&bin, "SessionEnd", false)
    );
    assert_eq!(mode(&settings), 0o600);

    let out = install_write(&env, &bin, &[]);
    assert!(stdout(&out).contains("unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), after);
}

#[test]
fn install_write_backup_is_named_after_the_file_and_keeps_its_mode() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let dir = env.runtime().join("conf");
    for (name, file_mode) in [("work.json", 0o600), ("shared.json", 0o644)] {
        let path = dir.join(name);
        write_file(&path, "{\"model\": \"opus\"}\n", file_mode);
        let out = install_write(&env, &bin, &["--settings", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(mode(&path), file_mode, "{name} keeps its mode");
        let saved = backups(&dir, name);
        assert_eq!(saved.len(), 1, "{name}: {:?}", listing(&dir));
        assert_eq!(mode(&saved[0]), file_mode, "{name}'s backup has its mode");
        assert_eq!(
            std::fs::read_to_string(&saved[0]).unwrap(),
            "{\"model\": \"opus\"}\n"
        );
        assert!(
            stdout(&out).contains(saved[0].to_str().unwrap()),
            "{}",
            text(&out)
        );
    }
    assert!(backups(&dir, "settings.json").is_empty());

    // Two changes in a row (within the same second, most likely): two
    // backups, the first not overwritten.
    let path = dir.join("work.json");
    let first = std::fs::read_to_string(&path).unwrap();
    let other = fake_bin_dir(&env, "other-bin");
    let out = install_write(&env, &other, &["--settings", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved = backups(&dir, "work.json");
    assert_eq!(saved.len(), 2, "{:?}", listing(&dir));
    let contents: Vec<String> = saved
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(contents.contains(&"{\"model\": \"opus\"}\n".to_string()));
    assert!(contents.contains(&first));
    for p in &saved {
        assert_eq!(mode(p), 0o600);
    }
}

#[test]
fn install_refuses_a_bin_dir_without_the_binaries() {
    let env = Env::new();
    let settings = default_settings(&env);
    let partial = env.runtime().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("llm-bridge-hook"), "").unwrap();
    for write in [true, false] {
        let mut args = vec!["install", "--bin-dir", partial.to_str().unwrap()];
        if write {
            args.push("--write");
        }
        let out = env.bridge(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("llm-bridge-statusline")
                && err.contains("llm-bridge,")
                && err.contains(partial.to_str().unwrap()),
            "names what is missing where: {err}"
        );
        assert!(!err.contains("llm-bridge-hook"), "{err}");
        assert!(stdout(&out).is_empty(), "{}", text(&out));
    }
    assert!(!settings.exists());
}

/// `llm-bridge install --write` (no --bin-dir) run from `exe` with `PATH`.
fn install_default_bin_dir(env: &Env, exe: &Path, path: &str) -> Output {
    env.command(exe)
        .args(["install", "--write"])
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn hook_command(env: &Env) -> String {
    read_json(&default_settings(env))["hooks"]["Stop"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn install_prefers_installed_binaries_to_a_build_directory() {
    let env = Env::new();
    // The build directory has them all too.
    let _ = hook_bin();
    let _ = statusline_bin();
    let empty = env.runtime().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let installed = fake_bin_dir(&env, "installed");
    let path = format!("{}:{}", empty.display(), installed.display());

    let out = install_default_bin_dir(&env, &bridge_bin(), &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        hook_command(&env),
        installed.join("llm-bridge-hook").to_str().unwrap()
    );
    let said = stdout(&out);
    assert!(
        said.contains(installed.to_str().unwrap()) && said.contains("PATH"),
        "says which directory and why: {said}"
    );
    assert!(stderr(&out).is_empty(), "{}", text(&out));

    // A copy beside its two companions is an installed copy: it wins over PATH.
    let beside = fake_bin_dir(&env, "beside");
    std::fs::copy(bridge_bin(), beside.join("llm-bridge")).unwrap();
    let out = install_default_bin_dir(&env, &beside.join("llm-bridge"), &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        hook_command(&env),
        beside.join("llm-bridge-hook").to_str().unwrap()
    );
    assert!(
        stdout(&out).contains(beside.to_str().unwrap()),
        "{}",
        text(&out)
    );
}

#[test]
fn install_warns_when_only_a_build_directory_has_the_binaries() {
    let env = Env::new();
    let _ = hook_bin();
    let _ = statusline_bin();
    let empty = env.runtime().join("empty");
    std::fs::create_dir_all(&empty).unwrap();

    let out = install_default_bin_dir(&env, &bridge_bin(), empty.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        hook_command(&env),
        bin_dir().join("llm-bridge-hook").to_str().unwrap()
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("build directory"),
        "warns: {}",
        text(&out)
    );
}

#[test]
fn install_write_explains_what_to_do_about_comments() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    let original = "{\n  // my model\n  \"model\": \"opus\",\n}\n";
    write_file(&settings, original, 0o600);
    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 2 column"), "where: {err}");
    assert!(
        err.contains("remove the comments") && err.contains("`llm-bridge install`"),
        "what to do: {err}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    assert_eq!(listing(settings.parent().unwrap()), ["settings.json"]);
}

#[test]
fn uninstall_removes_exactly_what_install_added_through_a_symlink() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    let settings = default_settings(&env);
    // A dotfiles layout: the link stays a link, its target changes.
    let real = env.runtime().join("dotfiles/claude.json");
    let original = "{\n  \"model\": \"opus\",\n  \"n\": 1.50,\n  \"hooks\": {\n    \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"notify-send done\"}]}]\n  }\n}\n";
    write_file(&real, original, 0o640);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    symlink(&real, &settings).unwrap();
    let out = install_write(&env, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let installed = std::fs::read_to_string(&real).unwrap();
    assert_ne!(installed, original);

    // Without --write it only says what would go.
    let out = env.bridge(&["uninstall"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains("`llm-bridge uninstall --write` would remove from"),
        "{said}"
    );
    assert!(said.contains("  hooks.SessionEnd: "), "{said}");
    assert!(said.contains("  statusLine: "), "{said}");
    assert!(!said.contains("notify-send"), "{said}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), installed);

    let out = env.bridge(&["uninstall", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).starts_with("removed llm-bridge's 15 entries from "),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        original,
        "byte for byte"
    );
    assert!(std::fs::symlink_metadata(&settings)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&real), 0o640);
    let backups = backups(settings.parent().unwrap(), "settings.json");
    assert_eq!(backups.len(), 2, "one by install, one by uninstall");
    let newest = backups
        .iter()
        .find(|b| std::fs::read_to_string(b).unwrap() == installed)
        .expect("the installed version is backed up");
    assert_eq!(mode(newest), 0o640);

    let out = env.bridge(&["uninstall", "--write"]);
    assert!(
        stdout(&out).contains("has no llm-bridge hooks or statusLine: unchanged"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), original);
}

#[test]
fn uninstall_keeps_a_statusline_of_the_users_and_refuses_what_is_not_json() {
    let env = Env::new();
    let settings = default_settings(&env);
    let out = env.bridge(&["uninstall", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("does not exist: nothing to remove"),
        "{}",
        text(&out)
    );
    assert!(!settings.exists());

    let theirs = "{\"statusLine\": {\"type\": \"command\", \"command\": \"mine\"}, \"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"/x/llm-bridge-hook\"}, {\"type\": \"command\", \"command\": \"beep\"}]}]}}";
    write_file(&settings, theirs, 0o600);
    let out = env.bridge(&["uninstall", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "{\"statusLine\": {\"type\": \"command\", \"command\": \"mine\"}, \"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"beep\"}]}]}}"
    );

    write_file(&settings, "{\"a\": 1, // mine\n}", 0o600);
    let out = env.bridge(&["uninstall", "--write"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("is not plain JSON"), "{}", text(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "{\"a\": 1, // mine\n}"
    );
}

#[test]
fn install_waybar_puts_the_module_in_a_symlinked_jsonc_config_once_and_uninstall_takes_it_out() {
    let env = Env::new();
    let bin = fake_bin_dir(&env, "bin");
    // Waybar's config in a dotfiles repository, linked from ~/.config/waybar.
    let real = env.runtime().join("dotfiles/waybar/config.jsonc");
    let mine = "// my bar\n{\n  \"layer\": \"top\", // on top\n  \"modules-right\": [\"clock\",],\n  \"clock\": {\"interval\": 60},\n}\n";
    write_file(&real, mine, 0o640);
    let link = env.runtime().join("home/.config/waybar/config.jsonc");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(&real, &link).unwrap();
    // The system's config (a Waybar package installs one): never edited.
    let system = env.runtime().join("etc-xdg");
    write_file(&system.join("waybar/config"), "{}\n", 0o644);
    let waybar = |args: &[&str]| {
        env.command(&bridge_bin())
            .args(["install", "--waybar", "--bin-dir", bin.to_str().unwrap()])
            .args(args)
            .env_remove("XDG_CONFIG_HOME")
            .env("XDG_CONFIG_DIRS", &system)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    // Without --write: what would change, the module and the CSS; nothing
    // written.
    let out = waybar(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("would change"), "{}", text(&out));
    assert!(
        stdout(&out).contains("#custom-llm.waiting"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), mine);

    let out = waybar(&["--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("killall -SIGUSR2 waybar"),
        "{}",
        text(&out)
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&real), 0o640);
    let edited = std::fs::read_to_string(&real).unwrap();
    assert!(
        edited.starts_with("// my bar\n{\n  \"layer\": \"top\", // on top\n"),
        "{edited}"
    );
    assert!(
        edited.contains("\"modules-right\": [\"clock\", \"custom/llm\",],"),
        "{edited}"
    );
    let blank = |t: &str| {
        // What Waybar reads: no comments, no trailing commas.
        t.lines()
            .map(|l| l.split(" //").next().unwrap())
            .filter(|l| !l.starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(",]", "]")
            .replace(",\n}", "\n}")
    };
    let v: Value = serde_json::from_str(&blank(&edited)).unwrap();
    assert_eq!(v["clock"]["interval"], 60);
    assert_eq!(v["custom/llm"]["signal"], 8);
    assert_eq!(
        v["custom/llm"]["exec"],
        bin.join("llm-bridge-waybar").to_str().unwrap()
    );
    let saved = backups(link.parent().unwrap(), "config.jsonc");
    assert_eq!(saved.len(), 1);
    assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), mine);
    assert_eq!(mode(&saved[0]), 0o640);

    // Again: unchanged, no second backup.
    let out = waybar(&["--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), edited);
    assert_eq!(backups(link.parent().unwrap(), "config.jsonc").len(), 1);

    // A bar name that is not there: refused in one line, the file
    // untouched.
    let out = waybar(&["--write", "--bar", "side"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("no bar with \"name\": \"side\""),
        "{}",
        text(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), edited);
    // Uninstalled: the user's file byte for byte, still behind its link.
    let out = env
        .command(&bridge_bin())
        .args(["uninstall", "--waybar", "--write"])
        .env_remove("XDG_CONFIG_HOME")
        .env("XDG_CONFIG_DIRS", &system)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("removed the custom/llm module"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), mine);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&real), 0o640);
    // Only the system's config: refused with how to make one's own.
    std::fs::remove_file(&link).unwrap();
    let out = waybar(&["--write"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("copy it to ~/.config/waybar/"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(system.join("waybar/config")).unwrap(),
        "{}\n"
    );
}
