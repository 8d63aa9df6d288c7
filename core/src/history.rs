//! `sessions.jsonl`: one line per finished session, appended when a session
//! ends, read by `llm-bridge history`. Private (0600) and rotated past
//! [`LIMIT`] bytes (one older generation, `sessions.jsonl.1`, is kept and
//! read), so `history` reads at most twice that.

use crate::append_file;
use crate::error::{Context, Result};
use crate::log::log;
use crate::state::{Ended, Millis, Session};
use llm_bridge_protocol::agent::Agent;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One finished session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The agent the session was; absent for Claude Code.
    #[serde(
        default,
        skip_serializing_if = "Agent::is_claude",
        with = "crate::agent_serde"
    )]
    pub agent: Agent,
    pub project: String,
    pub started: Millis,
    pub ended: Millis,
    pub prompts: u64,
    pub tool_uses: u64,
    pub cost_usd: Option<f64>,
    pub model: Option<String>,
    /// Why it ended: SessionEnd's reason (`clear`, `logout`, `other`...),
    /// `exited` (its process ended without one), `evicted` (over the cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Record {
    pub fn new(session: &Session, ended: Millis) -> Record {
        Record {
            id: session.id.clone(),
            agent: session.agent,
            project: session.project.clone(),
            started: session.started,
            ended,
            prompts: session.prompts,
            tool_uses: session.tool_uses,
            cost_usd: session.cost_usd,
            model: session.model.clone(),
            reason: None,
        }
    }
}

/// The size past which the history is rotated: about 4000 sessions.
pub const LIMIT: u64 = 1 << 20;

/// `$XDG_STATE_HOME/llm-bridge/sessions.jsonl` (default `~/.local/state`).
pub fn path() -> Option<PathBuf> {
    crate::paths::state_home().map(|dir| dir.join("sessions.jsonl"))
}

/// Appends a finished session to the history; a failure is logged (with
/// its cause: a full or read-only disk) and returned, never fatal (the
/// daemon and the fallback go on).
pub fn record(ended: &Ended, now_ms: Millis) -> Result<()> {
    let Some(path) = path() else {
        return Ok(());
    };
    let record = Record {
        reason: Some(ended.reason.clone()),
        ..Record::new(&ended.session, now_ms)
    };
    let appended = append(&path, &record);
    if let Err(e) = &appended {
        log(format_args!("{}", crate::error::one_line(e)));
    }
    appended
}

/// Appends one record (one `write` of one line, so concurrent appenders
/// never interleave).
pub fn append(path: &Path, record: &Record) -> Result<()> {
    let mut line = serde_json::to_vec(record).context("cannot serialize a history record")?;
    line.push(b'\n');
    let file = append_file::open(path, LIMIT)
        .with_context(|| format!("cannot open {}", path.display()))?;
    append_file::append_whole(&file, &line)
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// The sessions (key, start) whose end the last `max` bytes of the history
/// record: what a snapshot written just before a crash may still hold.
pub fn recently_ended(path: &Path, max: u64) -> std::collections::HashSet<(String, Millis)> {
    let Ok(text) = tail(path, max) else {
        return Default::default();
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
        .map(|r| (r.agent.session_key(&r.id), r.started))
        .collect()
}

/// Reads every record, the rotated generation first; lines that do not
/// parse are skipped and counted. A session recorded twice (a crash
/// between its record and the snapshot that drops it) is read once. Each file is read up to twice [`LIMIT`]
/// from its end (a file that grew past it meanwhile costs no more).
pub fn read(path: &Path) -> Result<(Vec<Record>, usize)> {
    let mut records = Vec::new();
    let mut bad = 0;
    for file in [append_file::rotated(path), path.to_path_buf()] {
        let text = match tail(&file, 2 * LIMIT) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
        };
        records.extend(
            String::from_utf8_lossy(&text)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| serde_json::from_str(l).map_err(|_| bad += 1).ok()),
        );
    }
    let mut seen = std::collections::HashSet::new();
    records.retain(|r: &Record| seen.insert((r.id.clone(), r.started)));
    Ok((records, bad))
}

/// The last `max` bytes of a file, from the start of a line.
fn tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    // Ours: never through a link, never a FIFO (which would block).
    let mut file =
        llm_bridge_hooks::bounded_read::open(path, llm_bridge_hooks::bounded_read::Links::Refuse)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut text = Vec::new();
    file.take(max).read_to_end(&mut text)?;
    if start > 0 {
        // Drop the partial first line.
        let cut = text
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn append_and_read_back_skipping_bad_lines() {
        let dir = private_tempdir();
        let p = dir.path().join("sub/sessions.jsonl");
        let session = Session {
            id: "a".into(),
            project: "app".into(),
            started: 1000,
            prompts: 3,
            ..Session::default()
        };
        append(&p, &Record::new(&session, 5000)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"garbage\n")
            .unwrap();
        // The same id again, resumed later: another session's life.
        let resumed = Session {
            started: 6000,
            ..session.clone()
        };
        append(&p, &Record::new(&resumed, 9000)).unwrap();
        let (records, bad) = read(&p).unwrap();
        assert_eq!((records.len(), bad), (2, 1));
        assert_eq!(
            (
                records[0].project.as_str(),
                records[0].prompts,
                records[1].ended
            ),
            ("app", 3, 9000)
        );
    }

    #[test]
    fn a_session_recorded_twice_is_read_once_and_known_as_ended() {
        let dir = private_tempdir();
        let p = dir.path().join("sessions.jsonl");
        let session = Session {
            id: "a".into(),
            started: 1000,
            ..Session::default()
        };
        // A crash between the record and the snapshot: the restored
        // session ends again later and is recorded again.
        append(&p, &Record::new(&session, 5000)).unwrap();
        append(&p, &Record::new(&session, 7000)).unwrap();
        let (records, _) = read(&p).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].ended, 5000, "the first end is the real one");
        let ended = recently_ended(&p, 64 * 1024);
        assert!(ended.contains(&("a".to_string(), 1000)));
        let mut state = crate::state::State::new();
        state.apply(
            &crate::state::Input::Event(llm_bridge_protocol::wire::Event::new(
                llm_bridge_protocol::wire::EventKind::SessionStart,
                "a",
            )),
            1000,
        );
        assert_eq!(state.forget_recorded(&ended), 1, "a ghost of the snapshot");
        assert!(state.is_empty());
        assert!(recently_ended(&dir.path().join("missing"), 1024).is_empty());
    }

    #[test]
    fn the_rotated_generation_is_read_first_and_a_partial_line_skipped() {
        let dir = private_tempdir();
        let p = dir.path().join("sessions.jsonl");
        let session = |id: &str| Session {
            id: id.into(),
            ..Session::default()
        };
        append(&p, &Record::new(&session("old"), 1)).unwrap();
        std::fs::rename(&p, append_file::rotated(&p)).unwrap();
        append(&p, &Record::new(&session("new"), 2)).unwrap();
        let (records, bad) = read(&p).unwrap();
        let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!((ids, bad), (vec!["old", "new"], 0));
        // Read from its end: a line cut by the bound is not half-read.
        let text = std::fs::read(&p).unwrap();
        let tail = tail(&p, text.len() as u64 - 3).unwrap();
        assert!(tail.is_empty(), "{:?}", String::from_utf8_lossy(&tail));
    }

    /// A temporary directory made 0700, as the history's and the log's
    /// directory always is: a wider one is refused.
    #[track_caller]
    fn private_tempdir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap()
    }
}
