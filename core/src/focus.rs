//! Which session `llm-bridge focus` takes the user to, and the order the
//! tooltip lists sessions in (which `--next` follows). Pure and in core, so
//! the daemon, the command without a daemon (from the state files) and the
//! tooltip, which names the session a click would focus, all choose alike.

use crate::state::{Session, SessionState, State};
use llm_bridge_protocol::reply::FocusTarget;
use llm_bridge_protocol::wire::FocusPick;
use std::cmp::{Ordering, Reverse};
use std::fmt;

/// Why there is no session to go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoTarget {
    /// No session at all.
    NoSession,
    /// `--session ID` names no session (neither an id nor a unique prefix of one).
    Unknown(String),
    /// `--session ID` is the prefix of several sessions' ids.
    Ambiguous(String),
}

impl fmt::Display for NoTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoTarget::NoSession => write!(f, "nothing to focus: no session"),
            NoTarget::Unknown(id) => write!(f, "nothing to focus: no session {id:?}"),
            NoTarget::Ambiguous(id) => {
                write!(f, "nothing to focus: {id:?} starts several sessions' ids")
            }
        }
    }
}

/// The tooltip's order: the most urgent first, then by project, then by id.
pub fn tooltip_order(a: &Session, b: &Session) -> Ordering {
    (Reverse(a.state.priority()), &a.project, &a.id).cmp(&(
        Reverse(b.state.priority()),
        &b.project,
        &b.id,
    ))
}

/// The session `pick` names in `state`.
///
/// By default: the session a spoken notification named last while it still
/// waits; else the one that has waited longest; else the one that changed
/// last. `Next`: the session after the one focused last, in the tooltip's
/// order (the first when that one is gone). `Session`: an id, or a prefix of
/// exactly one id (the tooltip shows eight characters).
pub fn choose<'s>(state: &'s State, pick: &FocusPick) -> Result<&'s Session, NoTarget> {
    if state.is_empty() {
        return Err(NoTarget::NoSession);
    }
    match pick {
        FocusPick::Default => Ok(default_target(state).expect("not empty")),
        FocusPick::Next => {
            let mut sessions: Vec<&Session> = state.sessions().collect();
            sessions.sort_unstable_by(|a, b| tooltip_order(a, b));
            let after = state
                .focused()
                .and_then(|id| sessions.iter().position(|s| s.id == id));
            let i = after.map_or(0, |i| (i + 1) % sessions.len());
            Ok(sessions[i])
        }
        FocusPick::Session(id) => {
            if let Some(s) = state.session(id) {
                return Ok(s);
            }
            let mut matching = state.sessions().filter(|s| s.id.starts_with(id.as_str()));
            match (matching.next(), matching.next()) {
                (Some(s), None) if !id.is_empty() => Ok(s),
                (Some(_), _) => Err(NoTarget::Ambiguous(id.clone())),
                (None, _) => Err(NoTarget::Unknown(id.clone())),
            }
        }
    }
}

/// What the command needs of the chosen session to find its window.
pub fn target(session: &Session) -> FocusTarget {
    FocusTarget {
        session_id: session.id.clone(),
        project: session.project.clone(),
        process: session.process().map(|p| (p.pid, p.start)),
    }
}

/// The default choice; `None` only without sessions.
pub fn default_target(state: &State) -> Option<&Session> {
    if let Some(s) = state
        .named()
        .and_then(|id| state.session(id))
        .filter(|s| s.state == SessionState::Waiting)
    {
        return Some(s);
    }
    // Ties go to the first id (sessions are held in id order).
    let waiting = state
        .sessions()
        .filter(|s| s.state == SessionState::Waiting)
        .min_by_key(|s| s.state_since);
    waiting.or_else(|| {
        state
            .sessions()
            .max_by(|a, b| a.last_event.cmp(&b.last_event).then(b.id.cmp(&a.id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Input;
    use llm_bridge_protocol::wire::{Event, EventKind};

    fn event(state: &mut State, kind: EventKind, sid: &str, project: &str, now: u64) {
        let mut e = Event::new(kind, sid);
        e.cwd = Some(format!("/src/{project}"));
        if kind == EventKind::Permission {
            e.tool_name = Some("Bash".into());
        }
        state.apply(&Input::Event(e), now);
    }

    fn pick(state: &State, pick: &FocusPick) -> String {
        choose(state, pick).unwrap().id.clone()
    }

    #[test]
    fn nothing_to_focus_without_sessions() {
        let state = State::new();
        assert_eq!(
            choose(&state, &FocusPick::Default),
            Err(NoTarget::NoSession)
        );
        assert_eq!(choose(&state, &FocusPick::Next), Err(NoTarget::NoSession));
    }

    #[test]
    fn the_default_is_named_then_longest_waiting_then_last_changed() {
        let mut state = State::new();
        event(&mut state, EventKind::SessionStart, "a", "alpha", 1_000);
        event(&mut state, EventKind::SessionStart, "b", "beta", 2_000);
        event(&mut state, EventKind::SessionStart, "c", "gamma", 3_000);
        // Nobody waits: the one that changed last.
        assert_eq!(pick(&state, &FocusPick::Default), "c");
        event(&mut state, EventKind::Submit, "b", "beta", 4_000);
        event(&mut state, EventKind::Permission, "b", "beta", 5_000);
        event(&mut state, EventKind::Submit, "a", "alpha", 6_000);
        event(&mut state, EventKind::Permission, "a", "alpha", 7_000);
        // Both wait: b has waited longer.
        assert_eq!(pick(&state, &FocusPick::Default), "b");
        // The phrase named a: it goes there while a waits.
        state.apply(
            &Input::Named {
                session_id: "a".into(),
            },
            8_000,
        );
        assert_eq!(pick(&state, &FocusPick::Default), "a");
        event(&mut state, EventKind::ToolEnd, "a", "alpha", 9_000);
        assert_eq!(pick(&state, &FocusPick::Default), "b");
    }

    #[test]
    fn next_cycles_in_the_tooltips_order() {
        let mut state = State::new();
        for (i, (sid, project)) in [("z", "zeta"), ("a", "alpha"), ("m", "mu")]
            .iter()
            .enumerate()
        {
            event(
                &mut state,
                EventKind::SessionStart,
                sid,
                project,
                1_000 + i as u64,
            );
        }
        event(&mut state, EventKind::Submit, "m", "mu", 5_000);
        event(&mut state, EventKind::Permission, "m", "mu", 5_001);
        // Order: mu (waiting), then alpha, zeta (idle, by project).
        let mut seen = Vec::new();
        for _ in 0..4 {
            let id = pick(&state, &FocusPick::Next);
            state.apply(
                &Input::Focused {
                    session_id: id.clone(),
                },
                6_000,
            );
            seen.push(id);
        }
        assert_eq!(seen, ["m", "a", "z", "m"]);
    }

    #[test]
    fn a_session_by_id_or_unique_prefix() {
        let mut state = State::new();
        event(&mut state, EventKind::SessionStart, "abc-1", "p", 1);
        event(&mut state, EventKind::SessionStart, "abd-2", "q", 2);
        let by = |id: &str| choose(&state, &FocusPick::Session(id.into())).map(|s| s.id.clone());
        assert_eq!(by("abc-1"), Ok("abc-1".into()));
        assert_eq!(by("abd"), Ok("abd-2".into()));
        assert_eq!(by("ab"), Err(NoTarget::Ambiguous("ab".into())));
        assert_eq!(by("x"), Err(NoTarget::Unknown("x".into())));
    }
}
