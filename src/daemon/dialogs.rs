//! Permission dialogs answered with no hook: Claude Code fires none when the
//! user answers "Yes" (the next hook is the tool's end, minutes later for a
//! long command) or "No".
//!
//! What the client does show, as measured in docs/dialogs.md: it rewrites
//! `<config>/sessions/<pid>.json` with `"status":"waiting"` while a dialog is
//! on screen, then `"busy"` about 0.1-0.2 s after a "Yes" and `"idle"` after
//! a "No"; never while the dialog is still open. While a session waits, the
//! directory holding that file is watched with inotify (`IN_CLOSE_WRITE`: the
//! client truncates and writes in place, so only a closed file is whole).
//! An answer counts only after this watch has seen the file say `waiting`
//! for the session: the PermissionRequest hook can arrive before the file
//! says so, while it still says `busy` from the prompt. The descriptor is
//! polled by the loop (`daemon/mod.rs` registers it).

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most read of a status file (they are about 300 bytes).
const MAX_STATUS_FILE: u64 = 64 * 1024;

struct Watched {
    file: PathBuf,
    dir: WatchDescriptor,
    /// The file said `waiting` for this session since the watch began.
    seen_waiting: bool,
}

pub struct Dialogs {
    inotify: Inotify,
    by_session: HashMap<String, Watched>,
    /// Sessions by the watch on their status file's directory.
    by_dir: HashMap<WatchDescriptor, BTreeSet<String>>,
    /// Status files that could not be watched (no directory).
    pub failures: u64,
    /// The status file of each session whose directory could not be
    /// watched, tried again on the session's next event.
    failed: HashMap<String, String>,
}

/// What the client's status file says of the session.
#[derive(Deserialize)]
struct ClientStatus {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    status: Option<String>,
}

impl Dialogs {
    pub fn new() -> std::io::Result<Dialogs> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(Dialogs {
            inotify,
            by_session: HashMap::new(),
            by_dir: HashMap::new(),
            failures: 0,
            failed: HashMap::new(),
        })
    }

    /// The descriptor the loop polls.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_fd().as_raw_fd()
    }

    pub fn len(&self) -> usize {
        self.by_session.len()
    }

    /// Makes the watch of `session_id` match `file` (`None`: no watch).
    pub fn set(&mut self, session_id: &str, file: Option<&str>) {
        let current = self.by_session.get(session_id).map(|w| w.file.as_path());
        if current.is_some() && current == file.map(Path::new) {
            return;
        }
        if !self.failed.is_empty() {
            self.failed.remove(session_id);
        }
        self.unwatch(session_id);
        let Some(name) = file else {
            return;
        };
        let file = PathBuf::from(name);
        let Some(dir) = file.parent() else {
            return;
        };
        let flags =
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        let Ok(dir) = self.inotify.add_watch(dir, flags) else {
            self.failures += 1;
            self.failed.insert(session_id.to_string(), name.to_string());
            return;
        };
        self.by_dir
            .entry(dir)
            .or_default()
            .insert(session_id.to_string());
        // The file may say `waiting` already (it is written before the
        // dialog is drawn, and the hook may be late).
        let seen_waiting = read_status(&file, session_id).as_deref() == Some("waiting");
        self.by_session.insert(
            session_id.to_string(),
            Watched {
                file,
                dir,
                seen_waiting,
            },
        );
    }

    /// Tries again to watch `session_id`'s status file if its directory
    /// could not be watched (the loop calls this on each event of the
    /// session that asks for no new watch).
    pub fn retry(&mut self, session_id: &str) {
        if self.failed.is_empty() {
            return;
        }
        if let Some(file) = self.failed.remove(session_id) {
            self.set(session_id, Some(&file));
        }
    }

    /// Reads every pending inotify event; returns the sessions whose dialog
    /// was answered, and whether with "Yes".
    pub fn drain(&mut self) -> Vec<(String, bool)> {
        let mut touched = BTreeSet::new();
        loop {
            match self.inotify.read_events() {
                Ok(events) => {
                    for event in events {
                        let (Some(sessions), Some(name)) =
                            (self.by_dir.get(&event.wd), &event.name)
                        else {
                            continue;
                        };
                        for session in sessions {
                            let named = self
                                .by_session
                                .get(session)
                                .is_some_and(|w| w.file.file_name() == Some(name.as_os_str()));
                            if named {
                                touched.insert(session.clone());
                            }
                        }
                    }
                }
                Err(Errno::EINTR) => {}
                // EAGAIN: drained; anything else is logged by nobody and
                // retried on the next wake.
                Err(_) => break,
            }
        }
        let mut answered = Vec::new();
        for session in touched {
            let Some(watched) = self.by_session.get_mut(&session) else {
                continue;
            };
            match read_status(&watched.file, &session).as_deref() {
                Some("waiting") => watched.seen_waiting = true,
                Some(status @ ("busy" | "idle")) if watched.seen_waiting => {
                    watched.seen_waiting = false;
                    answered.push((session, status == "busy"));
                }
                // Half-written, another session's, or not an answer.
                _ => {}
            }
        }
        answered
    }

    fn unwatch(&mut self, session_id: &str) {
        let Some(watched) = self.by_session.remove(session_id) else {
            return;
        };
        if let Some(sessions) = self.by_dir.get_mut(&watched.dir) {
            sessions.remove(session_id);
            if sessions.is_empty() {
                self.by_dir.remove(&watched.dir);
                let _ = self.inotify.rm_watch(watched.dir);
            }
        }
    }
}

/// The `status` the client's file gives for `session_id`; `None` if the
/// file is missing, not the user's own regular file, too big, half-written
/// or about another session.
fn read_status(path: &Path, session_id: &str) -> Option<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.file_type().is_file() || meta.uid() != uid || meta.len() > MAX_STATUS_FILE {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_STATUS_FILE).read_to_end(&mut text).ok()?;
    let status: ClientStatus = serde_json::from_slice(&text).ok()?;
    (status.session_id.as_deref() == Some(session_id))
        .then_some(status.status)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, sid: &str, status: &str) {
        // As the client does: truncate and write in place, then close.
        std::fs::write(
            path,
            format!(r#"{{"pid":7,"sessionId":"{sid}","status":"{status}","procStart":"1"}}"#),
        )
        .unwrap();
    }

    #[test]
    fn yes_and_no_count_only_after_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("7.json");
        write(&file, "s", "busy");
        let mut d = Dialogs::new().unwrap();
        d.set("s", Some(file.to_str().unwrap()));
        // Still `busy` from the prompt: the hook came before the file.
        write(&file, "s", "busy");
        assert!(d.drain().is_empty());
        write(&file, "s", "waiting");
        assert!(d.drain().is_empty());
        write(&file, "s", "busy");
        assert_eq!(d.drain(), [("s".to_string(), true)]);
        // Once only.
        write(&file, "s", "busy");
        assert!(d.drain().is_empty());
        write(&file, "s", "waiting");
        assert!(d.drain().is_empty());
        write(&file, "s", "idle");
        assert_eq!(d.drain(), [("s".to_string(), false)]);
        d.set("s", None);
        assert_eq!((d.len(), d.by_dir.len()), (0, 0));
    }

    #[test]
    fn another_sessions_file_half_a_file_and_waiting_at_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("7.json");
        write(&file, "s", "waiting");
        let mut d = Dialogs::new().unwrap();
        d.set("s", Some(file.to_str().unwrap()));
        std::fs::write(&file, r#"{"pid":7,"sessionId":"s","sta"#).unwrap();
        assert!(d.drain().is_empty());
        write(&file, "other", "busy");
        write(&dir.path().join("8.json"), "s", "busy");
        assert!(d.drain().is_empty());
        write(&file, "s", "busy");
        assert_eq!(d.drain(), [("s".to_string(), true)]);
    }
}
