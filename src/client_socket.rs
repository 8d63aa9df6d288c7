//! The socket a command talks to the daemon from: `status`, `reload`,
//! `stop`, `say`, `waybar --follow` and `status --watch`.
//!
//! It is bound to a path inside the private state directory
//! (`$XDG_RUNTIME_DIR/llm-bridge`, 0700 and checked), never to an abstract
//! address: another user can neither send to it nor, once the command has
//! exited, bind the same name and receive what the daemon still sends there
//! (pushes, a late `say` answer). Anyone may bind an abstract name. It is
//! also connected to the daemon's socket, so the kernel delivers only the
//! daemon's datagrams to it. The file is removed when the socket is
//! dropped; one left by a killed command is removed by the next command
//! with its PID, or by the daemon when a push to it is refused.

use llm_bridge_core::error::{Context, Result};
use llm_bridge_core::paths::Paths;
use std::ops::Deref;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Names of the sockets one process binds (a command binds one or two).
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The file name prefix of client sockets in the state directory.
pub const PREFIX: &str = "client-";

pub struct ClientSocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl ClientSocket {
    /// Binds a new socket in `paths.state_dir`, checking that directory
    /// first (this user's, 0700, not a symlink).
    pub fn bind(paths: &Paths) -> Result<ClientSocket> {
        paths.ensure_dirs()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = paths
            .state_dir
            .join(format!("{PREFIX}{}-{n}.sock", std::process::id()));
        // Left by a killed command that had this PID: the directory is
        // ours, so the file is too.
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path)
            .with_context(|| format!("cannot bind a reply socket at {}", path.display()))?;
        Ok(ClientSocket { socket, path })
    }

    /// Connects to the daemon's socket: only its datagrams arrive from now
    /// on. Called again after a daemon restarts (a new socket file).
    pub fn connect(&self, daemon: &Path) -> std::io::Result<()> {
        self.socket.connect(daemon)
    }
}

impl Deref for ClientSocket {
    type Target = UnixDatagram;

    fn deref(&self) -> &UnixDatagram {
        &self.socket
    }
}

impl Drop for ClientSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
