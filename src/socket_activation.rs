//! systemd socket activation: taking the datagram socket systemd passes.
//!
//! systemd sets `LISTEN_PID` to our PID and `LISTEN_FDS` to the number of
//! sockets, starting at fd 3. The variables are removed once read so that
//! children do not think the socket is theirs.

use std::os::fd::{FromRawFd, OwnedFd};

/// Whether systemd passed sockets to this process (without taking them).
pub fn offered() -> bool {
    std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id())
}

/// The first inherited socket, if systemd passed one to this process.
pub fn take_inherited_socket() -> Option<OwnedFd> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: single-threaded at start-up; nothing else reads these.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    const SD_LISTEN_FDS_START: i32 = 3;
    // SAFETY: systemd handed us fd 3; nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(SD_LISTEN_FDS_START) };
    // SAFETY: plain fcntl calls on the descriptor we now own.
    unsafe {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let flags = libc::fcntl(raw, libc::F_GETFL);
        libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let fdflags = libc::fcntl(raw, libc::F_GETFD);
        libc::fcntl(raw, libc::F_SETFD, fdflags | libc::FD_CLOEXEC);
    }
    Some(fd)
}
