//! Sending one datagram to the daemon the way the hot path needs it.
//!
//! The common case costs two system calls: `socket` and one non-blocking
//! `sendto`. Unix datagram queues are short (`net.unix.max_dgram_qlen`, 10
//! by default), so when the daemon's queue is full the socket is
//! `connect()`ed and sent on with a blocking send and `SO_SNDTIMEO`, which
//! waits for room: a burst of parallel hooks is delayed by microseconds
//! instead of losing events; only after the timeout is the event dropped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

/// How long a hook waits for room in the daemon's queue.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(50);

/// What went wrong sending a datagram.
#[derive(Debug)]
pub enum SendError {
    /// No daemon: the socket is missing or nobody is bound to it.
    DaemonDown(io::Error),
    /// The daemon's queue stayed full for the whole timeout.
    TimedOut,
    Other(io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::DaemonDown(e) => write!(f, "daemon is not running ({e})"),
            SendError::TimedOut => write!(
                f,
                "daemon's queue stayed full for {} ms",
                SEND_TIMEOUT.as_millis()
            ),
            SendError::Other(e) => write!(f, "cannot send to the daemon: {e}"),
        }
    }
}

fn classify(e: io::Error) -> SendError {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTDIR) => SendError::DaemonDown(e),
        Some(libc::EAGAIN | libc::ETIMEDOUT) => SendError::TimedOut,
        _ => SendError::Other(e),
    }
}

/// Sends `bytes` as one datagram to the socket at `path`, waiting up to
/// `timeout` for room in the receiver's queue.
pub fn send_datagram(path: &Path, bytes: &[u8], timeout: Duration) -> Result<(), SendError> {
    match send_once(path, bytes) {
        Ok(()) => Ok(()),
        // The queue is full: wait for room, up to the timeout.
        Err((SendError::TimedOut, Some(fd))) => {
            let sock = UnixDatagram::from(fd);
            sock.set_write_timeout(Some(timeout))
                .map_err(SendError::Other)?;
            sock.connect(path).map_err(classify)?;
            sock.send(bytes).map(drop).map_err(classify)
        }
        Err((e, _)) => Err(e),
    }
}

/// Sends without waiting: for callers that must never block (the
/// statusline). A full queue is reported as `TimedOut`.
pub fn send_datagram_nonblocking(path: &Path, bytes: &[u8]) -> Result<(), SendError> {
    send_once(path, bytes).map_err(|(e, _)| e)
}

/// `socket` and one non-blocking `sendto`. On an error the socket comes
/// back with it, for a caller that waits for room in a full queue.
fn send_once(path: &Path, bytes: &[u8]) -> Result<(), (SendError, Option<OwnedFd>)> {
    let addr = SocketAddr::new(path).map_err(|e| (SendError::Other(e), None))?;
    // SAFETY: socket takes no pointers; a valid descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err((SendError::Other(io::Error::last_os_error()), None));
    }
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the buffer and the address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            (&raw const addr.addr).cast(),
            addr.len,
        )
    };
    if sent >= 0 {
        return Ok(());
    }
    Err((classify(io::Error::last_os_error()), Some(fd)))
}

/// A `sockaddr_un` for a path, built without allocating.
struct SocketAddr {
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl SocketAddr {
    fn new(path: &Path) -> io::Result<SocketAddr> {
        // SAFETY: an all-zero sockaddr_un is valid.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket path too long or not a path",
            ));
        }
        for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
        Ok(SocketAddr {
            addr,
            len: len as libc::socklen_t,
        })
    }
}
