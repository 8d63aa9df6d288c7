//! The speech policy: which of the core's [`Announcement`]s are said, and
//! in which words. Pure (the caller passes the clock and the local time),
//! so every rule is unit-tested.
//!
//! Never chatty: an event is said only when `[speech] enabled` and its own
//! `enabled` say so, not while muted or in quiet hours, a turn shorter than
//! its `min_turn_secs` ends silently, and a session says each event at most
//! once within `repeat_window_secs`. Placeholders expand to what reads well
//! aloud: `api_server` is "api server", `mcp__github__create_issue` is
//! "create issue on github", `WebFetch` is "Web Fetch".

use llm_bridge_core::announce::{Announcement, Occasion};
use llm_bridge_core::config::{PhraseValue, SpeechConfig, SpokenEvent};
use llm_bridge_core::state::Millis;
use llm_bridge_protocol::template::Piece;
use std::collections::HashMap;

/// The tools whose permission phrase is rendered when a session starts:
/// the ones that ask most often.
pub const COMMON_TOOLS: [&str; 4] = ["Bash", "Edit", "Write", "WebFetch"];

/// A phrase to say for one session's moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Phrase {
    pub session_id: String,
    pub occasion: Occasion,
    pub text: String,
}

/// Why an announcement is not said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silent {
    /// `[speech] enabled` is off, or the event's own `enabled`.
    Disabled,
    Muted,
    QuietHours,
    /// Said for this session within the repeat window.
    Repeated,
    /// The turn was shorter than `min_turn_secs`.
    ShortTurn,
}

/// What the policy remembers: when each session last said each event.
#[derive(Debug, Default)]
pub struct Announcer {
    said: HashMap<(String, Occasion), Millis>,
}

impl Announcer {
    /// Decides whether `a` is said; `local_minute` is the local time of day
    /// in minutes, for the quiet hours.
    pub fn decide(
        &mut self,
        a: &Announcement,
        config: &SpeechConfig,
        muted: bool,
        local_minute: u16,
        now: Millis,
    ) -> Result<Phrase, Silent> {
        let event = event(config, a.occasion);
        if !config.enabled || !event.enabled {
            return Err(Silent::Disabled);
        }
        if a.turn_ms.unwrap_or(0) < event.min_turn_secs.saturating_mul(1000) {
            return Err(Silent::ShortTurn);
        }
        if muted {
            return Err(Silent::Muted);
        }
        if config.quiet().is_some_and(|q| q.contains(local_minute)) {
            return Err(Silent::QuietHours);
        }
        let window = config.repeat_window_secs.saturating_mul(1000);
        self.said.retain(|_, at| now.saturating_sub(*at) < window);
        let key = (a.session_id.clone(), a.occasion);
        if self.said.contains_key(&key) {
            return Err(Silent::Repeated);
        }
        if window > 0 {
            self.said.insert(key, now);
        }
        Ok(Phrase {
            session_id: a.session_id.clone(),
            occasion: a.occasion,
            text: phrase_text(event, &spoken_project(a), a.tool.as_deref()),
        })
    }

    /// The session ended: it says nothing more.
    pub fn forget(&mut self, session_id: &str) {
        self.said.retain(|(id, _), _| id != session_id);
    }
}

/// The texts worth rendering ahead for `a` (a prepare effect): its phrase,
/// or, for a permission with no tool named yet, the common tools' phrases.
pub fn prepared_texts(a: &Announcement, config: &SpeechConfig) -> Vec<String> {
    let event = event(config, a.occasion);
    if !config.enabled || !event.enabled {
        return Vec::new();
    }
    let project = spoken_project(a);
    match (&a.tool, a.occasion) {
        (None, Occasion::Permission) => COMMON_TOOLS
            .iter()
            .map(|tool| phrase_text(event, &project, Some(tool)))
            .collect(),
        (tool, _) => vec![phrase_text(event, &project, tool.as_deref())],
    }
}

/// What `{project}` says: the project, after the agent's name when the core
/// asks for it ("codex in api-server": sessions of several kinds of agent).
fn spoken_project(a: &Announcement) -> String {
    match a.agent {
        Some(agent) => format!("{agent} in {}", a.project),
        None => a.project.clone(),
    }
}

fn event(config: &SpeechConfig, occasion: Occasion) -> &SpokenEvent {
    let events = &config.events;
    match occasion {
        Occasion::Permission => &events.permission,
        Occasion::Done => &events.done,
        Occasion::Failed => &events.failed,
        Occasion::Idle => &events.idle,
    }
}

/// The event's phrase with its placeholders filled in, read as words.
pub fn phrase_text(event: &SpokenEvent, project: &str, tool: Option<&str>) -> String {
    let mut out = String::new();
    for piece in event.template().pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Newline => out.push(' '),
            Piece::Placeholder(PhraseValue::Project) => out.push_str(&speakable_name(project)),
            Piece::Placeholder(PhraseValue::Tool) => {
                out.push_str(&tool.map_or_else(|| "a tool".to_string(), speakable_tool));
            }
        }
    }
    // No control character reaches the synthesizer either.
    let words: Vec<&str> = out
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ")
}

/// A project's name as words: `-`, `_` and `.` read as spaces.
pub fn speakable_name(name: &str) -> String {
    let spaced: String = name
        .chars()
        .map(|c| {
            if matches!(c, '-' | '_' | '.') || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A tool's name as words: `mcp__server__tool` is "tool on server", and
/// `WebFetch` is "Web Fetch".
pub fn speakable_tool(tool: &str) -> String {
    if let Some(rest) = tool.strip_prefix("mcp__") {
        if let Some((server, name)) = rest.split_once("__") {
            return format!("{} on {}", speakable_tool(name), speakable_name(server));
        }
        return speakable_name(rest);
    }
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in tool.chars() {
        // A capital after a small letter starts a word: WebFetch, NotebookEdit.
        if c.is_uppercase() && previous.is_some_and(char::is_lowercase) {
            out.push(' ');
        }
        out.push(c);
        previous = Some(c);
    }
    speakable_name(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> SpeechConfig {
        SpeechConfig {
            enabled: true,
            ..SpeechConfig::default()
        }
    }

    fn moment(occasion: Occasion, turn_ms: Option<u64>) -> Announcement {
        Announcement {
            session_id: "s1".into(),
            agent: None,
            occasion,
            project: "waybar-llm".into(),
            tool: Some("Bash".into()),
            turn_ms,
        }
    }

    #[test]
    fn the_default_phrases_read_as_words() {
        let mut a = Announcer::default();
        let c = enabled();
        let p = a
            .decide(&moment(Occasion::Permission, None), &c, false, 600, 0)
            .unwrap();
        assert_eq!(p.text, "waybar llm needs permission for Bash");
        let p = a
            .decide(&moment(Occasion::Done, Some(20_000)), &c, false, 600, 0)
            .unwrap();
        assert_eq!(p.text, "waybar llm is done");
        let p = a
            .decide(&moment(Occasion::Failed, Some(1)), &c, false, 600, 0)
            .unwrap();
        assert_eq!(p.text, "waybar llm failed");
        assert_eq!(
            a.decide(&moment(Occasion::Idle, None), &c, false, 600, 0),
            Err(Silent::Disabled),
            "idle_prompt says nothing by default"
        );
    }

    #[test]
    fn names_are_spoken_as_words() {
        assert_eq!(speakable_name("api_server-v2"), "api server v2");
        assert_eq!(
            speakable_tool("mcp__github__create_issue"),
            "create issue on github"
        );
        assert_eq!(speakable_tool("WebFetch"), "Web Fetch");
        assert_eq!(speakable_tool("Bash"), "Bash");
        assert_eq!(speakable_tool("mcp__x"), "x");
        let event = SpokenEvent {
            enabled: true,
            say: "{project}\nneeds {tool}\u{1b}]0;".into(),
            min_turn_secs: 0,
        };
        assert_eq!(phrase_text(&event, "a\u{7}b", None), "a b needs a tool ]0;");
    }

    #[test]
    fn a_short_turn_is_not_said_and_nothing_is_said_twice_in_the_window() {
        let mut a = Announcer::default();
        let c = enabled();
        assert_eq!(
            a.decide(&moment(Occasion::Done, Some(19_999)), &c, false, 600, 0),
            Err(Silent::ShortTurn)
        );
        assert_eq!(
            a.decide(&moment(Occasion::Done, None), &c, false, 600, 0),
            Err(Silent::ShortTurn),
            "a turn whose start is unknown is not long"
        );
        let permission = moment(Occasion::Permission, None);
        assert!(a.decide(&permission, &c, false, 600, 1_000).is_ok());
        assert_eq!(
            a.decide(&permission, &c, false, 600, 30_999),
            Err(Silent::Repeated)
        );
        // Another session, or another event, is news.
        let other = Announcement {
            session_id: "s2".into(),
            ..permission.clone()
        };
        assert!(a.decide(&other, &c, false, 600, 2_000).is_ok());
        assert!(
            a.decide(&permission, &c, false, 600, 31_000).is_ok(),
            "after the window"
        );
        a.forget("s1");
        assert!(
            a.decide(&permission, &c, false, 600, 31_001).is_ok(),
            "a forgotten session"
        );
    }

    #[test]
    fn mute_quiet_hours_and_switches_silence_it() {
        let mut a = Announcer::default();
        let permission = moment(Occasion::Permission, None);
        assert_eq!(
            a.decide(&permission, &SpeechConfig::default(), false, 600, 0),
            Err(Silent::Disabled),
            "[speech] enabled is off by default"
        );
        let c = enabled();
        assert_eq!(a.decide(&permission, &c, true, 600, 0), Err(Silent::Muted));
        let mut quiet = enabled();
        quiet.quiet_hours = "22:00-07:00".into();
        assert_eq!(
            a.decide(&permission, &quiet, false, 23 * 60, 0),
            Err(Silent::QuietHours)
        );
        assert!(a.decide(&permission, &quiet, false, 12 * 60, 0).is_ok());
        let mut off = enabled();
        off.events.permission.enabled = false;
        assert_eq!(
            a.decide(
                &moment(Occasion::Permission, None),
                &off,
                false,
                600,
                99_000
            ),
            Err(Silent::Disabled)
        );
    }

    #[test]
    fn a_named_agent_is_said_before_the_project_and_rendered_ahead_alike() {
        let c = enabled();
        let named = Announcement {
            agent: Some(llm_bridge_protocol::agent::Agent::Codex),
            project: "api-server".into(),
            tool: Some("shell".into()),
            ..moment(Occasion::Permission, None)
        };
        let phrase = Announcer::default()
            .decide(&named, &c, false, 600, 1_000)
            .unwrap();
        assert_eq!(
            phrase.text,
            "codex in api server needs permission for shell"
        );
        assert_eq!(prepared_texts(&named, &c), vec![phrase.text]);
        let plain = Announcement {
            agent: None,
            ..named
        };
        assert_eq!(
            prepared_texts(&plain, &c),
            vec!["api server needs permission for shell"]
        );
    }

    #[test]
    fn prepared_texts_cover_the_common_tools_before_one_is_named() {
        let c = enabled();
        let mut a = moment(Occasion::Permission, None);
        a.tool = None;
        let texts = prepared_texts(&a, &c);
        assert_eq!(texts.len(), COMMON_TOOLS.len());
        assert!(texts.contains(&"waybar llm needs permission for Web Fetch".to_string()));
        assert!(prepared_texts(&a, &SpeechConfig::default()).is_empty());
    }
}
