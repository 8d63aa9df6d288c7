//! The coding agents whose hooks the bridge serves, and the one table per
//! agent that maps its hook event names to the core's [`EventKind`]s.
//!
//! Each agent runs `llm-bridge-hook` on its events with JSON on stdin, but
//! names the events its own way (Gemini CLI's `BeforeTool` is Claude Code's
//! `PreToolUse`). The mapping lives here, in one place, so that the hook,
//! the tests and the docs agree; the core only ever sees [`EventKind`]s and
//! the [`Agent`] a session belongs to.

use crate::wire::EventKind;

/// A coding agent (a client that runs our hook).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Agent {
    /// Claude Code: what an event or a session without an agent is.
    #[default]
    Claude,
    /// Gemini CLI (`@google/gemini-cli`).
    Gemini,
    /// Codex CLI (`@openai/codex`).
    Codex,
    /// Qwen Code (`@qwen-code/qwen-code`).
    Qwen,
}

impl Agent {
    /// Every agent, in the order the bar and `install` list them.
    pub const ALL: [Agent; 4] = [Agent::Claude, Agent::Gemini, Agent::Codex, Agent::Qwen];

    /// The agent's short name: the hook's first argument, the wire's
    /// `client` field, `{agent}` in templates, and the spoken name.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Gemini => "gemini",
            Agent::Codex => "codex",
            Agent::Qwen => "qwen",
        }
    }

    /// The agent's product name, for people (install's output, docs).
    pub fn title(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Gemini => "Gemini CLI",
            Agent::Codex => "Codex CLI",
            Agent::Qwen => "Qwen Code",
        }
    }

    /// The agent a short name means; `None` for anything else (an event
    /// name given as the hook's argument, as Claude Code settings do).
    pub fn parse(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The core's event for this agent's hook event `name`; a name this
    /// version does not know (or a model-level event) is [`EventKind::Other`].
    /// `notification_type` refines a notification (Gemini CLI asks for a
    /// tool's permission with a `ToolPermission` notification).
    pub fn event_kind(self, name: &str, notification_type: Option<&str>) -> EventKind {
        match self {
            // Codex CLI and Qwen Code use Claude Code's names; only Codex
            // has `Interrupt` (the user stopped the turn).
            Agent::Codex => EventKind::from_hook_event_name(name),
            Agent::Claude | Agent::Qwen => match EventKind::from_hook_event_name(name) {
                EventKind::Interrupt => EventKind::Other,
                kind => kind,
            },
            Agent::Gemini => match name {
                "SessionStart" => EventKind::SessionStart,
                "SessionEnd" => EventKind::SessionEnd,
                "BeforeAgent" => EventKind::Submit,
                "AfterAgent" => EventKind::Stop,
                "BeforeTool" => EventKind::ToolStart,
                "AfterTool" => EventKind::ToolEnd,
                "PreCompress" => EventKind::CompactStart,
                "Notification" if notification_type == Some("ToolPermission") => {
                    EventKind::Permission
                }
                "Notification" => EventKind::Notify,
                // BeforeModel, AfterModel, BeforeToolSelection: per model
                // call, nothing the bar shows.
                _ => EventKind::Other,
            },
        }
    }

    /// The hook events `llm-bridge install` wires up for this agent, in
    /// the order a session meets them, each with whether the agent's
    /// settings give it a tool `matcher`.
    pub fn hooked_events(self) -> &'static [(&'static str, bool)] {
        match self {
            Agent::Claude => &CLAUDE_EVENTS,
            Agent::Gemini => &GEMINI_EVENTS,
            Agent::Codex => &CODEX_EVENTS,
            // Qwen Code 0.24.4 has Claude Code's names (and more, which
            // the bar has no use for).
            Agent::Qwen => &CLAUDE_EVENTS,
        }
    }

    /// Whether the hook's parent (past shells) is the agent's own process
    /// for this event. Qwen Code 0.24 runs StopFailure's hooks under a
    /// supervisor that outlives it: taken for the client, it would end the
    /// session when the supervisor exits.
    pub fn parent_is_client(self, kind: EventKind) -> bool {
        !(self == Agent::Qwen && kind == EventKind::StopFail)
    }

    /// The key a session of this agent is held under: Claude Code's id as
    /// it is (so state and history written before agents existed keep
    /// their keys), another agent's id behind its name.
    pub fn session_key(self, id: &str) -> String {
        match self {
            Agent::Claude => id.to_string(),
            other => format!("{}:{id}", other.name()),
        }
    }

    /// Whether this is Claude Code (serde's `skip_serializing_if`).
    pub fn is_claude(&self) -> bool {
        *self == Agent::Claude
    }
}

impl std::fmt::Display for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const CLAUDE_EVENTS: [(&str, bool); 14] = [
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

/// Gemini CLI 0.61: no failure event, no permission event but the
/// `ToolPermission` notification; `BeforeTool`/`AfterTool` take a matcher.
const GEMINI_EVENTS: [(&str, bool); 8] = [
    ("SessionStart", false),
    ("BeforeAgent", false),
    ("BeforeTool", true),
    ("AfterTool", true),
    ("Notification", false),
    ("AfterAgent", false),
    ("PreCompress", false),
    ("SessionEnd", false),
];

/// Codex CLI 0.171: Claude Code's names, no failure or notification
/// events, `Interrupt` when the user stops a turn.
const CODEX_EVENTS: [(&str, bool); 12] = [
    ("SessionStart", false),
    ("UserPromptSubmit", false),
    ("PreToolUse", true),
    ("PermissionRequest", true),
    ("PostToolUse", true),
    ("SubagentStart", false),
    ("SubagentStop", false),
    ("Stop", false),
    ("Interrupt", false),
    ("PreCompact", false),
    ("PostCompact", false),
    ("SessionEnd", false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_event_names_are_not_agents() {
        for agent in Agent::ALL {
            assert_eq!(Agent::parse(agent.name()), Some(agent));
        }
        assert_eq!(Agent::parse("SessionStart"), None);
        assert_eq!(Agent::parse(""), None);
    }

    #[test]
    fn gemini_table() {
        let g = |name, n| Agent::Gemini.event_kind(name, n);
        assert_eq!(g("BeforeAgent", None), EventKind::Submit);
        assert_eq!(g("AfterAgent", None), EventKind::Stop);
        assert_eq!(g("BeforeTool", None), EventKind::ToolStart);
        assert_eq!(g("AfterTool", None), EventKind::ToolEnd);
        assert_eq!(g("PreCompress", None), EventKind::CompactStart);
        assert_eq!(
            g("Notification", Some("ToolPermission")),
            EventKind::Permission
        );
        assert_eq!(g("Notification", Some("Other")), EventKind::Notify);
        assert_eq!(g("BeforeModel", None), EventKind::Other);
        assert_eq!(g("PreToolUse", None), EventKind::Other);
        assert_eq!(g("SessionStart", None), EventKind::SessionStart);
        assert_eq!(g("SessionEnd", None), EventKind::SessionEnd);
    }

    #[test]
    fn codex_and_qwen_use_claudes_names() {
        for agent in [Agent::Codex, Agent::Qwen, Agent::Claude] {
            assert_eq!(agent.event_kind("PreToolUse", None), EventKind::ToolStart);
            assert_eq!(
                agent.event_kind("PermissionRequest", None),
                EventKind::Permission
            );
            assert_eq!(agent.event_kind("BeforeTool", None), EventKind::Other);
        }
        assert_eq!(
            Agent::Codex.event_kind("Interrupt", None),
            EventKind::Interrupt
        );
        assert_eq!(
            Agent::Claude.event_kind("Interrupt", None),
            EventKind::Other
        );
    }

    #[test]
    fn every_hooked_event_maps_to_a_known_kind() {
        for agent in Agent::ALL {
            for (name, _) in agent.hooked_events() {
                let kind = agent.event_kind(name, None);
                assert_ne!(kind, EventKind::Other, "{agent} {name}");
            }
        }
    }

    #[test]
    fn only_qwens_stop_failure_runs_away_from_the_client() {
        assert!(!Agent::Qwen.parent_is_client(EventKind::StopFail));
        assert!(Agent::Qwen.parent_is_client(EventKind::Stop));
        assert!(Agent::Claude.parent_is_client(EventKind::StopFail));
    }

    #[test]
    fn keys_keep_claudes_ids_and_separate_the_others() {
        assert_eq!(Agent::Claude.session_key("abc"), "abc");
        assert_eq!(Agent::Gemini.session_key("abc"), "gemini:abc");
        assert_ne!(Agent::Codex.session_key("x"), Agent::Qwen.session_key("x"));
    }
}
