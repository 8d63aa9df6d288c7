//! What the core says may be spoken, and whether the user silenced it.
//!
//! The core only names the moments ([`Announcement`]): a dialog appeared, a
//! turn ended. Whether and how one is said (the phrase, the threshold, the
//! repeat window, quiet hours) is the daemon's speech policy; the core has
//! no config for it. The mute lives here, in `State`, because the bar shows
//! it and the fallback renders the bar too.

use crate::state::Millis;
use llm_bridge_protocol::agent::Agent;
use serde::{Deserialize, Serialize};

/// A moment that may be said out loud.
///
/// The variants are declared from the least to the most urgent, and that
/// declaration is the one priority order: the derived `Ord` and
/// [`Occasion::urgency`] both come from it. A permission dialog blocks the
/// work, a failed turn needs a look, a finished one may wait, and an idle
/// prompt is the least pressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Occasion {
    /// Claude has waited for a prompt for a while.
    Idle = 0,
    /// A turn ended.
    Done = 1,
    /// A turn ended with an API error.
    Failed = 2,
    /// A permission dialog appeared.
    Permission = 3,
}

impl Occasion {
    pub fn as_str(self) -> &'static str {
        match self {
            Occasion::Permission => "permission",
            Occasion::Done => "done",
            Occasion::Failed => "failed",
            Occasion::Idle => "idle",
        }
    }

    /// Higher is more urgent: the position in the declaration order, so it
    /// always agrees with `Ord`.
    pub fn urgency(self) -> u8 {
        self as u8
    }
}

/// One session's moment, with what a phrase may name.
#[derive(Clone, Debug, PartialEq)]
pub struct Announcement {
    /// The session's key ([`crate::state::Session::key`]).
    pub session_id: String,
    /// The agent, when the phrase names it: sessions of more than one kind
    /// of agent exist ("codex in api server needs permission").
    pub agent: Option<Agent>,
    pub occasion: Occasion,
    pub project: String,
    /// The tool a permission dialog is about, when known.
    pub tool: Option<String>,
    /// How long the turn lasted (done, failed), when its start is known.
    pub turn_ms: Option<u64>,
}

/// Phrases of a session that are no longer true: drop them if they wait or
/// play. `only`: just those of one occasion (a dialog that was answered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hush {
    pub session_id: String,
    pub only: Option<Occasion>,
}

/// `llm-bridge mute`: spoken notifications are silenced, until a time or
/// until unmuted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    /// Wall-clock ms; `None`: until unmuted.
    pub until: Option<Millis>,
}

impl Mute {
    pub fn expired(self, now: Millis) -> bool {
        self.until.is_some_and(|t| t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_priority_order() {
        use Occasion::*;
        let mut by_ord = [Done, Permission, Idle, Failed];
        by_ord.sort();
        assert_eq!(by_ord, [Idle, Done, Failed, Permission]);
        let urgencies = by_ord.map(Occasion::urgency);
        assert_eq!(urgencies, [0, 1, 2, 3]);
    }
}
