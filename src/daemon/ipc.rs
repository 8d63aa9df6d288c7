//! The daemon's datagram socket: binding it (or taking systemd's), reading
//! every queued datagram, answering requests and pushing modules to
//! subscribers (`waybar --follow`, `status --watch`).

use super::socket_path::{file_id, PathWatch};
use super::spool::{Spool, Spooled};
use super::tokens::{SOCKET, SOCKET_PATH};
use crate::datagram::{self, PeerAddr};
use crate::socket_activation;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::local_time::wall_clock_ns;
use llm_bridge_core::log::log;
use llm_bridge_hooks::private_dir::PrivateDir;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::{DecodeError, Message};
use mio::net::UnixDatagram;
use mio::unix::SourceFd;
use mio::{Interest, Registry};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Most subscribers served at once.
const MAX_SUBSCRIBERS: usize = 64;

pub struct Ipc {
    socket: UnixDatagram,
    /// This process's uid: datagrams from any other are not served.
    uid: u32,
    path: PathBuf,
    /// Who holds the socket besides the daemon.
    origin: Origin,
    /// (dev, ino) of the socket we bound: only that file is ever unlinked.
    bound_id: Option<(u64, u64)>,
    subscribers: Vec<PeerAddr>,
    /// The socket file's own inode, watched: removed or replaced, the
    /// daemon binds again (or says that systemd's socket is gone).
    path_watch: PathWatch,
    /// Events hooks could not hand over in time.
    spool: Spool,
    /// Where the daemons of a keeper (`supervisor::spawn_keeper`) write
    /// their PID, once this daemon asked for one: each socket it binds
    /// itself gets one.
    keeper: Option<PathBuf>,
    /// The PID of the current socket's keeper.
    keeper_pid: Option<u32>,
}

/// Where the daemon's socket came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// Bound by this daemon: unlinked at exit.
    Bound,
    /// Passed by systemd, which keeps it: never unlinked, idle exit allowed.
    Systemd,
    /// Passed by `start`'s supervisor, which keeps it across the daemon's
    /// deaths: unlinked at a clean exit (the supervisor ends too), bound
    /// again if its file goes, as a bound one.
    Supervisor,
}

/// One datagram off the queue.
pub struct Incoming {
    pub message: Result<Message, DecodeError>,
    /// The datagram's length in the buffer it was read into.
    pub len: usize,
    pub peer: PeerAddr,
    /// When the kernel queued it (ns since the epoch).
    pub arrived_ns: Option<u64>,
    /// When `recvmsg` returned it, before it was decoded (as the floor
    /// program counts its wake-up).
    pub read_ns: u64,
    /// The sender's uid, as the kernel saw it.
    pub sender_uid: Option<u32>,
}

/// A watch on the socket file at `path`, made as soon as it is ours.
fn watched(path: &Path) -> Result<PathWatch> {
    let mut watch = PathWatch::new().context("cannot create an inotify descriptor")?;
    watch.watch(path);
    Ok(watch)
}

impl Ipc {
    /// Takes the socket systemd passed, else binds `path` (0600). Fails with
    /// one line if a live daemon owns `path`.
    pub fn open(path: &Path, spool: &Path) -> Result<Ipc> {
        let spool = Spool::open(spool)?;
        let supervised = std::env::var_os(crate::supervisor::SUPERVISED).is_some();
        if supervised {
            // SAFETY: single-threaded at start-up; nothing else reads it.
            unsafe { std::env::remove_var(crate::supervisor::SUPERVISED) };
        }
        if let Some(fd) = socket_activation::take_inherited_socket() {
            datagram::enable_timestamps(fd.as_raw_fd())
                .context("cannot ask for arrival times on the inherited socket")?;
            datagram::enable_credentials(fd.as_raw_fd())
                .context("cannot ask for senders' credentials on the inherited socket")?;
            let (origin, bound_id) = if supervised {
                (Origin::Supervisor, file_id(path))
            } else {
                (Origin::Systemd, None)
            };
            return Ok(Ipc {
                socket: UnixDatagram::from_std(std::os::unix::net::UnixDatagram::from(fd)),
                path: path.to_path_buf(),
                origin,
                bound_id,
                subscribers: Vec::new(),
                uid: own_uid(),
                path_watch: watched(path)?,
                spool,
                keeper: None,
                keeper_pid: None,
            });
        }
        let (socket, id) = bind_unless_served(path)?;
        Ok(Ipc {
            socket,
            path: path.to_path_buf(),
            origin: Origin::Bound,
            bound_id: Some(id),
            subscribers: Vec::new(),
            uid: own_uid(),
            // At once: a hook (or a test) may reach the socket, and the
            // file be removed, before the loop polls.
            path_watch: watched(path)?,
            spool,
            keeper: None,
            keeper_pid: None,
        })
    }

    /// Gives the socket this daemon bound a keeper, which holds a copy of
    /// it and, if this process is killed, starts a daemon on it (writing
    /// its PID to `pid_file`), so that nothing queued is lost; a socket
    /// bound again later gets one too. Returns the keeper's PID; `None`
    /// for a socket systemd or a supervisor holds already.
    pub fn keep(&mut self, pid_file: &Path) -> Result<Option<u32>> {
        self.keeper = Some(pid_file.to_path_buf());
        self.spawn_keeper()
    }

    /// The PID of the keeper of the socket served now, if it has one.
    pub fn keeper(&self) -> Option<u32> {
        self.keeper_pid
    }

    fn spawn_keeper(&mut self) -> Result<Option<u32>> {
        self.keeper_pid = None;
        let (Some(pid_file), Origin::Bound, Some(id)) = (&self.keeper, self.origin, self.bound_id)
        else {
            return Ok(None);
        };
        // SAFETY: the socket outlives this call, which only duplicates it.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd()) };
        self.keeper_pid = Some(crate::supervisor::spawn_keeper(socket, id, pid_file)?);
        Ok(self.keeper_pid)
    }

    /// Registers the socket and the watch on its file in the loop's poll.
    pub fn register(&mut self, registry: &Registry) -> Result<()> {
        registry
            .register(&mut self.socket, SOCKET, Interest::READABLE)
            .context("cannot poll the socket")?;
        self.spool.register(registry)?;
        registry
            .register(
                &mut SourceFd(&self.path_watch.fd()),
                SOCKET_PATH,
                Interest::READABLE,
            )
            .context("cannot poll the inotify descriptor")?;
        // Removed or replaced during start-up, even before the watch was
        // added: bound again now.
        self.check_path(registry);
        Ok(())
    }

    /// The events hooks spooled, oldest first (each file removed).
    pub fn take_spooled(&mut self) -> Vec<Spooled> {
        self.spool.take()
    }

    /// Removes the spooled files taken over.
    pub fn forget_spooled(&self, taken: &[Spooled]) {
        self.spool.forget(taken);
    }

    /// The socket file changed: if it is no longer ours (removed, or
    /// another file put there), bind again at the same path. Call it after
    /// draining the socket: what waits in the old one is read first.
    pub fn check_path(&mut self, registry: &Registry) {
        if self.path_watch.still_there(&self.path) {
            return;
        }
        let path = self.path.display().to_string();
        if self.origin == Origin::Systemd {
            log(format_args!(
                "the socket {path} was removed or replaced; it is systemd's to recreate: \
                 `systemctl --user restart llm-bridge.socket llm-bridge.service`"
            ));
            // Watch what is there now, if anything: said once per change.
            self.path_watch.watch(&self.path);
            return;
        }
        match self.rebind(registry) {
            Ok(()) => {
                log(format_args!(
                    "the socket {path} was removed or replaced: bound again"
                ));
                // The old socket's keeper ends with this daemon: the new
                // socket needs its own.
                if let Err(e) = self.spawn_keeper() {
                    log(format_args!(
                        "no keeper for the new socket: {}",
                        llm_bridge_core::error::one_line(&e)
                    ));
                }
            }
            Err(e) => log(format_args!(
                "the socket {path} was removed or replaced and cannot be bound again: {}",
                llm_bridge_core::error::one_line(&e)
            )),
        }
        self.path_watch.watch(&self.path);
    }

    /// Binds a new socket at the path and polls it instead of the old one.
    fn rebind(&mut self, registry: &Registry) -> Result<()> {
        if socket_answers(&self.path) {
            bail!("another process serves a socket there now");
        }
        remove_stale_socket(&self.path)?;
        let (mut socket, id) = bind_socket(&self.path)?;
        registry
            .register(&mut socket, SOCKET, Interest::READABLE)
            .context("cannot poll the socket")?;
        let mut old = std::mem::replace(&mut self.socket, socket);
        let _ = registry.deregister(&mut old);
        self.bound_id = Some(id);
        // A supervisor's socket no hook reaches any more: this one is ours.
        self.origin = Origin::Bound;
        Ok(())
    }

    /// The sender's uid, if another user sent this datagram.
    pub fn foreign(&self, incoming: &Incoming) -> Option<u32> {
        incoming.sender_uid.filter(|uid| *uid != self.uid)
    }

    /// The uid served.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The socket is systemd's (socket activation).
    pub fn inherited(&self) -> bool {
        self.origin == Origin::Systemd
    }

    /// The socket is held by `start`'s supervisor too.
    pub fn supervised(&self) -> bool {
        self.origin == Origin::Supervisor
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next queued datagram, left at the head of the queue until
    /// [`Ipc::consume`]; `None` once the queue is empty (`WouldBlock`) or
    /// the socket fails (logged).
    pub fn recv(&self, buf: &mut [u8]) -> Option<Incoming> {
        loop {
            return match datagram::recv_from(self.fd(), buf, true) {
                Ok(r) => Some(Incoming {
                    read_ns: wall_clock_ns(),
                    len: r.len,
                    message: if r.truncated {
                        Err(DecodeError::TooLarge(r.len))
                    } else {
                        Message::decode(&buf[..r.len])
                    },
                    peer: r.peer,
                    arrived_ns: r.arrived_ns,
                    sender_uid: r.sender_uid,
                }),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log(format_args!("receive failed: {e}"));
                    None
                }
            };
        }
    }

    /// Drops the datagram [`Ipc::recv`] gave: once its event is in the
    /// journal (a kill in between leaves it in the queue as well; the
    /// next daemon recognises it), or at once for anything else.
    pub fn consume(&self) {
        if let Err(e) = datagram::discard(self.fd()) {
            log(format_args!("receive failed: {e}"));
        }
    }

    /// Answers a request; an unbound sender (a hook) cannot be answered.
    pub fn reply(&self, peer: &PeerAddr, reply: &Reply) {
        if !peer.is_unnamed() {
            let _ = datagram::send_to(self.fd(), peer, &reply.encode());
        }
    }

    /// Adds a subscriber and sends it `module` at once. Only a
    /// [`private`] address is taken: pushes go on until it is gone.
    pub fn subscribe(&mut self, peer: PeerAddr, module: &str) {
        if !private(&peer) {
            log(format_args!(
                "ignoring a subscriber at {peer:?}: not a socket in a private directory"
            ));
            return;
        }
        if !self.subscribers.contains(&peer) {
            if self.subscribers.len() == MAX_SUBSCRIBERS {
                log(format_args!(
                    "too many subscribers ({MAX_SUBSCRIBERS}); ignoring a new one"
                ));
                return;
            }
            self.subscribers.push(peer);
        }
        push(
            self.fd(),
            &peer,
            &Reply::Module(module.to_string()).encode(),
        );
    }

    pub fn unsubscribe(&mut self, peer: &PeerAddr) {
        self.subscribers.retain(|s| s != peer);
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Pushes `module` to every subscriber, forgetting those that are gone
    /// (and the socket file a killed one left behind).
    pub fn push_all(&mut self, module: &str) {
        if self.subscribers.is_empty() {
            return;
        }
        let fd = self.fd();
        let datagram = Reply::Module(module.to_string()).encode();
        self.subscribers.retain(|peer| push(fd, peer, &datagram));
    }

    /// Unlinks the socket if we bound it and it is still that file; a
    /// socket inherited from systemd belongs to systemd.
    pub fn close(&self) {
        if let (Some(id), Ok(meta)) = (self.bound_id, std::fs::symlink_metadata(&self.path)) {
            if (meta.dev(), meta.ino()) == id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Pushes an encoded module update to one subscriber; false if it is gone.
fn push(fd: RawFd, peer: &PeerAddr, datagram: &[u8]) -> bool {
    match datagram::send_to(fd, peer, datagram) {
        Ok(()) => true,
        // A full queue: the subscriber is slow but alive; it reads the file on its next wake.
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(e) => {
            if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                remove_left_behind(peer);
            }
            false
        }
    }
}

/// Whether `peer` is bound to a path in a directory only this user can
/// enter (the client sockets of `crate::client_socket`): nobody else
/// can send from that name, or bind it once its process is gone. An abstract
/// address can be bound by anyone after it is freed.
pub fn private(peer: &PeerAddr) -> bool {
    let Some(dir) = peer.path().and_then(Path::parent) else {
        return false;
    };
    // The one private-directory rule; a missing directory is not private.
    matches!(PrivateDir::check(dir), Ok(true))
}

/// Removes a client socket file a killed command left behind.
fn remove_left_behind(peer: &PeerAddr) {
    let Some(path) = peer.path().filter(|_| private(peer)) else {
        return;
    };
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(crate::client_socket::PREFIX));
    // Refused: nobody is bound to it any more.
    let socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if named && socket {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether a live process is bound to the socket at `path`.
pub fn socket_answers(path: &Path) -> bool {
    match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s.connect(path).is_ok(),
        Err(_) => false,
    }
}

/// Removes `path` if it is a socket nobody is bound to; never anything
/// else. Returns whether something was removed.
pub fn remove_stale_socket(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if socket_answers(path) {
                return Ok(false);
            }
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
            Ok(true)
        }
        Ok(_) => bail!(
            "refusing to replace {}: it exists and is not a socket; move it away \
             (or set LLM_BRIDGE_SOCKET to another path)",
            path.display()
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
}

/// Binds the daemon's socket at `path` unless a live daemon serves it
/// there (then one line says so); a stale socket is replaced.
fn bind_unless_served(path: &Path) -> Result<(UnixDatagram, (u64, u64))> {
    if socket_answers(path) {
        bail!(
            "another llm-bridge daemon is already running (socket {} answers)",
            path.display()
        );
    }
    remove_stale_socket(path)?;
    bind_socket(path)
}

/// The daemon's socket for `start`'s supervisor to hold and pass on, bound
/// as a daemon binds it.
pub fn bind_daemon_socket(path: &Path) -> Result<std::os::unix::net::UnixDatagram> {
    let (socket, _) = bind_unless_served(path)?;
    // SAFETY: into_raw_fd gives up the descriptor, which is a datagram socket.
    Ok(unsafe {
        std::os::unix::net::UnixDatagram::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(socket))
    })
}

/// Binds a socket at `path` (0600, no stale socket there) and asks for
/// arrival times and senders' credentials; returns it with its file's id.
///
/// It is bound under a temporary name beside `path`, made 0600, then
/// renamed into place: no window where `path` is a wider socket, and no
/// umask change (umask is process-wide, and worker threads may run when
/// the daemon binds again).
fn bind_socket(path: &Path) -> Result<(UnixDatagram, (u64, u64))> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.new", std::process::id()));
    let temp = PathBuf::from(temp);
    remove_stale_socket(&temp)?;
    let socket =
        UnixDatagram::bind(&temp).with_context(|| format!("cannot bind {}", temp.display()))?;
    let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set the mode of {}", temp.display()))
        .and_then(|()| {
            std::fs::rename(&temp, path)
                .with_context(|| format!("cannot move the socket to {}", path.display()))
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    datagram::enable_timestamps(socket.as_raw_fd())
        .context("cannot ask for arrival times on the socket")?;
    datagram::enable_credentials(socket.as_raw_fd())
        .context("cannot ask for senders' credentials on the socket")?;
    let id = file_id(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    Ok((socket, id))
}

fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_socket_is_ever_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sock");
        std::fs::write(&file, "mine").unwrap();
        let err = remove_stale_socket(&file).unwrap_err().to_string();
        assert!(err.contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"mine");

        let live = dir.path().join("live");
        let _bound = std::os::unix::net::UnixDatagram::bind(&live).unwrap();
        assert!(!remove_stale_socket(&live).unwrap(), "a live socket stays");
        assert!(live.exists());

        let stale = dir.path().join("stale");
        drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
        assert!(remove_stale_socket(&stale).unwrap());
        assert!(!stale.exists());
        assert!(!remove_stale_socket(&stale).unwrap(), "missing is fine");
    }
}
