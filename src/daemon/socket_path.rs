//! Noticing that the daemon's socket file was removed or replaced.
//!
//! A socket whose file is unlinked (a cleanup script, `rm -rf
//! $XDG_RUNTIME_DIR/*`, a second program that "fixes" a stale path) still
//! works for whoever holds it, but no hook can reach it any more: every
//! event would wait for the fallback and be dropped. The runtime directory
//! is written by every desktop program, so it is not watched; the socket
//! file's own inode is (inotify `IN_ATTRIB`: its link count changed, which
//! unlinking and renaming over it both do). Nothing here wakes while the
//! file stays as it is.

use llm_bridge_core::log::log;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// An inotify watch on one file's inode.
pub struct PathWatch {
    inotify: Inotify,
    wd: Option<WatchDescriptor>,
    /// (dev, ino) of the file watched.
    id: Option<(u64, u64)>,
}

impl PathWatch {
    pub fn new() -> std::io::Result<PathWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(PathWatch {
            inotify,
            wd: None,
            id: None,
        })
    }

    /// The descriptor the loop polls.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_fd().as_raw_fd()
    }

    /// Watches the file now at `path` (and forgets the one watched before).
    pub fn watch(&mut self, path: &Path) {
        if let Some(wd) = self.wd.take() {
            // Gone already when the inode was freed: nothing to undo then.
            let _ = self.inotify.rm_watch(wd);
        }
        self.id = file_id(path);
        let flags = AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_DONT_FOLLOW;
        match self.inotify.add_watch(path, flags) {
            Ok(wd) => self.wd = Some(wd),
            Err(e) => log(format_args!(
                "cannot watch {} (its removal would go unnoticed): {e}",
                path.display()
            )),
        }
    }

    /// Reads the pending events; whether `path` is still the file watched.
    pub fn still_there(&mut self, path: &Path) -> bool {
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
        }
        self.id.is_some() && file_id(path) == self.id
    }
}

/// (dev, ino) of the file at `path`, not following a link.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}
