//! The flock that makes the daemon and the fallback mutually exclusive.
//!
//! The daemon holds it for its whole life; `llm-bridge apply` holds it for
//! one read-modify-write of the state files. So a daemon that is starting
//! and a fallback never both write.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock if it is free; `Ok(None)` if another process holds it.
    pub fn try_lock(path: &Path) -> io::Result<Option<StateLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Some(StateLock { _file: file }));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => return Ok(None),
                _ => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let first = StateLock::try_lock(&p).unwrap().expect("free");
        assert!(StateLock::try_lock(&p).unwrap().is_none());
        drop(first);
        assert!(StateLock::try_lock(&p).unwrap().is_some());
    }
}
