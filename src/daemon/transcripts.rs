//! The transcripts of busy sessions, watched with one inotify descriptor:
//! an Esc shows only there (Claude Code fires no hook for it).
//!
//! A transcript is watched while its session is working or waiting, and
//! only what is appended after the watch began is read: each change reads
//! the new bytes from the last offset (at most [`MAX_READ`] per wake: if
//! more arrived, only the last part counts, since only the last word on the
//! turn matters), hands whole lines to the pure classifier
//! ([`llm_bridge_core::transcript`]) and keeps a partial last line for next time. A
//! truncated file is read again from its start; a replaced one (moved or
//! deleted, then created again) is opened anew. A transcript that does not
//! exist yet (a new session's first prompt comes before its first line) is
//! waited for with a watch on its directory, and read from its start. The descriptor is polled by
//! the loop (`daemon/mod.rs` registers it); nothing here wakes on its own.

use super::transcript::ends_interrupted;
use llm_bridge_core::log::log;
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most read from one transcript in one wake.
pub const MAX_READ: u64 = 256 * 1024;

/// What an inotify watch on a transcript reports.
fn watch_flags() -> AddWatchFlags {
    // IN_ATTRIB reports a change of the link count: the file was replaced
    // or deleted while we hold it open (IN_DELETE_SELF waits for our close).
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_DELETE_SELF
}

struct Watched {
    path: PathBuf,
    /// `None` while the file is missing (deleted, not yet created again).
    open: Option<(File, WatchDescriptor)>,
    /// While the file is missing: the watch on its directory.
    waiting: Option<WatchDescriptor>,
    /// Where the next read starts.
    offset: u64,
}

/// Why a transcript could not be opened.
enum OpenError {
    /// Not there (yet).
    Missing,
    Refused(String),
}

pub struct Transcripts {
    inotify: Inotify,
    by_session: HashMap<String, Watched>,
    /// Sessions by watch (two sessions may share a file).
    by_wd: HashMap<WatchDescriptor, BTreeSet<String>>,
    /// Sessions whose transcript is missing, by the watch on its directory.
    waiting: HashMap<WatchDescriptor, BTreeSet<String>>,
    /// Transcripts that could not be watched (missing, not a regular file).
    pub failures: u64,
}

impl Transcripts {
    pub fn new() -> std::io::Result<Transcripts> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(Transcripts {
            inotify,
            by_session: HashMap::new(),
            by_wd: HashMap::new(),
            waiting: HashMap::new(),
            failures: 0,
        })
    }

    /// The descriptor the loop polls.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_fd().as_raw_fd()
    }

    pub fn len(&self) -> usize {
        self.by_session.len()
    }

    /// Makes the watch of `session_id` match `path` (`None`: no watch). A
    /// new watch starts at the file's current end.
    pub fn set(&mut self, session_id: &str, path: Option<&str>) {
        if let Some(w) = self.by_session.get(session_id) {
            let unchanged = Some(w.path.as_path()) == path.map(Path::new);
            // A file that could not be opened is tried again (as by
            // `retry`), unless its directory is watched for it already.
            if unchanged && (w.open.is_some() || w.waiting.is_some()) {
                return;
            }
        }
        self.unwatch(session_id);
        if let Some(path) = path {
            self.watch(session_id, PathBuf::from(path));
        }
    }

    /// Tries again to watch `session_id`'s transcript if it could not be
    /// opened nor waited for (the loop calls this on each event of the
    /// session that asks for no new watch).
    pub fn retry(&mut self, session_id: &str) {
        if self.by_session.is_empty() {
            return;
        }
        let failed = self
            .by_session
            .get(session_id)
            .filter(|w| w.open.is_none() && w.waiting.is_none())
            .map(|w| w.path.clone());
        if let Some(path) = failed {
            self.unwatch(session_id);
            self.watch(session_id, path);
        }
    }

    /// Watches `path` for `session_id`, which has no watch.
    fn watch(&mut self, session_id: &str, path: PathBuf) {
        let mut watched = Watched {
            path,
            open: None,
            waiting: None,
            offset: 0,
        };
        match self.open(session_id, &watched.path) {
            Ok((file, wd, size)) => {
                watched.open = Some((file, wd));
                watched.offset = size;
            }
            Err(OpenError::Missing) => match self.wait_for(session_id, &watched.path) {
                Some(wd) => watched.waiting = Some(wd),
                None => self.failed(
                    &watched.path,
                    "neither it nor the directories above it exist",
                ),
            },
            Err(OpenError::Refused(why)) => self.failed(&watched.path, &why),
        }
        let waiting = watched.waiting;
        let path = watched.path.clone();
        self.by_session.insert(session_id.to_string(), watched);
        if let Some(dir_wd) = waiting {
            // The file may have come before the watch did.
            self.open_waiting(session_id, &path, dir_wd);
        }
    }

    fn failed(&mut self, path: &Path, why: &str) {
        self.failures += 1;
        if self.failures.is_power_of_two() {
            log(format_args!(
                "cannot watch the transcript {}: {why} ({} so far); \
                 an Esc in that session will not show",
                path.display(),
                self.failures
            ));
        }
    }

    /// Watches the nearest existing directory above a missing transcript
    /// (at most three levels: a new project's directory comes with its
    /// first transcript) for what is created in it.
    fn wait_for(&mut self, session_id: &str, path: &Path) -> Option<WatchDescriptor> {
        let dir = path.ancestors().skip(1).take(3).find(|d| d.is_dir())?;
        let flags =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        let wd = self.inotify.add_watch(dir, flags).ok()?;
        self.waiting
            .entry(wd)
            .or_default()
            .insert(session_id.to_string());
        Some(wd)
    }

    /// A name appeared in a watched directory: open the transcripts that
    /// waited for it, or wait one level deeper when it is a directory on
    /// their way; returns the sessions whose transcript was opened.
    fn created(&mut self, dir_wd: WatchDescriptor, name: &std::ffi::OsStr) -> Vec<String> {
        let Some(sessions) = self.waiting.get(&dir_wd) else {
            return Vec::new();
        };
        let through: Vec<String> = sessions
            .iter()
            .filter(|s| {
                self.by_session
                    .get(*s)
                    .is_some_and(|w| w.path.iter().any(|c| c == name))
            })
            .cloned()
            .collect();
        let mut opened = Vec::new();
        for session in through {
            let path = self.by_session[&session].path.clone();
            if self.open_waiting(&session, &path, dir_wd) {
                opened.push(session);
                continue;
            }
            let Some(deeper) = self.wait_for(&session, &path) else {
                continue;
            };
            if deeper != dir_wd {
                self.stop_waiting(&session, dir_wd);
                if let Some(w) = self.by_session.get_mut(&session) {
                    w.waiting = Some(deeper);
                }
                // The file may have come before the new watch did.
                if self.open_waiting(&session, &path, deeper) {
                    opened.push(session);
                }
            }
        }
        opened
    }

    /// Opens a transcript that was waited for under `dir_wd`; all of it is
    /// new. Whether it could be opened.
    fn open_waiting(&mut self, session_id: &str, path: &Path, dir_wd: WatchDescriptor) -> bool {
        let Ok((file, wd, _)) = self.open(session_id, path) else {
            return false;
        };
        self.stop_waiting(session_id, dir_wd);
        if let Some(watched) = self.by_session.get_mut(session_id) {
            watched.open = Some((file, wd));
            watched.waiting = None;
            watched.offset = 0;
        }
        true
    }

    fn stop_waiting(&mut self, session_id: &str, dir_wd: WatchDescriptor) {
        if let Some(sessions) = self.waiting.get_mut(&dir_wd) {
            sessions.remove(session_id);
            if sessions.is_empty() {
                self.waiting.remove(&dir_wd);
                let _ = self.inotify.rm_watch(dir_wd);
            }
        }
    }

    /// Reads every pending inotify event; returns the sessions whose
    /// transcript now ends with an interrupt.
    pub fn drain(&mut self) -> Vec<String> {
        let mut changed = BTreeSet::new();
        let mut overflow = false;
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log(format_args!("cannot read inotify events: {e}"));
                    break;
                }
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    overflow = true;
                    continue;
                }
                if let Some(sessions) = self.by_wd.get(&event.wd) {
                    changed.extend(sessions.iter().cloned());
                }
                if let Some(name) = &event.name {
                    changed.extend(self.created(event.wd, name));
                }
            }
        }
        if overflow {
            changed.extend(self.by_session.keys().cloned());
        }
        let mut interrupted = Vec::new();
        for session in changed {
            let mut ends = self.read_appended(&session);
            if self.replaced(&session) {
                // A new file: read it from its start (the last part of it).
                self.reopen(&session);
                ends = self.read_appended(&session);
            }
            if ends {
                interrupted.push(session);
            }
        }
        interrupted
    }

    /// Whether the path no longer names the file held open (moved, deleted
    /// or replaced).
    fn replaced(&self, session_id: &str) -> bool {
        let Some(watched) = self.by_session.get(session_id) else {
            return false;
        };
        let Some((file, _)) = &watched.open else {
            return false;
        };
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        match (std::fs::symlink_metadata(&watched.path), file.metadata()) {
            (Ok(at_path), Ok(held)) => id(at_path) != id(held),
            _ => true,
        }
    }

    /// The file was moved, deleted or replaced: watch what is at the path
    /// now, from its start (it is a new file).
    fn reopen(&mut self, session_id: &str) {
        let Some(path) = self.by_session.get(session_id).map(|w| w.path.clone()) else {
            return;
        };
        self.unwatch(session_id);
        let mut watched = Watched {
            path,
            open: None,
            waiting: None,
            offset: 0,
        };
        match self.open(session_id, &watched.path) {
            Ok((file, wd, _)) => watched.open = Some((file, wd)),
            Err(OpenError::Missing) => watched.waiting = self.wait_for(session_id, &watched.path),
            Err(OpenError::Refused(_)) => {}
        }
        self.by_session.insert(session_id.to_string(), watched);
    }

    /// Reads what was appended since the last look; whether the whole
    /// lines in it end the turn with an interrupt.
    fn read_appended(&mut self, session_id: &str) -> bool {
        let Some(watched) = self.by_session.get_mut(session_id) else {
            return false;
        };
        let Some((file, _)) = &watched.open else {
            return false;
        };
        let Ok(size) = file.metadata().map(|m| m.len()) else {
            return false;
        };
        if size < watched.offset {
            // Truncated: what is there now is new.
            watched.offset = 0;
        }
        let skipped = size - watched.offset > MAX_READ;
        let start = if skipped {
            size - MAX_READ
        } else {
            watched.offset
        };
        let mut buf = vec![0u8; (size - start) as usize];
        let n = read_at_most(file, &mut buf, start);
        buf.truncate(n);
        let mut body = &buf[..];
        let mut base = start;
        if skipped {
            // The first line is cut: it starts before the window.
            match memchr::memchr(b'\n', body) {
                Some(i) => {
                    body = &body[i + 1..];
                    base += i as u64 + 1;
                }
                None => {
                    watched.offset = start + n as u64;
                    return false;
                }
            }
        }
        // A partial last line waits for the rest of it.
        let Some(last) = memchr::memrchr(b'\n', body) else {
            watched.offset = base;
            return false;
        };
        watched.offset = base + last as u64 + 1;
        ends_interrupted(&body[..=last])
    }

    /// Opens and watches `path`: its size, file and watch.
    fn open(
        &mut self,
        session_id: &str,
        path: &Path,
    ) -> Result<(File, WatchDescriptor, u64), OpenError> {
        // No FIFO may block the loop and no link may lead it elsewhere;
        // only the user's own regular files are read.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => OpenError::Missing,
                _ => OpenError::Refused(e.to_string()),
            })?;
        let refused = |why: String| OpenError::Refused(why);
        let meta = file.metadata().map_err(|e| refused(e.to_string()))?;
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        if !meta.file_type().is_file() {
            return Err(refused("not a regular file".into()));
        }
        if meta.uid() != uid {
            return Err(refused(format!(
                "owned by uid {}, not by this user",
                meta.uid()
            )));
        }
        let wd = self
            .inotify
            .add_watch(path, watch_flags())
            .map_err(|e| refused(e.to_string()))?;
        self.by_wd
            .entry(wd)
            .or_default()
            .insert(session_id.to_string());
        Ok((file, wd, meta.len()))
    }

    fn unwatch(&mut self, session_id: &str) {
        let Some(watched) = self.by_session.remove(session_id) else {
            return;
        };
        if let Some(dir_wd) = watched.waiting {
            self.stop_waiting(session_id, dir_wd);
        }
        let Some((_, wd)) = watched.open else {
            return;
        };
        if let Some(sessions) = self.by_wd.get_mut(&wd) {
            sessions.remove(session_id);
            if sessions.is_empty() {
                self.by_wd.remove(&wd);
                // Fails harmlessly when the kernel removed it already.
                let _ = self.inotify.rm_watch(wd);
            }
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset`; fewer if the file shrank.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TOOL_USE: &str = r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]}}"#;
    const INTERRUPTED: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}}"#;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn only_appended_whole_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        // An old interrupt before the watch began does not count.
        std::fs::write(&path, format!("{INTERRUPTED}\n")).unwrap();
        let mut t = Transcripts::new().unwrap();
        t.set("s", Some(path.to_str().unwrap()));
        assert_eq!(t.len(), 1);
        append(&path, &format!("{TOOL_USE}\n"));
        assert!(t.drain().is_empty());
        // Half a line: nothing yet; the rest of it: the interrupt.
        let (a, b) = INTERRUPTED.split_at(20);
        append(&path, a);
        assert!(t.drain().is_empty());
        append(&path, &format!("{b}\n"));
        assert_eq!(t.drain(), ["s"]);
        t.set("s", None);
        assert_eq!((t.len(), t.by_wd.len()), (0, 0));
    }

    #[test]
    fn a_truncated_or_replaced_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, format!("{TOOL_USE}\n{TOOL_USE}\n")).unwrap();
        let mut t = Transcripts::new().unwrap();
        t.set("s", Some(path.to_str().unwrap()));
        std::fs::write(&path, format!("{INTERRUPTED}\n")).unwrap();
        assert_eq!(t.drain(), ["s"]);
        // Replaced by rename: the new file is watched.
        let new = dir.path().join("new.jsonl");
        std::fs::write(&new, format!("{TOOL_USE}\n")).unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert!(t.drain().is_empty());
        append(&path, &format!("{INTERRUPTED}\n"));
        assert_eq!(t.drain(), ["s"]);
    }

    #[test]
    fn a_flood_is_read_only_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, "").unwrap();
        let mut t = Transcripts::new().unwrap();
        t.set("s", Some(path.to_str().unwrap()));
        let filler = format!("{TOOL_USE}\n").repeat((2 * MAX_READ as usize) / TOOL_USE.len());
        append(&path, &format!("{filler}{INTERRUPTED}\n"));
        assert_eq!(t.drain(), ["s"]);
        assert_eq!(
            t.by_session["s"].offset,
            std::fs::metadata(&path).unwrap().len()
        );
    }

    #[test]
    fn a_transcript_created_after_the_watch_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.jsonl");
        let mut t = Transcripts::new().unwrap();
        t.set("s", Some(path.to_str().unwrap()));
        assert_eq!((t.failures, t.waiting.len()), (0, 1));
        // Written in one go by the client, as it does: open, write, close.
        std::fs::write(&path, format!("{TOOL_USE}\n{INTERRUPTED}\n")).unwrap();
        assert_eq!(t.drain(), ["s"]);
        assert!(t.waiting.is_empty());
        append(&path, &format!("{TOOL_USE}\n{INTERRUPTED}\n"));
        assert_eq!(t.drain(), ["s"]);
        t.set("s", None);
        assert_eq!((t.by_wd.len(), t.waiting.len()), (0, 0));
    }

    #[test]
    fn a_new_projects_directory_and_transcript_are_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let projects = dir.path().join("projects");
        std::fs::create_dir(&projects).unwrap();
        let path = projects.join("-home-u-new/s.jsonl");
        let mut t = Transcripts::new().unwrap();
        t.set("s", Some(path.to_str().unwrap()));
        assert_eq!((t.failures, t.waiting.len()), (0, 1));
        // The project's directory first, then the transcript in it.
        std::fs::create_dir(projects.join("-home-u-new")).unwrap();
        assert!(t.drain().is_empty());
        std::fs::write(&path, format!("{TOOL_USE}\n{INTERRUPTED}\n")).unwrap();
        assert_eq!(t.drain(), ["s"]);
        assert!(t.waiting.is_empty());
        // Both at once, for another session.
        let other = projects.join("-home-u-other/o.jsonl");
        t.set("o", Some(other.to_str().unwrap()));
        std::fs::create_dir(projects.join("-home-u-other")).unwrap();
        std::fs::write(&other, format!("{INTERRUPTED}\n")).unwrap();
        assert_eq!(t.drain(), ["o"]);
        t.set("s", None);
        t.set("o", None);
        assert_eq!((t.by_wd.len(), t.waiting.len()), (0, 0));
    }

    #[test]
    fn fifos_links_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let real = dir.path().join("real.jsonl");
        std::fs::write(&real, "").unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut t = Transcripts::new().unwrap();
        let nowhere = dir.path().join("a/b/c/t.jsonl");
        for (i, p) in [&fifo, &link, &nowhere].iter().enumerate() {
            t.set(&i.to_string(), Some(p.to_str().unwrap()));
        }
        assert_eq!(t.failures, 3);
        assert!(t.drain().is_empty());
    }
}
