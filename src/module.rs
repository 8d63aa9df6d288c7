//! Renders the state as the JSON line Waybar's `custom/llm` module reads.
//!
//! Pure: the caller passes the local UTC offset, so output is deterministic
//! in tests. The line is compact JSON with `text`, `alt`, `class`,
//! `tooltip` and `percentage`; `text` and `tooltip` are Pango markup, so
//! `&`, `<` and `>` from project or tool names are escaped.

use crate::state::{Aggregate, Millis, Session, SessionState, State};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Serialize)]
struct ModuleJson<'a> {
    text: String,
    alt: &'a str,
    class: [&'a str; 1],
    tooltip: String,
    percentage: u8,
}

/// The module JSON for `state`, one line without a trailing newline.
pub fn render(state: &State, utc_offset_secs: i64) -> String {
    let aggregate = state.aggregate();
    let alt = aggregate.as_str();
    let module = ModuleJson {
        text: escape_markup(&text(state, aggregate)),
        alt,
        class: [alt],
        tooltip: tooltip(state, utc_offset_secs),
        percentage: state
            .sessions()
            .filter_map(|s| s.context_pct)
            .fold(0.0f64, f64::max)
            .round()
            .clamp(0.0, 100.0) as u8,
    };
    serde_json::to_string(&module).expect("module JSON always serializes")
}

/// The module for "no daemon has ever run": what `llm-bridge waybar` prints
/// when there is no waybar.json.
pub fn render_empty() -> String {
    render(&State::new(), 0)
}

/// `working: Bash`, `waiting 2`, `none`: the aggregate word, the session
/// count when there are several, and the tool while exactly one session is
/// working (and nothing needs the user).
fn text(state: &State, aggregate: Aggregate) -> String {
    let mut text = aggregate.as_str().to_string();
    if state.len() > 1 {
        let _ = write!(text, " {}", state.len());
    }
    if aggregate == Aggregate::Session(SessionState::Working) {
        let mut working = state
            .sessions()
            .filter(|s| s.state == SessionState::Working);
        if let (Some(only), None) = (working.next(), working.next()) {
            if let Some(tool) = only.current_tool() {
                let _ = write!(text, ": {}", tool.name);
            }
        }
    }
    text
}

/// One line per session, most urgent first, then by project name.
fn tooltip(state: &State, utc_offset_secs: i64) -> String {
    let mut sessions: Vec<&Session> = state.sessions().collect();
    sessions.sort_by(|a, b| {
        let rank = |s: &Session| match s.state {
            SessionState::Waiting => 0,
            SessionState::Working => 1,
            SessionState::Error => 2,
            SessionState::Idle => 3,
        };
        (rank(a), &a.project, &a.id).cmp(&(rank(b), &b.project, &b.id))
    });
    let mut out = String::new();
    if sessions.is_empty() {
        out.push_str("No Claude Code session");
    }
    for (i, s) in sessions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let project = if s.project.is_empty() {
            short_id(&s.id)
        } else {
            &s.project
        };
        let _ = write!(out, "{}: {}", escape_markup(project), s.state.as_str());
        if let Some(tool) = s.current_tool() {
            let _ = write!(out, " ({})", escape_markup(&tool.name));
        }
        let _ = write!(out, " since {}", clock(s.state_since, utc_offset_secs));
        if !s.subagents.is_empty() {
            let n = s.subagents.len();
            let _ = write!(out, " · {n} subagent{}", if n == 1 { "" } else { "s" });
        }
        if let Some(model) = &s.model {
            let _ = write!(out, " · {}", escape_markup(model));
        }
        if let Some(cost) = s.cost_usd {
            let _ = write!(out, " · ${cost:.2}");
        }
        if let Some(pct) = s.context_pct {
            let _ = write!(out, " · {pct:.0}% context");
        }
    }
    out
}

fn short_id(id: &str) -> &str {
    llm_bridge_hooks::wire::truncate_head(id, 8)
}

/// `HH:MM:SS` local time of a wall-clock instant.
fn clock(at: Millis, utc_offset_secs: i64) -> String {
    let secs = (at / 1000) as i64 + utc_offset_secs;
    let day = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

/// Escapes the characters Pango markup gives a meaning to.
pub fn escape_markup(s: &str) -> String {
    if !s.contains(['&', '<', '>']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_hooks::wire::{Event, EventKind, Message, Status};
    use serde_json::Value;

    fn apply(
        st: &mut State,
        kind: EventKind,
        sid: &str,
        cwd: &str,
        tool: Option<&str>,
        now: Millis,
    ) {
        let mut e = Event::new(kind, sid);
        e.cwd = Some(cwd.into());
        e.tool_name = tool.map(Into::into);
        e.tool_use_id = tool.map(|t| format!("id-{t}"));
        st.apply(&Message::Event(e), now);
    }

    fn parse(json: &str) -> Value {
        assert!(!json.contains('\n'), "one line");
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn empty_state_is_none() {
        let v = parse(&render_empty());
        assert_eq!(v["alt"], "none");
        assert_eq!(v["text"], "none");
        assert_eq!(v["class"], serde_json::json!(["none"]));
        assert_eq!(v["percentage"], 0);
    }

    #[test]
    fn one_working_session_shows_its_tool() {
        let mut st = State::new();
        apply(
            &mut st,
            EventKind::ToolStart,
            "a",
            "/src/app",
            Some("Bash"),
            3_723_000,
        );
        let v = parse(&render(&st, 0));
        assert_eq!(v["text"], "working: Bash");
        assert_eq!(v["alt"], "working");
        assert_eq!(v["tooltip"], "app: working (Bash) since 01:02:03");
        let v = parse(&render(&st, 3600));
        assert_eq!(
            v["tooltip"], "app: working (Bash) since 02:02:03",
            "local time"
        );
    }

    #[test]
    fn several_sessions_count_and_waiting_first() {
        let mut st = State::new();
        apply(
            &mut st,
            EventKind::ToolStart,
            "a",
            "/src/zeta",
            Some("Read"),
            0,
        );
        apply(
            &mut st,
            EventKind::Permission,
            "b",
            "/src/alpha",
            Some("Bash"),
            0,
        );
        apply(&mut st, EventKind::Stop, "c", "/src/beta", None, 0);
        let v = parse(&render(&st, 0));
        assert_eq!(v["text"], "waiting 3");
        assert_eq!(v["alt"], "waiting");
        let tooltip = v["tooltip"].as_str().unwrap();
        let lines: Vec<&str> = tooltip.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("alpha: waiting"), "{tooltip}");
        assert!(lines[1].starts_with("zeta: working (Read)"), "{tooltip}");
        assert!(lines[2].starts_with("beta: idle"), "{tooltip}");
    }

    #[test]
    fn two_working_sessions_hide_the_tool() {
        let mut st = State::new();
        apply(&mut st, EventKind::ToolStart, "a", "/a", Some("Read"), 0);
        apply(&mut st, EventKind::ToolStart, "b", "/b", Some("Grep"), 0);
        assert_eq!(parse(&render(&st, 0))["text"], "working 2");
    }

    #[test]
    fn markup_is_escaped() {
        let mut st = State::new();
        apply(
            &mut st,
            EventKind::ToolStart,
            "a",
            "/src/R&D <x>",
            Some("mcp__a<b>"),
            0,
        );
        let v = parse(&render(&st, 0));
        assert_eq!(v["text"], "working: mcp__a&lt;b&gt;");
        assert!(v["tooltip"]
            .as_str()
            .unwrap()
            .starts_with("R&amp;D &lt;x&gt;: working (mcp__a&lt;b&gt;)"));
    }

    #[test]
    fn status_figures_reach_tooltip_and_percentage() {
        let mut st = State::new();
        apply(&mut st, EventKind::Stop, "a", "/p", None, 0);
        apply(&mut st, EventKind::Stop, "b", "/q", None, 0);
        for (sid, pct) in [("a", 42.4), ("b", 77.6)] {
            let s = Status {
                session_id: sid.into(),
                model: Some("Opus 4.5".into()),
                cost_usd: Some(1.234),
                context_pct: Some(pct),
                ..Status::default()
            };
            st.apply(&Message::Status(s), 1);
        }
        let v = parse(&render(&st, 0));
        assert_eq!(v["percentage"], 78);
        assert_eq!(
            v["tooltip"].as_str().unwrap().lines().next().unwrap(),
            "p: idle since 00:00:00 · Opus 4.5 · $1.23 · 42% context"
        );
    }
}
