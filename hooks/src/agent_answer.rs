//! What each agent requires of a hook on stdout, so that the bridge's hook
//! never changes what the agent does.
//!
//! Every agent takes an empty stdout (and exit 0) as "no opinion": the
//! hook prints nothing. But when stdout is empty, Gemini CLI (0.61) and
//! Qwen Code (0.24) read stderr instead, and text there on exit 0 becomes a
//! message shown to the user (their `executeCommandHook`). So before the
//! hook (or the fallback it becomes) writes a warning on stderr, a hook of
//! theirs prints the smallest valid answer, `{}`, once.

use llm_bridge_protocol::agent::Agent;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this process already answered on stdout.
static ANSWERED: AtomicBool = AtomicBool::new(false);

/// The answer `agent` needs on stdout before anything is written on stderr.
pub fn answer_before_stderr(agent: Agent) -> Option<&'static [u8]> {
    match agent {
        Agent::Gemini | Agent::Qwen => Some(b"{}\n"),
        _ => None,
    }
}

/// Prints what `agent` needs on stdout before a warning, at most once per
/// process; a failure to write is ignored (the hook still exits 0).
pub fn before_stderr(agent: Agent) {
    let Some(answer) = answer_before_stderr(agent) else {
        return;
    };
    if ANSWERED.swap(true, Ordering::Relaxed) {
        return;
    }
    let _ = std::io::stdout().lock().write_all(answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_and_qwen_need_an_empty_object_before_a_warning() {
        assert_eq!(answer_before_stderr(Agent::Gemini), Some(&b"{}\n"[..]));
        assert_eq!(answer_before_stderr(Agent::Qwen), Some(&b"{}\n"[..]));
        for agent in [Agent::Claude, Agent::Codex] {
            assert_eq!(answer_before_stderr(agent), None);
        }
    }
}
