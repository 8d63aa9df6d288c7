//! `llm-bridge install [--write]`: the Claude Code settings for the bridge.
//!
//! Without `--write` it prints the settings block, the Waybar module and the
//! CSS classes. With it, it merges the block into `~/.claude/settings.json`:
//! every other key is kept, a previous llm-bridge block is replaced (so
//! running it twice changes nothing), and the old file is kept as a backup.

use crate::atomic_file::write_atomic;
use crate::error::{Context, Error, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The hook events the bridge uses, and whether they take a matcher.
pub const EVENTS: [(&str, bool); 14] = [
    ("SessionStart", false),
    ("UserPromptSubmit", false),
    ("PreToolUse", true),
    ("PermissionRequest", true),
    ("PostToolUse", true),
    ("PostToolUseFailure", true),
    ("Notification", false),
    ("SubagentStart", false),
    ("SubagentStop", false),
    ("Stop", false),
    ("StopFailure", false),
    ("PreCompact", false),
    ("PostCompact", false),
    ("SessionEnd", false),
];

const HOOK_BIN: &str = "llm-bridge-hook";
const STATUSLINE_BIN: &str = "llm-bridge-statusline";

/// The settings block for binaries installed in `bin_dir`.
pub fn settings_block(bin_dir: &Path) -> Value {
    let hook = bin_dir.join(HOOK_BIN).to_string_lossy().into_owned();
    let mut hooks = Map::new();
    for (event, matcher) in EVENTS {
        let mut entry = Map::new();
        if matcher {
            entry.insert("matcher".into(), json!("*"));
        }
        // Exec form: `args` makes Claude Code run the hook without a shell.
        entry.insert(
            "hooks".into(),
            json!([{"type": "command", "command": hook, "args": [event], "timeout": 2}]),
        );
        hooks.insert(event.into(), json!([Value::Object(entry)]));
    }
    json!({
        "hooks": hooks,
        "statusLine": {
            "type": "command",
            "command": bin_dir.join(STATUSLINE_BIN).to_string_lossy(),
            "padding": 0
        }
    })
}

fn is_ours(entry: &Value) -> bool {
    entry["hooks"].as_array().is_some_and(|hooks| {
        hooks.iter().any(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.ends_with(&format!("/{HOOK_BIN}")) || c == HOOK_BIN)
        })
    })
}

/// Merges the block into existing settings: other keys and other hooks stay.
pub fn merge(existing: &mut Value, block: &Value) -> Result<()> {
    let settings = existing
        .as_object_mut()
        .ok_or_else(|| Error::msg("settings.json is not a JSON object"))?;
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks
        .as_object_mut()
        .ok_or_else(|| Error::msg("settings.json: \"hooks\" is not an object"))?;
    for (event, entries) in block["hooks"].as_object().expect("built above") {
        let list = hooks.entry(event.clone()).or_insert_with(|| json!([]));
        let list = list
            .as_array_mut()
            .ok_or_else(|| Error::msg(format!("settings.json: hooks.{event} is not an array")))?;
        list.retain(|e| !is_ours(e));
        list.extend(entries.as_array().expect("built above").iter().cloned());
    }
    settings.insert("statusLine".into(), block["statusLine"].clone());
    Ok(())
}

pub fn default_settings_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude").join("settings.json"))
}

/// Writes the merged settings; returns the backup's path if the file existed
/// and changed, `None` if nothing changed.
pub fn write(path: &Path, block: &Value) -> Result<Option<PathBuf>> {
    let original = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut settings = match &original {
        Some(text) if !text.trim().is_empty() => serde_json::from_str(text)
            .with_context(|| format!("{} is not valid JSON; left unchanged", path.display()))?,
        _ => json!({}),
    };
    let before = settings.clone();
    merge(&mut settings, block)?;
    if original.is_some() && settings == before {
        return Ok(None);
    }
    let mut text = serde_json::to_string_pretty(&settings).context("cannot serialize settings")?;
    text.push('\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let backup = match &original {
        Some(old) => {
            let stamp = crate::local_time::wall_clock_ms() / 1000;
            let backup = path.with_file_name(format!("settings.json.bak-{stamp}"));
            std::fs::write(&backup, old)
                .with_context(|| format!("cannot write the backup {}", backup.display()))?;
            Some(backup)
        }
        None => None,
    };
    write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(backup.or_else(|| Some(PathBuf::new())))
}

/// What `llm-bridge install` was asked to do.
pub struct InstallOptions {
    /// Merge into the settings file instead of printing.
    pub write: bool,
    /// The settings file (default: `~/.claude/settings.json`).
    pub settings: Option<PathBuf>,
    /// Where the binaries are (default: beside this one).
    pub bin_dir: Option<PathBuf>,
}

/// Runs `llm-bridge install`; returns the exit code.
pub fn run(options: InstallOptions) -> Result<i32> {
    let bin_dir = match options.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()
            .context("cannot find this binary")?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let block = settings_block(&bin_dir);
    if !options.write {
        println!("// Claude Code: merge into ~/.claude/settings.json (or run `llm-bridge install --write`)");
        println!("{}", serde_json::to_string_pretty(&block).expect("JSON"));
        println!();
        println!("// Waybar: add to your config, and \"custom/llm\" to a modules-* list");
        println!("{WAYBAR_SNIPPET}");
        println!();
        println!("/* Waybar style.css: one class per state */");
        println!("{CSS_SNIPPET}");
        return Ok(0);
    }
    let path = options
        .settings
        .or_else(default_settings_path)
        .ok_or_else(|| Error::msg("HOME is not set; pass --settings PATH"))?;
    match write(&path, &block)? {
        None => println!(
            "{} already has the llm-bridge hooks and statusLine: unchanged",
            path.display()
        ),
        Some(backup) if backup.as_os_str().is_empty() => println!("wrote {}", path.display()),
        Some(backup) => println!(
            "updated {} (previous version: {})",
            path.display(),
            backup.display()
        ),
    }
    Ok(0)
}

/// The Waybar module and CSS users paste (README has the same).
pub const WAYBAR_SNIPPET: &str = r#""custom/llm": {
  "exec": "llm-bridge waybar",
  "return-type": "json",
  "interval": "once",
  "signal": 8,
  "format": "{icon} {}",
  "format-icons": { "none": "", "idle": "·", "working": "⚙", "waiting": "⏳", "error": "⚠" },
  "tooltip": true
}"#;

pub const CSS_SNIPPET: &str = "#custom-llm.none    { opacity: 0.4; }
#custom-llm.idle    { color: #a6adc8; }
#custom-llm.working { color: #89b4fa; }
#custom-llm.waiting { color: #f9e2af; font-weight: bold; }
#custom-llm.error   { color: #f38ba8; }";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_other_keys_and_hooks_and_is_idempotent() {
        let block = settings_block(Path::new("/opt/lb"));
        let mut settings = json!({
            "model": "opus",
            "hooks": {
                "Stop": [{"hooks": [{"type": "command", "command": "/usr/bin/notify-send done"}]}],
                "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/old/llm-bridge-hook"}]}]
            },
            "statusLine": {"type": "command", "command": "old"}
        });
        merge(&mut settings, &block).unwrap();
        let once = settings.clone();
        merge(&mut settings, &block).unwrap();
        assert_eq!(settings, once, "idempotent");
        assert_eq!(settings["model"], "opus");
        let stop = settings["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2, "the user's own Stop hook stays: {stop:?}");
        let pre = settings["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 1, "the old llm-bridge hook is replaced");
        assert_eq!(pre[0]["hooks"][0]["command"], "/opt/lb/llm-bridge-hook");
        assert_eq!(pre[0]["hooks"][0]["args"], json!(["PreToolUse"]));
        assert_eq!(
            settings["statusLine"]["command"],
            "/opt/lb/llm-bridge-statusline"
        );
    }

    #[test]
    fn refuses_settings_that_are_not_an_object() {
        let mut v = json!([1]);
        assert!(merge(&mut v, &settings_block(Path::new("/x"))).is_err());
    }
}
