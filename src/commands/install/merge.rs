//! The llm-bridge block and its merge into the text of an agent's hook
//! settings (Claude Code's, Gemini CLI's and Qwen Code's settings.json,
//! Codex CLI's hooks.json).
//!
//! The merge is an edit of the user's text, not a rewrite of a parsed
//! value: it removes or adds llm-bridge's own hook commands and the
//! statusLine, and every other byte (key order, numbers as written,
//! unicode, spacing) stays. Only our command objects are ever removed: a
//! user's command beside one of ours stays in its entry, with its matcher,
//! and entries keep their order. Gemini CLI's and Qwen Code's files may
//! hold comments: they are read through [`jsonc::blank_comments`] and
//! kept, as every other byte is.

use super::json_text::{self, Edits, Kind, Layout, Node, Style};
use super::jsonc;
use llm_bridge_core::error::{Error, Result};
use llm_bridge_protocol::agent::Agent;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::path::Path;

const HOOK_BIN: &str = "llm-bridge-hook";
const STATUSLINE_BIN: &str = "llm-bridge-statusline";

/// The settings llm-bridge needs for one agent, for binaries in one
/// directory. It serializes as the block `llm-bridge install` prints, in
/// the README's order.
pub struct Block {
    agent: Agent,
    hook: String,
    statusline: String,
}

/// One entry of a hook event's list: `{"matcher": "*", "hooks": [...]}`.
#[derive(Serialize)]
pub struct HookEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    matcher: Option<&'static str>,
    hooks: [HookCommand<'a>; 1],
}

#[derive(Serialize)]
struct HookCommand<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Claude Code's: the hook's path (exec form, with `args`). Another
    /// agent's: the shell command `HOOK AGENT EVENT` (they run a command
    /// through a shell and take no `args`).
    command: Cow<'a, str>,
    /// Exec form: `args` makes Claude Code run the hook without a shell.
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<[&'static str; 1]>,
    /// Claude Code's timeout, in seconds; another agent's own default
    /// applies (their units differ: Gemini CLI's are milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
}

/// A status line command: Claude Code's `statusLine`, Qwen Code's
/// `ui.statusLine`.
#[derive(Serialize)]
pub struct StatusLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Claude Code's: the statusline's path. Qwen Code's: the shell command
    /// `STATUSLINE qwen` (it runs the command through a shell, and the
    /// argument says whose session the figures are).
    command: Cow<'a, str>,
    /// Claude Code's; Qwen Code's settings have no padding.
    #[serde(skip_serializing_if = "Option::is_none")]
    padding: Option<u32>,
}

/// `{"statusLine": ...}`: Qwen Code's `ui` object as llm-bridge adds it.
struct Ui<'a>(&'a StatusLine<'a>);

impl Serialize for Ui<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("statusLine", self.0)?;
        map.end()
    }
}

/// `{"Event": [entry], ...}` for every event, in lifecycle order.
struct Hooks<'a>(&'a Block);

impl Serialize for Hooks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let events = self.0.agent.hooked_events();
        let mut map = serializer.serialize_map(Some(events.len()))?;
        for &(event, matcher) in events {
            map.serialize_entry(event, &[self.0.entry(event, matcher)])?;
        }
        map.end()
    }
}

impl Serialize for Block {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.has_status_line() {
            return HooksOnly(self).serialize(serializer);
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("hooks", &Hooks(self))?;
        let status_line = self.status_line();
        match self.status_line_parent() {
            Some(parent) => map.serialize_entry(parent, &Ui(&status_line))?,
            None => map.serialize_entry("statusLine", &status_line)?,
        }
        map.end()
    }
}

/// The block without its statusLine: what is printed for a settings file
/// whose own statusLine `--write` would keep.
pub struct HooksOnly<'a>(pub &'a Block);

impl Serialize for HooksOnly<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("hooks", &Hooks(self.0))?;
        map.end()
    }
}

impl Block {
    /// Claude Code's block.
    pub fn new(bin_dir: &Path) -> Block {
        Block::for_agent(Agent::Claude, bin_dir)
    }

    pub fn for_agent(agent: Agent, bin_dir: &Path) -> Block {
        let path = |bin: &str| bin_dir.join(bin).to_string_lossy().into_owned();
        Block {
            agent,
            hook: path(HOOK_BIN),
            statusline: path(STATUSLINE_BIN),
        }
    }

    pub fn agent(&self) -> Agent {
        self.agent
    }

    /// Whether the agent's settings get llm-bridge's status line (Claude
    /// Code's `statusLine`, Qwen Code's `ui.statusLine`).
    pub fn has_status_line(&self) -> bool {
        matches!(self.agent, Agent::Claude | Agent::Qwen)
    }

    /// The object holding the agent's `statusLine`, if not the root: Qwen
    /// Code's `ui`.
    pub fn status_line_parent(&self) -> Option<&'static str> {
        (self.agent == Agent::Qwen).then_some("ui")
    }

    /// The status line's key as the user finds it in the file.
    pub fn status_line_key(&self) -> &'static str {
        match self.status_line_parent() {
            Some(_) => "ui.statusLine",
            None => "statusLine",
        }
    }

    pub fn entry(&self, event: &'static str, matcher: bool) -> HookEntry<'_> {
        let command = if self.agent.is_claude() {
            HookCommand {
                kind: "command",
                command: Cow::Borrowed(&self.hook),
                args: Some([event]),
                timeout: Some(2),
            }
        } else {
            HookCommand {
                kind: "command",
                command: Cow::Owned(format!(
                    "{} {} {event}",
                    shell_word(&self.hook),
                    self.agent.name()
                )),
                args: None,
                timeout: None,
            }
        };
        HookEntry {
            // Another agent's entry has none: it matches every tool, and
            // Gemini CLI reads a matcher as a regular expression.
            matcher: (matcher && self.agent.is_claude()).then_some("*"),
            hooks: [command],
        }
    }

    pub fn status_line(&self) -> StatusLine<'_> {
        if self.agent.is_claude() {
            StatusLine {
                kind: "command",
                command: Cow::Borrowed(&self.statusline),
                padding: Some(0),
            }
        } else {
            StatusLine {
                kind: "command",
                command: Cow::Owned(format!(
                    "{} {}",
                    shell_word(&self.statusline),
                    self.agent.name()
                )),
                padding: None,
            }
        }
    }
}

/// `word` as one word for a POSIX shell: as it is if it holds nothing the
/// shell reads specially, else in single quotes.
fn shell_word(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

/// Whether a hook command object runs llm-bridge's hook (any install of
/// it): in exec form (Claude Code's), or as a shell command whose first
/// word is the hook (another agent's).
pub fn is_our_command(command: &Value) -> bool {
    // The exec form (Claude Code's, with `args`) names the binary alone,
    // spaces and all.
    runs(command, HOOK_BIN, command.get("args").is_some())
}

/// Whether a command object runs `bin` (any install of it): its command
/// the binary's path, or (unless `exec_form`, where the path may hold
/// spaces) a shell command whose first word is.
fn runs(command: &Value, bin: &str, exec_form: bool) -> bool {
    let is_bin = |c: &str| c == bin || c.ends_with(&format!("/{bin}"));
    command["command"].as_str().is_some_and(|c| {
        (is_bin(c) && (exec_form || !c.contains(char::is_whitespace))) || {
            let first = match c.strip_prefix('\'') {
                Some(quoted) => quoted.split('\'').next().unwrap_or(""),
                None => c.split_whitespace().next().unwrap_or(""),
            };
            is_bin(first)
        }
    })
}

/// Whether a status line value runs llm-bridge's statusline: its path
/// (Claude Code's, spaces and all), or a shell command starting with it
/// (Qwen Code's).
pub fn is_our_status_line(status_line: &Value) -> bool {
    runs(status_line, STATUSLINE_BIN, true)
}

/// A user's statusLine as they would recognise it: its command.
fn describe(status_line: &Value) -> String {
    // Shown on the terminal: the user's command without control characters.
    llm_bridge_core::state::printable(&match status_line["command"].as_str() {
        Some(command) => command.to_string(),
        None => status_line.to_string(),
    })
}

/// What became of the statusLine.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusLineOutcome {
    /// There was none (or `null`); ours is added.
    Added,
    /// It was ours already (its command updated if it moved).
    Ours,
    /// The user's own (its command), kept.
    KeptTheirs(String),
    /// The user's own (its command), replaced as asked.
    ReplacedTheirs(String),
    /// The agent's settings get no statusLine from llm-bridge (any there
    /// is left alone).
    NotUsed,
}

/// The merged text and what happened.
pub struct Merged {
    pub text: String,
    pub changed: bool,
    pub status_line: StatusLineOutcome,
}

/// The user's own status line command in the agent's settings `text`, if
/// it has one that is not llm-bridge's (`None` for anything that is not a
/// settings object).
pub fn foreign_status_line(text: &str, block: &Block) -> Option<String> {
    let plain = if allows_comments(block.agent()) {
        Cow::Owned(jsonc::blank_comments(text))
    } else {
        Cow::Borrowed(text)
    };
    let settings: Value = serde_json::from_str(&plain).ok()?;
    let parent = match block.status_line_parent() {
        Some(parent) => settings.get(parent)?,
        None => &settings,
    };
    let status_line = parent.get("statusLine")?;
    (!status_line.is_null() && !is_our_status_line(status_line)).then(|| describe(status_line))
}

/// Merges `block` into the settings `text` (empty for a file that does
/// not exist yet); `name` names the file in errors.
pub fn merge(name: &str, text: &str, block: &Block, replace_statusline: bool) -> Result<Merged> {
    let text = if text.trim().is_empty() { "{}\n" } else { text };
    // What the readers see: the text, its comments blanked where the agent
    // allows them. Edits are located in it and made to `text`.
    let comments = allows_comments(block.agent());
    let plain = if comments {
        Cow::Owned(jsonc::blank_comments(text))
    } else {
        Cow::Borrowed(text)
    };
    let plain = plain.as_ref();
    let settings: Value = serde_json::from_str(plain).map_err(|e| {
        let what = if comments {
            "is not JSON with comments"
        } else {
            "is not plain JSON"
        };
        let fix = if comments {
            "remove the trailing commas"
        } else {
            "remove the comments/trailing commas"
        };
        Error::msg(format!(
            "{name} {what} ({e}): {fix}, or add the block printed by `llm-bridge install` by \
             hand; nothing was changed"
        ))
    })?;
    if !settings.is_object() {
        return Err(Error::msg(format!(
            "{} is not a JSON object; nothing was changed",
            name
        )));
    }
    let root = json_text::parse(plain)?;
    let style = Style::of(plain, &root);
    let root_layout = Layout::of(plain, &root, &style);
    let mut edits = Edits::default();
    let mut new_members = Vec::new();

    match root.member("hooks") {
        None => {
            new_members.push(style.render_member(
                "hooks",
                &Hooks(block),
                root_layout.item_indent(),
            ));
        }
        Some(member) => {
            let Kind::Object(_) = member.value.kind else {
                return Err(Error::msg(format!(
                    "{}: \"hooks\" is not an object; nothing was changed",
                    name
                )));
            };
            merge_hooks(name, plain, &member.value, block, &style, &mut edits)?;
        }
    }

    let status_line = if !block.has_status_line() {
        StatusLineOutcome::NotUsed
    } else {
        let ours = block.status_line();
        match block.status_line_parent() {
            None => merge_status_line(
                plain,
                &root,
                &ours,
                replace_statusline,
                &style,
                &mut edits,
                &mut new_members,
                root_layout.item_indent(),
            ),
            Some(parent) => match root.member(parent) {
                None => {
                    new_members.push(style.render_member(
                        parent,
                        &Ui(&ours),
                        root_layout.item_indent(),
                    ));
                    StatusLineOutcome::Added
                }
                Some(member) if matches!(member.value.kind, Kind::Object(_)) => {
                    let object = &member.value;
                    let layout = Layout::of(plain, object, &style);
                    let mut added = Vec::new();
                    let outcome = merge_status_line(
                        plain,
                        object,
                        &ours,
                        replace_statusline,
                        &style,
                        &mut edits,
                        &mut added,
                        layout.item_indent(),
                    );
                    if !added.is_empty() {
                        let keep = vec![true; object.items().len()];
                        edits.edit_list(plain, object, &keep, &added, &style);
                    }
                    outcome
                }
                Some(_) => {
                    return Err(Error::msg(format!(
                        "{name}: \"{parent}\" is not an object; nothing was changed"
                    )))
                }
            },
        }
    };

    if !new_members.is_empty() {
        let keep = vec![true; root.items().len()];
        edits.edit_list(plain, &root, &keep, &new_members, &style);
    }
    if edits.is_empty() {
        return Ok(Merged {
            text: text.to_string(),
            changed: false,
            status_line,
        });
    }
    let merged = edits.apply(text);
    // A last guard: never write what would not read back, or what a
    // comment would hide our hooks in.
    let read_back = if comments {
        Cow::Owned(jsonc::blank_comments(&merged))
    } else {
        Cow::Borrowed(merged.as_str())
    };
    let complete = serde_json::from_str::<Value>(&read_back).is_ok_and(|v| {
        block.agent().hooked_events().iter().all(|(event, _)| {
            v["hooks"][*event]
                .as_array()
                .is_some_and(|entries| entries.iter().any(has_our_command))
        })
    });
    if !complete {
        return Err(Error::msg(format!(
            "internal error: merging into {} gave invalid JSON; nothing was changed",
            name
        )));
    }
    Ok(Merged {
        text: merged,
        changed: true,
        status_line,
    })
}

/// Whether an agent's settings file may hold comments: Gemini CLI and
/// Qwen Code read theirs as JSON with comments; Claude Code's settings and
/// Codex CLI's hooks.json are plain JSON.
pub fn allows_comments(agent: Agent) -> bool {
    matches!(agent, Agent::Gemini | Agent::Qwen)
}

/// Whether a hook entry holds one of our commands.
fn has_our_command(entry: &Value) -> bool {
    entry["hooks"]
        .as_array()
        .is_some_and(|commands| commands.iter().any(is_our_command))
}

/// The settings text without what `llm-bridge install` added, and what
/// was removed (one line each, for the user).
#[derive(Debug)]
pub struct Unmerged {
    pub text: String,
    pub removed: Vec<String>,
}

/// What becomes of one hook event's list.
enum EventPlan<'n> {
    /// Every entry was llm-bridge's alone: the event's key goes.
    Remove,
    /// Some entries go (`keep`), and our commands leave shared entries.
    Edit {
        keep: Vec<bool>,
        shared: Vec<(&'n Node, Vec<bool>)>,
    },
}

/// Removes from the settings `text` exactly what [`merge`] adds: our hook
/// commands wherever they are (an entry, an event's list and the `hooks`
/// object left empty by their removal go with them) and our statusLine.
/// Every other byte stays, so that `unmerge(merge(x))` is `x` for a file
/// that had none of ours. `name` names the file in errors; `comments`:
/// the agent's file may hold comments ([`allows_comments`]), which stay.
pub fn unmerge(name: &str, original: &str, comments: bool) -> Result<Unmerged> {
    if original.trim().is_empty() {
        return Ok(Unmerged {
            text: original.to_string(),
            removed: Vec::new(),
        });
    }
    // Located in the text with its comments blanked, made to the original.
    let plain = if comments {
        Cow::Owned(jsonc::blank_comments(original))
    } else {
        Cow::Borrowed(original)
    };
    let text = plain.as_ref();
    let settings: Value = serde_json::from_str(text).map_err(|e| {
        Error::msg(format!(
            "{} is not {} ({e}): remove llm-bridge's hooks and statusLine by hand; \
             nothing was changed",
            name,
            if comments {
                "JSON with comments"
            } else {
                "plain JSON"
            }
        ))
    })?;
    if !settings.is_object() {
        return Err(Error::msg(format!(
            "{} is not a JSON object; nothing was changed",
            name
        )));
    }
    let root = json_text::parse(text)?;
    let style = Style::of(text, &root);
    let Kind::Object(root_members) = &root.kind else {
        unreachable!("checked to be an object")
    };
    let mut removed = Vec::new();
    let mut edits = Edits::default();
    let mut root_keep = vec![true; root_members.len()];

    let hooks_at = root_members.iter().rposition(|m| m.key == "hooks");
    if let Some(at) = hooks_at {
        let hooks = &root_members[at].value;
        if let Kind::Object(events) = &hooks.kind {
            let plans: Vec<Option<EventPlan>> = events
                .iter()
                .map(|event| plan_event(text, event, &mut removed))
                .collect();
            let all_gone =
                !events.is_empty() && plans.iter().all(|p| matches!(p, Some(EventPlan::Remove)));
            if all_gone {
                root_keep[at] = false;
            } else {
                let event_keep: Vec<bool> = plans
                    .iter()
                    .map(|p| !matches!(p, Some(EventPlan::Remove)))
                    .collect();
                for (event, plan) in events.iter().zip(plans) {
                    let Some(EventPlan::Edit { keep, shared }) = plan else {
                        continue;
                    };
                    for (list, keep_commands) in shared {
                        edits.edit_list(text, list, &keep_commands, &[], &style);
                    }
                    if keep.contains(&false) {
                        edits.edit_list(text, &event.value, &keep, &[], &style);
                    }
                }
                if event_keep.contains(&false) {
                    edits.edit_list(text, hooks, &event_keep, &[], &style);
                }
            }
        }
    }

    let ours_at = |members: &[json_text::Member]| {
        let at = members.iter().rposition(|m| m.key == "statusLine")?;
        let value: Value = serde_json::from_str(members[at].value.text(text))
            .expect("a value of a valid document");
        is_our_status_line(&value).then(|| (at, describe(&value)))
    };
    if let Some((at, command)) = ours_at(root_members) {
        root_keep[at] = false;
        removed.push(format!("statusLine: {command}"));
    }
    // Qwen Code's `ui.statusLine`; a `ui` left empty goes too (merge added
    // it, or it held nothing).
    if let Some(at) = root_members.iter().rposition(|m| m.key == "ui") {
        let ui = &root_members[at].value;
        if let Kind::Object(members) = &ui.kind {
            if let Some((ours, command)) = ours_at(members) {
                removed.push(format!("ui.statusLine: {command}"));
                if members.len() == 1 {
                    root_keep[at] = false;
                } else {
                    let keep: Vec<bool> = (0..members.len()).map(|i| i != ours).collect();
                    edits.edit_list(text, ui, &keep, &[], &style);
                }
            }
        }
    }
    if root_keep.contains(&false) {
        edits.edit_list(text, &root, &root_keep, &[], &style);
    }
    if edits.is_empty() {
        return Ok(Unmerged {
            text: original.to_string(),
            removed,
        });
    }
    let unmerged = edits.apply(original);
    let read_back = if comments {
        Cow::Owned(jsonc::blank_comments(&unmerged))
    } else {
        Cow::Borrowed(unmerged.as_str())
    };
    if serde_json::from_str::<Value>(&read_back).is_err() {
        return Err(Error::msg(format!(
            "internal error: removing llm-bridge from {} gave invalid JSON; nothing was changed",
            name
        )));
    }
    Ok(Unmerged {
        text: unmerged,
        removed,
    })
}

/// What to remove from one event's list (`None`: none of ours in it).
fn plan_event<'n>(
    text: &str,
    event: &'n json_text::Member,
    removed: &mut Vec<String>,
) -> Option<EventPlan<'n>> {
    let Kind::Array(entries) = &event.value.kind else {
        return None;
    };
    let mut keep = vec![true; entries.len()];
    let mut shared = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let value: Value =
            serde_json::from_str(entry.text(text)).expect("a value of a valid document");
        let (Some(commands), Some(list)) = (
            value["hooks"].as_array(),
            entry.member("hooks").map(|m| &m.value),
        ) else {
            continue;
        };
        let keep_commands: Vec<bool> = commands.iter().map(|c| !is_our_command(c)).collect();
        if keep_commands.iter().all(|&k| k) {
            continue;
        }
        for (command, _) in commands.iter().zip(&keep_commands).filter(|(_, &k)| !k) {
            let command = command["command"].as_str().unwrap_or_default();
            removed.push(format!("hooks.{}: {command}", event.key));
        }
        if keep_commands.iter().any(|&k| k) {
            shared.push((list, keep_commands));
        } else {
            keep[i] = false;
        }
    }
    if keep.iter().all(|&k| k) && shared.is_empty() {
        return None;
    }
    if keep.iter().all(|&k| !k) {
        return Some(EventPlan::Remove);
    }
    Some(EventPlan::Edit { keep, shared })
}

/// Our status line as `object`'s `statusLine` member: added (to `added`,
/// rendered at `indent`) where there is none, its command updated where it
/// is ours, and the user's own kept unless `replace`.
#[allow(clippy::too_many_arguments)]
fn merge_status_line(
    text: &str,
    object: &Node,
    ours: &StatusLine,
    replace: bool,
    style: &Style,
    edits: &mut Edits,
    added: &mut Vec<String>,
    indent: Option<&str>,
) -> StatusLineOutcome {
    let Some(member) = object.member("statusLine") else {
        added.push(style.render_member("statusLine", ours, indent));
        return StatusLineOutcome::Added;
    };
    let theirs: Value =
        serde_json::from_str(member.value.text(text)).expect("a value of a valid document");
    let outcome = if theirs.is_null() {
        StatusLineOutcome::Added
    } else if is_our_status_line(&theirs) {
        StatusLineOutcome::Ours
    } else if replace {
        StatusLineOutcome::ReplacedTheirs(describe(&theirs))
    } else {
        StatusLineOutcome::KeptTheirs(describe(&theirs))
    };
    let update = match outcome {
        StatusLineOutcome::KeptTheirs(_) | StatusLineOutcome::NotUsed => false,
        StatusLineOutcome::Ours => theirs["command"] != *ours.command,
        _ => true,
    };
    if update {
        replace_value(text, &member.value, ours, style, edits);
    }
    outcome
}

/// Replaces a value with `with`, on one line if it was on one line.
fn replace_value(
    text: &str,
    value: &Node,
    with: &impl Serialize,
    style: &Style,
    edits: &mut Edits,
) {
    let indent = (!style.one_line && value.text(text).contains('\n'))
        .then(|| json_text::line_indent(text, value.span.start));
    edits.replace(value.span.clone(), style.render(with, indent));
}

/// Our entry in each event's list, exactly once; our commands anywhere else
/// in those lists removed, and entries left without commands with them.
fn merge_hooks(
    name: &str,
    text: &str,
    hooks: &Node,
    block: &Block,
    style: &Style,
    edits: &mut Edits,
) -> Result<()> {
    let layout = Layout::of(text, hooks, style);
    let mut new_events = Vec::new();
    for &(event, matcher) in block.agent().hooked_events() {
        let entry = block.entry(event, matcher);
        let Some(member) = hooks.member(event) else {
            new_events.push(style.render_member(event, &[&entry], layout.item_indent()));
            continue;
        };
        let Kind::Array(entries) = &member.value.kind else {
            return Err(Error::msg(format!(
                "{}: hooks.{event} is not an array; nothing was changed",
                name
            )));
        };
        let wanted = serde_json::to_value(&entry).expect("serializes");
        let values: Vec<Value> = entries
            .iter()
            .map(|e| serde_json::from_str(e.text(text)).expect("a value of a valid document"))
            .collect();
        let present = values.iter().position(|v| *v == wanted);
        let mut keep = vec![true; entries.len()];
        for (i, (node, value)) in entries.iter().zip(&values).enumerate() {
            if Some(i) == present {
                continue;
            }
            let (Some(commands), Some(list)) = (
                value["hooks"].as_array(),
                node.member("hooks").map(|m| &m.value),
            ) else {
                continue;
            };
            let keep_commands: Vec<bool> = commands.iter().map(|c| !is_our_command(c)).collect();
            if keep_commands.iter().all(|&k| k) {
                continue;
            }
            if keep_commands.iter().any(|&k| k) {
                edits.edit_list(text, list, &keep_commands, &[], style);
            } else {
                keep[i] = false;
            }
        }
        let added = match present {
            Some(_) => Vec::new(),
            None => {
                let list_layout = Layout::of(text, &member.value, style);
                vec![style.render(&entry, list_layout.item_indent())]
            }
        };
        if keep.contains(&false) || !added.is_empty() {
            edits.edit_list(text, &member.value, &keep, &added, style);
        }
    }
    if !new_events.is_empty() {
        let keep = vec![true; hooks.items().len()];
        edits.edit_list(text, hooks, &keep, &new_events, style);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block() -> Block {
        Block::new(Path::new("/opt/lb"))
    }

    fn merged(text: &str, replace: bool) -> Merged {
        merge("settings.json", text, &block(), replace).unwrap()
    }

    fn ours(event: &'static str, matcher: bool) -> Value {
        serde_json::to_value(block().entry(event, matcher)).unwrap()
    }

    #[test]
    fn a_gemini_file_keeps_its_comments_and_gets_shell_commands() {
        let gemini = Block::for_agent(Agent::Gemini, Path::new("/opt/my lb"));
        let text = "{\n  // the theme I like\n  \"ui\": {\"theme\": \"GitHub\"}, /* keep */\n  \"hooks\": {\n    \"BeforeTool\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"mine\"}]}]\n  }\n}\n";
        let m = merge("settings.json", text, &gemini, false).unwrap();
        assert!(m.changed);
        assert_eq!(m.status_line, StatusLineOutcome::NotUsed);
        for kept in ["// the theme I like", "/* keep */", "\"command\": \"mine\""] {
            assert!(m.text.contains(kept), "{kept} in {}", m.text);
        }
        assert!(
            m.text
                .contains("\"command\": \"'/opt/my lb/llm-bridge-hook' gemini BeforeTool\""),
            "{}",
            m.text
        );
        assert!(!m.text.contains("statusLine") && !m.text.contains("\"args\""));
        let again = merge("settings.json", &m.text, &gemini, false).unwrap();
        assert!(!again.changed, "idempotent: {}", again.text);
        // Claude Code's settings stay plain JSON: a comment is refused.
        assert!(merge("settings.json", text, &block(), false).is_err());
    }

    fn qwen() -> Block {
        Block::for_agent(Agent::Qwen, Path::new("/opt/my lb"))
    }

    #[test]
    fn qwen_gets_its_status_line_inside_ui_and_loses_it_again_on_unmerge() {
        let text = "{\n  // mine\n  \"ui\": {\n    /* dark later */\n    \"theme\": \"GitHub\"\n  },\n  \"model\": {\"name\": \"qwen3\"}\n}\n";
        let m = merge("settings.json", text, &qwen(), false).unwrap();
        assert_eq!(m.status_line, StatusLineOutcome::Added);
        assert!(
            m.text.contains(
                "    /* dark later */\n    \"theme\": \"GitHub\",\n    \"statusLine\": {\n      \"type\": \"command\",\n      \"command\": \"'/opt/my lb/llm-bridge-statusline' qwen\"\n    }\n  },"
            ),
            "{}",
            m.text
        );
        assert!(m.text.starts_with("{\n  // mine\n"), "{}", m.text);
        let again = merge("settings.json", &m.text, &qwen(), false).unwrap();
        assert!(!again.changed, "idempotent: {}", again.text);
        assert_eq!(again.status_line, StatusLineOutcome::Ours);
        let u = unmerge("settings.json", &m.text, true).unwrap();
        assert_eq!(u.text, text);
        assert!(u
            .removed
            .contains(&"ui.statusLine: '/opt/my lb/llm-bridge-statusline' qwen".to_string()));
    }

    #[test]
    fn qwen_without_ui_gets_one_and_unmerge_takes_it_away() {
        let text = "{\"model\": {\"name\": \"qwen3\"}}";
        let m = merge("settings.json", text, &qwen(), false).unwrap();
        let v: Value = serde_json::from_str(&m.text).unwrap();
        assert_eq!(
            v["ui"],
            json!({"statusLine": {"type": "command", "command": "'/opt/my lb/llm-bridge-statusline' qwen"}})
        );
        assert_eq!(unmerge("settings.json", &m.text, true).unwrap().text, text);
        // The printed block has it too.
        let block: Value = serde_json::to_value(qwen()).unwrap();
        assert_eq!(block["ui"], v["ui"]);
    }

    #[test]
    fn qwens_own_status_line_is_kept_unless_replaced_and_a_ui_not_an_object_is_refused() {
        let text = r#"{"ui": {"statusLine": {"type": "command", "command": "~/bin/my-line"}}}"#;
        let kept = merge("settings.json", text, &qwen(), false).unwrap();
        assert_eq!(
            kept.status_line,
            StatusLineOutcome::KeptTheirs("~/bin/my-line".into())
        );
        assert!(kept.text.contains("my-line") && !kept.text.contains("llm-bridge-statusline"));
        assert_eq!(
            foreign_status_line(text, &qwen()).as_deref(),
            Some("~/bin/my-line")
        );
        let replaced = merge("settings.json", text, &qwen(), true).unwrap();
        assert_eq!(
            replaced.status_line,
            StatusLineOutcome::ReplacedTheirs("~/bin/my-line".into())
        );
        assert!(!replaced.text.contains("my-line"), "{}", replaced.text);
        assert_eq!(foreign_status_line(&replaced.text, &qwen()), None);
        let err = merge("settings.json", r#"{"ui": true}"#, &qwen(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"ui\" is not an object"), "{err}");
    }

    #[test]
    fn another_agents_commands_are_recognised_as_ours() {
        let ours = |c: &str| is_our_command(&json!({"type": "command", "command": c}));
        assert!(ours("/opt/lb/llm-bridge-hook codex Stop"));
        assert!(ours("'/opt/my lb/llm-bridge-hook' qwen Stop"));
        assert!(ours("/opt/lb/llm-bridge-hook"));
        assert!(!ours("/opt/lb/llm-bridge-hooked codex Stop"));
        assert!(!ours("echo /opt/lb/llm-bridge-hook"));
    }

    #[test]
    fn the_block_is_in_lifecycle_order_with_exec_form_commands() {
        let text = serde_json::to_string(&block()).unwrap();
        assert!(text.starts_with(
            r#"{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"/opt/lb/llm-bridge-hook","args":["SessionStart"],"timeout":2}]}],"UserPromptSubmit""#
        ));
        assert!(text.contains(r#""PreToolUse":[{"matcher":"*","hooks""#));
        assert!(text.ends_with(
            r#""statusLine":{"type":"command","command":"/opt/lb/llm-bridge-statusline","padding":0}}"#
        ));
    }

    #[test]
    fn a_new_file_gets_the_whole_block_pretty_printed() {
        let m = merged("", false);
        assert!(m.changed);
        assert_eq!(m.status_line, StatusLineOutcome::Added);
        assert_eq!(
            m.text,
            serde_json::to_string_pretty(&block()).unwrap() + "\n"
        );
    }

    #[test]
    fn keeps_other_keys_and_hooks_and_is_idempotent() {
        let text = r#"{
  "model": "opus",
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "/usr/bin/notify-send done"}]}],
    "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/old/llm-bridge-hook"}]}]
  },
  "statusLine": {"type": "command", "command": "/old/llm-bridge-statusline", "padding": 0}
}
"#;
        let once = merged(text, false);
        assert!(once.changed);
        assert_eq!(once.status_line, StatusLineOutcome::Ours);
        let twice = merged(&once.text, false);
        assert!(!twice.changed, "idempotent:\n{}", once.text);
        assert_eq!(twice.text, once.text);
        let v: Value = serde_json::from_str(&once.text).unwrap();
        assert_eq!(v["model"], "opus");
        assert_eq!(
            v["hooks"]["Stop"],
            json!([
                {"hooks": [{"type": "command", "command": "/usr/bin/notify-send done"}]},
                ours("Stop", false)
            ])
        );
        assert_eq!(v["hooks"]["PreToolUse"], json!([ours("PreToolUse", true)]));
        assert_eq!(
            v["statusLine"],
            json!({"type": "command", "command": "/opt/lb/llm-bridge-statusline", "padding": 0})
        );
        assert!(once.text.starts_with("{\n  \"model\": \"opus\",\n  \"hooks\": {\n    \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"/usr/bin/notify-send done\"}]}, {\"hooks\": "));
    }

    #[test]
    fn only_our_commands_leave_a_mixed_entry() {
        let text = r#"{"hooks": {"PostToolUse": [
  {"matcher": "Edit", "hooks": [{"type": "command", "command": "llm-bridge-hook"}, {"type": "command", "command": "fmt"}]},
  {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}
]}}"#;
        let m = merged(text, false);
        let v: Value = serde_json::from_str(&m.text).unwrap();
        assert_eq!(
            v["hooks"]["PostToolUse"],
            json!([
                {"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]},
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]},
                ours("PostToolUse", true)
            ])
        );
        assert!(m.text.contains(
            "{\"matcher\": \"Edit\", \"hooks\": [{\"type\": \"command\", \"command\": \"fmt\"}]},\n  {\"matcher\": \"Bash\""
        ), "{}", m.text);
    }

    #[test]
    fn our_entry_where_the_user_put_it_stays_there() {
        let entry = serde_json::to_string(&block().entry("Stop", false)).unwrap();
        let text = format!(
            r#"{{"hooks": {{"Stop": [{entry}, {{"hooks": [{{"type": "command", "command": "x"}}]}}, {{"hooks": [{{"type": "command", "command": "/a/llm-bridge-hook"}}]}}]}}}}"#
        );
        let m = merged(&text, false);
        let v: Value = serde_json::from_str(&m.text).unwrap();
        assert_eq!(
            v["hooks"]["Stop"],
            json!([ours("Stop", false), {"hooks": [{"type": "command", "command": "x"}]}])
        );
    }

    #[test]
    fn a_foreign_status_line_is_kept_unless_replacing() {
        let text = "{\n  \"statusLine\": {\"type\": \"command\", \"command\": \"my-line\"},\n  \"z\": 1\n}\n";
        let kept = merged(text, false);
        assert_eq!(
            kept.status_line,
            StatusLineOutcome::KeptTheirs("my-line".into())
        );
        assert!(kept
            .text
            .starts_with("{\n  \"statusLine\": {\"type\": \"command\", \"command\": \"my-line\"},\n  \"z\": 1,\n  \"hooks\": {\n    \"SessionStart\": [\n"));
        assert!(!merged(&kept.text, false).changed);
        assert_eq!(
            foreign_status_line(text, &block()).as_deref(),
            Some("my-line")
        );
        let replaced = merged(text, true);
        assert_eq!(
            replaced.status_line,
            StatusLineOutcome::ReplacedTheirs("my-line".into())
        );
        assert!(replaced.text.starts_with(
            "{\n  \"statusLine\": {\"type\": \"command\", \"command\": \"/opt/lb/llm-bridge-statusline\", \"padding\": 0},\n  \"z\": 1,"
        ));
        assert_eq!(foreign_status_line(&replaced.text, &block()), None);
        assert_eq!(
            merged(r#"{"statusLine": null}"#, false).status_line,
            StatusLineOutcome::Added
        );
    }

    #[test]
    fn one_line_and_tab_indented_files_keep_their_style() {
        let m = merged(r#"{"model":"opus"}"#, false);
        assert!(m.text.starts_with(
            r#"{"model":"opus","hooks":{"SessionStart":[{"hooks":[{"type":"command""#
        ));
        assert!(!m.text.contains('\n'));
        let m = merged("{\n\t\"model\": \"opus\"\n}\n", false);
        assert!(
            m.text.starts_with("{\n\t\"model\": \"opus\",\n\t\"hooks\": {\n\t\t\"SessionStart\": [\n\t\t\t{\n\t\t\t\t\"hooks\": [\n"),
            "{}",
            m.text
        );
        assert!(
            m.text.ends_with("\t\t\"padding\": 0\n\t}\n}\n"),
            "{}",
            m.text
        );
        let m = merged("{\r\n  \"model\": \"opus\"\r\n}\r\n", false);
        assert!(
            !m.text.replace("\r\n", "").contains('\n'),
            "CRLF throughout: {:?}",
            m.text
        );
    }

    #[test]
    fn refuses_what_it_cannot_merge_into() {
        let fail = |text: &str| {
            merge("s.json", text, &block(), false)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(fail("[1]").contains("not a JSON object"));
        assert!(fail(r#"{"hooks": []}"#).contains("\"hooks\" is not an object"));
        assert!(fail(r#"{"hooks": {"Stop": {}}}"#).contains("hooks.Stop is not an array"));
        let e = fail("{\"a\": 1,}");
        assert!(e.contains("trailing comma at line 1 column 9"), "{e}");
        assert!(e.contains("remove the comments/trailing commas"), "{e}");
    }

    #[test]
    fn unmerge_undoes_a_merge_byte_for_byte() {
        for text in [
            "",
            "{}\n",
            "{\n  \"model\": \"opus\"\n}\n",
            r#"{"model":"opus"}"#,
            "{\n\t\"model\": \"opus\",\n\t\"n\": 1.50\n}\n",
            "{\r\n  \"model\": \"opus\"\r\n}\r\n",
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}, "z": 1}"#,
            "{\n  \"statusLine\": {\"type\": \"command\", \"command\": \"my-line\"},\n  \"z\": 1\n}\n",
            "{\n  \"hooks\": {\n    \"PostToolUse\": [\n      {\"matcher\": \"Edit\", \"hooks\": [{\"type\": \"command\", \"command\": \"fmt\"}]}\n    ]\n  }\n}\n",
        ] {
            let installed = merged(text, false).text;
            let undone = unmerge("s.json", &installed, false).unwrap();
            let expected = if text.is_empty() { "{}\n" } else { text };
            assert_eq!(undone.text, expected, "installed:\n{installed}");
            assert!(!undone.removed.is_empty());
            let again = unmerge("s.json", &undone.text, false).unwrap();
            assert!(again.removed.is_empty());
            assert_eq!(again.text, undone.text);
        }
    }

    #[test]
    fn unmerge_undoes_a_gemini_merge_with_its_comments_byte_for_byte() {
        let block = Block::for_agent(Agent::Gemini, Path::new("/x"));
        let text = "{\n  // mine\n  \"security\": {\"auth\": {\"selectedType\": \"gemini-api-key\"}}, /* here */\n  \"hooks\": {\"AfterAgent\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"notify-send done\"}]}]}\n}\n";
        let installed = merge("settings.json", text, &block, false).unwrap().text;
        assert!(installed.contains("// mine") && installed.contains("/* here */"));
        let undone = unmerge("settings.json", &installed, true).unwrap();
        assert_eq!(undone.text, text, "installed:\n{installed}");
        assert!(undone.removed.iter().any(|l| l.contains("BeforeTool")));
        // Read as plain JSON, the comments are an error that changes nothing.
        let e = unmerge("settings.json", &installed, false).unwrap_err();
        assert!(e.to_string().contains("nothing was changed"), "{e}");
    }

    #[test]
    fn unmerge_removes_our_commands_from_shared_entries_and_keeps_the_users() {
        let text = r#"{"hooks": {"PostToolUse": [
  {"matcher": "Edit", "hooks": [{"type": "command", "command": "/x/llm-bridge-hook"}, {"type": "command", "command": "fmt"}]},
  {"matcher": "*", "hooks": [{"type": "command", "command": "llm-bridge-hook"}]}
], "Stop": [{"hooks": [{"type": "command", "command": "/x/llm-bridge-hook"}]}]},
 "statusLine": {"type": "command", "command": "mine"}}"#;
        let u = unmerge("s.json", text, false).unwrap();
        assert_eq!(
            u.text,
            r#"{"hooks": {"PostToolUse": [
  {"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]}
]},
 "statusLine": {"type": "command", "command": "mine"}}"#
        );
        assert_eq!(
            u.removed,
            [
                "hooks.PostToolUse: /x/llm-bridge-hook",
                "hooks.PostToolUse: llm-bridge-hook",
                "hooks.Stop: /x/llm-bridge-hook"
            ]
        );
        assert!(unmerge("s.json", "{\"a\": 1,}", false).is_err());
        assert!(unmerge("s.json", "[]", false).is_err());
    }
}
