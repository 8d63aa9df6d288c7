//! The pure core: every agent session's state and the rules that move it.
//!
//! `State::apply(&input, now)` is the only place a decision is made, for the
//! daemon and for the fallback (`llm-bridge apply`) alike. It does no I/O and
//! reads no clock: the caller passes `now`, so tests replay traces with an
//! injected clock. An [`Input`] is anything that happened to a session (a
//! hook event, the statusline's figures; later a watched process that exited
//! or an interrupt read from a transcript). What the caller must do
//! afterwards is returned as [`Effects`]: the caller decides nothing about
//! sessions. The rules are the table in `docs/protocol.md`.

use crate::announce::{Announcement, Hush, Mute, Occasion};
use llm_bridge_protocol::agent::Agent;
use llm_bridge_protocol::wire::{Event, EventKind, Message, MuteAction, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Wall-clock time in milliseconds since the Unix epoch.
pub type Millis = u64;

/// How many completed tool ids a session remembers (to ignore a late PreToolUse).
const COMPLETED_MEMORY: usize = 256;
/// Most tools a session can have running; beyond it the oldest is dropped,
/// so lost PostToolUse events cannot grow memory without bound.
pub const MAX_RUNNING_TOOLS: usize = 64;

/// What one session is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    #[default]
    Idle,
    Working,
    Waiting,
    Error,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Idle => "idle",
            SessionState::Working => "working",
            SessionState::Waiting => "waiting",
            SessionState::Error => "error",
        }
    }

    /// Every state, most urgent first: the one declaration of the order
    /// (`priority` is the position in it, counted from the end).
    pub const BY_PRIORITY: [SessionState; 4] = [
        SessionState::Waiting,
        SessionState::Working,
        SessionState::Error,
        SessionState::Idle,
    ];

    /// Urgency, the one order used everywhere (the aggregate, the tooltip's
    /// order, the bar's counts): waiting > working > error > idle.
    pub const fn priority(self) -> u8 {
        let mut i = 0;
        while i < Self::BY_PRIORITY.len() {
            if Self::BY_PRIORITY[i] as u8 == self as u8 {
                return (Self::BY_PRIORITY.len() - 1 - i) as u8;
            }
            i += 1;
        }
        panic!("every state is in BY_PRIORITY");
    }
}

/// The state of all sessions at once: Waybar's `alt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregate {
    None,
    Session(SessionState),
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::None => "none",
            Aggregate::Session(s) => s.as_str(),
        }
    }
}

/// How many sessions are in each state, and from that the aggregate: the
/// one place both are computed (the bar's text and `alt`,
/// [`State::aggregate`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Indexed by [`SessionState::priority`].
    counts: [usize; SessionState::BY_PRIORITY.len()],
}

impl StateCounts {
    /// Counts one more session in `state`.
    pub fn add(&mut self, state: SessionState) {
        self.counts[usize::from(state.priority())] += 1;
    }

    pub fn count(&self, state: SessionState) -> usize {
        self.counts[usize::from(state.priority())]
    }

    /// The most urgent state any session is in; none when there is no
    /// session.
    pub fn aggregate(&self) -> Aggregate {
        SessionState::BY_PRIORITY
            .into_iter()
            .find(|s| self.count(*s) > 0)
            .map_or(Aggregate::None, Aggregate::Session)
    }
}

/// A tool call that started and has not finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningTool {
    pub name: String,
    pub since: Millis,
    /// Start order, so the most recent tool is the one shown.
    pub seq: u64,
}

/// One session of a coding agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The agent's session id.
    pub id: String,
    /// The agent (absent in state.json for Claude Code's sessions, as in
    /// files written before agents existed).
    #[serde(skip_serializing_if = "Agent::is_claude", with = "crate::agent_serde")]
    pub agent: Agent,
    /// Basename of the session's working directory.
    pub project: String,
    pub cwd: Option<String>,
    pub state: SessionState,
    /// When `state` last changed.
    pub state_since: Millis,
    pub started: Millis,
    pub last_event: Millis,
    /// Running tools keyed by `tool_use_id`.
    pub tools: BTreeMap<String, RunningTool>,
    /// Recently completed `tool_use_id`s, oldest first.
    pub completed: VecDeque<String>,
    /// Running subagents by `agent_id`.
    pub subagents: BTreeSet<String>,
    pub prompts: u64,
    pub tool_uses: u64,
    /// The state held when PreCompact arrived, restored by PostCompact.
    pub before_compact: Option<SessionState>,
    /// The Claude Code process (the hook's parent, past shells and wrappers).
    pub pid: Option<u32>,
    /// That process's start time (clock ticks after boot, /proc/PID/stat
    /// field 22): with `pid`, it names the process for good.
    pub pid_start: Option<u64>,
    pub transcript_path: Option<String>,
    pub model: Option<String>,
    pub cost_usd: Option<f64>,
    pub context_pct: Option<f64>,
    /// When the running turn began (UserPromptSubmit), until it ends.
    pub turn_started: Option<Millis>,
    /// The tool a permission dialog asks about (PermissionRequest's
    /// `tool_name`), while the session waits: Qwen Code asks before
    /// PreToolUse, so no running tool names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asking: Option<String>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            id: String::new(),
            agent: Agent::Claude,
            project: String::new(),
            cwd: None,
            state: SessionState::Idle,
            state_since: 0,
            started: 0,
            last_event: 0,
            tools: BTreeMap::new(),
            completed: VecDeque::new(),
            subagents: BTreeSet::new(),
            prompts: 0,
            tool_uses: 0,
            before_compact: None,
            pid: None,
            pid_start: None,
            transcript_path: None,
            model: None,
            cost_usd: None,
            context_pct: None,
            turn_started: None,
            asking: None,
        }
    }
}

impl Session {
    /// The key this session is held under: its agent and id
    /// ([`Agent::session_key`]). Inputs, watches and phrases name it so.
    pub fn key(&self) -> String {
        self.agent.session_key(&self.id)
    }

    /// Whether its transcript and the client's status file are in Claude
    /// Code's formats, which the daemon reads for an Esc and an answered
    /// dialog (docs/dialogs.md); another agent's are not read.
    fn files_readable(&self) -> bool {
        self.agent.is_claude()
    }

    /// The most recently started tool that is still running.
    pub fn current_tool(&self) -> Option<&RunningTool> {
        self.tools.values().max_by_key(|t| t.seq)
    }

    /// The tool to name beside the session's state: the most recent one
    /// running, or the one a permission dialog asks about.
    pub fn shown_tool(&self) -> Option<&str> {
        self.current_tool()
            .map(|t| t.name.as_str())
            .or(self.asking.as_deref())
    }

    fn set_state(&mut self, state: SessionState, now: Millis) {
        if self.state != state {
            self.state = state;
            self.state_since = now;
        }
        if state != SessionState::Waiting {
            self.asking = None;
        }
    }

    /// The client process, when the hook could name it for good.
    pub fn process(&self) -> Option<Process> {
        Some(Process {
            pid: self.pid?,
            start: self.pid_start?,
        })
    }

    /// What this session's [`Watch`] is made of, but for the transcript's
    /// path: when this and the path are as they were, so is the watch.
    fn watch_basis(&self) -> WatchBasis {
        WatchBasis {
            pid: self.pid,
            pid_start: self.pid_start,
            transcript: self.busy() && self.transcript_path.is_some() && self.files_readable(),
            waiting: self.state == SessionState::Waiting,
        }
    }

    /// What must be watched for this session: its process while it lives,
    /// its transcript while a turn is under way (an Esc shows only there).
    pub fn watch(&self) -> Watch {
        Watch {
            session_id: self.key(),
            process: self.process(),
            transcript: self
                .transcript_path
                .clone()
                .filter(|_| self.busy() && self.files_readable()),
            client_status: self
                .client_status_file()
                .filter(|_| self.state == SessionState::Waiting),
        }
    }

    /// A turn is under way (its transcript may show an Esc).
    fn busy(&self) -> bool {
        matches!(self.state, SessionState::Working | SessionState::Waiting)
    }

    /// Asks for this session's watch if it changed since `before` was
    /// taken (`moved`: the transcript's path changed).
    fn watch_if_changed(&self, before: WatchBasis, moved: bool, effects: &mut Effects) {
        if moved || self.watch_basis() != before {
            effects.watches.push(self.watch());
        }
    }

    /// The file where Claude Code says whether it waits for the user:
    /// `<config>/sessions/<pid>.json`, beside `<config>/projects/<project>/`
    /// where the transcript is (docs/dialogs.md).
    pub fn client_status_file(&self) -> Option<String> {
        if !self.files_readable() {
            return None;
        }
        let transcript = std::path::Path::new(self.transcript_path.as_deref()?);
        let projects = transcript.parent()?.parent()?;
        if projects.file_name()? != "projects" {
            return None;
        }
        let file = projects
            .parent()?
            .join("sessions")
            .join(format!("{}.json", self.pid?));
        file.to_str().map(str::to_string)
    }

    /// A turn ended: nothing of it runs any more.
    fn end_turn(&mut self, state: SessionState, now: Millis) {
        self.tools.clear();
        self.subagents.clear();
        self.turn_started = None;
        self.set_state(state, now);
    }

    /// The moment `occasion` of this session, to be said perhaps, naming
    /// the agent when `several` kinds of agent have sessions.
    fn announcement(
        &self,
        occasion: Occasion,
        tool: Option<String>,
        turn_ms: Option<u64>,
        several: bool,
    ) -> Announcement {
        Announcement {
            session_id: self.key(),
            agent: several.then_some(self.agent),
            occasion,
            project: self.project.clone(),
            tool,
            turn_ms,
        }
    }

    fn remember_completed(&mut self, id: &str) {
        if self.completed.iter().any(|c| c == id) {
            return;
        }
        if self.completed.len() == COMPLETED_MEMORY {
            self.completed.pop_front();
        }
        self.completed.push_back(id.to_string());
    }
}

/// Something that happened to a session: what the core consumes.
// Like `Message`: one lives at a time, boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A Claude Code hook event.
    Event(Event),
    /// The statusline's figures for a session.
    Status(Status),
    /// The session's client process exited (its pidfd became readable, or
    /// it was gone when the daemon started).
    Exited {
        session_id: String,
        process: Process,
    },
    /// The session's transcript says the user interrupted the turn (Esc),
    /// for which Claude Code fires no hook.
    Interrupted { session_id: String },
    /// The client says the permission dialog the session waited on was
    /// answered (`allowed`: "Yes"), for which it fires no hook either.
    Answered { session_id: String, allowed: bool },
    /// `llm-bridge mute`: silence spoken notifications until `until`
    /// (wall-clock ms) or until unmuted.
    Mute {
        action: MuteAction,
        until: Option<Millis>,
    },
    /// Time passed: a deadline the state holds (the mute's end) may be due.
    Tick,
    /// A spoken notification named this session (the speech service queued
    /// its phrase): `llm-bridge focus` goes there while it waits.
    Named { session_id: String },
    /// `llm-bridge focus` took the user to this session: `--next` goes on
    /// from it.
    Focused { session_id: String },
}

/// One process for good: a PID and its start time (a reused PID has another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub start: u64,
}

/// What to watch for one session; both `None` when it ended. The daemon
/// makes its watches match (the fallback has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub session_id: String,
    pub process: Option<Process>,
    /// The transcript, while the session is working or waiting.
    pub transcript: Option<String>,
    /// The client's status file, while the session waits for a dialog's
    /// answer.
    pub client_status: Option<String>,
}

/// Everything a session's [`Watch`] depends on but its transcript's path
/// (what [`Session::watch`] reads), compared before and after an input so
/// that a watch is asked for only when it changes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct WatchBasis {
    pid: Option<u32>,
    pid_start: Option<u64>,
    /// A transcript is watched (the session is working or waiting).
    transcript: bool,
    /// The client's status file is watched, if there is one.
    waiting: bool,
}

/// A session that ended, and why (SessionEnd's reason, `exited`, `evicted`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    pub session: Session,
    pub reason: String,
}

/// The default cap on sessions held at once (the default config's
/// `max_sessions`).
pub const DEFAULT_MAX_SESSIONS: usize = crate::defaults::default_config!(max_sessions);

impl Input {
    /// The input a protocol message carries; `None` for a request
    /// (`PING`, `SUBSCRIBE`...), which is the daemon's business, not the core's.
    pub fn from_message(message: Message) -> Option<Input> {
        match message {
            Message::Event(e) => Some(Input::Event(e)),
            Message::Status(s) => Some(Input::Status(s)),
            Message::Subscribe
            | Message::Unsubscribe
            | Message::Ping
            | Message::Query
            | Message::Reload
            | Message::Shutdown
            | Message::Waybar { .. }
            | Message::Say { .. }
            | Message::SayStop
            | Message::Mute { .. }
            | Message::Focus(_) => None,
        }
    }
}

/// Everything the caller must do after [`State::apply`]; nothing else.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// What the bar shows may have changed: render and publish (debounced).
    pub publish: bool,
    /// The sessions changed: write state.json (rate-limited).
    pub snapshot: bool,
    /// Sessions that ended: append their final records to the history.
    pub ended: Vec<Ended>,
    /// Sessions whose watches change (only those: an input that leaves a
    /// session's watch as it was asks for nothing).
    pub watches: Vec<Watch>,
    /// A session was evicted to stay within the cap.
    pub evicted: bool,
    /// Moments that may be said out loud (the daemon's speech policy decides).
    pub announce: Vec<Announcement>,
    /// Phrases that may soon be said: render them ahead.
    pub prepare: Vec<Announcement>,
    /// Phrases no longer true: drop them.
    pub hush: Vec<Hush>,
    /// Notifications were muted: drop every phrase queued or playing.
    pub hush_all: bool,
    /// The state holds a deadline (a timed mute's end): apply
    /// [`Input::Tick`] at this wall-clock time. Set whenever the deadline
    /// changes; `Some(None)` clears it. A caller with a timer keeps the
    /// newest value; [`State::mute_deadline`] tells it after a restore.
    pub tick_at: Option<Option<Millis>>,
}

impl Effects {
    /// Publish and snapshot: the sessions changed in a way the bar shows.
    fn changed() -> Effects {
        Effects {
            publish: true,
            snapshot: true,
            ..Effects::default()
        }
    }

    /// A session ended: it is gone from the bar, and nothing of it is watched.
    fn ended(session: Session, reason: &str) -> Effects {
        let mut effects = Effects::changed();
        effects.end(session, reason);
        effects
    }

    fn end(&mut self, session: Session, reason: &str) {
        self.hush.push(Hush {
            session_id: session.key(),
            only: None,
        });
        self.watches.push(Watch {
            session_id: session.key(),
            process: None,
            transcript: None,
            client_status: None,
        });
        self.ended.push(Ended {
            session,
            reason: reason.to_string(),
        });
    }

    /// Adds what `other` asks to what this asks.
    fn merge(&mut self, other: Effects) {
        self.publish |= other.publish;
        self.snapshot |= other.snapshot;
        self.evicted |= other.evicted;
        self.ended.extend(other.ended);
        self.watches.extend(other.watches);
        self.announce.extend(other.announce);
        self.prepare.extend(other.prepare);
        self.hush.extend(other.hush);
        self.hush_all |= other.hush_all;
        if other.tick_at.is_some() {
            self.tick_at = other.tick_at;
        }
    }

    /// Whether anything at all is to be done.
    pub fn is_empty(&self) -> bool {
        !self.publish
            && !self.snapshot
            && self.ended.is_empty()
            && self.watches.is_empty()
            && self.announce.is_empty()
            && self.prepare.is_empty()
            && self.hush.is_empty()
            && !self.hush_all
            && self.tick_at.is_none()
    }
}

/// Every session on the machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    sessions: BTreeMap<String, Session>,
    next_seq: u64,
    /// At most this many sessions are held (see [`State::set_limit`]).
    #[serde(skip)]
    limit: Option<usize>,
    /// `llm-bridge mute`, shown on the bar.
    #[serde(skip_serializing_if = "Option::is_none")]
    mute: Option<Mute>,
    /// The number of the last journaled event this state holds
    /// ([`crate::journal`]); 0: none.
    #[serde(skip_serializing_if = "is_zero")]
    journal_seq: u64,
    /// Journaled events after `journal_seq` that this state holds too: a
    /// batch is applied in the order the hooks sent its events, which is
    /// not always the order they were journaled in (spooled ones first).
    /// Sorted; empty again once the batch is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    journal_ahead: Vec<u64>,
    /// The session a spoken notification named last ([`Input::Named`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    named: Option<String>,
    /// The session `llm-bridge focus` went to last ([`Input::Focused`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    focused: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    /// Caps the sessions held at once: beyond it a new session evicts the
    /// oldest idle one (or, if none is idle, the one whose last event is
    /// oldest). Default [`DEFAULT_MAX_SESSIONS`].
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = Some(limit.max(1));
    }

    /// What to watch for every session (the daemon's start).
    pub fn watches(&self) -> impl Iterator<Item = Watch> + '_ {
        self.sessions.values().map(Session::watch)
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Drops the sessions the history already records as ended (`(id,
    /// started)` pairs): a snapshot older than the history's last lines
    /// (the daemon was killed between the two writes) must not bring back
    /// a session that ended. Returns how many went. Pure: the caller reads
    /// the history.
    /// The number up to which this state holds every journaled event.
    pub fn journal_seq(&self) -> u64 {
        self.journal_seq
    }

    /// The highest number of a journaled event this state holds: the
    /// journal numbers the next event after it.
    pub fn journal_last(&self) -> u64 {
        self.journal_ahead
            .last()
            .copied()
            .unwrap_or(self.journal_seq)
    }

    /// Whether this state holds the journaled event `seq`.
    pub fn journal_holds(&self, seq: u64) -> bool {
        seq <= self.journal_seq || self.journal_ahead.binary_search(&seq).is_ok()
    }

    /// This state now holds every journaled event up to `seq`.
    pub fn set_journal_seq(&mut self, seq: u64) {
        self.journal_seq = seq;
        self.journal_ahead.retain(|&s| s > seq);
    }

    /// This state now holds the journaled event `seq` (events may be
    /// applied out of their journal order: what it holds stays exact).
    pub fn journal_applied(&mut self, seq: u64) {
        if self.journal_holds(seq) {
            return;
        }
        if let Err(at) = self.journal_ahead.binary_search(&seq) {
            self.journal_ahead.insert(at, seq);
        }
        while self.journal_ahead.first() == Some(&(self.journal_seq + 1)) {
            self.journal_seq += 1;
            self.journal_ahead.remove(0);
        }
    }

    pub fn forget_recorded(
        &mut self,
        recorded: &std::collections::HashSet<(String, Millis)>,
    ) -> usize {
        let before = self.sessions.len();
        self.sessions
            .retain(|id, s| !recorded.contains(&(id.clone(), s.started)));
        before - self.sessions.len()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether sessions of more than one kind of agent exist (phrases then
    /// name the agent).
    pub fn several_agents(&self) -> bool {
        let mut agents = self.sessions.values().map(|s| s.agent);
        agents
            .next()
            .is_some_and(|first| agents.any(|a| a != first))
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// How many sessions are in each state.
    pub fn counts(&self) -> StateCounts {
        let mut counts = StateCounts::default();
        for s in self.sessions.values() {
            counts.add(s.state);
        }
        counts
    }

    /// The aggregate by priority: waiting > working > error > idle; none
    /// when there is no session.
    pub fn aggregate(&self) -> Aggregate {
        self.counts().aggregate()
    }

    /// Applies one input. Pure: no I/O, no clock but `now`.
    pub fn apply(&mut self, input: &Input, now: Millis) -> Effects {
        let mut effects = self.expire_mute(now);
        let more = match input {
            Input::Event(e) => self.apply_event(e, now),
            Input::Status(s) => self.apply_status(s),
            Input::Exited {
                session_id,
                process,
            } => self.apply_exited(session_id, *process),
            Input::Interrupted { session_id } => self.apply_interrupted(session_id, now),
            Input::Answered {
                session_id,
                allowed,
            } => self.apply_answered(session_id, *allowed, now),
            Input::Mute { action, until } => self.apply_mute(*action, *until, now),
            Input::Tick => Effects::default(),
            Input::Named { session_id } => {
                if self.named.as_deref() == Some(session_id) {
                    Effects::default()
                } else {
                    self.named = Some(session_id.clone());
                    // The tooltip names the session a click would focus.
                    Effects::changed()
                }
            }
            Input::Focused { session_id } => {
                if self.focused.as_deref() == Some(session_id) {
                    Effects::default()
                } else {
                    self.focused = Some(session_id.clone());
                    Effects {
                        snapshot: true,
                        ..Effects::default()
                    }
                }
            }
        };
        if effects.is_empty() {
            return more;
        }
        effects.merge(more);
        effects
    }

    /// The session a spoken notification named last, if any.
    pub fn named(&self) -> Option<&str> {
        self.named.as_deref()
    }

    /// The session `llm-bridge focus` went to last, if any.
    pub fn focused(&self) -> Option<&str> {
        self.focused.as_deref()
    }

    /// The mute in force at `now`, if any.
    pub fn mute(&self, now: Millis) -> Option<Mute> {
        self.mute.filter(|m| !m.expired(now))
    }

    /// Whether the bar shows the mute (as of the last input).
    pub fn muted(&self) -> bool {
        self.mute.is_some()
    }

    /// When a timed mute ends: the caller applies [`Input::Tick`] then.
    /// After each input the same deadline comes in [`Effects::tick_at`]
    /// when it changed; this is for a state just restored.
    pub fn mute_deadline(&self) -> Option<Millis> {
        self.mute.and_then(|m| m.until)
    }

    fn expire_mute(&mut self, now: Millis) -> Effects {
        if self.mute.is_some_and(|m| m.expired(now)) {
            self.mute = None;
            return Effects {
                tick_at: Some(None),
                ..Effects::changed()
            };
        }
        Effects::default()
    }

    fn apply_mute(&mut self, action: MuteAction, until: Option<Millis>, now: Millis) -> Effects {
        let next = match action {
            MuteAction::On => Some(Mute { until }),
            MuteAction::Off => None,
            MuteAction::Toggle if self.mute(now).is_some() => None,
            MuteAction::Toggle => Some(Mute { until }),
        };
        if next == self.mute {
            return Effects::default();
        }
        let muting = next.is_some() && self.mute.is_none();
        self.mute = next;
        Effects {
            hush_all: muting,
            tick_at: Some(self.mute_deadline()),
            ..Effects::changed()
        }
    }

    fn apply_answered(&mut self, session_id: &str, allowed: bool, now: Millis) -> Effects {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return Effects::default();
        };
        // Only a session still waiting: a PostToolUse that came first
        // already made it work, and nothing else may be undone.
        if session.state != SessionState::Waiting {
            return Effects::default();
        }
        let basis = session.watch_basis();
        if allowed {
            session.set_state(SessionState::Working, now);
        } else {
            // "No" ends the turn (the transcript says so too).
            session.end_turn(SessionState::Idle, now);
        }
        let mut effects = Effects::changed();
        session.watch_if_changed(basis, false, &mut effects);
        // The dialog is gone: saying it now would be a lie.
        effects.hush.push(Hush {
            session_id: session_id.to_string(),
            only: Some(Occasion::Permission),
        });
        effects
    }

    fn apply_exited(&mut self, session_id: &str, process: Process) -> Effects {
        // Only the process the session names: a session resumed by another
        // client since then lives on.
        match self.sessions.get(session_id) {
            Some(session) if session.process() == Some(process) => {
                let session = self.sessions.remove(session_id).expect("found above");
                Effects::ended(session, "exited")
            }
            _ => Effects::default(),
        }
    }

    fn apply_interrupted(&mut self, session_id: &str, now: Millis) -> Effects {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return Effects::default();
        };
        if !session.busy() {
            return Effects::default();
        }
        let basis = session.watch_basis();
        session.end_turn(SessionState::Idle, now);
        let mut effects = Effects::changed();
        session.watch_if_changed(basis, false, &mut effects);
        effects.hush.push(Hush {
            session_id: session_id.to_string(),
            only: None,
        });
        effects
    }

    /// Makes room for one more session: evicts the oldest idle session,
    /// else the one whose last event is oldest.
    fn make_room(&mut self, effects: &mut Effects) {
        let limit = self.limit.unwrap_or(DEFAULT_MAX_SESSIONS);
        while self.sessions.len() >= limit {
            let oldest = |idle: bool| {
                self.sessions
                    .values()
                    .filter(|s| !idle || s.state == SessionState::Idle)
                    .min_by_key(|s| (s.last_event, s.started))
                    .map(Session::key)
            };
            let Some(id) = oldest(true).or_else(|| oldest(false)) else {
                return;
            };
            let session = self.sessions.remove(&id).expect("found above");
            effects.end(session, "evicted");
            effects.evicted = true;
        }
    }

    fn apply_status(&mut self, s: &Status) -> Effects {
        // A STATUS never creates or revives a session.
        let Some(session) = self.sessions.get_mut(&s.session_key()) else {
            return Effects::default();
        };
        let before = session.clone();
        let finite = |v: Option<f64>| v.filter(|f| f.is_finite());
        if s.model.is_some() {
            session.model = s.model.as_deref().map(printable);
        }
        session.cost_usd = finite(s.cost_usd).or(session.cost_usd);
        session.context_pct = finite(s.context_pct)
            .map(|p| p.clamp(0.0, 100.0))
            .or(session.context_pct);
        if *session == before {
            Effects::default()
        } else {
            Effects::changed()
        }
    }

    fn apply_event(&mut self, e: &Event, now: Millis) -> Effects {
        use EventKind::*;
        let notification = e.notification_type.as_deref();
        let relevant_notification =
            matches!(notification, Some("permission_prompt" | "idle_prompt"));
        match e.kind {
            Other => return Effects::default(),
            Notify if !relevant_notification => return Effects::default(),
            // Codex CLI's Interrupt: what an Esc in Claude Code's
            // transcript is.
            Interrupt => return self.apply_interrupted(&e.session_key(), now),
            SessionEnd => {
                return match self.sessions.remove(&e.session_key()) {
                    Some(ended) => Effects::ended(ended, e.reason.as_deref().unwrap_or("other")),
                    None => Effects::default(),
                };
            }
            _ => {}
        }
        // Events that describe the end of something never create a session:
        // a late PostToolUse must not bring back a session nobody sees.
        let creates = !matches!(e.kind, ToolEnd | ToolFail | CompactEnd);
        let mut effects = Effects::changed();
        // A new session is watched whatever its basis: none was before.
        let key = e.session_key();
        let basis = self.sessions.get(&key).map(Session::watch_basis);
        let created = basis.is_none();
        let several_before = self.several_agents();
        if created {
            if !creates {
                return Effects::default();
            }
            self.make_room(&mut effects);
            let session = Session {
                id: e.session_id.clone(),
                agent: e.agent,
                state_since: now,
                started: now,
                ..Session::default()
            };
            self.sessions.insert(key.clone(), session);
        }
        let several = self.several_agents();
        let seq = self.next_seq;
        self.next_seq += 1;
        let session = self.sessions.get_mut(&key).expect("inserted above");

        session.last_event = now;
        if let Some(cwd) = e.cwd.as_deref().filter(|c| !c.is_empty()) {
            if session.cwd.as_deref() != Some(cwd) {
                session.project = printable(&project_name(cwd));
                session.cwd = Some(cwd.to_string());
            }
        }
        if e.ppid.is_some() {
            session.pid = e.ppid;
            session.pid_start = e.pstart;
        }
        let moved = e.transcript_path.is_some() && session.transcript_path != e.transcript_path;
        if moved {
            session.transcript_path.clone_from(&e.transcript_path);
        }
        let before = session.state;
        let tool_key = || match (&e.tool_use_id, &e.tool_name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => format!("name:{name}"),
            (None, None) => "name:?".to_string(),
        };
        match e.kind {
            SessionStart => {}
            Submit => {
                session.prompts += 1;
                session.turn_started = Some(now);
                session.set_state(SessionState::Working, now);
                // The user is back: nothing said of the last turn is news.
                effects.hush.push(Hush {
                    session_id: session.key(),
                    only: None,
                });
            }
            ToolStart => {
                session.tool_uses += 1;
                let key = tool_key();
                if !session.completed.contains(&key) {
                    let name = e
                        .tool_name
                        .as_deref()
                        .map_or_else(|| "tool".to_string(), printable);
                    session.tools.insert(
                        key,
                        RunningTool {
                            name,
                            since: now,
                            seq,
                        },
                    );
                    if session.tools.len() > MAX_RUNNING_TOOLS {
                        let oldest = session
                            .tools
                            .iter()
                            .min_by_key(|(_, t)| t.seq)
                            .map(|(k, _)| k.clone());
                        if let Some(oldest) = oldest {
                            session.tools.remove(&oldest);
                        }
                    }
                }
                session.set_state(SessionState::Working, now);
            }
            SubagentStart => {
                if let Some(agent) = &e.agent_id {
                    session.subagents.insert(agent.clone());
                }
                session.set_state(SessionState::Working, now);
            }
            SubagentStop => {
                if let Some(agent) = &e.agent_id {
                    session.subagents.remove(agent);
                }
                session.set_state(SessionState::Working, now);
            }
            CompactStart => {
                session.before_compact = Some(session.state);
                session.set_state(SessionState::Working, now);
            }
            CompactEnd => {
                if let Some(previous) = session.before_compact.take() {
                    session.set_state(previous, now);
                }
            }
            ToolEnd | ToolFail => {
                let key = tool_key();
                session.tools.remove(&key);
                session.remember_completed(&key);
                if session.state == SessionState::Waiting {
                    session.set_state(SessionState::Working, now);
                }
            }
            Permission => {
                session.set_state(SessionState::Waiting, now);
                session.asking = e.tool_name.as_deref().map(printable);
            }
            Notify => match notification {
                Some("permission_prompt") => session.set_state(SessionState::Waiting, now),
                _ => {
                    // Claude waits for a prompt: nothing of the turn runs any more.
                    session.end_turn(SessionState::Idle, now);
                    effects.announce.push(session.announcement(
                        Occasion::Idle,
                        None,
                        None,
                        several,
                    ));
                }
            },
            Stop | StopFail => {
                let (state, occasion) = if e.kind == Stop {
                    (SessionState::Idle, Occasion::Done)
                } else {
                    (SessionState::Error, Occasion::Failed)
                };
                let turn_ms = session.turn_started.map(|t| now.saturating_sub(t));
                session.end_turn(state, now);
                effects
                    .announce
                    .push(session.announcement(occasion, None, turn_ms, several));
            }
            SessionEnd | Interrupt | Other => unreachable!("handled above"),
        }
        let waiting = SessionState::Waiting;
        if session.state == waiting && before != waiting {
            let tool = e
                .tool_name
                .as_deref()
                .map(printable)
                .or_else(|| session.current_tool().map(|t| t.name.clone()));
            effects
                .announce
                .push(session.announcement(Occasion::Permission, tool, None, several));
        } else if before == waiting && session.state != waiting {
            // The dialog was answered.
            effects.hush.push(Hush {
                session_id: session.key(),
                only: Some(Occasion::Permission),
            });
        }
        // Both forms of a phrase (without and with the agent's name) while
        // several kinds of agent have sessions: either may be said next.
        let forms: &[bool] = if several { &[false, true] } else { &[false] };
        if created {
            // What this session may say, rendered while nothing waits for it.
            for occasion in [Occasion::Permission, Occasion::Done, Occasion::Failed] {
                for &named in forms {
                    effects
                        .prepare
                        .push(session.announcement(occasion, None, None, named));
                }
            }
        }
        if e.kind == ToolStart {
            // PreToolUse comes before a tool's permission dialog.
            if let Some(tool) = e.tool_name.as_deref() {
                for &named in forms {
                    let tool = Some(printable(tool));
                    effects.prepare.push(session.announcement(
                        Occasion::Permission,
                        tool,
                        None,
                        named,
                    ));
                }
            }
        }
        match basis {
            Some(basis) => session.watch_if_changed(basis, moved, &mut effects),
            None => effects.watches.push(session.watch()),
        }
        if created && several && !several_before {
            // A second kind of agent: the others' phrases now name theirs.
            for other in self.sessions.values().filter(|s| s.key() != key) {
                for occasion in [Occasion::Permission, Occasion::Done, Occasion::Failed] {
                    effects
                        .prepare
                        .push(other.announcement(occasion, None, None, true));
                }
            }
        }
        effects
    }
}

/// `text` with every control character (C0, C1, DEL: a newline, an escape
/// sequence for a terminal) replaced by `?`. What is shown anywhere (Waybar,
/// `status`, the history) comes from outside: it is made printable once,
/// here, when it enters a session.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The basename of a working directory (`/` for the root).
pub fn project_name(cwd: &str) -> String {
    let trimmed = cwd.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    fn ev(kind: EventKind, sid: &str) -> Event {
        let mut e = Event::new(kind, sid);
        e.cwd = Some(format!("/home/u/src/{sid}-proj"));
        e
    }

    fn tool(kind: EventKind, sid: &str, name: &str, id: &str) -> Event {
        let mut e = ev(kind, sid);
        e.tool_name = Some(name.into());
        e.tool_use_id = Some(id.into());
        e
    }

    fn notify(sid: &str, ty: &str) -> Event {
        let mut e = ev(EventKind::Notify, sid);
        e.notification_type = Some(ty.into());
        e
    }

    /// Applies events at t = 1000, 1001, ... and returns the state.
    fn replay(events: &[Event]) -> State {
        let mut st = State::new();
        for (i, e) in events.iter().enumerate() {
            st.apply(&Input::Event(e.clone()), 1000 + i as u64);
        }
        st
    }

    fn state_of(st: &State, sid: &str) -> Option<SessionState> {
        st.session(sid).map(|s| s.state)
    }

    fn agent_ev(agent: Agent, kind: EventKind, sid: &str) -> Event {
        let mut e = ev(kind, sid);
        e.agent = agent;
        e
    }

    #[test]
    fn a_permission_asked_before_its_tool_starts_names_the_tool_while_waiting() {
        // Qwen Code's order: PermissionRequest, then (once allowed) PreToolUse.
        let mut st = State::new();
        let qwen = |kind| agent_ev(Agent::Qwen, kind, "q");
        st.apply(&Input::Event(qwen(EventKind::Submit)), 1_000);
        let mut ask = qwen(EventKind::Permission);
        ask.tool_name = Some("run_shell_command".into());
        st.apply(&Input::Event(ask), 2_000);
        let s = st.session("qwen:q").unwrap();
        assert_eq!(s.state, Waiting);
        assert_eq!(s.shown_tool(), Some("run_shell_command"));
        let mut start = qwen(EventKind::ToolStart);
        start.tool_name = Some("run_shell_command".into());
        start.tool_use_id = Some("t1".into());
        st.apply(&Input::Event(start), 3_000);
        let s = st.session("qwen:q").unwrap();
        assert_eq!((s.state, s.asking.as_deref()), (Working, None));
        let mut end = qwen(EventKind::ToolEnd);
        end.tool_use_id = Some("t1".into());
        st.apply(&Input::Event(end), 4_000);
        // Answered and done: nothing is named any more.
        assert_eq!(st.session("qwen:q").unwrap().shown_tool(), None);
    }

    #[test]
    fn sessions_are_keyed_by_agent_and_id() {
        let mut st = replay(&[
            ev(EventKind::Submit, "same"),
            agent_ev(Agent::Codex, EventKind::Submit, "same"),
        ]);
        assert_eq!(st.len(), 2);
        st.apply(&Input::Event(ev(EventKind::Stop, "same")), 2000);
        assert_eq!(state_of(&st, "same"), Some(Idle));
        assert_eq!(state_of(&st, "codex:same"), Some(Working));
        assert_eq!(st.session("codex:same").unwrap().id, "same");
        // Codex's Interrupt ends its turn as an Esc does, and says nothing.
        let effects = st.apply(
            &Input::Event(agent_ev(Agent::Codex, EventKind::Interrupt, "same")),
            2001,
        );
        assert_eq!(state_of(&st, "codex:same"), Some(Idle));
        assert!(effects.announce.is_empty());
    }

    #[test]
    fn phrases_name_the_agent_only_beside_another_kind_and_both_forms_are_prepared() {
        let mut st = State::new();
        let first = st.apply(&Input::Event(ev(EventKind::Submit, "c")), 1);
        assert!(first.prepare.iter().all(|a| a.agent.is_none()));
        let second = st.apply(
            &Input::Event(agent_ev(Agent::Gemini, EventKind::Submit, "g")),
            2,
        );
        // The new session's phrases in both forms, and Claude Code's now
        // named, rendered ahead.
        let named = |agent| {
            second
                .prepare
                .iter()
                .filter(|a| a.agent == Some(agent))
                .count()
        };
        assert_eq!(named(Agent::Gemini), 3);
        assert_eq!(named(Agent::Claude), 3);
        assert_eq!(
            second.prepare.iter().filter(|a| a.agent.is_none()).count(),
            3
        );
        let said = st.apply(
            &Input::Event(agent_ev(Agent::Gemini, EventKind::Permission, "g")),
            3,
        );
        assert_eq!(said.announce[0].agent, Some(Agent::Gemini));
        assert_eq!(said.announce[0].session_id, "gemini:g");
    }

    #[test]
    fn another_agents_files_are_not_watched_and_old_snapshots_are_claude_codes() {
        let e = with_client(agent_ev(Agent::Qwen, EventKind::Submit, "q"), 7, 70);
        let st = replay(&[e]);
        let watch = st.session("qwen:q").unwrap().watch();
        assert_eq!(watch.session_id, "qwen:q");
        assert!(watch.process.is_some(), "its process is watched");
        assert_eq!((watch.transcript, watch.client_status), (None, None));
        let json = serde_json::to_string(&st).unwrap();
        assert!(json.contains("\"agent\":\"qwen\""), "{json}");
        let old = r#"{"sessions":{"a":{"id":"a","state":"working"}}}"#;
        let old: State = serde_json::from_str(old).unwrap();
        assert_eq!(old.session("a").unwrap().agent, Agent::Claude);
        let claude = serde_json::to_string(&replay(&[ev(EventKind::Submit, "a")])).unwrap();
        assert!(!claude.contains("\"agent\""), "{claude}");
        let unknown = r#"{"sessions":{"x:a":{"id":"a","agent":"future"}}}"#;
        assert!(serde_json::from_str::<State>(unknown).is_err());
    }

    fn with_client(mut e: Event, pid: u32, start: u64) -> Event {
        e.ppid = Some(pid);
        e.pstart = Some(start);
        e.transcript_path = Some(format!("/t/{}.jsonl", e.session_id));
        e
    }

    fn occasions(effects: &Effects) -> Vec<(Occasion, Option<String>, Option<u64>)> {
        effects
            .announce
            .iter()
            .map(|a| (a.occasion, a.tool.clone(), a.turn_ms))
            .collect()
    }

    #[test]
    fn the_moments_worth_saying_are_announced_once_with_their_facts() {
        let mut st = State::new();
        let first = st.apply(&Input::Event(ev(EventKind::SessionStart, "s")), 1_000);
        assert!(first.announce.is_empty());
        let prepared: Vec<Occasion> = first.prepare.iter().map(|a| a.occasion).collect();
        assert_eq!(
            prepared,
            [Occasion::Permission, Occasion::Done, Occasion::Failed]
        );
        assert_eq!(first.prepare[0].project, "s-proj");
        st.apply(&Input::Event(ev(EventKind::Submit, "s")), 2_000);
        let pre = st.apply(
            &Input::Event(tool(EventKind::ToolStart, "s", "Bash", "t1")),
            3_000,
        );
        assert_eq!(
            pre.prepare[0].tool.as_deref(),
            Some("Bash"),
            "PreToolUse renders ahead"
        );
        let mut ask = tool(EventKind::Permission, "s", "Bash", "t1");
        ask.tool_use_id = None;
        let e = st.apply(&Input::Event(ask), 3_500);
        assert_eq!(
            occasions(&e),
            [(Occasion::Permission, Some("Bash".into()), None)]
        );
        // The Notification that follows the same dialog is not news.
        let e = st.apply(&Input::Event(notify("s", "permission_prompt")), 9_500);
        assert!(e.announce.is_empty());
        // The tool ran: the dialog was answered, its phrase is stale.
        let e = st.apply(
            &Input::Event(tool(EventKind::ToolEnd, "s", "Bash", "t1")),
            10_000,
        );
        assert_eq!(
            e.hush,
            [Hush {
                session_id: "s".into(),
                only: Some(Occasion::Permission)
            }]
        );
        let e = st.apply(&Input::Event(ev(EventKind::Stop, "s")), 32_000);
        assert_eq!(occasions(&e), [(Occasion::Done, None, Some(30_000))]);
        st.apply(&Input::Event(ev(EventKind::Submit, "s")), 40_000);
        let e = st.apply(&Input::Event(ev(EventKind::StopFail, "s")), 41_000);
        assert_eq!(occasions(&e), [(Occasion::Failed, None, Some(1_000))]);
        let e = st.apply(&Input::Event(notify("s", "idle_prompt")), 99_000);
        assert_eq!(occasions(&e), [(Occasion::Idle, None, None)]);
    }

    #[test]
    fn a_dialog_answered_or_an_esc_or_an_end_hushes_the_session() {
        let mut st = State::new();
        let mut ask = ev(EventKind::Permission, "s");
        ask.tool_name = Some("mcp__github__create_issue".into());
        let e = st.apply(&Input::Event(ask.clone()), 1);
        assert_eq!(
            e.announce[0].tool.as_deref(),
            Some("mcp__github__create_issue")
        );
        let e = st.apply(
            &Input::Answered {
                session_id: "s".into(),
                allowed: true,
            },
            2,
        );
        assert_eq!(e.hush[0].only, Some(Occasion::Permission));
        let e = st.apply(
            &Input::Interrupted {
                session_id: "s".into(),
            },
            3,
        );
        assert_eq!(
            e.hush[0].only, None,
            "an Esc drops everything of the session"
        );
        let e = st.apply(&Input::Event(ev(EventKind::Submit, "s")), 4);
        assert_eq!(e.hush[0].only, None, "the user is back");
        let e = st.apply(&Input::Event(ev(EventKind::SessionEnd, "s")), 5);
        assert_eq!(e.hush[0].only, None);
    }

    #[test]
    fn a_mute_is_kept_toggled_and_ends_on_time() {
        let mut st = State::new();
        let on = |until| Input::Mute {
            action: MuteAction::Toggle,
            until,
        };
        let e = st.apply(&on(Some(10_000)), 1_000);
        assert!(e.publish && e.snapshot, "the bar shows it");
        assert!(st.muted());
        assert_eq!(st.mute_deadline(), Some(10_000));
        // It survives a snapshot (a restart).
        let json = serde_json::to_string(&st).unwrap();
        let restored: State = serde_json::from_str(&json).unwrap();
        assert_eq!(
            restored.mute(5_000),
            Some(Mute {
                until: Some(10_000)
            })
        );
        // Time passes: it ends, and the bar is told.
        let e = st.apply(&Input::Tick, 10_000);
        assert!(e.publish);
        assert!(!st.muted());
        assert!(st.apply(&Input::Tick, 10_001).is_empty());
        st.apply(&on(None), 11_000);
        assert_eq!(st.mute(u64::MAX), Some(Mute { until: None }));
        st.apply(&on(None), 12_000);
        assert!(!st.muted(), "toggled off");
        let off = Input::Mute {
            action: MuteAction::Off,
            until: None,
        };
        assert!(st.apply(&off, 13_000).is_empty(), "already off");
        // Without a mute the snapshot has no trace of it.
        assert!(!serde_json::to_string(&st).unwrap().contains("mute"));
    }

    #[test]
    fn muting_hushes_every_phrase_and_names_when_to_tick() {
        let mut st = State::new();
        let mute = |action, until| Input::Mute { action, until };
        let e = st.apply(&mute(MuteAction::On, Some(10_000)), 1_000);
        assert!(e.hush_all, "what plays or waits is cut");
        assert_eq!(e.tick_at, Some(Some(10_000)));
        // Muted again (a new end): nothing more to cut, a new deadline.
        let e = st.apply(&mute(MuteAction::On, Some(20_000)), 2_000);
        assert!(!e.hush_all);
        assert_eq!(e.tick_at, Some(Some(20_000)));
        // The same mute again changes nothing.
        assert!(st
            .apply(&mute(MuteAction::On, Some(20_000)), 3_000)
            .is_empty());
        // Its end clears the deadline, as unmuting does.
        let e = st.apply(&Input::Tick, 20_000);
        assert_eq!(e.tick_at, Some(None));
        assert!(!e.hush_all);
        st.apply(&mute(MuteAction::On, None), 21_000);
        let e = st.apply(&mute(MuteAction::Off, None), 22_000);
        assert_eq!(e.tick_at, Some(None));
        assert!(!e.hush_all);
        // Other inputs leave the deadline alone.
        let e = st.apply(&Input::Event(ev(EventKind::SessionStart, "a")), 23_000);
        assert_eq!(e.tick_at, None);
    }

    #[test]
    fn watches_follow_the_session() {
        let mut st = State::new();
        let fx = st.apply(
            &Input::Event(with_client(ev(EventKind::SessionStart, "a"), 7, 70)),
            1,
        );
        let client = Some(Process { pid: 7, start: 70 });
        // Idle: the process is watched, the transcript is not.
        assert_eq!(fx.watches[0].process, client);
        assert_eq!(fx.watches[0].transcript, None);
        let fx = st.apply(&Input::Event(ev(EventKind::Submit, "a")), 2);
        assert_eq!(fx.watches[0].transcript.as_deref(), Some("/t/a.jsonl"));
        assert_eq!(fx.watches[0].process, client);
        let fx = st.apply(&Input::Event(ev(EventKind::Stop, "a")), 3);
        assert_eq!(fx.watches[0].transcript, None);
        let fx = st.apply(&Input::Event(ev(EventKind::SessionEnd, "a")), 4);
        assert_eq!(fx.watches[0].process, None);
        assert_eq!(fx.ended[0].reason, "other");
        // Without a start time the PID cannot be trusted: no watch.
        let mut e = ev(EventKind::SessionStart, "b");
        e.ppid = Some(9);
        let fx = st.apply(&Input::Event(e), 5);
        assert_eq!(fx.watches[0].process, None);
    }

    #[test]
    fn journaled_events_applied_out_of_order_are_held_exactly() {
        let mut st = State::new();
        st.set_journal_seq(4);
        // A batch journaled 5, 6, 7 (spool first) and applied 7, 5, 6.
        st.journal_applied(7);
        assert_eq!((st.journal_seq(), st.journal_last()), (4, 7));
        assert!(st.journal_holds(7) && !st.journal_holds(5) && !st.journal_holds(6));
        st.journal_applied(5);
        assert_eq!(st.journal_seq(), 5);
        assert!(!st.journal_holds(6));
        st.journal_applied(6);
        assert_eq!((st.journal_seq(), st.journal_last()), (7, 7));
        // What a snapshot in the middle says survives the round trip.
        st.journal_applied(9);
        let back: State = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert!(back.journal_holds(9) && !back.journal_holds(8));
        assert_eq!(back.journal_last(), 9);
    }

    #[test]
    fn a_watch_is_asked_for_only_when_it_changes() {
        let mut st = State::new();
        let client = |e| with_client(e, 7, 70);
        let watches = |st: &mut State, e: Event| st.apply(&Input::Event(e), 1).watches;
        assert_eq!(
            watches(&mut st, client(ev(EventKind::SessionStart, "a"))).len(),
            1
        );
        // Idle again, the same client and transcript: nothing to change.
        assert_eq!(
            watches(&mut st, client(ev(EventKind::SessionStart, "a"))),
            []
        );
        let fx = st.apply(&Input::Event(client(ev(EventKind::Submit, "a"))), 2);
        assert!(fx.publish, "the bar changes");
        assert_eq!(fx.watches.len(), 1, "the transcript is watched now");
        // Tools come and go in a working session: its watch stays.
        let e = client(tool(EventKind::ToolStart, "a", "Bash", "t1"));
        let fx = st.apply(&Input::Event(e), 3);
        assert!(fx.publish);
        assert_eq!(fx.watches, []);
        let end = tool(EventKind::ToolEnd, "a", "Bash", "t1");
        assert_eq!(watches(&mut st, end), []);
        // Another transcript, another client, waiting: each is a change.
        let mut e = client(ev(EventKind::SubagentStart, "a"));
        e.transcript_path = Some("/t/other.jsonl".into());
        let fx = st.apply(&Input::Event(e), 4);
        assert_eq!(fx.watches[0].transcript.as_deref(), Some("/t/other.jsonl"));
        let e = with_client(ev(EventKind::SubagentStop, "a"), 8, 80);
        let fx = st.apply(&Input::Event(e), 5);
        assert_eq!(fx.watches[0].process, Some(Process { pid: 8, start: 80 }));
        assert_eq!(fx.watches[0].transcript.as_deref(), Some("/t/a.jsonl"));
        assert_eq!(watches(&mut st, ev(EventKind::Permission, "a")).len(), 1);
        // An interrupt of a session with nothing to watch changes nothing
        // watched.
        st.apply(&Input::Event(ev(EventKind::Submit, "b")), 6);
        let esc = Input::Interrupted {
            session_id: "b".into(),
        };
        let fx = st.apply(&esc, 7);
        assert!(fx.publish);
        assert_eq!(fx.watches, []);
    }

    #[test]
    fn an_exited_client_ends_only_its_own_session() {
        let mut st = State::new();
        st.apply(
            &Input::Event(with_client(ev(EventKind::Submit, "a"), 7, 70)),
            1,
        );
        st.apply(
            &Input::Event(with_client(ev(EventKind::Submit, "b"), 8, 80)),
            1,
        );
        let exited = |pid, start| Input::Exited {
            session_id: "a".into(),
            process: Process { pid, start },
        };
        // Another process under the same PID (or a resumed session's old
        // client) changes nothing.
        assert!(st.apply(&exited(7, 71), 2).is_empty());
        let fx = st.apply(&exited(7, 70), 2);
        assert!(fx.publish && fx.snapshot);
        assert_eq!(fx.ended[0].reason, "exited");
        assert_eq!(fx.ended[0].session.id, "a");
        assert_eq!(state_of(&st, "a"), None);
        assert_eq!(state_of(&st, "b"), Some(Working));
    }

    #[test]
    fn an_interrupt_ends_a_busy_turn_only() {
        let mut st = replay(&[
            ev(EventKind::Submit, "a"),
            tool(EventKind::ToolStart, "a", "Bash", "t1"),
            ev(EventKind::Permission, "a"),
        ]);
        let esc = Input::Interrupted {
            session_id: "a".into(),
        };
        let fx = st.apply(&esc, 5000);
        assert!(fx.publish);
        let a = st.session("a").unwrap();
        assert_eq!((a.state, a.tools.len(), a.state_since), (Idle, 0, 5000));
        // Already idle, or unknown: nothing to do.
        assert!(st.apply(&esc, 5001).is_empty());
        let unknown = Input::Interrupted {
            session_id: "zz".into(),
        };
        assert!(st.apply(&unknown, 5002).is_empty());
    }

    #[test]
    fn an_answered_dialog_ends_waiting_and_nothing_else() {
        let mut st = State::new();
        let mut e = with_client(tool(EventKind::ToolStart, "a", "Bash", "t1"), 7, 70);
        e.transcript_path = Some("/h/.claude/projects/p/a.jsonl".into());
        let fx = st.apply(&Input::Event(e), 1);
        assert_eq!(fx.watches[0].client_status, None);
        let fx = st.apply(&Input::Event(ev(EventKind::Permission, "a")), 2);
        // Waiting: the client's status file is watched, beside the projects.
        assert_eq!(
            fx.watches[0].client_status.as_deref(),
            Some("/h/.claude/sessions/7.json")
        );
        let answered = |allowed| Input::Answered {
            session_id: "a".into(),
            allowed,
        };
        let fx = st.apply(&answered(true), 3);
        assert!(fx.publish);
        assert_eq!(fx.watches[0].client_status, None);
        let a = st.session("a").unwrap();
        assert_eq!((a.state, a.tools.len()), (Working, 1));
        // Working already (PostToolUse came first): nothing to undo.
        assert!(st.apply(&answered(true), 4).is_empty());
        assert!(st.apply(&answered(false), 4).is_empty());
        st.apply(&Input::Event(ev(EventKind::Permission, "a")), 5);
        st.apply(&answered(false), 6);
        let a = st.session("a").unwrap();
        assert_eq!((a.state, a.tools.len()), (Idle, 0));
    }

    #[test]
    fn the_client_status_file_is_beside_the_projects() {
        let mut s = Session {
            pid: Some(4242),
            transcript_path: Some("/home/u/.claude/projects/-home-u-app/abc.jsonl".into()),
            ..Session::default()
        };
        assert_eq!(
            s.client_status_file().as_deref(),
            Some("/home/u/.claude/sessions/4242.json")
        );
        s.transcript_path = Some("/elsewhere/abc.jsonl".into());
        assert_eq!(s.client_status_file(), None);
        s.transcript_path = Some("/home/u/.claude/projects/p/abc.jsonl".into());
        s.pid = None;
        assert_eq!(s.client_status_file(), None);
    }

    #[test]
    fn over_the_cap_the_oldest_idle_session_goes_first() {
        let mut st = State::new();
        st.set_limit(3);
        st.apply(&Input::Event(ev(EventKind::Submit, "busy-old")), 1);
        st.apply(&Input::Event(ev(EventKind::SessionStart, "idle-old")), 2);
        st.apply(&Input::Event(ev(EventKind::SessionStart, "idle-new")), 3);
        let fx = st.apply(&Input::Event(ev(EventKind::SessionStart, "d")), 4);
        assert!(fx.evicted);
        assert_eq!(fx.ended[0].session.id, "idle-old");
        assert_eq!(fx.ended[0].reason, "evicted");
        assert_eq!(st.len(), 3);
        // No idle session left but the newest: then the oldest event goes.
        st.apply(&Input::Event(ev(EventKind::Submit, "idle-new")), 5);
        st.apply(&Input::Event(ev(EventKind::Submit, "d")), 6);
        let fx = st.apply(&Input::Event(ev(EventKind::Submit, "e")), 7);
        assert_eq!(fx.ended[0].session.id, "busy-old");
        assert_eq!(st.len(), 3);
    }

    #[test]
    fn what_comes_from_outside_is_made_printable() {
        let mut e = tool(EventKind::ToolStart, "a", "Ba\nsh\u{9b}", "t1");
        e.cwd = Some("/home/u/evil\x1b]0;pwned\x07".into());
        let mut st = State::new();
        st.apply(&Input::Event(e), 1);
        let status = Status {
            session_id: "a".into(),
            model: Some("Opus\x00\r".into()),
            ..Status::default()
        };
        st.apply(&Input::Status(status), 2);
        let a = st.session("a").unwrap();
        assert_eq!(a.project, "evil?]0;pwned?");
        assert_eq!(a.current_tool().unwrap().name, "Ba?sh?");
        assert_eq!(a.model.as_deref(), Some("Opus??"));
    }

    #[test]
    fn session_start_creates_idle_and_keeps_existing() {
        let st = replay(&[ev(EventKind::SessionStart, "a")]);
        assert_eq!(state_of(&st, "a"), Some(Idle));
        assert_eq!(st.session("a").unwrap().project, "a-proj");
        let st = replay(&[ev(EventKind::Submit, "a"), ev(EventKind::SessionStart, "a")]);
        assert_eq!(state_of(&st, "a"), Some(Working), "compact/resume mid-turn");
    }

    #[test]
    fn working_events() {
        for kind in [
            EventKind::Submit,
            EventKind::ToolStart,
            EventKind::SubagentStart,
            EventKind::SubagentStop,
            EventKind::CompactStart,
        ] {
            let st = replay(&[ev(EventKind::SessionStart, "a"), ev(kind, "a")]);
            assert_eq!(state_of(&st, "a"), Some(Working), "{kind:?}");
        }
    }

    #[test]
    fn tool_lifecycle_and_out_of_order() {
        let st = replay(&[
            ev(EventKind::Submit, "a"),
            tool(EventKind::ToolStart, "a", "Read", "t1"),
        ]);
        assert_eq!(
            st.session("a").unwrap().current_tool().unwrap().name,
            "Read"
        );
        // PostToolUse before PreToolUse (parallel hooks): no phantom tool.
        let st = replay(&[
            ev(EventKind::Submit, "a"),
            tool(EventKind::ToolEnd, "a", "Read", "t1"),
            tool(EventKind::ToolStart, "a", "Read", "t1"),
        ]);
        let s = st.session("a").unwrap();
        assert!(s.tools.is_empty());
        assert_eq!(s.tool_uses, 1);
        // Two tools in parallel: the latest is shown, the other stays.
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Read", "t1"),
            tool(EventKind::ToolStart, "a", "Grep", "t2"),
            tool(EventKind::ToolFail, "a", "Grep", "t2"),
        ]);
        assert_eq!(
            st.session("a").unwrap().current_tool().unwrap().name,
            "Read"
        );
    }

    #[test]
    fn running_tools_are_bounded() {
        let events: Vec<Event> = (0..MAX_RUNNING_TOOLS + 10)
            .map(|i| {
                tool(
                    EventKind::ToolStart,
                    "a",
                    &format!("T{i}"),
                    &format!("t{i}"),
                )
            })
            .collect();
        let st = replay(&events);
        let s = st.session("a").unwrap();
        assert_eq!(s.tools.len(), MAX_RUNNING_TOOLS);
        assert!(!s.tools.contains_key("t0"), "the oldest is dropped");
        assert_eq!(
            s.current_tool().unwrap().name,
            format!("T{}", MAX_RUNNING_TOOLS + 9)
        );
    }

    #[test]
    fn tool_end_resumes_waiting_but_not_idle() {
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Bash", "t1"),
            tool(EventKind::Permission, "a", "Bash", "t1"),
            tool(EventKind::ToolEnd, "a", "Bash", "t1"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Working));
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Bash", "t1"),
            ev(EventKind::Stop, "a"),
            tool(EventKind::ToolEnd, "a", "Bash", "t1"),
        ]);
        assert_eq!(
            state_of(&st, "a"),
            Some(Idle),
            "a late event after Stop does not revive work"
        );
        let st = replay(&[
            ev(EventKind::StopFail, "a"),
            tool(EventKind::ToolEnd, "a", "Bash", "t1"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Error));
    }

    #[test]
    fn compact_restores_previous_state() {
        let st = replay(&[
            ev(EventKind::SessionStart, "a"),
            ev(EventKind::CompactStart, "a"),
            ev(EventKind::CompactEnd, "a"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Idle));
        let st = replay(&[
            ev(EventKind::Permission, "a"),
            ev(EventKind::CompactStart, "a"),
            ev(EventKind::CompactEnd, "a"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Waiting));
        let st = replay(&[ev(EventKind::Submit, "a"), ev(EventKind::CompactEnd, "a")]);
        assert_eq!(
            state_of(&st, "a"),
            Some(Working),
            "PostCompact without PreCompact changes nothing"
        );
    }

    #[test]
    fn permission_and_notifications() {
        let st = replay(&[ev(EventKind::Submit, "a"), ev(EventKind::Permission, "a")]);
        assert_eq!(state_of(&st, "a"), Some(Waiting));
        let st = replay(&[ev(EventKind::Submit, "a"), notify("a", "permission_prompt")]);
        assert_eq!(state_of(&st, "a"), Some(Waiting));
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Edit", "t1"),
            notify("a", "idle_prompt"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Idle));
        assert_eq!(
            st.session("a").unwrap().current_tool(),
            None,
            "no leftover tool after idle_prompt"
        );
        let st = replay(&[ev(EventKind::Submit, "a"), notify("a", "auth_success")]);
        assert_eq!(state_of(&st, "a"), Some(Working));
        let st = replay(&[notify("b", "auth_success")]);
        assert!(st.is_empty(), "other notifications create nothing");
    }

    #[test]
    fn stop_and_stop_failure_clear_tools() {
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Bash", "t1"),
            ev(EventKind::Stop, "a"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Idle));
        assert!(st.session("a").unwrap().tools.is_empty());
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Bash", "t1"),
            ev(EventKind::StopFail, "a"),
        ]);
        assert_eq!(state_of(&st, "a"), Some(Error));
        assert!(st.session("a").unwrap().tools.is_empty());
    }

    #[test]
    fn session_end_removes_and_late_ending_events_do_not_resurrect() {
        let mut st = replay(&[ev(EventKind::Submit, "a")]);
        let fx = st.apply(&Input::Event(ev(EventKind::SessionEnd, "a")), 2000);
        assert!(fx.publish);
        assert_eq!(fx.ended[0].session.prompts, 1);
        assert!(st.is_empty());
        assert_eq!(st.aggregate(), Aggregate::None);
        assert!(
            !st.apply(
                &Input::Event(tool(EventKind::ToolEnd, "a", "Read", "t")),
                2001
            )
            .publish
        );
        assert!(st.is_empty());
        // `claude --resume` brings the id back with a SessionStart.
        st.apply(&Input::Event(ev(EventKind::SessionStart, "a")), 2002);
        assert_eq!(state_of(&st, "a"), Some(Idle));
    }

    #[test]
    fn only_lifecycle_events_create_sessions() {
        let st = replay(&[
            tool(EventKind::ToolEnd, "a", "Read", "t"),
            ev(EventKind::CompactEnd, "b"),
            ev(EventKind::Other, "c"),
            ev(EventKind::SessionEnd, "d"),
        ]);
        assert!(st.is_empty());
        let mut st = State::new();
        let status = Status {
            session_id: "z".into(),
            cost_usd: Some(1.0),
            ..Status::default()
        };
        assert!(!st.apply(&Input::Status(status), 1).publish);
        assert!(st.is_empty());
    }

    #[test]
    fn status_updates_existing_session() {
        let mut st = replay(&[ev(EventKind::SessionStart, "a")]);
        let status = Status {
            session_id: "a".into(),
            model: Some("Opus".into()),
            cost_usd: Some(1.5),
            context_pct: Some(142.0),
            ..Status::default()
        };
        assert!(st.apply(&Input::Status(status.clone()), 5).publish);
        assert!(
            !st.apply(&Input::Status(status), 6).publish,
            "same figures change nothing"
        );
        let s = st.session("a").unwrap();
        assert_eq!(
            (s.model.as_deref(), s.cost_usd, s.context_pct),
            (Some("Opus"), Some(1.5), Some(100.0))
        );
        assert_eq!(s.state, Idle);
    }

    #[test]
    fn aggregate_priority() {
        let st = replay(&[ev(EventKind::Stop, "a"), ev(EventKind::StopFail, "b")]);
        assert_eq!(st.aggregate(), Aggregate::Session(Error));
        let st = replay(&[ev(EventKind::StopFail, "b"), ev(EventKind::Submit, "c")]);
        assert_eq!(st.aggregate(), Aggregate::Session(Working));
        let st = replay(&[
            ev(EventKind::Submit, "c"),
            ev(EventKind::Permission, "d"),
            ev(EventKind::Stop, "a"),
        ]);
        assert_eq!(st.aggregate(), Aggregate::Session(Waiting));
        assert_eq!(State::new().aggregate(), Aggregate::None);
    }

    #[test]
    fn the_counts_and_the_priority_come_from_one_order() {
        let priorities = SessionState::BY_PRIORITY.map(SessionState::priority);
        assert_eq!(priorities, [3, 2, 1, 0]);
        let st = replay(&[
            ev(EventKind::Stop, "a"),
            ev(EventKind::Stop, "b"),
            ev(EventKind::StopFail, "c"),
        ]);
        let counts = st.counts();
        assert_eq!((counts.count(Idle), counts.count(Error)), (2, 1));
        assert_eq!(counts.count(Waiting) + counts.count(Working), 0);
        assert_eq!(counts.aggregate(), st.aggregate());
    }

    #[test]
    fn state_since_moves_only_on_change() {
        let mut st = State::new();
        st.apply(&Input::Event(ev(EventKind::Submit, "a")), 10);
        st.apply(
            &Input::Event(tool(EventKind::ToolStart, "a", "Read", "t")),
            20,
        );
        let s = st.session("a").unwrap();
        assert_eq!((s.state_since, s.last_event), (10, 20));
    }

    #[test]
    fn replaying_the_shared_samples_in_order() {
        // The order the samples' README gives, compacted to the transitions.
        let st = replay(&[
            ev(EventKind::SessionStart, "s"),
            ev(EventKind::Submit, "s"),
            tool(EventKind::ToolStart, "s", "Bash", "t1"),
            tool(EventKind::Permission, "s", "Bash", "t1"),
            tool(EventKind::ToolEnd, "s", "Bash", "t1"),
            ev(EventKind::SubagentStart, "s"),
            ev(EventKind::SubagentStop, "s"),
            ev(EventKind::Stop, "s"),
        ]);
        let s = st.session("s").unwrap();
        assert_eq!((s.state, s.prompts, s.tool_uses), (Idle, 1, 1));
    }

    #[test]
    fn project_names() {
        assert_eq!(project_name("/home/u/src/app/"), "app");
        assert_eq!(project_name("/"), "/");
        assert_eq!(project_name("rel"), "rel");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let st = replay(&[
            tool(EventKind::ToolStart, "a", "Read", "t1"),
            ev(EventKind::SessionEnd, "b"),
        ]);
        let json = serde_json::to_string(&st).unwrap();
        let back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
    }
}
