//! Turns the JSON a hook reads on stdin into an [`Event`]: Claude Code's,
//! or another agent's, whose event names its table maps
//! ([`Agent::event_kind`]).

use llm_bridge_protocol::agent::Agent;
use llm_bridge_protocol::json_scan::{ScanError, Scanner};
use llm_bridge_protocol::wire::{Event, EventKind};
use std::io::{ErrorKind, Read};

/// The top-level fields the bridge reads from a hook payload.
const KEYS: [&str; 12] = [
    "hook_event_name",
    "session_id",
    "cwd",
    "tool_name",
    "tool_use_id",
    "notification_type",
    "agent_id",
    "agent_type",
    "source",
    "reason",
    "transcript_path",
    // Only whether it is empty: see `qwen_continuation`.
    "prompt",
];

/// Why a hook payload produced no event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookInputError {
    Empty,
    Json(ScanError),
    /// stdin could not be read.
    Read(ErrorKind),
    Missing(&'static str),
}

impl std::fmt::Display for HookInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookInputError::Empty => f.write_str("stdin is empty"),
            HookInputError::Json(e) => write!(f, "stdin is not a hook payload: {e}"),
            HookInputError::Read(e) => write!(f, "cannot read stdin: {e}"),
            HookInputError::Missing(key) => write!(f, "hook payload has no string '{key}'"),
        }
    }
}

/// Extracts the event from a Claude Code hook payload. `parent` (the
/// hook's parent process) and `now_ns` describe the hook process itself and
/// travel with the event.
pub fn event_from_hook_json(
    doc: &[u8],
    parent: Option<u32>,
    now_ns: Option<u64>,
) -> Result<Event, HookInputError> {
    agent_event_from_json(Agent::Claude, doc, parent, now_ns)
}

/// The same for `agent`'s hook payload.
pub fn agent_event_from_json(
    agent: Agent,
    doc: &[u8],
    parent: Option<u32>,
    now_ns: Option<u64>,
) -> Result<Event, HookInputError> {
    let mut scanner = Scanner::new(&KEYS);
    scanner.feed(doc);
    event_from_scan(agent, scanner, parent, now_ns)
}

/// `agent`'s payload read from `input` to its end in pieces: memory stays
/// bounded whatever its size.
pub fn event_from_hook_reader(
    agent: Agent,
    mut input: impl Read,
    parent: Option<u32>,
    now_ns: Option<u64>,
) -> Result<Event, HookInputError> {
    let mut scanner = Scanner::new(&KEYS);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => scanner.feed(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(HookInputError::Read(e.kind())),
        }
    }
    event_from_scan(agent, scanner, parent, now_ns)
}

fn event_from_scan(
    agent: Agent,
    scanner: Scanner<'_, 12>,
    parent: Option<u32>,
    now_ns: Option<u64>,
) -> Result<Event, HookInputError> {
    if !scanner.saw_content() {
        return Err(HookInputError::Empty);
    }
    let [name, sid, cwd, tool, tuid, ntype, subagent, agent_type, source, reason, transcript, prompt] =
        scanner.finish().map_err(HookInputError::Json)?;
    let name = name.ok_or(HookInputError::Missing("hook_event_name"))?;
    let sid = sid
        .filter(|s| !s.is_empty())
        .ok_or(HookInputError::Missing("session_id"))?;
    let mut kind = agent.event_kind(&name, ntype.as_deref());
    if qwen_continuation(agent, kind, prompt.as_deref()) {
        kind = EventKind::Other;
    }
    let mut e = Event::new(kind, sid);
    e.agent = agent;
    e.hook_event_name = Some(name);
    e.cwd = cwd;
    e.tool_name = tool;
    e.tool_use_id = tuid;
    e.notification_type = ntype;
    e.agent_id = subagent;
    e.agent_type = agent_type;
    e.source = source;
    e.reason = reason;
    e.transcript_path = transcript;
    e.parent = parent;
    e.sent_at_ns = now_ns;
    Ok(e)
}

/// Qwen Code 0.24 fires `UserPromptSubmit` again, with an empty `prompt`,
/// when it sends a tool's result back to the model within the same turn:
/// no prompt of the user's, so not counted as one (the turn is under way
/// already). A prompt the user typed is never empty.
fn qwen_continuation(agent: Agent, kind: EventKind, prompt: Option<&str>) -> bool {
    agent == Agent::Qwen && kind == EventKind::Submit && prompt == Some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_payload() {
        let doc = br#"{"session_id":"s1","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"session_id":"x"},"tool_use_id":"t1","cwd":"/p/q"}"#;
        let e = event_from_hook_json(doc, Some(7), Some(9)).unwrap();
        assert_eq!(e.kind, EventKind::ToolStart);
        assert_eq!(e.session_id, "s1");
        assert_eq!(e.tool_name.as_deref(), Some("Read"));
        assert_eq!(e.tool_use_id.as_deref(), Some("t1"));
        assert_eq!((e.parent, e.sent_at_ns), (Some(7), Some(9)));
    }

    #[test]
    fn a_qwen_continuation_is_no_prompt() {
        let submit = |agent, prompt: &str| {
            let doc = format!(
                r#"{{"session_id":"q1","hook_event_name":"UserPromptSubmit","cwd":"/p","prompt":{prompt}}}"#
            );
            agent_event_from_json(agent, doc.as_bytes(), None, None)
                .unwrap()
                .kind
        };
        assert_eq!(submit(Agent::Qwen, "\"what is it?\""), EventKind::Submit);
        assert_eq!(submit(Agent::Qwen, "\"\""), EventKind::Other);
        // Claude Code's own never comes empty; taken as it comes.
        assert_eq!(submit(Agent::Claude, "\"\""), EventKind::Submit);
    }

    #[test]
    fn another_agents_payload_is_mapped_by_its_table() {
        let doc = br#"{"session_id":"g1","hook_event_name":"Notification","notification_type":"ToolPermission","cwd":"/p"}"#;
        let e = agent_event_from_json(Agent::Gemini, doc, None, None).unwrap();
        assert_eq!((e.kind, e.agent), (EventKind::Permission, Agent::Gemini));
        assert_eq!(e.session_key(), "gemini:g1");
        // The same payload from Claude Code is a notification.
        let e = event_from_hook_json(doc, None, None).unwrap();
        assert_eq!((e.kind, e.agent), (EventKind::Notify, Agent::Claude));
    }

    #[test]
    fn unknown_event_is_other() {
        let e = event_from_hook_json(
            br#"{"session_id":"s","hook_event_name":"Elicitation"}"#,
            None,
            None,
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.hook_event_name.as_deref(), Some("Elicitation"));
    }

    #[test]
    fn bad_payloads() {
        assert_eq!(
            event_from_hook_json(b"", None, None),
            Err(HookInputError::Empty)
        );
        assert_eq!(
            event_from_hook_json(b" \n", None, None),
            Err(HookInputError::Empty)
        );
        assert!(matches!(
            event_from_hook_json(b"{\"session_id\":\"s", None, None),
            Err(HookInputError::Json(_))
        ));
        assert_eq!(
            event_from_hook_json(br#"{"session_id":"s"}"#, None, None),
            Err(HookInputError::Missing("hook_event_name"))
        );
        assert_eq!(
            event_from_hook_json(br#"{"hook_event_name":"Stop","session_id":""}"#, None, None),
            Err(HookInputError::Missing("session_id"))
        );
    }
}
