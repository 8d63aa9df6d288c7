//! `llm-bridge install [--agent AGENT] [--write]`: each coding agent's hook
//! settings for the bridge.
//!
//! Without `--write` it prints the settings block, the Waybar module and the
//! CSS classes. With it, it merges the block into `~/.claude/settings.json`
//! (or `--settings`), and each other agent's into its file (`agent_files`),
//! without damaging anything of the user's: `merge`
//! decides what changes in the text (only llm-bridge's own hook commands,
//! and the statusLine unless it is the user's own), `settings_file` how
//! the file is replaced (through symlinks, keeping its mode, with a
//! backup), and `bin_dir` which binaries the block runs.
//!
//! `llm-bridge install --waybar [--write]` puts the Waybar module in the
//! user's Waybar config with the same editor (`waybar_config`).
//!
//! `llm-bridge uninstall [--write]` is the same machinery backwards:
//! `merge::unmerge` takes out exactly what the merge puts in.

pub(crate) mod agent_files;
pub(crate) mod bin_dir;
pub(crate) mod codex_trust;
mod json_text;
pub(crate) mod jsonc;
pub(crate) mod merge;
pub(crate) mod settings_file;
pub(crate) mod waybar_config;
pub use waybar_config::{uninstall as uninstall_waybar, WaybarOptions};

use llm_bridge_core::error::{Context, Error, Result};
use llm_bridge_protocol::agent::Agent;
use merge::{Block, HooksOnly, StatusLineOutcome};
use settings_file::SettingsFile;
use std::path::{Path, PathBuf};

/// The Claude Code hook events the bridge uses, and whether they take a
/// matcher.
pub fn events() -> &'static [(&'static str, bool)] {
    Agent::Claude.hooked_events()
}

/// What `llm-bridge install` was asked to do.
pub struct InstallOptions {
    /// One agent; `None`: every agent whose configuration directory exists
    /// (and Claude Code always).
    pub agent: Option<Agent>,
    /// Merge into the settings file instead of printing.
    pub write: bool,
    /// The settings file (default: `~/.claude/settings.json`).
    pub settings: Option<PathBuf>,
    /// Where the binaries are (default: an installed copy, see `bin_dir`).
    pub bin_dir: Option<PathBuf>,
    /// Replace a statusLine of the user's own with llm-bridge's.
    pub replace_statusline: bool,
}

/// `~/.claude/settings.json`, if HOME is set.
pub fn default_settings_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude").join("settings.json"))
}

/// The line about a statusLine of the user's own that is kept.
fn kept_status_line(command: &str) -> String {
    format!(
        "kept your own statusLine (`{command}`); to show llm-bridge's instead, run \
         `llm-bridge install --write --replace-statusline`"
    )
}

/// Runs `llm-bridge install --waybar`: the module for the binaries in
/// use (as `install` prints it) into the user's Waybar config.
pub fn waybar(options: WaybarOptions, bin_dir: Option<&Path>) -> Result<i32> {
    let bin = binaries(bin_dir)?;
    waybar_config::run(&options, &waybar_snippet(&bin.dir), CSS_SNIPPET)
}

/// The binaries the settings run: `--bin-dir`, else an installed copy
/// (`bin_dir::choose`), with its warning said on stderr.
fn binaries(bin_dir: Option<&Path>) -> Result<bin_dir::BinDir> {
    let bin = match bin_dir {
        Some(dir) => bin_dir::given(dir)?,
        None => {
            let exe = std::env::current_exe().context("cannot find this binary")?;
            bin_dir::choose(&exe, std::env::var_os("PATH").as_deref())?
        }
    };
    if let Some(warning) = &bin.warning {
        eprintln!("llm-bridge: {warning}");
    }
    Ok(bin)
}

/// Runs `llm-bridge install`; returns the exit code.
pub fn run(options: InstallOptions) -> Result<i32> {
    let bin = binaries(options.bin_dir.as_deref())?;
    let using = bin
        .why
        .as_ref()
        .map(|why| format!("using the binaries in {} ({why})", bin.dir.display()));
    if options.settings.is_some() && options.agent.is_some_and(|a| !a.is_claude()) {
        return Err(Error::msg(
            "--settings names Claude Code's settings file; another agent's file is found in its \
             configuration directory",
        ));
    }
    let agents = match options.agent {
        Some(agent) => vec![agent],
        None => agent_files::present(),
    };
    if options.agent.is_none() && agents.len() > 1 {
        let names: Vec<&str> = agents.iter().map(|a| a.title()).collect();
        println!(
            "{} every agent whose configuration directory exists (--agent all, the \
             default): {}",
            if options.write {
                "installing for"
            } else {
                "settings for"
            },
            names.join(", ")
        );
    }
    for &agent in agents.iter().filter(|a| !a.is_claude()) {
        let block = Block::for_agent(agent, &bin.dir);
        if options.write {
            agent_files::write(&block, options.replace_statusline)?;
        } else {
            agent_files::print(&block);
        }
    }
    if !agents.contains(&Agent::Claude) {
        return Ok(0);
    }
    let block = Block::new(&bin.dir);
    if !options.write {
        print_block(&block, &bin.dir, using.as_deref());
        return Ok(0);
    }
    let path = options
        .settings
        .or_else(default_settings_path)
        .ok_or_else(|| Error::msg("HOME is not set; pass --settings PATH"))?;
    let file = SettingsFile::open(&path)?;
    let text = file.current.as_ref().map_or("", |c| c.text.as_str());
    let merged = merge::merge(&file.describe(), text, &block, options.replace_statusline)?;
    if let Some(using) = &using {
        println!("{using}");
    }
    if !merged.changed {
        let what = match merged.status_line {
            StatusLineOutcome::KeptTheirs(_) => "the llm-bridge hooks",
            _ => "the llm-bridge hooks and statusLine",
        };
        println!("{} already has {what}: unchanged", file.describe());
    } else {
        match file.replace(&merged.text)? {
            None => println!("wrote {}", file.describe()),
            Some(backup) => println!(
                "updated {} (previous version: {})",
                file.describe(),
                backup.display()
            ),
        }
    }
    match &merged.status_line {
        StatusLineOutcome::KeptTheirs(command) => println!("{}", kept_status_line(command)),
        StatusLineOutcome::ReplacedTheirs(command) => {
            println!("replaced your own statusLine (`{command}`) with llm-bridge's");
        }
        StatusLineOutcome::Added | StatusLineOutcome::Ours | StatusLineOutcome::NotUsed => {}
    }
    Ok(0)
}

/// Print mode: the block, the Waybar module and the CSS, with comment
/// lines saying which binaries it runs and what `--write` would keep. A
/// statusLine of the user's own stays, so the block has none then.
fn print_block(block: &Block, bin_dir: &Path, using: Option<&str>) {
    println!(
        "// Claude Code: merge into ~/.claude/settings.json (or run `llm-bridge install --write`)"
    );
    if let Some(using) = using {
        println!("// {using}");
    }
    let theirs = default_settings_path()
        .and_then(|path| Some((read_settings(&path)?, path)))
        .and_then(|(text, path)| Some((merge::foreign_status_line(&text, block)?, path)));
    match theirs {
        Some((command, path)) => {
            println!(
                "// {} has its own statusLine (`{command}`): `llm-bridge install --write` keeps \
                 it; add --replace-statusline to show llm-bridge's instead",
                path.display()
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&HooksOnly(block)).expect("JSON")
            );
        }
        None => println!("{}", serde_json::to_string_pretty(block).expect("JSON")),
    }
    println!();
    println!(
        "// Waybar: add to your config, and \"custom/llm\" to a modules-* list \
         (or run `llm-bridge install --waybar --write`)"
    );
    println!("{}", waybar_snippet(bin_dir));
    println!();
    println!("/* Waybar style.css: one class per state */");
    println!("{CSS_SNIPPET}");
}

/// The text of a settings file, if it can be read (without blocking, a
/// regular file of at most `settings_file::MAX_SETTINGS` bytes).
pub fn read_settings(path: &Path) -> Option<String> {
    use llm_bridge_hooks::bounded_read::{read_string, Links};
    read_string(path, settings_file::MAX_SETTINGS, Links::Follow).ok()
}

/// What `llm-bridge uninstall` was asked to do.
pub struct UninstallOptions {
    /// Change the settings file instead of printing what would go.
    pub write: bool,
    /// The settings file (default: `~/.claude/settings.json`).
    pub settings: Option<PathBuf>,
}

/// Runs `llm-bridge uninstall`: takes llm-bridge's hooks and statusLine
/// out of Claude Code's settings file, and its hooks out of every other
/// agent's file that has them (with `--write`), or says what it would take.
pub fn uninstall(options: UninstallOptions) -> Result<i32> {
    let claude = options
        .settings
        .or_else(default_settings_path)
        .ok_or_else(|| Error::msg("HOME is not set; pass --settings PATH"))?;
    uninstall_from(Agent::Claude, &claude, options.write)?;
    for agent in agent_files::present()
        .into_iter()
        .filter(|a| !a.is_claude())
    {
        if let Some(path) = agent_files::hooks_file(agent).filter(|p| p.exists()) {
            uninstall_from(agent, &path, options.write)?;
        }
    }
    Ok(0)
}

/// `uninstall` for one agent's file; lines about another agent's file
/// start with its name.
fn uninstall_from(agent: Agent, path: &Path, write: bool) -> Result<()> {
    let who = if agent.is_claude() {
        String::new()
    } else {
        format!("{}: ", agent.title())
    };
    let file = SettingsFile::open(path)?;
    let Some(current) = &file.current else {
        println!("{who}{} does not exist: nothing to remove", file.describe());
        return Ok(());
    };
    let comments = merge::allows_comments(agent);
    let unmerged = merge::unmerge(&file.describe(), &current.text, comments)?;
    if unmerged.removed.is_empty() {
        let what = if agent.is_claude() {
            "hooks or statusLine"
        } else {
            "hooks"
        };
        println!(
            "{who}{} has no llm-bridge {what}: unchanged",
            file.describe()
        );
        return Ok(());
    }
    if !write {
        println!(
            "{who}`llm-bridge uninstall --write` would remove from {}:",
            file.describe()
        );
        for line in &unmerged.removed {
            println!("  {line}");
        }
        return Ok(());
    }
    let backup = file.replace(&unmerged.text)?;
    println!(
        "{who}removed llm-bridge's {} from {}{}",
        plural(unmerged.removed.len(), "entry", "entries"),
        file.describe(),
        backup.map_or(String::new(), |b| format!(
            " (previous version: {})",
            b.display()
        ))
    );
    for line in &unmerged.removed {
        println!("  {line}");
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The Waybar module with the full path of `llm-bridge-waybar` in `bin_dir`.
pub fn waybar_snippet(bin_dir: &Path) -> String {
    let exec = bin_dir.join("llm-bridge-waybar");
    let exec = serde_json::to_string(&exec.to_string_lossy()).expect("a string serializes");
    // Waybar runs on-click commands through `sh -c`: quote the path for it.
    let bridge = bin_dir
        .join("llm-bridge")
        .to_string_lossy()
        .replace('\'', "'\\''");
    let command = |args: &str| {
        serde_json::to_string(&format!("'{bridge}' {args}")).expect("a string serializes")
    };
    WAYBAR_SNIPPET
        .replacen("\"llm-bridge-waybar\"", &exec, 1)
        .replacen("\"llm-bridge focus\"", &command("focus"), 1)
        .replacen("\"llm-bridge focus --next\"", &command("focus --next"), 1)
        .replacen("\"llm-bridge mute\"", &command("mute"), 1)
}

/// The Waybar module and CSS users paste (README has the same).
pub const WAYBAR_SNIPPET: &str = r#""custom/llm": {
  "exec": "llm-bridge-waybar",
  "return-type": "json",
  "interval": "once",
  "signal": 8,
  "format": "{icon} {}",
  "format-icons": { "none": "", "idle": "·", "working": "⚙", "waiting": "⏳", "error": "⚠" },
  "tooltip": true,
  "on-click": "llm-bridge focus",
  "on-click-middle": "llm-bridge focus --next",
  "on-click-right": "llm-bridge mute"
}"#;

pub const CSS_SNIPPET: &str = "#custom-llm.none    { opacity: 0.4; }
#custom-llm.idle    { color: #a6adc8; }
#custom-llm.working { color: #89b4fa; }
#custom-llm.waiting { color: #f9e2af; font-weight: bold; }
#custom-llm.error   { color: #f38ba8; }
#custom-llm.muted   { font-style: italic; }";
