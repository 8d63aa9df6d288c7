//! The client side of the daemon's requests (`QUERY`, `RELOAD`,
//! `SHUTDOWN`, `PING`, `SAYSTOP`): from a [`ClientSocket`] (a path in the
//! private runtime directory, connected to the daemon), one datagram out
//! and one reply back within a deadline.

use crate::client_socket::ClientSocket;
use llm_bridge_core::error::one_line;
use llm_bridge_core::paths::Paths;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::Message;
use std::io::ErrorKind;
use std::time::Duration;

/// The largest reply read (docs/protocol.md).
const REPLY_LIMIT: usize = 256 * 1024;

/// How long a command waits for the daemon's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum RequestError {
    /// No daemon: the socket is missing or refuses.
    NotRunning,
    /// The daemon did not answer in time.
    NoReply,
    Io(std::io::Error),
    /// The daemon answered something this version cannot read.
    Invalid(String),
}

impl std::error::Error for RequestError {}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::NotRunning => f.write_str("the daemon is not running"),
            RequestError::NoReply => write!(
                f,
                "the daemon did not answer within {} s",
                REPLY_TIMEOUT.as_secs()
            ),
            RequestError::Io(e) => write!(f, "cannot talk to the daemon: {e}"),
            RequestError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Sends `message` to the daemon at `paths.socket` and returns its reply.
pub fn request(paths: &Paths, message: &Message) -> Result<Reply, RequestError> {
    let bytes = request_bytes(paths, message)?;
    Reply::decode(&bytes).map_err(|e| RequestError::Invalid(e.to_string()))
}

/// Like [`request`], with the reply's bytes as they came.
fn request_bytes(paths: &Paths, message: &Message) -> Result<Vec<u8>, RequestError> {
    let sock = ClientSocket::bind(paths).map_err(|e| RequestError::Invalid(one_line(&e)))?;
    if let Err(e) = sock.connect(&paths.socket) {
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTDIR) => RequestError::NotRunning,
            _ => RequestError::Io(e),
        });
    }
    sock.set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(RequestError::Io)?;
    sock.send(&message.encode())
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => RequestError::NotRunning,
            _ => RequestError::Io(e),
        })?;
    // Replies (a status with many sessions) may exceed the request limit.
    let mut buf = vec![0u8; REPLY_LIMIT];
    match sock.recv(&mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(RequestError::NoReply)
        }
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Err(RequestError::NotRunning),
        Err(e) => Err(RequestError::Io(e)),
    }
}
