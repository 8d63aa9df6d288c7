//! Renders the state as the JSON line Waybar's `custom/llm` module reads.
//!
//! Pure: the caller passes the local UTC offset and reads every clock, so
//! output is deterministic in tests. The line is compact JSON with `text`, `alt`, `class`,
//! `tooltip` and `percentage`; `text` and `tooltip` are Pango markup, so
//! `&`, `<` and `>` from project or tool names are escaped.

use crate::defaults::default_config;
use crate::focus;
use crate::state::{Aggregate, Millis, Session, SessionState, State, StateCounts};
use llm_bridge_protocol::template::{Piece, Template, TemplateError};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt::Write as _;

/// How the module reads: the `[module]` section of config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModuleStyle {
    /// The word (or icon) shown for each aggregate state.
    pub none: String,
    pub idle: String,
    pub working: String,
    pub waiting: String,
    pub error: String,
    /// Append the number of sessions in the shown state when there are
    /// several sessions ("waiting 1").
    pub show_count: bool,
    /// Which other states follow, with their counts ("waiting 1 · 2 working").
    pub others: Others,
    /// Append the tool while exactly one session is working.
    pub show_tool: bool,
    /// One tooltip line per session.
    pub tooltip: Tooltip,
    /// At most this many session lines; then "… and N more".
    pub tooltip_lines: usize,
    /// Appended to the text while spoken notifications are muted (the
    /// class `muted` is added too); empty: nothing.
    pub muted: String,
}

impl Default for ModuleStyle {
    fn default() -> Self {
        ModuleStyle {
            none: default_config!(module.none).into(),
            idle: default_config!(module.idle).into(),
            working: default_config!(module.working).into(),
            waiting: default_config!(module.waiting).into(),
            error: default_config!(module.error).into(),
            show_count: default_config!(module.show_count),
            others: crate::config::named(default_config!(module.others)),
            show_tool: default_config!(module.show_tool),
            tooltip: Tooltip::parse(DEFAULT_TOOLTIP).expect("the default tooltip parses"),
            tooltip_lines: default_config!(module.tooltip_lines),
            muted: default_config!(module.muted).into(),
        }
    }
}

/// Which states other than the shown one the text lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Others {
    /// Working, waiting and error sessions: what needs watching.
    Busy,
    /// Idle ones too.
    All,
    /// Only the shown state.
    None,
}

impl Others {
    fn lists(self, state: SessionState) -> bool {
        match self {
            Others::Busy => state != SessionState::Idle,
            Others::All => true,
            Others::None => false,
        }
    }
}

/// The default tooltip line (the default config's `[module] tooltip`).
pub const DEFAULT_TOOLTIP: &str = default_config!(module.tooltip);

/// What a tooltip line can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Project,
    State,
    Tool,
    Since,
    Subagents,
    Model,
    Cost,
    Context,
    Agent,
}

const FIELDS: [(Field, &str); 9] = [
    (Field::Project, "project"),
    (Field::State, "state"),
    (Field::Tool, "tool"),
    (Field::Since, "since"),
    (Field::Subagents, "subagents"),
    (Field::Model, "model"),
    (Field::Cost, "cost"),
    (Field::Context, "context"),
    (Field::Agent, "agent"),
];

/// The tooltip line template, parsed once when the config is read, by the
/// one template reader ([`llm_bridge_protocol::template`]). Placeholders:
/// {project} {state} {tool} {since} {subagents} {model} {cost} {context}
/// {agent}; the optional ones expand to nothing or to their text with its separator.
#[derive(Clone, Debug, PartialEq)]
pub struct Tooltip(Template<Field>);

impl Tooltip {
    pub fn parse(format: &str) -> Result<Tooltip, TemplateError> {
        Template::parse(format, &FIELDS).map(Tooltip)
    }
}

impl<'de> Deserialize<'de> for Tooltip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tooltip, D::Error> {
        let format = String::deserialize(d)?;
        Tooltip::parse(&format).map_err(serde::de::Error::custom)
    }
}

impl ModuleStyle {
    fn word(&self, aggregate: Aggregate) -> &str {
        match aggregate {
            Aggregate::None => &self.none,
            Aggregate::Session(SessionState::Idle) => &self.idle,
            Aggregate::Session(SessionState::Working) => &self.working,
            Aggregate::Session(SessionState::Waiting) => &self.waiting,
            Aggregate::Session(SessionState::Error) => &self.error,
        }
    }
}

#[derive(Serialize)]
struct ModuleJson<'a> {
    text: &'a str,
    alt: &'a str,
    /// The state's name, then `muted` while spoken notifications are.
    class: &'a [&'a str],
    tooltip: &'a str,
    percentage: u8,
}

/// The module JSON for `state` in the default style.
pub fn render(state: &State, utc_offset_secs: i64) -> String {
    render_styled(state, utc_offset_secs, &ModuleStyle::default())
}

/// The module JSON for `state`, one line without a trailing newline.
pub fn render_styled(state: &State, utc_offset_secs: i64, style: &ModuleStyle) -> String {
    Renderer::default()
        .render(state, utc_offset_secs, style)
        .to_string()
}

/// Renders the module into buffers it keeps, for a caller that renders
/// often (the daemon): once they have grown, a render allocates only the
/// list of sessions it sorts for the tooltip.
#[derive(Debug, Default)]
pub struct Renderer {
    /// The text, as markup.
    text: String,
    tooltip: String,
    json: Vec<u8>,
}

impl Renderer {
    /// The module JSON for `state`, one line without a trailing newline
    /// (what [`render_styled`] returns).
    pub fn render(&mut self, state: &State, utc_offset_secs: i64, style: &ModuleStyle) -> &str {
        let tally = Tally::of(state);
        let aggregate = tally.counts.aggregate();
        let alt = aggregate.as_str();
        let muted = state.muted();
        self.text.clear();
        text(&mut self.text, state, &tally, style);
        self.tooltip.clear();
        tooltip(&mut self.tooltip, state, utc_offset_secs, style);
        if muted {
            if !style.muted.is_empty() {
                self.text.push(' ');
                push_markup(&mut self.text, &style.muted);
            }
            self.tooltip.push_str("\nSpoken notifications muted");
            if let Some(until) = state.mute_deadline() {
                self.tooltip.push_str(" until ");
                push_clock(&mut self.tooltip, until, utc_offset_secs);
            }
        }
        let module = ModuleJson {
            text: &self.text,
            alt,
            class: if muted { &[alt, "muted"] } else { &[alt] },
            tooltip: &self.tooltip,
            percentage: percentage(tally.max_context),
        };
        self.json.clear();
        serde_json::to_writer(&mut self.json, &module).expect("module JSON always serializes");
        std::str::from_utf8(&self.json).expect("serde_json writes UTF-8")
    }
}

/// A context percentage rounded half away from zero, within 0..=100, as
/// `f64::round` would (which is a call into the C library).
fn percentage(pct: f64) -> u8 {
    let pct = pct.clamp(0.0, 100.0);
    // Truncates; the fraction left is exact.
    let whole = pct as u8;
    whole + u8::from(pct - f64::from(whole) >= 0.5)
}

/// The module for "no daemon has ever run": what `llm-bridge waybar` prints
/// when there is no waybar.json.
pub fn render_empty() -> String {
    render(&State::new(), 0)
}

/// `working: Bash`, `waiting 1 · 2 working`, `none`, as markup: the shown
/// state's word, how many sessions are in it when there are several
/// sessions, the tool while exactly one session works (and nothing needs
/// the user), then the other states' counts, most urgent first.
fn text(out: &mut String, state: &State, tally: &Tally, style: &ModuleStyle) {
    let aggregate = tally.counts.aggregate();
    push_markup(out, style.word(aggregate));
    let Aggregate::Session(shown) = aggregate else {
        return;
    };
    let count = |s: SessionState| tally.counts.count(s);
    let n = count(shown);
    if style.show_count && state.len() > 1 {
        let _ = write!(out, " {n}");
    }
    if style.show_tool && shown == SessionState::Working && n == 1 {
        let tool = state
            .sessions()
            .find(|s| s.state == SessionState::Working)
            .and_then(Session::current_tool);
        if let Some(tool) = tool {
            out.push_str(": ");
            push_markup(out, &tool.name);
        }
    }
    for other in SessionState::BY_PRIORITY {
        if other == shown || !style.others.lists(other) {
            continue;
        }
        let c = count(other);
        if c > 0 {
            let _ = write!(out, " · {c} ");
            push_markup(out, style.word(Aggregate::Session(other)));
        }
    }
}

/// What the text needs of every session, gathered in one pass.
struct Tally {
    /// Sessions per state, and so the aggregate.
    counts: StateCounts,
    max_context: f64,
}

impl Tally {
    fn of(state: &State) -> Tally {
        let mut tally = Tally {
            counts: StateCounts::default(),
            max_context: 0.0,
        };
        for s in state.sessions() {
            tally.counts.add(s.state);
            if let Some(pct) = s.context_pct {
                tally.max_context = tally.max_context.max(pct);
            }
        }
        tally
    }
}

/// One line per session, most urgent first, then by project name; with
/// several, a last line names the session a click would focus.
fn tooltip(out: &mut String, state: &State, utc_offset_secs: i64, style: &ModuleStyle) {
    if state.len() <= 1 {
        // Nothing to order (the usual case): no list of sessions either.
        match state.sessions().next() {
            Some(s) => tooltip_line(out, s, false, utc_offset_secs, &style.tooltip),
            None => out.push_str("No agent session"),
        }
        return;
    }
    let mut sessions: Vec<&Session> = state.sessions().collect();
    let order = |a: &&Session, b: &&Session| focus::tooltip_order(a, b);
    // Only the first lines are shown: select them in linear time, then sort
    // just those, so a flush costs about the same at 1000 sessions as at 10.
    let shown = style.tooltip_lines.max(1).min(sessions.len());
    let rest = sessions.len() - shown;
    if rest > 0 {
        sessions.select_nth_unstable_by(shown - 1, order);
        sessions.truncate(shown);
    }
    sessions.sort_unstable_by(order);
    let several = state.several_agents();
    for (i, s) in sessions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        tooltip_line(out, s, several, utc_offset_secs, &style.tooltip);
    }
    if rest > 0 {
        let _ = write!(out, "\n… and {rest} more");
    }
    // Which one a click (`llm-bridge focus`) goes to.
    if let Some(s) = focus::default_target(state) {
        out.push_str("\nclick: ");
        push_markup(out, display_name(s));
    }
}

/// A session as the tooltip names it: its project, or the start of its id.
fn display_name(s: &Session) -> &str {
    if s.project.is_empty() {
        short_id(&s.id)
    } else {
        &s.project
    }
}

/// One session's line; `several`: sessions of more than one kind of agent
/// exist, and `{agent}` names this one's.
fn tooltip_line(
    out: &mut String,
    s: &Session,
    several: bool,
    utc_offset_secs: i64,
    template: &Tooltip,
) {
    let project = display_name(s);
    let n = s.subagents.len();
    for piece in &template.0.pieces {
        match piece {
            Piece::Text(text) => push_markup(out, text),
            Piece::Newline => out.push(' '),
            Piece::Placeholder(field) => match field {
                Field::Project => push_markup(out, project),
                Field::State => out.push_str(s.state.as_str()),
                Field::Tool => {
                    if let Some(tool) = s.shown_tool() {
                        out.push_str(" (");
                        push_markup(out, tool);
                        out.push(')');
                    }
                }
                Field::Since => push_clock(out, s.state_since, utc_offset_secs),
                Field::Subagents if n > 0 => {
                    let _ = write!(out, " · {n} subagent{}", if n == 1 { "" } else { "s" });
                }
                Field::Subagents => {}
                Field::Model => {
                    if let Some(m) = &s.model {
                        out.push_str(" · ");
                        push_markup(out, m);
                    }
                }
                Field::Cost => {
                    if let Some(c) = s.cost_usd {
                        let _ = write!(out, " · ${c:.2}");
                    }
                }
                Field::Context => {
                    if let Some(p) = s.context_pct {
                        let _ = write!(out, " · {p:.0}% context");
                    }
                }
                Field::Agent if several => {
                    out.push_str(" · ");
                    out.push_str(s.agent.name());
                }
                Field::Agent => {}
            },
        }
    }
}

fn short_id(id: &str) -> &str {
    llm_bridge_protocol::wire::truncate_head(id, 8)
}

/// `HH:MM:SS` local time of a wall-clock instant.
pub fn clock(at: Millis, utc_offset_secs: i64) -> String {
    let mut out = String::with_capacity(8);
    push_clock(&mut out, at, utc_offset_secs);
    out
}

/// Appends [`clock`]'s `HH:MM:SS` to `out`.
fn push_clock(out: &mut String, at: Millis, utc_offset_secs: i64) {
    let secs = (at / 1000) as i64 + utc_offset_secs;
    let day = secs.rem_euclid(86_400);
    for (i, part) in [day / 3600, day / 60 % 60, day % 60]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(':');
        }
        // Each part is below 60: two digits.
        out.push(char::from(b'0' + (part / 10) as u8));
        out.push(char::from(b'0' + (part % 10) as u8));
    }
}

/// Pango markup as written by [`escape_markup`] back to plain text, for a
/// terminal: `&amp;` is `&` again, and no control character gets through.
pub fn markup_to_text(s: &str) -> String {
    let plain = s
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    plain
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// Escapes the characters Pango markup gives a meaning to.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_markup(&mut out, s);
    out
}

/// Appends `s` to `out` as [`escape_markup`] escapes it.
fn push_markup(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = rest.find(['&', '<', '>']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Input;
    use llm_bridge_protocol::wire::{Event, EventKind, Status};
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
        st.apply(&Input::Event(e), now);
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
        assert_eq!(
            v["text"], "waiting 1 · 1 working",
            "the count is of the shown state; the others follow"
        );
        assert_eq!(v["alt"], "waiting");
        let tooltip = v["tooltip"].as_str().unwrap();
        let lines: Vec<&str> = tooltip.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("alpha: waiting"), "{tooltip}");
        assert!(lines[1].starts_with("zeta: working (Read)"), "{tooltip}");
        assert!(lines[2].starts_with("beta: idle"), "{tooltip}");
        assert_eq!(
            lines[3], "click: alpha",
            "where a click goes: the one waiting"
        );
    }

    #[test]
    fn the_count_is_of_the_shown_state_and_others_are_configurable() {
        let mut st = State::new();
        apply(&mut st, EventKind::Permission, "a", "/a", Some("Bash"), 0);
        apply(&mut st, EventKind::Stop, "b", "/b", None, 0);
        let text = |st: &State, others| {
            let style = ModuleStyle {
                others,
                ..ModuleStyle::default()
            };
            parse(&render_styled(st, 0, &style))["text"].clone()
        };
        // One waiting and one idle session: not "waiting 2".
        assert_eq!(text(&st, Others::Busy), "waiting 1");
        assert_eq!(text(&st, Others::All), "waiting 1 · 1 idle");
        apply(&mut st, EventKind::ToolStart, "c", "/c", Some("Read"), 0);
        apply(&mut st, EventKind::ToolStart, "d", "/d", Some("Grep"), 0);
        assert_eq!(text(&st, Others::Busy), "waiting 1 · 2 working");
        assert_eq!(text(&st, Others::None), "waiting 1");
        let icons = ModuleStyle {
            waiting: "⏳".into(),
            working: "⚙".into(),
            ..ModuleStyle::default()
        };
        assert_eq!(parse(&render_styled(&st, 0, &icons))["text"], "⏳ 1 · 2 ⚙");
    }

    #[test]
    fn one_working_session_beside_idle_ones_shows_its_tool() {
        let mut st = State::new();
        apply(&mut st, EventKind::ToolStart, "a", "/a", Some("Bash"), 0);
        apply(&mut st, EventKind::Stop, "b", "/b", None, 0);
        assert_eq!(parse(&render(&st, 0))["text"], "working 1: Bash");
    }

    #[test]
    fn the_tooltip_is_bounded_and_keeps_the_most_urgent_sessions() {
        let mut st = State::new();
        for i in 0..50 {
            apply(
                &mut st,
                EventKind::Stop,
                &format!("s{i}"),
                &format!("/p{i:02}"),
                None,
                0,
            );
        }
        apply(
            &mut st,
            EventKind::Permission,
            "w",
            "/zz-waiting",
            Some("Bash"),
            0,
        );
        let style = ModuleStyle {
            tooltip_lines: 5,
            ..ModuleStyle::default()
        };
        let v = parse(&render_styled(&st, 0, &style));
        let tooltip = v["tooltip"].as_str().unwrap();
        let lines: Vec<&str> = tooltip.lines().collect();
        assert_eq!(lines.len(), 7, "{tooltip}");
        assert!(lines[0].starts_with("zz-waiting: waiting"), "{tooltip}");
        assert!(lines[1].starts_with("p00: idle"), "sorted: {tooltip}");
        assert!(lines[4].starts_with("p03: idle"), "sorted: {tooltip}");
        assert_eq!(lines[5], "… and 46 more");
        assert_eq!(lines[6], "click: zz-waiting");
    }

    #[test]
    fn two_working_sessions_hide_the_tool() {
        let mut st = State::new();
        apply(&mut st, EventKind::ToolStart, "a", "/a", Some("Read"), 0);
        apply(&mut st, EventKind::ToolStart, "b", "/b", Some("Grep"), 0);
        assert_eq!(parse(&render(&st, 0))["text"], "working 2");
    }

    #[test]
    fn the_percentage_rounds_as_f64_round() {
        for pct in [
            0.0,
            0.4,
            0.5,
            0.49999999999999994,
            42.5,
            77.6,
            99.5,
            100.0,
            250.0,
            -3.0,
        ] {
            let expected = f64::round(pct).clamp(0.0, 100.0) as u8;
            assert_eq!(percentage(pct), expected, "{pct}");
        }
    }

    #[test]
    fn clock_times_are_local_and_padded() {
        assert_eq!(clock(3_723_000, 0), "01:02:03");
        assert_eq!(clock(3_723_000, -7200), "23:02:03");
        assert_eq!(clock(86_399_999, 0), "23:59:59");
        assert_eq!(escape_markup("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn markup_reads_back_as_plain_text_without_control_characters() {
        assert_eq!(
            markup_to_text(&escape_markup("R&D <x> &amp;")),
            "R&D <x> &amp;"
        );
        assert_eq!(
            markup_to_text("a\x1b]0;x\x07b\nc"),
            "a\u{FFFD}]0;x\u{FFFD}b\nc"
        );
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
    fn the_style_changes_words_count_tool_and_tooltip() {
        let mut st = State::new();
        apply(
            &mut st,
            EventKind::ToolStart,
            "a",
            "/src/app",
            Some("Bash"),
            0,
        );
        apply(&mut st, EventKind::Stop, "b", "/src/lib", None, 0);
        let style = ModuleStyle {
            working: "busy".into(),
            show_count: false,
            tooltip: Tooltip::parse("[{project}] {state}{tool} <{cost}> {{x}}").unwrap(),
            ..ModuleStyle::default()
        };
        let v = parse(&render_styled(&st, 0, &style));
        assert_eq!(v["text"], "busy: Bash");
        assert_eq!(
            v["alt"], "working",
            "alt and class never change: Waybar's config keys on them"
        );
        assert_eq!(
            v["tooltip"],
            "[app] working (Bash) &lt;&gt; {x}\n[lib] idle &lt;&gt; {x}\nclick: app"
        );
        let style = ModuleStyle {
            show_tool: false,
            ..ModuleStyle::default()
        };
        assert_eq!(parse(&render_styled(&st, 0, &style))["text"], "working 1");
        let bad = Tooltip::parse("{project} {nope}").unwrap_err().to_string();
        assert!(bad.contains("unknown placeholder {nope}"), "{bad}");
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
            st.apply(&Input::Status(s), 1);
        }
        let v = parse(&render(&st, 0));
        assert_eq!(v["percentage"], 78);
        assert_eq!(
            v["tooltip"].as_str().unwrap().lines().next().unwrap(),
            "p: idle since 00:00:00 · Opus 4.5 · $1.23 · 42% context"
        );
    }
}
