//! Focusing the terminal window that holds a session's agent process:
//! the process checked in `/proc` ([`ancestry`]), its tmux pane selected
//! (`tmux`), the compositor found ([`discover`]) and asked for its
//! windows, the window chosen by PID ancestry and, for terminal servers, by
//! title ([`window`]), then focused. Each compositor's protocol is spoken
//! directly over its Unix socket (`sway`, `hyprland`, `niri`,
//! through `stream`): small blocking exchanges with timeouts, in the
//! `llm-bridge focus` command, never in the daemon's loop.

pub mod ancestry;
pub mod discover;
mod hyprland;
mod niri;
mod stream;
mod sway;
mod tmux;
pub mod window;

use discover::{Compositor, Kind};
use llm_bridge_core::error::Error;
use llm_bridge_core::state::printable;
use llm_bridge_protocol::reply::FocusTarget;
use std::fmt;
use window::Window;

/// Why nothing was focused, with the exit code `llm-bridge focus` gives it.
#[derive(Debug)]
pub enum Failure {
    /// Nothing to focus (no session, no such session, its process unknown
    /// or gone): exit 1.
    Nothing(String),
    /// Talking to the daemon, tmux or the compositor failed: exit 2.
    Error(Error),
    /// The session's window is gone, or cannot be told from others: exit 3.
    Window(String),
    /// No supported compositor runs: exit 4.
    NoCompositor(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Nothing(_) => 1,
            Failure::Error(_) => 2,
            Failure::Window(_) => 3,
            Failure::NoCompositor(_) => 4,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Nothing(why) | Failure::Window(why) | Failure::NoCompositor(why) => {
                f.write_str(why)
            }
            Failure::Error(e) => f.write_str(&llm_bridge_core::error::one_line(e)),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

/// What was focused.
#[derive(Debug)]
pub struct Focused {
    pub compositor: Kind,
    pub window: u64,
    /// Whether a tmux pane was selected on the way.
    pub tmux: bool,
}

/// Focuses the window holding `target`'s process.
pub fn focus(target: &FocusTarget) -> Result<Focused, Failure> {
    let name = display_name(target);
    let Some((pid, start)) = target.process else {
        return Err(Failure::Nothing(format!(
            "nothing to focus: {name}'s process is not known (its hooks have not named it yet)"
        )));
    };
    let Some(mut ancestors) = ancestry::ancestors(pid, start) else {
        return Err(Failure::Nothing(format!(
            "nothing to focus: {name}'s process {pid} has exited"
        )));
    };
    let compositor = discover::find().map_err(|e| Failure::NoCompositor(e.to_string()))?;
    let windows = windows(&compositor)?;
    // Inside tmux, unless a window's process is nearer (a terminal started
    // from a tmux pane holds its own processes).
    let has_window = |pid: &u32| windows.iter().any(|w| w.pid == *pid);
    let tmux = tmux::server_in(&ancestors)
        .filter(|&at| ancestors[..at].iter().all(|pid| !has_window(pid)));
    if let Some(at) = tmux {
        let client = tmux::select(&ancestors[..at], ancestors[at])?.client_pid;
        // The terminal showing the tmux client holds the session now.
        ancestors = llm_bridge_hooks::proc_stat::read(client)
            .and_then(|stat| ancestry::ancestors(client, stat.start_time))
            .ok_or_else(|| Failure::Window(format!("the tmux client {client} has exited")))?;
    }
    let window = window::choose(&windows, &ancestors, &target.project)
        .map_err(|why| Failure::Window(format!("cannot focus {name}: {why}")))?;
    match compositor.kind {
        Kind::Sway => sway::focus(&compositor.socket, window)?,
        Kind::Hyprland => hyprland::focus(&compositor.socket, window, &windows)?,
        Kind::Niri => niri::focus(&compositor.socket, window)?,
    }
    Ok(Focused {
        compositor: compositor.kind,
        window: window.id,
        tmux: tmux.is_some(),
    })
}

/// How the user is told which session: its project, else its id (outside
/// text, so with control characters replaced).
pub fn display_name(target: &FocusTarget) -> String {
    if target.project.is_empty() {
        format!("session {}", printable(&target.session_id))
    } else {
        printable(&target.project)
    }
}

fn windows(compositor: &Compositor) -> Result<Vec<Window>, Error> {
    match compositor.kind {
        Kind::Sway => sway::windows(&compositor.socket),
        Kind::Hyprland => hyprland::windows(&compositor.socket),
        Kind::Niri => niri::windows(&compositor.socket),
    }
}
