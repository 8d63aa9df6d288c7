//! Where each agent other than Claude Code keeps its hooks, and the merge
//! of llm-bridge's into that file, said per agent.
//!
//! Gemini CLI: `~/.gemini/settings.json` (JSON with comments); Codex CLI:
//! `$CODEX_HOME/hooks.json` (default `~/.codex`), whose hooks run only
//! once approved in its `/hooks` screen; Qwen Code: `~/.qwen/settings.json`
//! (JSON with comments). Each file is merged and replaced with the same
//! care as Claude Code's settings.json (`merge`, `settings_file`).

use super::merge::{self, Block, HooksOnly, StatusLineOutcome};
use super::settings_file::SettingsFile;
use llm_bridge_core::error::{Error, Result};
use llm_bridge_protocol::agent::Agent;
use std::path::PathBuf;

/// The agent's configuration directory, if HOME (or CODEX_HOME) is set.
fn config_dir(agent: Agent) -> Option<PathBuf> {
    if agent == Agent::Codex {
        if let Some(dir) = std::env::var_os("CODEX_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let dir = match agent {
        Agent::Claude => ".claude",
        Agent::Gemini => ".gemini",
        Agent::Codex => ".codex",
        Agent::Qwen => ".qwen",
    };
    Some(home.join(dir))
}

/// The file the agent reads its hooks from.
pub fn hooks_file(agent: Agent) -> Option<PathBuf> {
    let name = match agent {
        Agent::Codex => "hooks.json",
        _ => "settings.json",
    };
    Some(config_dir(agent)?.join(name))
}

/// What `--agent all` means: Claude Code (as always), then every other
/// agent whose configuration directory exists.
pub fn present() -> Vec<Agent> {
    Agent::ALL
        .into_iter()
        .filter(|&a| a.is_claude() || config_dir(a).is_some_and(|d| d.is_dir()))
        .collect()
}

/// What the user must still do for the agent's hooks to run.
fn next_step(agent: Agent) -> Option<&'static str> {
    match agent {
        Agent::Codex => Some(
            "Codex CLI runs hooks only once they are approved: start `codex`, type `/hooks`, \
             and trust each llm-bridge hook (once; again after the hook's path changes)",
        ),
        _ => None,
    }
}

/// Prints the agent's block, with where it goes.
pub fn print(block: &Block) {
    let agent = block.agent();
    let path = hooks_file(agent).map_or_else(|| "?".to_string(), |p| p.display().to_string());
    println!(
        "// {}: merge into {path} (or run `llm-bridge install --agent {agent} --write`)",
        agent.title()
    );
    if let Some(step) = next_step(agent) {
        println!("// then: {step}");
    }
    let theirs = hooks_file(agent)
        .and_then(|path| super::read_settings(&path))
        .and_then(|text| merge::foreign_status_line(&text, block));
    let json = match theirs {
        Some(command) => {
            println!(
                "// it has its own {} (`{command}`): `--write` keeps it; add \
                 --replace-statusline to show llm-bridge's instead",
                block.status_line_key()
            );
            serde_json::to_string_pretty(&HooksOnly(block))
        }
        None => serde_json::to_string_pretty(block),
    };
    println!("{}", json.expect("JSON"));
    println!();
}

/// Merges the agent's block into its file and says what it did, on one
/// line (then what became of a status line of the user's own, and the
/// step left to the user, if any). `replace_statusline`: the user's own
/// status line gives way to llm-bridge's (Qwen Code's `ui.statusLine`).
pub fn write(block: &Block, replace_statusline: bool) -> Result<()> {
    let agent = block.agent();
    let path = hooks_file(agent).ok_or_else(|| Error::msg("HOME is not set"))?;
    let file = SettingsFile::open(&path)?;
    let text = file.current.as_ref().map_or("", |c| c.text.as_str());
    let merged = merge::merge(&file.describe(), text, block, replace_statusline)?;
    let title = agent.title();
    let key = block.status_line_key();
    if !merged.changed {
        let what = match merged.status_line {
            StatusLineOutcome::Ours => format!("the llm-bridge hooks and {key}"),
            _ => "the llm-bridge hooks".to_string(),
        };
        println!("{title}: {} already has {what}: unchanged", file.describe());
    } else {
        match file.replace(&merged.text)? {
            None => println!("{title}: wrote {}", file.describe()),
            Some(backup) => println!(
                "{title}: updated {} (previous version: {})",
                file.describe(),
                backup.display()
            ),
        }
    }
    match &merged.status_line {
        StatusLineOutcome::KeptTheirs(command) => println!(
            "{title}: kept your own {key} (`{command}`); to show llm-bridge's instead, run \
             `llm-bridge install --agent {agent} --write --replace-statusline`"
        ),
        StatusLineOutcome::ReplacedTheirs(command) => {
            println!("{title}: replaced your own {key} (`{command}`) with llm-bridge's");
        }
        StatusLineOutcome::Added | StatusLineOutcome::Ours | StatusLineOutcome::NotUsed => {}
    }
    if let Some(step) = next_step(agent) {
        println!("{title}: {step}");
    }
    Ok(())
}
