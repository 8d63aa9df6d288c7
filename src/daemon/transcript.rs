//! Recognising an Esc in a Claude Code transcript.
//!
//! Claude Code fires no hook when the user presses Esc; it appends a user
//! entry to the session's transcript (JSONL) whose text is
//! `[Request interrupted by user]` or `[Request interrupted by user for tool
//! use]`. This module decides, from the lines appended since the daemon
//! last looked, whether the turn ended that way. It is pure: the daemon's
//! `transcripts.rs` does the reading.
//!
//! Only the last entry that says something about the turn counts: an
//! interrupt followed by a new prompt or an answer of the model is history.
//! A line is looked at in detail only if it contains the marker (memmem),
//! and then it is parsed as JSON: a prompt or a tool output that merely
//! quotes the words is not an interrupt. What tells them apart, as
//! recorded from Claude Code 2.1.330 (tests/samples/transcript-*.jsonl):
//! the interrupt is a `user` entry whose content is an array with a text
//! block that is exactly the marker, and it carries no `promptSource`; a
//! prompt the user typed (even the bare marker) has `promptSource` and, as
//! text only, a string content; a tool's output is a `tool_result` block.

use serde::Deserialize;
use serde_json::Value;

/// What every interrupt entry's text starts with.
const MARKER: &[u8] = b"[Request interrupted by user";
/// The texts of an interrupt entry, as Claude Code writes them.
const INTERRUPTS: [&str; 2] = [
    "[Request interrupted by user]",
    "[Request interrupted by user for tool use]",
];

/// What one transcript line says about the turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// The user interrupted the turn.
    Interrupt,
    /// The turn goes on (or a new one began): a prompt, the model's output.
    Activity,
    /// Nothing about the turn: a tool's result, metadata, a summary, a
    /// line that is not JSON.
    Neutral,
}

/// Whether the last line in `lines` that says something about the turn is
/// an interrupt. `lines` holds whole lines (a partial last line is ignored
/// by the caller); they are looked at from the end, so only the few after
/// the last prompt or answer are parsed.
pub fn ends_interrupted(lines: &[u8]) -> bool {
    for line in lines.rsplit(|&b| b == b'\n') {
        match classify(line) {
            Line::Interrupt => return true,
            Line::Activity => return false,
            Line::Neutral => {}
        }
    }
    false
}

/// Classifies one transcript line.
pub fn classify(line: &[u8]) -> Line {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Line::Neutral;
    }
    if memchr::memmem::find(line, MARKER).is_some() {
        return match serde_json::from_slice::<Value>(line) {
            Ok(entry) => classify_entry(&entry),
            Err(_) => Line::Neutral,
        };
    }
    // Without the marker only the kind of entry matters; serde skips the rest.
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: Option<String>,
        message: Option<Message>,
    }
    #[derive(Deserialize)]
    struct Message {
        content: Option<Value>,
    }
    match serde_json::from_slice::<Head>(line) {
        Ok(head) => {
            let content = head.message.and_then(|m| m.content);
            kind_of(head.kind.as_deref(), content.as_ref())
        }
        Err(_) => Line::Neutral,
    }
}

fn classify_entry(entry: &Value) -> Line {
    let kind = entry.get("type").and_then(Value::as_str);
    let content = entry.get("message").and_then(|m| m.get("content"));
    let typed = entry.get("promptSource").is_some();
    if kind == Some("user")
        && !typed
        && content.is_some_and(Value::is_array)
        && texts(content).any(|t| INTERRUPTS.contains(&t))
    {
        return Line::Interrupt;
    }
    kind_of(kind, content)
}

/// A user entry is activity when it carries a prompt (text), not only tool
/// results; every assistant entry is.
fn kind_of(kind: Option<&str>, content: Option<&Value>) -> Line {
    match kind {
        Some("assistant") => Line::Activity,
        Some("user") => {
            let prompt = match content {
                Some(Value::String(_)) => true,
                Some(Value::Array(blocks)) => blocks
                    .iter()
                    .any(|b| b.get("type").and_then(Value::as_str) == Some("text")),
                _ => false,
            };
            if prompt {
                Line::Activity
            } else {
                Line::Neutral
            }
        }
        _ => Line::Neutral,
    }
}

/// The texts of a message's content: the string, or its text blocks.
fn texts(content: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match content {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(blocks)) => (None, Some(blocks.iter())),
        _ => (None, None),
    };
    one.into_iter()
        .chain(many.into_iter().flatten().filter_map(|b| {
            (b.get("type").and_then(Value::as_str) == Some("text"))
                .then(|| b.get("text").and_then(Value::as_str))
                .flatten()
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOL_USE: &str = r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"sleep 30"}}]}}"#;
    const INTERRUPTED: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}}"#;
    const TYPED_MARKER: &str = r#"{"type":"user","message":{"role":"user","content":"[Request interrupted by user]"},"promptSource":"typed"}"#;
    const TOOL_RESULT: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"[Request interrupted by user for tool use]","is_error":true}]}}"#;
    const PROMPT_QUOTING: &str = r#"{"type":"user","message":{"role":"user","content":"please echo \"[Request interrupted by user]\""}}"#;

    fn join(lines: &[&str]) -> Vec<u8> {
        lines.join("\n").into_bytes()
    }

    /// Transcripts recorded with the real client (tests/samples/README.md).
    const ESC_TOOL: &str = include_str!("../../tests/samples/transcript-esc-tool.jsonl");
    const ESC_STREAMING: &str = include_str!("../../tests/samples/transcript-esc-streaming.jsonl");
    const QUOTED: &str = include_str!("../../tests/samples/transcript-quoted-marker.jsonl");

    #[test]
    fn the_real_clients_interrupts_are_recognised() {
        for sample in [ESC_TOOL, ESC_STREAMING] {
            assert!(ends_interrupted(sample.as_bytes()));
            let interrupts = sample
                .lines()
                .filter(|l| classify(l.as_bytes()) == Line::Interrupt)
                .count();
            assert_eq!(interrupts, 1);
        }
        assert_eq!(classify(INTERRUPTED.as_bytes()), Line::Interrupt);
        assert!(ends_interrupted(&join(&[
            TOOL_USE,
            TOOL_RESULT,
            INTERRUPTED,
            ""
        ])));
    }

    #[test]
    fn the_real_client_quoting_the_marker_is_never_an_interrupt() {
        // Prompts quoting it, tools printing it, and the user typing the
        // bare marker as a prompt.
        assert!(QUOTED.lines().count() >= 5);
        for line in QUOTED.lines() {
            assert_ne!(classify(line.as_bytes()), Line::Interrupt, "{line}");
        }
        assert!(!ends_interrupted(QUOTED.as_bytes()));
        assert_eq!(classify(TYPED_MARKER.as_bytes()), Line::Activity);
    }

    #[test]
    fn quoting_the_words_is_not_an_interrupt() {
        assert_eq!(classify(PROMPT_QUOTING.as_bytes()), Line::Activity);
        assert_eq!(classify(TOOL_RESULT.as_bytes()), Line::Neutral);
        assert!(!ends_interrupted(&join(&[TOOL_USE, TOOL_RESULT])));
        assert!(!ends_interrupted(PROMPT_QUOTING.as_bytes()));
        // Not JSON at all.
        assert_eq!(classify(b"[Request interrupted by user]"), Line::Neutral);
    }

    #[test]
    fn only_the_last_word_on_the_turn_counts() {
        assert!(!ends_interrupted(&join(&[INTERRUPTED, PROMPT_QUOTING])));
        assert!(!ends_interrupted(&join(&[INTERRUPTED, TOOL_USE])));
        let meta = r#"{"type":"system","content":"x"}"#;
        assert!(ends_interrupted(&join(&[
            TOOL_USE,
            INTERRUPTED,
            meta,
            "garbage"
        ])));
    }
}
