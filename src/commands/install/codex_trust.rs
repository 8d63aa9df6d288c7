//! Codex CLI's hook trust: which of llm-bridge's hooks Codex will run.
//!
//! Codex runs a hook from its hooks.json only once the user trusted it in
//! its `/hooks` screen, and `codex exec` skips an untrusted one without a
//! word, so hooks that were merged but never trusted leave the bar blank.
//! Trusting one stores the sha256 of the hook's identity (its event, matcher
//! and handler) as `[hooks.state."<hooks.json>:<event>:<group>:<handler>"]
//! trusted_hash` in `$CODEX_HOME/config.toml`; a changed command no longer
//! matches and needs trusting again. `doctor` computes each of our hooks'
//! hash as Codex 0.171 does (`tests/e2e/codex.sh` checks it against the
//! client's own `hooks/list`) and compares.

use super::merge;
use llm_bridge_protocol::agent::Agent;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::path::Path;

/// Where one of our hooks stands with Codex.
#[derive(Debug, PartialEq, Eq)]
pub enum Trust {
    /// Trusted as it is: Codex runs it.
    Trusted,
    /// Never trusted: Codex skips it.
    Untrusted,
    /// Trusted once, but it changed since (e.g. the binaries moved).
    Changed,
}

/// Each of llm-bridge's hooks in `hooks` (Codex's hooks.json at
/// `hooks_path`), with its event and trust under `config` (Codex's
/// config.toml; `None` when there is none).
pub fn check(
    hooks: &Value,
    hooks_path: &Path,
    config: Option<&toml::Table>,
) -> Vec<(String, Trust)> {
    let state = config
        .and_then(|c| c.get("hooks"))
        .and_then(|h| h.get("state"))
        .and_then(|s| s.as_table());
    let mut found = Vec::new();
    for &(event, _) in Agent::Codex.hooked_events() {
        let groups = hooks["hooks"][event].as_array().into_iter().flatten();
        for (g, group) in groups.enumerate() {
            let handlers = group["hooks"].as_array().into_iter().flatten();
            for (h, handler) in handlers.enumerate() {
                if !merge::is_our_command(handler) {
                    continue;
                }
                let key = format!("{}:{}:{g}:{h}", hooks_path.display(), snake_case(event));
                let recorded = state
                    .and_then(|s| s.get(&key))
                    .and_then(|entry| entry.get("trusted_hash"))
                    .and_then(|hash| hash.as_str());
                let trust = match recorded {
                    None => Trust::Untrusted,
                    Some(hash) if hash == identity_hash(event, group, handler) => Trust::Trusted,
                    Some(_) => Trust::Changed,
                };
                found.push((event.to_string(), trust));
            }
        }
    }
    found
}

/// `PreToolUse` → `pre_tool_use`, as Codex names events in its keys.
fn snake_case(event: &str) -> String {
    let mut out = String::with_capacity(event.len() + 4);
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `sha256:<hex>` of the hook's identity as Codex hashes it: compact JSON
/// with sorted keys of its event, its group's matcher (if any) and the
/// handler (type, command, timeout with Codex's default, async, status
/// message if any).
fn identity_hash(event: &str, group: &Value, handler: &Value) -> String {
    let json = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    // Codex gives the end of a session and an interrupt one second; any
    // other hook ten minutes.
    let default_timeout = if matches!(event, "SessionEnd" | "Interrupt") {
        1
    } else {
        600
    };
    let timeout = handler["timeout"].as_u64().unwrap_or(default_timeout);
    let is_async = handler["async"].as_bool().unwrap_or(false);
    // Keys in sorted order, as Codex serializes them.
    let mut text = format!(
        "{{\"event_name\":{},\"hooks\":[{{\"async\":{is_async},\"command\":{}",
        json(&Value::from(snake_case(event))),
        json(&handler["command"])
    );
    if let Some(message) = handler.get("statusMessage").filter(|m| !m.is_null()) {
        let _ = write!(text, ",\"statusMessage\":{}", json(message));
    }
    let _ = write!(text, ",\"timeout\":{timeout},\"type\":\"command\"}}]");
    if let Some(matcher) = group.get("matcher").filter(|m| !m.is_null()) {
        let _ = write!(text, ",\"matcher\":{}", json(matcher));
    }
    text.push('}');
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One hook of a hooks.json that `llm-bridge install --agent codex`
    /// wrote, and the hash Codex 0.171's `hooks/list` gave for it
    /// (`currentHash`).
    const COMMAND: &str = "/var/tmp/llm-bridge-ci-target/release/llm-bridge-hook codex PreToolUse";
    const CODEX_SAYS: &str =
        "sha256:2a43101180b30feff0ddb01e45b2658f000e96c4ba5d9b54d882e137ba92b07b";

    fn hooks() -> Value {
        serde_json::json!({"hooks": {"PreToolUse": [
            {"hooks": [{"type": "command", "command": "/usr/bin/true"}]},
            {"hooks": [{"type": "command", "command": COMMAND}]}
        ]}})
    }

    #[test]
    fn our_hook_hashes_as_codex_hashes_it() {
        let hooks = hooks();
        let group = &hooks["hooks"]["PreToolUse"][1];
        assert_eq!(
            identity_hash("PreToolUse", group, &group["hooks"][0]),
            CODEX_SAYS
        );
        assert_eq!(snake_case("UserPromptSubmit"), "user_prompt_submit");
    }

    #[test]
    fn trusted_untrusted_and_changed_by_config() {
        let path = Path::new("/home/u/.codex/hooks.json");
        let key = "/home/u/.codex/hooks.json:pre_tool_use:1:0";
        let config = |hash: &str| -> toml::Table {
            toml::from_str(&format!(
                "[hooks.state.\"{key}\"]\ntrusted_hash = \"{hash}\"\n"
            ))
            .unwrap()
        };
        let one = |config: Option<&toml::Table>| check(&hooks(), path, config);
        assert_eq!(one(None), [("PreToolUse".to_string(), Trust::Untrusted)]);
        assert_eq!(one(Some(&config(CODEX_SAYS)))[0].1, Trust::Trusted);
        assert_eq!(one(Some(&config("sha256:00")))[0].1, Trust::Changed);
    }
}
