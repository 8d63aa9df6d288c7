//! What the core says may be spoken, and whether the user silenced it.
//!
//! The core only names the moments ([`Announcement`]): a dialog appeared, a
//! turn ended. Whether and how one is said (the phrase, the threshold, the
//! repeat window, quiet hours) is the daemon's speech policy; the core has
//! no config for it. The mute lives here, in `State`, because the bar shows
//! it and the fallback renders the bar too.

use crate::state::Millis;
use serde::{Deserialize, Serialize};

/// A moment that may be said out loud.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Occasion {
    /// A permission dialog appeared.
    Permission,
    /// A turn ended.
    Done,
    /// A turn ended with an API error.
    Failed,
    /// Claude has waited for a prompt for a while.
    Idle,
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

    /// Higher is more urgent: a permission dialog blocks the work.
    pub fn urgency(self) -> u8 {
        match self {
            Occasion::Permission => 3,
            Occasion::Failed => 2,
            Occasion::Done => 1,
            Occasion::Idle => 0,
        }
    }
}

/// One session's moment, with what a phrase may name.
#[derive(Clone, Debug, PartialEq)]
pub struct Announcement {
    pub session_id: String,
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
