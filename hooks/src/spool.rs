//! The spool: where an event goes when the daemon cannot take it in time.
//!
//! A daemon that is stopped (SIGSTOP, a debugger, a swapped-out laptop) or
//! still starting holds its socket and its lock, so neither the datagram
//! (its queue is full) nor the fallback (the lock is held) can deliver an
//! event within the hook's bound. Rather than drop it, the hook writes it
//! here, one file per event, and the daemon replays the spool in order as
//! soon as it runs (it watches the directory, so this costs nothing while
//! nothing is spooled). The fast path never touches the spool.
//!
//! The directory is `RUNTIME/llm-bridge/spool`, private (0700, checked on
//! an open descriptor). A file is written under a temporary name with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` and renamed into place whole, so the
//! daemon never reads half an event. Names sort in the order the events
//! happened: the hook's start time in nanoseconds (20 digits), then its PID.

use crate::private_dir::PrivateDir;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// What a spooled event's name ends with.
pub const SUFFIX: &str = ".evt";

/// The spool directory.
pub fn dir() -> PathBuf {
    crate::runtime_path::state_dir().join("spool")
}

/// Writes `datagram` into the spool as one file; returns its name.
pub fn put(datagram: &[u8], stamp_ns: u64) -> io::Result<String> {
    let dir = PrivateDir::ensure(&dir()).map_err(|e| io::Error::other(e.to_string()))?;
    let pid = std::process::id();
    let name = format!("{stamp_ns:020}-{pid}{SUFFIX}");
    let temp = CString::new(format!(".{stamp_ns:020}-{pid}.tmp")).expect("no NUL");
    let final_name = CString::new(name.as_str()).expect("no NUL");
    let dirfd = dir.fd().as_raw_fd();
    // SAFETY: openat with a valid directory descriptor and a C string.
    let fd = unsafe {
        libc::openat(
            dirfd,
            temp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let written = io::Write::write_all(&mut file, datagram);
    drop(file);
    let written = written.and_then(|()| {
        // SAFETY: renameat within one directory descriptor, C strings.
        let rc = unsafe { libc::renameat(dirfd, temp.as_ptr(), dirfd, final_name.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    });
    if let Err(e) = written {
        // SAFETY: unlinkat of our own temporary name.
        unsafe { libc::unlinkat(dirfd, temp.as_ptr(), 0) };
        return Err(e);
    }
    Ok(name)
}
