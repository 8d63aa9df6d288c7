//! Replaying the spool: events a hook could not hand over in time (the
//! daemon was stopped, or starting) and wrote to `RUNTIME/llm-bridge/spool`
//! instead (`hooks/src/spool.rs` says how).
//!
//! The daemon creates the directory (0700, checked on an open descriptor)
//! and watches it with inotify for files renamed into it: only a hook that
//! spooled wakes it, so the spool costs nothing while it is empty. Files are
//! replayed in name order (the hook's start time), each opened without
//! following a link or blocking, checked to be a regular file of ours no
//! larger than a datagram, then removed. The loop replays the spool before
//! it reads the socket in the same wake: a spooled event is older than one
//! that found room in the queue after it.

use super::tokens::SPOOL;
use llm_bridge_core::error::{Context, Result};
use llm_bridge_core::log::log;
use llm_bridge_hooks::private_dir::PrivateDir;
use llm_bridge_hooks::spool::SUFFIX;
use llm_bridge_protocol::wire::{Message, MAX_DATAGRAM};
use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::sys::inotify::{AddWatchFlags, Inotify};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

pub struct Spool {
    dir: PrivateDir,
    inotify: Inotify,
    uid: u32,
}

/// One spooled event, or why a file was not one.
pub type Replayed = std::result::Result<Message, String>;

/// One spooled file as read: what it holds, its bytes (for the journal),
/// and where it is, to be removed once taken over ([`Spool::forget`]).
pub struct Spooled {
    pub replayed: Replayed,
    pub bytes: Vec<u8>,
    path: std::path::PathBuf,
}

impl Spool {
    /// Creates (or checks) the spool directory and watches it.
    pub fn open(path: &Path) -> Result<Spool> {
        let (dir, inotify) = super::watched_dir::watch(path, AddWatchFlags::IN_MOVED_TO)?;
        Ok(Spool {
            dir,
            inotify,
            // SAFETY: geteuid cannot fail.
            uid: unsafe { libc::geteuid() },
        })
    }

    /// Registers the watch in the loop's poll.
    pub fn register(&self, registry: &Registry) -> Result<()> {
        registry
            .register(
                &mut SourceFd(&self.inotify.as_fd().as_raw_fd()),
                SPOOL,
                Interest::READABLE,
            )
            .context("cannot poll the inotify descriptor")
    }

    /// Every spooled event, oldest first. The files stay until
    /// [`Spool::forget`]: the caller journals the events first, so that a
    /// crash in between loses none.
    pub fn take(&mut self) -> Vec<Spooled> {
        // Clear the readiness; the directory listing is the truth.
        while self.inotify.read_events().is_ok_and(|e| !e.is_empty()) {}
        let dir = self.dir.path();
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(SUFFIX) && !n.starts_with('.'))
                .collect(),
            Err(e) => {
                log(format_args!("cannot read the spool {}: {e}", dir.display()));
                return Vec::new();
            }
        };
        names.sort_unstable();
        names
            .into_iter()
            .map(|name| {
                let path = dir.join(&name);
                let mut bytes = Vec::new();
                let replayed = self
                    .read(&path, &mut bytes)
                    .map_err(|e| format!("{name}: {e:#}"));
                Spooled {
                    replayed,
                    bytes,
                    path,
                }
            })
            .collect()
    }

    /// Removes files taken over: read or not, a file is done with (a bad
    /// one never comes back).
    pub fn forget(&self, taken: &[Spooled]) {
        for spooled in taken {
            let _ = std::fs::remove_file(&spooled.path);
        }
    }

    fn read(&self, path: &Path, bytes: &mut Vec<u8>) -> Result<Message> {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .context("cannot open it")?;
        let meta = file.metadata().context("cannot inspect it")?;
        if !meta.is_file() || meta.uid() != self.uid {
            llm_bridge_core::error::bail!("not a regular file of ours");
        }
        (&mut file)
            .take(MAX_DATAGRAM as u64 + 1)
            .read_to_end(bytes)
            .context("cannot read it")?;
        if bytes.len() > MAX_DATAGRAM {
            llm_bridge_core::error::bail!("larger than a datagram");
        }
        Ok(Message::decode(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_protocol::wire::{Event, EventKind};
    use mio::{Events, Poll};
    use std::time::Duration;

    #[test]
    fn spooled_events_wake_the_poll_and_come_back_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut poll = Poll::new().unwrap();
        let mut spool = Spool::open(&path).unwrap();
        spool.register(poll.registry()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let put = |sid: &str, at: u64| {
            let bytes = Message::Event(Event::new(EventKind::Submit, sid)).encode();
            // As the hook writes it: a temporary name, renamed into place.
            let temp = path.join(format!(".{at:020}-1.tmp"));
            std::fs::write(&temp, bytes).unwrap();
            std::fs::rename(&temp, path.join(format!("{at:020}-1{SUFFIX}"))).unwrap();
        };
        put("second", 20);
        put("first", 10);
        std::fs::write(
            path.join(format!("{:020}-1{SUFFIX}", 30)),
            b"LLMB/1 NONSENSE",
        )
        .unwrap();
        let mut events = Events::with_capacity(4);
        // Blocks until the spool is written to; the timeout bounds a failure.
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == SPOOL));
        let taken = spool.take();
        let sids: Vec<_> = taken
            .iter()
            .map(|r| match &r.replayed {
                Ok(Message::Event(e)) => e.session_id.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(sids[..2], ["first", "second"]);
        assert!(taken[2].replayed.is_err(), "a bad file is reported");
        assert_eq!(spool.take().len(), 3, "kept until forgotten");
        spool.forget(&taken);
        assert!(spool.take().is_empty(), "each is replayed once");
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
    }
}
