//! The datagram protocol between the hook binaries and the daemon.
//!
//! One datagram is one message: a header line `LLMB/1 VERB[:KIND[:ARG]]`
//! followed by `key=value` lines. It is text so it can be read in `strace`
//! and typed by hand with `socat`, and it is tiny so encoding it costs the
//! hook nothing. The full grammar is in `docs/protocol.md`; this module is
//! the only implementation of it, used by both ends.
//!
//! Values escape `\` as `\\` and every control byte as `\xHH`, so a value is
//! always one line and a message never contains NUL (it can travel in argv to
//! `llm-bridge apply`). Every encoded message fits in [`MAX_DATAGRAM`] bytes:
//! long values are cut on UTF-8 boundaries, paths keeping their end.

pub use crate::agent::Agent;
#[cfg(doc)]
use crate::reply::Reply;
use std::borrow::Cow;
use std::fmt;

/// The protocol tag and version that starts every message.
pub const MAGIC: &str = "LLMB/1";
/// No message is larger than this; the daemon rejects larger datagrams.
pub const MAX_DATAGRAM: usize = 4096;

/// What happened in a Claude Code session, as named on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    SessionStart,
    Submit,
    ToolStart,
    ToolEnd,
    ToolFail,
    Permission,
    Notify,
    SubagentStart,
    SubagentStop,
    CompactStart,
    CompactEnd,
    Stop,
    StopFail,
    SessionEnd,
    /// The user stopped the turn (Codex CLI's `Interrupt`).
    Interrupt,
    /// A hook event this version does not know; forwarded, never an error.
    Other,
}

const KINDS: [(EventKind, &str, &str); 16] = [
    (EventKind::SessionStart, "session-start", "SessionStart"),
    (EventKind::Submit, "submit", "UserPromptSubmit"),
    (EventKind::ToolStart, "tool-start", "PreToolUse"),
    (EventKind::ToolEnd, "tool-end", "PostToolUse"),
    (EventKind::ToolFail, "tool-fail", "PostToolUseFailure"),
    (EventKind::Permission, "permission", "PermissionRequest"),
    (EventKind::Notify, "notify", "Notification"),
    (EventKind::SubagentStart, "subagent-start", "SubagentStart"),
    (EventKind::SubagentStop, "subagent-stop", "SubagentStop"),
    (EventKind::CompactStart, "compact-start", "PreCompact"),
    (EventKind::CompactEnd, "compact-end", "PostCompact"),
    (EventKind::Stop, "stop", "Stop"),
    (EventKind::StopFail, "stop-fail", "StopFailure"),
    (EventKind::SessionEnd, "session-end", "SessionEnd"),
    (EventKind::Interrupt, "interrupt", "Interrupt"),
    (EventKind::Other, "other", ""),
];

impl EventKind {
    /// Maps Claude Code's `hook_event_name`; unknown names map to `Other`
    /// (another agent's names: [`crate::agent::Agent::event_kind`]).
    pub fn from_hook_event_name(name: &str) -> EventKind {
        KINDS
            .iter()
            .find(|(_, _, hook)| !hook.is_empty() && *hook == name)
            .map_or(EventKind::Other, |(k, _, _)| *k)
    }

    /// The name Claude Code gives this event (empty for `Other`).
    // A match rather than a search of `KINDS`, like `from_wire_name`: the
    // daemon decodes every event with both (a test holds them to `KINDS`).
    pub fn hook_event_name(self) -> &'static str {
        match self {
            EventKind::SessionStart => "SessionStart",
            EventKind::Submit => "UserPromptSubmit",
            EventKind::ToolStart => "PreToolUse",
            EventKind::ToolEnd => "PostToolUse",
            EventKind::ToolFail => "PostToolUseFailure",
            EventKind::Permission => "PermissionRequest",
            EventKind::Notify => "Notification",
            EventKind::SubagentStart => "SubagentStart",
            EventKind::SubagentStop => "SubagentStop",
            EventKind::CompactStart => "PreCompact",
            EventKind::CompactEnd => "PostCompact",
            EventKind::Stop => "Stop",
            EventKind::StopFail => "StopFailure",
            EventKind::SessionEnd => "SessionEnd",
            EventKind::Interrupt => "Interrupt",
            EventKind::Other => "",
        }
    }

    /// The name used on the wire.
    pub fn wire_name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _, _)| *k == self)
            .map_or("other", |e| e.1)
    }

    fn from_wire_name(name: &str) -> EventKind {
        match name {
            "session-start" => EventKind::SessionStart,
            "submit" => EventKind::Submit,
            "tool-start" => EventKind::ToolStart,
            "tool-end" => EventKind::ToolEnd,
            "tool-fail" => EventKind::ToolFail,
            "permission" => EventKind::Permission,
            "notify" => EventKind::Notify,
            "subagent-start" => EventKind::SubagentStart,
            "subagent-stop" => EventKind::SubagentStop,
            "compact-start" => EventKind::CompactStart,
            "compact-end" => EventKind::CompactEnd,
            "stop" => EventKind::Stop,
            "stop-fail" => EventKind::StopFail,
            "session-end" => EventKind::SessionEnd,
            "interrupt" => EventKind::Interrupt,
            _ => EventKind::Other,
        }
    }

    /// Which event field travels in the header's ARG position.
    fn arg_field(self) -> ArgField {
        match self {
            EventKind::ToolStart
            | EventKind::ToolEnd
            | EventKind::ToolFail
            | EventKind::Permission => ArgField::ToolName,
            EventKind::Notify => ArgField::NotificationType,
            EventKind::Other => ArgField::HookEventName,
            _ => ArgField::None,
        }
    }
}

enum ArgField {
    None,
    ToolName,
    NotificationType,
    HookEventName,
}

/// One hook event, as the hook extracted it from an agent's JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The agent that ran the hook; on the wire (`client`) only when it is
    /// not Claude Code, so an event without it is Claude Code's.
    pub agent: Agent,
    pub session_id: String,
    /// The agent's name for the event; on the wire only for `Other`.
    pub hook_event_name: Option<String>,
    pub tool_name: Option<String>,
    pub tool_use_id: Option<String>,
    pub notification_type: Option<String>,
    pub cwd: Option<String>,
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    /// SessionStart's `source` (startup, resume, clear, compact, fork).
    pub source: Option<String>,
    /// SessionEnd's `reason`.
    pub reason: Option<String>,
    pub transcript_path: Option<String>,
    /// The Claude Code process: the hook's parent, or the first ancestor
    /// past known shells and wrappers (for crash detection).
    pub ppid: Option<u32>,
    /// That process's start time (/proc/PID/stat field 22), so that a
    /// reused PID is never taken for it.
    pub pstart: Option<u64>,
    /// The hook's parent, when the hook leaves naming the Claude Code
    /// process (`ppid`, `pstart`) to the receiver: reading /proc costs the
    /// hook more than all its other work (BENCHMARKS.md).
    pub parent: Option<u32>,
    /// When the hook started, in nanoseconds since the Unix epoch.
    pub sent_at_ns: Option<u64>,
}

impl Event {
    /// The key of the session this event is about ([`Agent::session_key`]).
    pub fn session_key(&self) -> String {
        self.agent.session_key(&self.session_id)
    }

    /// An event with only its kind and session set (Claude Code's).
    pub fn new(kind: EventKind, session_id: impl Into<String>) -> Event {
        Event {
            kind,
            agent: Agent::Claude,
            session_id: session_id.into(),
            hook_event_name: None,
            tool_name: None,
            tool_use_id: None,
            notification_type: None,
            cwd: None,
            agent_id: None,
            agent_type: None,
            source: None,
            reason: None,
            transcript_path: None,
            ppid: None,
            pstart: None,
            parent: None,
            sent_at_ns: None,
        }
    }
}

/// Figures the statusline sends for a session (never creates one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    pub session_id: String,
    /// The agent whose status line ran it (`llm-bridge-statusline qwen`);
    /// on the wire (`client`) only when it is not Claude Code.
    pub agent: Agent,
    pub model: Option<String>,
    pub cost_usd: Option<f64>,
    pub context_pct: Option<f64>,
}

impl Status {
    /// The key of the session it is for: [`Agent::session_key`].
    pub fn session_key(&self) -> String {
        self.agent.session_key(&self.session_id)
    }
}

/// Every message a client can send to the daemon.
// One message lives at a time, on the stack; boxing the event would cost
// the hook an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Event(Event),
    Status(Status),
    /// Push every module change to the sender's (abstract) address.
    Subscribe,
    Unsubscribe,
    /// Answered with [`Reply::Pong`].
    Ping,
    /// Answered with [`Reply::Status`] and the daemon's status as JSON.
    Query,
    /// Re-read the config; answered with [`Reply::Ok`] or [`Reply::Error`].
    Reload,
    /// Flush, snapshot and exit; answered with [`Reply::Ok`] first.
    Shutdown,
    /// `llm-bridge waybar` names the Waybar that runs it, so the daemon
    /// signals a (re)started Waybar at once instead of after a /proc scan.
    Waybar {
        pid: u32,
        /// [`line_digest`] of the module line it printed: a change the
        /// daemon published after that read is owed to this Waybar at once.
        /// `None` (an older sender) is taken as a stale line.
        shown: Option<u64>,
    },
    /// Speak `text`, or write it to the WAV file `out` (an absolute path).
    /// Answered with [`Reply::Queued`] at once, [`Reply::Speaking`] when it
    /// starts, then [`Reply::Said`] or [`Reply::Error`] when done.
    Say {
        text: String,
        out: Option<String>,
        /// This request's own voice settings, over `[speech]`'s.
        tuning: SayTuning,
    },
    /// Cut the speech playing and drop what waits; answered with [`Reply::Ok`].
    SayStop,
    /// Silence spoken notifications (`llm-bridge mute`), for `secs` seconds
    /// or until unmuted; answered with the new state ([`Reply::Mute`]).
    Mute {
        action: MuteAction,
        secs: Option<u64>,
    },
    /// `llm-bridge focus`: which session to go to; answered with
    /// [`crate::reply::Reply::Focus`] (and the daemon remembers it for
    /// `--next`) or [`crate::reply::Reply::Nothing`].
    Focus(FocusPick),
}

/// The session `FOCUS` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FocusPick {
    /// The one a spoken notification named while it waits, else the
    /// longest waiting, else the one that changed last.
    Default,
    /// The one after the session focused last, in the tooltip's order.
    Next,
    /// This session id, or a unique prefix of one.
    Session(String),
}

/// What `MUTE` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MuteAction {
    On,
    Off,
    Toggle,
}

impl MuteAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MuteAction::On => "on",
            MuteAction::Off => "off",
            MuteAction::Toggle => "toggle",
        }
    }

    pub fn parse(s: &str) -> Option<MuteAction> {
        match s {
            "on" => Some(MuteAction::On),
            "off" => Some(MuteAction::Off),
            "toggle" => Some(MuteAction::Toggle),
            _ => None,
        }
    }
}

/// A `say`'s own voice settings; `None` keeps the daemon's `[speech]` one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SayTuning {
    /// A speaker's name or number.
    pub speaker: Option<String>,
    /// Speaking time (above 1 is slower).
    pub length_scale: Option<f32>,
    pub noise_scale: Option<f32>,
    pub noise_w: Option<f32>,
}

/// The longest text one `SAY` carries (bytes, before escaping).
pub const MAX_SAY_TEXT: usize = 2048;

// Field caps in bytes. Their sum plus keys and header stays well below
// MAX_DATAGRAM, so no field is ever squeezed by another.
const CAP_ID: usize = 128;
const CAP_NAME: usize = 128;
const CAP_SHORT: usize = 64;
const CAP_PATH: usize = 1024;

/// Builds one datagram, enforcing escapes and the size limit.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new(verb: &str, kind: Option<&str>, arg: Option<&str>) -> Writer {
        let mut w = Writer {
            buf: Vec::with_capacity(512),
        };
        w.buf.extend_from_slice(MAGIC.as_bytes());
        w.buf.push(b' ');
        w.buf.extend_from_slice(verb.as_bytes());
        if let Some(kind) = kind {
            w.buf.push(b':');
            w.buf.extend_from_slice(kind.as_bytes());
        }
        if let Some(arg) = arg {
            w.buf.push(b':');
            w.escaped(truncate_head(arg, CAP_NAME));
        }
        w
    }

    fn field(&mut self, key: &str, value: Option<&str>, cap: usize, keep_tail: bool) {
        let Some(value) = value else { return };
        let value = if keep_tail {
            truncate_tail(value, cap)
        } else {
            truncate_head(value, cap)
        };
        if self.buf.len() + key.len() + 2 >= MAX_DATAGRAM {
            return;
        }
        self.buf.push(b'\n');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(b'=');
        self.escaped(value);
    }

    fn number(&mut self, key: &str, value: Option<impl fmt::Display>) {
        if let Some(v) = value {
            self.field(key, Some(&v.to_string()), CAP_SHORT, false);
        }
    }

    /// Appends `value` escaped, stopping before a character that would not fit.
    fn escaped(&mut self, value: &str) {
        for c in value.chars() {
            let mut tmp = [0u8; 4];
            let (bytes, len): (&[u8], usize) = match c {
                '\\' => (b"\\\\", 2),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let b = c as u8;
                    let hex = b"0123456789abcdef";
                    tmp = [b'\\', b'x', hex[(b >> 4) as usize], hex[(b & 15) as usize]];
                    (&tmp[..], 4)
                }
                c => {
                    let s = c.encode_utf8(&mut tmp);
                    let len = s.len();
                    (&tmp[..len], len)
                }
            };
            if self.buf.len() + len > MAX_DATAGRAM {
                return;
            }
            self.buf.extend_from_slice(&bytes[..len]);
        }
    }

    fn finish(self) -> Vec<u8> {
        debug_assert!(self.buf.len() <= MAX_DATAGRAM);
        self.buf
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub fn truncate_head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The longest suffix of `s` of at most `max` bytes that starts on a char boundary.
pub fn truncate_tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// FNV-1a (64 bits) of `text`: how `WAYBAR`'s `shown` names a module line
/// without carrying it. Stable across builds and versions, unlike std's
/// hasher, so the two ends (and files named with it) always agree.
pub fn line_digest(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl Message {
    /// Encodes the message; the result is at most [`MAX_DATAGRAM`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Event(e) => {
                let arg = match e.kind.arg_field() {
                    ArgField::None => None,
                    ArgField::ToolName => e.tool_name.as_deref(),
                    ArgField::NotificationType => e.notification_type.as_deref(),
                    ArgField::HookEventName => e.hook_event_name.as_deref(),
                };
                let mut w = Writer::new("EVENT", Some(e.kind.wire_name()), arg);
                w.field("sid", Some(&e.session_id), CAP_ID, false);
                if !e.agent.is_claude() {
                    w.field("client", Some(e.agent.name()), CAP_SHORT, false);
                }
                w.field("tuid", e.tool_use_id.as_deref(), CAP_ID, false);
                w.field("agent", e.agent_id.as_deref(), CAP_ID, false);
                w.field("agent_type", e.agent_type.as_deref(), CAP_NAME, false);
                w.field("source", e.source.as_deref(), CAP_SHORT, false);
                w.field("reason", e.reason.as_deref(), CAP_SHORT, false);
                w.number("ppid", e.ppid);
                w.number("pstart", e.pstart);
                w.number("parent", e.parent);
                w.number("ts", e.sent_at_ns);
                w.field("cwd", e.cwd.as_deref(), CAP_PATH, true);
                w.field("transcript", e.transcript_path.as_deref(), CAP_PATH, true);
                w.finish()
            }
            Message::Status(s) => {
                let mut w = Writer::new("STATUS", None, None);
                w.field("sid", Some(&s.session_id), CAP_ID, false);
                if !s.agent.is_claude() {
                    w.field("client", Some(s.agent.name()), CAP_SHORT, false);
                }
                w.field("model", s.model.as_deref(), CAP_NAME, false);
                w.number("cost", s.cost_usd);
                w.number("ctx", s.context_pct);
                w.finish()
            }
            Message::Subscribe => Writer::new("SUBSCRIBE", None, None).finish(),
            Message::Unsubscribe => Writer::new("UNSUBSCRIBE", None, None).finish(),
            Message::Ping => Writer::new("PING", None, None).finish(),
            Message::Query => Writer::new("QUERY", None, None).finish(),
            Message::Reload => Writer::new("RELOAD", None, None).finish(),
            Message::Shutdown => Writer::new("SHUTDOWN", None, None).finish(),
            Message::Waybar { pid, shown } => {
                let mut w = Writer::new("WAYBAR", None, None);
                w.number("pid", Some(*pid));
                w.number("shown", *shown);
                w.finish()
            }
            Message::Say { text, out, tuning } => {
                let mut w = Writer::new("SAY", None, None);
                w.field("out", out.as_deref(), CAP_PATH, true);
                w.field("speaker", tuning.speaker.as_deref(), CAP_NAME, false);
                w.number("length", tuning.length_scale);
                w.number("noise", tuning.noise_scale);
                w.number("noise_w", tuning.noise_w);
                w.field("text", Some(text), MAX_SAY_TEXT, false);
                w.finish()
            }
            Message::SayStop => Writer::new("SAY-STOP", None, None).finish(),
            Message::Mute { action, secs } => {
                let mut w = Writer::new("MUTE", Some(action.as_str()), None);
                w.number("for", *secs);
                w.finish()
            }
            Message::Focus(FocusPick::Default) => Writer::new("FOCUS", None, None).finish(),
            Message::Focus(FocusPick::Next) => Writer::new("FOCUS", Some("next"), None).finish(),
            Message::Focus(FocusPick::Session(id)) => {
                let mut w = Writer::new("FOCUS", Some("session"), None);
                w.field("sid", Some(id), CAP_ID, false);
                w.finish()
            }
        }
    }

    /// Decodes one datagram. Unknown keys are ignored and a repeated key
    /// keeps its last value, so a newer sender stays readable.
    pub fn decode(datagram: &[u8]) -> Result<Message, DecodeError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(DecodeError::TooLarge(datagram.len()));
        }
        let text = std::str::from_utf8(datagram).map_err(|_| DecodeError::NotUtf8)?;
        let mut lines = text.split('\n');
        let header = lines.next().unwrap_or("");
        let Some((version, rest)) = header.split_once(' ') else {
            return Err(DecodeError::BadHeader);
        };
        if version != MAGIC {
            return if version.starts_with("LLMB/") {
                Err(DecodeError::BadVersion(
                    truncate_head(version, 16).to_string(),
                ))
            } else {
                Err(DecodeError::BadHeader)
            };
        }
        let mut parts = rest.splitn(3, ':');
        let verb = parts.next().unwrap_or("");
        let kind = parts.next();
        let arg = parts
            .next()
            .map(|a| unescape(a).map(Cow::into_owned))
            .transpose()?;
        let mut fields = Fields::default();
        for line in lines {
            let (key, value) = line
                .split_once('=')
                .ok_or(DecodeError::Malformed("a field line without '='"))?;
            fields.set(key, value)?;
        }
        let require_no_kind = |m: Message| match kind {
            None => Ok(m),
            Some(_) => Err(DecodeError::Malformed("this verb takes no kind")),
        };
        match verb {
            "EVENT" => {
                let kind = EventKind::from_wire_name(
                    kind.ok_or(DecodeError::Malformed("EVENT without a kind"))?,
                );
                let session_id = fields
                    .sid
                    .take()
                    .filter(|s| !s.is_empty())
                    .ok_or(DecodeError::Malformed("no session id"))?;
                let mut e = Event::new(kind, session_id.into_owned());
                // An agent this version does not know is refused rather
                // than taken for Claude Code (its session would be mixed
                // up with a Claude Code session of the same id).
                if let Some(client) = fields.client.take() {
                    e.agent = Agent::parse(&client)
                        .ok_or(DecodeError::Malformed("an unknown client agent"))?;
                }
                match kind.arg_field() {
                    ArgField::None => {}
                    ArgField::ToolName => e.tool_name = arg,
                    ArgField::NotificationType => e.notification_type = arg,
                    ArgField::HookEventName => e.hook_event_name = arg,
                }
                if e.hook_event_name.is_none() && kind != EventKind::Other {
                    e.hook_event_name = Some(kind.hook_event_name().to_string());
                }
                e.tool_use_id = owned(fields.tuid);
                e.agent_id = owned(fields.agent);
                e.agent_type = owned(fields.agent_type);
                e.source = owned(fields.source);
                e.reason = owned(fields.reason);
                e.cwd = owned(fields.cwd);
                e.transcript_path = owned(fields.transcript);
                e.ppid = parse_num(fields.ppid, "ppid")?;
                e.pstart = parse_num(fields.pstart, "pstart")?;
                e.parent = parse_num(fields.parent, "parent")?;
                e.sent_at_ns = parse_num(fields.ts, "ts")?;
                Ok(Message::Event(e))
            }
            "STATUS" => {
                let session_id = fields
                    .sid
                    .take()
                    .filter(|s| !s.is_empty())
                    .ok_or(DecodeError::Malformed("no session id"))?;
                let agent = match fields.client.take() {
                    Some(client) => Agent::parse(&client)
                        .ok_or(DecodeError::Malformed("an unknown client agent"))?,
                    None => Agent::Claude,
                };
                require_no_kind(Message::Status(Status {
                    session_id: session_id.into_owned(),
                    agent,
                    model: owned(fields.model),
                    cost_usd: parse_num(fields.cost, "cost")?,
                    context_pct: parse_num(fields.ctx, "ctx")?,
                }))
            }
            "SUBSCRIBE" => require_no_kind(Message::Subscribe),
            "UNSUBSCRIBE" => require_no_kind(Message::Unsubscribe),
            "PING" => require_no_kind(Message::Ping),
            "QUERY" => require_no_kind(Message::Query),
            "RELOAD" => require_no_kind(Message::Reload),
            "SHUTDOWN" => require_no_kind(Message::Shutdown),
            "SAY" => require_no_kind(Message::Say {
                text: owned(fields.text.take())
                    .ok_or(DecodeError::Malformed("SAY without a text"))?,
                // A path never holds a control character; escaped (4 bytes
                // each) they could also fill the datagram before the text.
                out: match owned(fields.out.take()) {
                    Some(out) if out.chars().any(char::is_control) => {
                        return Err(DecodeError::Malformed(
                            "SAY with a control character in out",
                        ))
                    }
                    out => out,
                },
                tuning: SayTuning {
                    speaker: owned(fields.speaker.take()),
                    length_scale: parse_num(fields.length.take(), "length")?,
                    noise_scale: parse_num(fields.noise.take(), "noise")?,
                    noise_w: parse_num(fields.noise_w.take(), "noise_w")?,
                },
            }),
            "SAY-STOP" => require_no_kind(Message::SayStop),
            "MUTE" => Ok(Message::Mute {
                action: kind
                    .and_then(MuteAction::parse)
                    .ok_or(DecodeError::Malformed("MUTE needs on, off or toggle"))?,
                secs: parse_num(fields.for_secs, "for")?,
            }),
            "FOCUS" => Ok(Message::Focus(match kind {
                None => FocusPick::Default,
                Some("next") => FocusPick::Next,
                Some("session") => FocusPick::Session(
                    owned(fields.sid.take())
                        .ok_or(DecodeError::Malformed("FOCUS session without a sid"))?,
                ),
                Some(_) => return Err(DecodeError::Malformed("FOCUS takes next or session")),
            })),
            "WAYBAR" => require_no_kind(Message::Waybar {
                pid: parse_num(fields.pid, "pid")?
                    .filter(|p| *p > 0)
                    .ok_or(DecodeError::Malformed("WAYBAR without a pid"))?,
                shown: parse_num(fields.shown, "shown")?,
            }),
            _ => Err(DecodeError::UnknownVerb(
                truncate_head(verb, 32).to_string(),
            )),
        }
    }
}

/// The fields a message may carry, unescaped but not copied where they
/// hold no escape: most are copied once into the message, numbers never.
#[derive(Default)]
struct Fields<'a> {
    sid: Option<Cow<'a, str>>,
    client: Option<Cow<'a, str>>,
    tuid: Option<Cow<'a, str>>,
    agent: Option<Cow<'a, str>>,
    agent_type: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    reason: Option<Cow<'a, str>>,
    cwd: Option<Cow<'a, str>>,
    transcript: Option<Cow<'a, str>>,
    ppid: Option<Cow<'a, str>>,
    pstart: Option<Cow<'a, str>>,
    parent: Option<Cow<'a, str>>,
    ts: Option<Cow<'a, str>>,
    model: Option<Cow<'a, str>>,
    cost: Option<Cow<'a, str>>,
    ctx: Option<Cow<'a, str>>,
    pid: Option<Cow<'a, str>>,
    shown: Option<Cow<'a, str>>,
    text: Option<Cow<'a, str>>,
    out: Option<Cow<'a, str>>,
    speaker: Option<Cow<'a, str>>,
    length: Option<Cow<'a, str>>,
    noise: Option<Cow<'a, str>>,
    noise_w: Option<Cow<'a, str>>,
    for_secs: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, key: &str, raw: &'a str) -> Result<(), DecodeError> {
        let slot = match key {
            "sid" => &mut self.sid,
            "client" => &mut self.client,
            "tuid" => &mut self.tuid,
            "agent" => &mut self.agent,
            "agent_type" => &mut self.agent_type,
            "source" => &mut self.source,
            "reason" => &mut self.reason,
            "cwd" => &mut self.cwd,
            "transcript" => &mut self.transcript,
            "ppid" => &mut self.ppid,
            "pstart" => &mut self.pstart,
            "parent" => &mut self.parent,
            "ts" => &mut self.ts,
            "model" => &mut self.model,
            "cost" => &mut self.cost,
            "ctx" => &mut self.ctx,
            "pid" => &mut self.pid,
            "shown" => &mut self.shown,
            "text" => &mut self.text,
            "out" => &mut self.out,
            "speaker" => &mut self.speaker,
            "length" => &mut self.length,
            "noise" => &mut self.noise,
            "noise_w" => &mut self.noise_w,
            "for" => &mut self.for_secs,
            _ => return Ok(()),
        };
        *slot = Some(unescape(raw)?);
        Ok(())
    }
}

fn parse_num<T: std::str::FromStr>(
    v: Option<Cow<'_, str>>,
    what: &'static str,
) -> Result<Option<T>, DecodeError> {
    v.map(|s| s.parse().map_err(|_| DecodeError::BadNumber(what)))
        .transpose()
}

fn owned(v: Option<Cow<'_, str>>) -> Option<String> {
    v.map(Cow::into_owned)
}

/// `raw` without its escapes; borrowed when it has none.
fn unescape(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !raw.contains('\\') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('x') => {
                let hi = chars.next().and_then(|c| c.to_digit(16));
                let lo = chars.next().and_then(|c| c.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) if hi < 8 => out.push(char::from((hi * 16 + lo) as u8)),
                    _ => return Err(DecodeError::Malformed("a bad \\x escape")),
                }
            }
            _ => return Err(DecodeError::Malformed("an unknown escape")),
        }
    }
    Ok(Cow::Owned(out))
}

/// Why a datagram was rejected. Displayed as one line for the daemon's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    NotUtf8,
    BadHeader,
    BadVersion(String),
    UnknownVerb(String),
    Malformed(&'static str),
    BadNumber(&'static str),
}

impl DecodeError {
    /// A short stable name, used as the counter's label.
    pub fn label(&self) -> &'static str {
        match self {
            DecodeError::TooLarge(_) => "oversized",
            DecodeError::NotUtf8 => "not-utf8",
            DecodeError::BadHeader => "bad-header",
            DecodeError::BadVersion(_) => "bad-version",
            DecodeError::UnknownVerb(_) => "unknown-verb",
            DecodeError::Malformed(_) | DecodeError::BadNumber(_) => "malformed",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge(n) => write!(f, "datagram of {n}+ bytes exceeds {MAX_DATAGRAM}"),
            DecodeError::NotUtf8 => f.write_str("datagram is not UTF-8"),
            DecodeError::BadHeader => write!(f, "datagram does not start with '{MAGIC} '"),
            DecodeError::BadVersion(v) => write!(
                f,
                "unsupported protocol version '{v}' (this daemon speaks {MAGIC})"
            ),
            DecodeError::UnknownVerb(v) => write!(f, "unknown message type '{v}'"),
            DecodeError::Malformed(what) => write!(f, "malformed message: {what}"),
            DecodeError::BadNumber(key) => {
                write!(f, "malformed message: field '{key}' is not a number")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_say_whose_out_holds_control_characters_is_refused() {
        let mut raw = b"LLMB/1 SAY\ntext=hi\nout=/tmp/".to_vec();
        raw.extend(std::iter::repeat_n(b'\0', 1100));
        assert!(Message::decode(&raw).is_err());
        let ok = Message::decode(b"LLMB/1 SAY\ntext=hi\nout=/run/a.wav").unwrap();
        assert!(Message::decode(&ok.encode()).is_ok());
    }

    #[test]
    fn every_known_kind_is_hooked_once_by_its_agents() {
        for (kind, _, hook) in KINDS {
            let hooked = |agent: Agent| {
                agent
                    .hooked_events()
                    .iter()
                    .filter(|(name, _)| agent.event_kind(name, None) == kind)
                    .count()
            };
            // Each agent hooks a kind at most once; every known kind is
            // some agent's, and Claude Code's own names are all Claude's.
            assert!(Agent::ALL.iter().all(|a| hooked(*a) <= 1), "{hook:?}");
            let anyone = Agent::ALL.iter().any(|a| hooked(*a) == 1);
            assert_eq!(anyone, kind != EventKind::Other, "{hook:?}");
            let claudes = kind != EventKind::Other && kind != EventKind::Interrupt;
            assert_eq!(hooked(Agent::Claude) == 1, claudes, "{hook:?}");
        }
    }

    #[test]
    fn an_event_without_a_client_is_claude_codes_and_another_agents_round_trips() {
        let old = b"LLMB/1 EVENT:submit\nsid=s";
        let Message::Event(e) = Message::decode(old).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(e.agent, Agent::Claude);
        let claude = Message::Event(full_event()).encode();
        assert!(!claude.windows(7).any(|w| w == b"client="));
        let mut e = full_event();
        e.agent = Agent::Gemini;
        let m = Message::Event(e);
        let bytes = m.encode();
        assert!(bytes.windows(14).any(|w| w == b"\nclient=gemini"));
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT:submit\nsid=s\nclient=future"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn the_names_matched_are_the_names_of_the_table() {
        for (kind, wire, hook) in KINDS {
            assert_eq!(EventKind::from_wire_name(wire), kind, "{wire}");
            assert_eq!(kind.wire_name(), wire);
            assert_eq!(kind.hook_event_name(), hook, "{kind:?}");
        }
        assert_eq!(EventKind::from_wire_name("future"), EventKind::Other);
    }

    fn full_event() -> Event {
        let mut e = Event::new(EventKind::ToolStart, "8f3c2a4e");
        e.hook_event_name = Some("PreToolUse".into());
        e.tool_name = Some("Bash".into());
        e.tool_use_id = Some("toolu_01".into());
        e.cwd = Some("/home/u/src/a\nb\\c".into());
        e.transcript_path = Some("/t.jsonl".into());
        e.ppid = Some(4242);
        e.pstart = Some(987_654);
        e.parent = Some(4241);
        e.sent_at_ns = Some(1_700_000_000_123_456_789);
        e
    }

    #[test]
    fn event_round_trips() {
        let m = Message::Event(full_event());
        let bytes = m.encode();
        assert!(bytes.starts_with(b"LLMB/1 EVENT:tool-start:Bash\nsid=8f3c2a4e\n"));
        assert!(!bytes.contains(&0));
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn every_kind_round_trips() {
        for (kind, _, hook) in KINDS {
            let mut e = Event::new(kind, "s");
            e.hook_event_name = Some(
                if kind == EventKind::Other {
                    "FutureEvent"
                } else {
                    hook
                }
                .into(),
            );
            match kind.arg_field() {
                ArgField::ToolName => e.tool_name = Some("Read".into()),
                ArgField::NotificationType => e.notification_type = Some("idle_prompt".into()),
                _ => {}
            }
            let m = Message::Event(e);
            assert_eq!(Message::decode(&m.encode()).unwrap(), m, "{kind:?}");
        }
    }

    #[test]
    fn line_digest_is_fnv_1a() {
        // The published FNV-1a test vectors: both ends must agree forever.
        assert_eq!(line_digest(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(line_digest("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(line_digest("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn status_and_control_round_trip() {
        let s = Message::Status(Status {
            session_id: "s".into(),
            model: Some("Opus 4.5".into()),
            cost_usd: Some(1.25),
            context_pct: Some(42.5),
            ..Status::default()
        });
        let qwen = Message::Status(Status {
            session_id: "q".into(),
            agent: Agent::Qwen,
            context_pct: Some(3.0),
            ..Status::default()
        });
        for m in [
            s,
            qwen,
            Message::Subscribe,
            Message::Unsubscribe,
            Message::Ping,
            Message::Query,
            Message::Reload,
            Message::Shutdown,
            Message::Waybar {
                pid: 4242,
                shown: None,
            },
            Message::Waybar {
                pid: 4242,
                shown: Some(u64::MAX),
            },
            Message::Say {
                text: "Build done.\nTwo lines, 100% sure".into(),
                out: Some("/tmp/a b.wav".into()),
                tuning: SayTuning::default(),
            },
            Message::Say {
                text: "hi".into(),
                out: None,
                tuning: SayTuning {
                    speaker: Some("amy 2".into()),
                    length_scale: Some(0.8),
                    noise_scale: Some(0.0),
                    noise_w: Some(0.333),
                },
            },
            Message::SayStop,
            Message::Mute {
                action: MuteAction::Toggle,
                secs: None,
            },
            Message::Mute {
                action: MuteAction::On,
                secs: Some(1800),
            },
            Message::Focus(FocusPick::Default),
            Message::Focus(FocusPick::Next),
            Message::Focus(FocusPick::Session("4f2a-b c".into())),
        ] {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn huge_fields_are_cut_on_char_boundaries_and_fit() {
        let mut e = full_event();
        let long = "é".repeat(10_000);
        e.cwd = Some(format!("/{long}/project-é"));
        e.session_id = long.clone();
        e.tool_name = Some(long.clone());
        e.tool_use_id = Some("\u{1}".repeat(5000));
        e.transcript_path = Some(long.clone());
        let bytes = Message::Event(e).encode();
        assert!(bytes.len() <= MAX_DATAGRAM, "{}", bytes.len());
        let Message::Event(back) = Message::decode(&bytes).unwrap() else {
            panic!()
        };
        assert!(
            back.cwd.unwrap().ends_with("/project-é"),
            "paths keep their tail"
        );
        assert!(back.session_id.len() <= CAP_ID);
    }

    #[test]
    fn rejects_bad_datagrams() {
        assert_eq!(Message::decode(&[0xff, 0xfe]), Err(DecodeError::NotUtf8));
        assert_eq!(Message::decode(b"hello"), Err(DecodeError::BadHeader));
        assert_eq!(
            Message::decode(b"LLMB/2 PING"),
            Err(DecodeError::BadVersion("LLMB/2".into()))
        );
        assert!(matches!(
            Message::decode(b"LLMB/1 FROB"),
            Err(DecodeError::UnknownVerb(_))
        ));
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT:stop"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT:stop\nsid=a\nbogus"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT:stop\nsid=a\nppid=x"),
            Err(DecodeError::BadNumber("ppid"))
        ));
        assert!(matches!(
            Message::decode(b"LLMB/1 EVENT:stop\nsid=a\\q"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(&[b'x'; 5000]),
            Err(DecodeError::TooLarge(5000))
        ));
    }

    #[test]
    fn unknown_kinds_and_keys_are_tolerated() {
        let m = Message::decode(b"LLMB/1 EVENT:teleport:X\nsid=a\nfuture=1").unwrap();
        let Message::Event(e) = m else { panic!() };
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.hook_event_name.as_deref(), Some("X"));
    }
}
