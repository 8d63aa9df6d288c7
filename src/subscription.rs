//! The client side of `SUBSCRIBE`, shared by `llm-bridge waybar --follow`
//! and `llm-bridge status --watch`.
//!
//! A [`Subscription`] binds a [`ClientSocket`] (a path in the private
//! runtime directory, connected to the daemon: only the daemon's pushes
//! arrive), subscribes, and then yields the module every time it changes:
//! pushed by the daemon, or written to waybar.json by the fallback
//! (inotify). A push larger than the buffer, or one holding a control
//! character, is not taken: the module is read from waybar.json instead.
//! When the daemon's socket is created again (a restarted daemon) it
//! connects and subscribes again. It
//! ends on SIGINT, SIGTERM or SIGHUP (Waybar stops its exec with SIGTERM)
//! and, like every other way out, sends `UNSUBSCRIBE` when dropped, so a
//! socket-activated daemon is free to exit once nobody listens. Nothing
//! polls: the process sleeps in `poll` until one of its sources is ready.

use crate::client_socket::ClientSocket;
use crate::datagram;
use llm_bridge_core::error::{Context, Result};
use llm_bridge_core::paths::Paths;
use llm_bridge_core::publish;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::Message;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

/// The largest push read whole; a module is far smaller (the tooltip is
/// bounded), and a larger one is read from waybar.json.
const PUSH_LIMIT: usize = 256 * 1024;

const SOCKET: Token = Token(0);
const INOTIFY: Token = Token(1);
const SIGNALS: Token = Token(2);

pub struct Subscription {
    poll: Poll,
    events: Events,
    socket: ClientSocket,
    inotify: Inotify,
    signals: Signals,
    paths: Paths,
    daemon: PathBuf,
    socket_name: Option<OsString>,
    buf: Vec<u8>,
    /// A module read but not yet returned (the first one).
    pending: Option<String>,
}

impl Subscription {
    /// Subscribes to the daemon at `paths.socket` (a daemon that is not
    /// running yet is subscribed to when its socket appears). The first
    /// [`Subscription::next_module`] returns the current module.
    pub fn new(paths: &Paths) -> Result<Subscription> {
        let socket = ClientSocket::bind(paths)?;
        socket
            .set_nonblocking(true)
            .context("cannot make the socket non-blocking")?;
        // No daemon yet is fine: its socket's creation wakes us.
        let _ = socket.connect(&paths.socket);

        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .context("cannot start inotify")?;
        let socket_dir = paths.socket.parent().unwrap_or(Path::new("/"));
        inotify
            .add_watch(
                socket_dir,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
            )
            .with_context(|| format!("cannot watch {}", socket_dir.display()))?;
        inotify
            .add_watch(
                &paths.state_dir,
                AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
            )
            .with_context(|| format!("cannot watch {}", paths.state_dir.display()))?;

        let mut signals =
            Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
        let poll = Poll::new().context("cannot create the poll")?;
        let registry = poll.registry();
        registry
            .register(
                &mut SourceFd(&socket.as_raw_fd()),
                SOCKET,
                Interest::READABLE,
            )
            .context("cannot poll the socket")?;
        registry
            .register(
                &mut SourceFd(&inotify.as_fd().as_raw_fd()),
                INOTIFY,
                Interest::READABLE,
            )
            .context("cannot poll inotify")?;
        registry
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("cannot poll signals")?;

        let subscription = Subscription {
            poll,
            events: Events::with_capacity(8),
            socket,
            inotify,
            signals,
            daemon: paths.socket.clone(),
            socket_name: paths.socket.file_name().map(|n| n.to_os_string()),
            pending: Some(publish::current_module(paths)),
            paths: paths.clone(),
            buf: vec![0u8; PUSH_LIMIT],
        };
        subscription.send(&Message::Subscribe);
        Ok(subscription)
    }

    /// Whether a daemon received the first `SUBSCRIBE`.
    pub fn daemon_answers(&self) -> bool {
        crate::daemon::socket_answers(&self.daemon)
    }

    /// Waits for the next module (the current one first); `None` once a
    /// signal asks this process to stop.
    pub fn next_module(&mut self) -> Result<Option<String>> {
        if let Some(first) = self.pending.take() {
            return Ok(Some(first));
        }
        loop {
            if let Err(e) = self.poll.poll(&mut self.events, None) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("poll failed");
            }
            let mut stop = false;
            let mut pushed = None;
            let mut file_changed = false;
            let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
            for token in tokens {
                match token {
                    SIGNALS => stop |= self.signals.pending().next().is_some(),
                    SOCKET => pushed = self.drain_socket().or(pushed),
                    INOTIFY => file_changed |= self.drain_inotify(),
                    _ => {}
                }
            }
            if stop {
                return Ok(None);
            }
            // If waybar.json changed, the file is the newest word.
            if file_changed {
                return Ok(Some(publish::current_module(&self.paths)));
            }
            if pushed.is_some() {
                return Ok(pushed);
            }
        }
    }

    /// The newest module pushed since the last wake.
    fn drain_socket(&mut self) -> Option<String> {
        let mut newest = None;
        loop {
            match datagram::recv_from(self.socket.as_raw_fd(), &mut self.buf, false) {
                Ok(r) => {
                    let body = &self.buf[..r.len.min(self.buf.len())];
                    let module = match Reply::decode(body) {
                        Ok(Reply::Module(module)) => {
                            usable_push(module.as_bytes(), r.truncated).map(str::to_string)
                        }
                        // Cut inside a character: not readable, but a push.
                        Err(_) if r.truncated => None,
                        _ => continue,
                    };
                    // Cut, or not what the daemon sends: the file holds the
                    // same module.
                    newest = Some(module.unwrap_or_else(|| publish::current_module(&self.paths)));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return newest,
            }
        }
    }

    /// Reads inotify events; resubscribes when the daemon's socket
    /// reappears. Returns whether waybar.json changed.
    fn drain_inotify(&mut self) -> bool {
        let mut file_changed = false;
        let mut resubscribe = false;
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                let name = event.name.as_deref();
                if name == self.socket_name.as_deref() {
                    resubscribe = true;
                }
                if name == self.paths.waybar_json.file_name() {
                    file_changed = true;
                }
            }
        }
        if resubscribe {
            let _ = self.socket.connect(&self.daemon);
            self.send(&Message::Subscribe);
        }
        file_changed
    }

    fn send(&self, message: &Message) {
        // Nothing listening is fine: the socket's creation will wake us.
        let _ = self.socket.send(&message.encode());
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.send(&Message::Unsubscribe);
    }
}

/// A pushed module as it may be printed: whole, UTF-8, and without a
/// control character (the daemon's JSON escapes them all; a raw one would
/// reach Waybar or a terminal).
fn usable_push(module: &[u8], truncated: bool) -> Option<&str> {
    let text = std::str::from_utf8(module).ok()?;
    (!truncated && !text.chars().any(char::is_control)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::usable_push;

    #[test]
    fn only_whole_clean_pushes_are_printed() {
        assert_eq!(
            usable_push(br#"{"text":"ok"}"#, false),
            Some(r#"{"text":"ok"}"#)
        );
        assert_eq!(usable_push(br#"{"text":"ok"}"#, true), None);
        assert_eq!(usable_push(b"{\"text\":\"\x1b]0;pwned\x07\"}", false), None);
        assert_eq!(
            usable_push("{\"text\":\"\u{9b}31m\"}".as_bytes(), false),
            None
        );
        assert_eq!(usable_push(b"{\"text\":\"a\nb\"}", false), None);
        assert_eq!(usable_push(b"\xff", false), None);
    }
}
