//! Sending one datagram to the daemon the way the hot path needs it.
//!
//! Unix datagram queues are short (`net.unix.max_dgram_qlen`, 10 by
//! default). A `connect()`ed socket with a blocking send and `SO_SNDTIMEO`
//! waits for room in the daemon's queue, so a burst of parallel hooks is
//! delayed by microseconds instead of losing events; only after the timeout
//! is the event dropped.

use std::io;
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
    let sock = UnixDatagram::unbound().map_err(SendError::Other)?;
    sock.set_write_timeout(Some(timeout))
        .map_err(SendError::Other)?;
    sock.connect(path).map_err(classify)?;
    sock.send(bytes).map(drop).map_err(classify)
}

/// Sends without waiting: for callers that must never block (the
/// statusline). A full queue is reported as `TimedOut`.
pub fn send_datagram_nonblocking(path: &Path, bytes: &[u8]) -> Result<(), SendError> {
    let sock = UnixDatagram::unbound().map_err(SendError::Other)?;
    sock.set_nonblocking(true).map_err(SendError::Other)?;
    sock.send_to(bytes, path).map(drop).map_err(classify)
}
