//! Telling systemd that the daemon is ready (`Type=notify`).
//!
//! systemd passes `$NOTIFY_SOCKET`, a datagram socket (a path, or an
//! abstract name after `@`); the daemon sends `READY=1` once its socket
//! serves and, when `[speech] enabled` asks for it, its voice is loaded, so
//! units ordered after it start against a daemon that can answer. No
//! watchdog: feeding one would wake an idle daemon. The variable is removed
//! once read, so no child thinks it is the service.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where to send the notifications, when systemd asked for them.
#[derive(Debug)]
pub struct Notifier {
    address: SocketAddr,
}

impl Notifier {
    /// Takes `$NOTIFY_SOCKET` from the environment. Call it while the
    /// process is single-threaded (start-up): it edits the environment.
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        // SAFETY: single-threaded at start-up; nothing else reads it.
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let bytes = value.as_encoded_bytes();
        let address = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name).ok()?,
            None => SocketAddr::from_pathname(std::path::Path::new(&value)).ok()?,
        };
        Some(Notifier { address })
    }

    /// Sends `READY=1` with a status line; a failure is only logged (the
    /// daemon serves all the same).
    pub fn ready(&self, status: &str) {
        let message = format!("READY=1\nSTATUS={}", status.replace('\n', " "));
        let sent = UnixDatagram::unbound()
            .and_then(|socket| socket.send_to_addr(message.as_bytes(), &self.address));
        if let Err(e) = sent {
            llm_bridge_core::log::log(format_args!("cannot tell systemd the daemon is ready: {e}"));
        }
    }
}
