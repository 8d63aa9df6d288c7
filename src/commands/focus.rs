//! `llm-bridge focus [--session ID | --next]`: go to the terminal window
//! of the session that needs you. Made for Waybar's `on-click` (and
//! `on-click-middle` with `--next`).
//!
//! The core chooses the session: the daemon answers a `FOCUS` request (and
//! remembers the choice for `--next`); without a daemon the same choice is
//! made from the state files, and remembered there under the lock. The
//! window is then found and focused here (`crate::focus`), so the daemon
//! never waits on a compositor.

use crate::control::{request, RequestError};
use crate::focus::{self, Failure};
use llm_bridge_core::apply::apply_input;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::anyhow;
use llm_bridge_core::focus::{choose, target};
use llm_bridge_core::paths::Paths;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::Input;
use llm_bridge_protocol::reply::{FocusTarget, Reply};
use llm_bridge_protocol::wire::{FocusPick, Message};

/// Focuses the chosen session's window; returns the exit code (README:
/// 0 focused, 1 nothing to focus, 2 an error, 3 no window, 4 no compositor).
pub fn focus(paths: &Paths, pick: FocusPick) -> i32 {
    let focused = chosen(paths, pick).and_then(|t| Ok((focus::focus(&t)?, t)));
    match focused {
        Ok((focused, target)) => {
            println!(
                "focused {} ({} window {}{})",
                focus::display_name(&target),
                focused.compositor.name(),
                focused.window,
                if focused.tmux {
                    ", its tmux pane selected"
                } else {
                    ""
                }
            );
            0
        }
        Err(failure) => {
            eprintln!("llm-bridge focus: {failure}");
            failure.exit_code()
        }
    }
}

/// The session to go to, from the daemon or else from the state files.
fn chosen(paths: &Paths, pick: FocusPick) -> Result<FocusTarget, Failure> {
    match request(paths, &Message::Focus(pick.clone())) {
        Ok(Reply::Focus(target)) => Ok(target),
        Ok(Reply::Nothing(why)) => Err(Failure::Nothing(why)),
        Ok(other) => Err(anyhow!("unexpected reply to FOCUS: {other:?}").into()),
        Err(RequestError::NotRunning) => {
            let (state, _) = snapshot::load(&paths.state_json)?;
            let chosen = choose(&state, &pick).map_err(|e| Failure::Nothing(e.to_string()))?;
            let target = target(chosen);
            // Remembered for `--next`; a daemon starting meanwhile holds
            // the lock, and only the cycle's place is lost.
            let session_id = target.session_id.clone();
            let config = Config::load().unwrap_or_default();
            apply_input(paths, &config, &Input::Focused { session_id })?;
            Ok(target)
        }
        Err(e) => Err(anyhow!(e).into()),
    }
}
