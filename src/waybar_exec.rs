//! `llm-bridge waybar`: what Waybar's `exec` runs.
//!
//! Without `--follow` it prints the current module once (signal mode; the
//! `none` module if no daemon ever ran) and always exits 0, because a
//! non-zero exit hides the module. With `--follow` it is Waybar's
//! continuous mode: the current module at once, then one line per change.
//! Changes arrive as pushes from the daemon, to which this process
//! subscribes from an autobound abstract address, and as inotify events on
//! waybar.json (so the fallback's writes show too); an inotify event for the
//! socket re-subscribes after a daemon restart. Nothing polls.

use crate::datagram;
use crate::error::{Context, Result};
use crate::module;
use crate::paths::Paths;
use llm_bridge_hooks::wire::{reply, Message, MAX_DATAGRAM};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// The current module line: waybar.json's first line, else the `none` module.
pub fn current_module(paths: &Paths) -> String {
    std::fs::read_to_string(&paths.waybar_json)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(module::render_empty)
}

/// Prints the current module once.
pub fn print_once(paths: &Paths) {
    let line = current_module(paths);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    log_exec(&line);
}

/// With `LLM_BRIDGE_EXEC_LOG=FILE`, every line printed for Waybar is also
/// appended to FILE as `<unix ns> <line>`: how the end-to-end tests see that
/// Waybar really ran the module, and when.
fn log_exec(line: &str) {
    let Some(path) = std::env::var_os("LLM_BRIDGE_EXEC_LOG") else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{now} {line}");
    }
}

/// Prints the current module, then every change, until stdout closes.
pub fn follow(paths: &Paths) -> Result<()> {
    paths.ensure_dirs()?;
    let socket = UnixDatagram::unbound().context("cannot create a socket")?;
    datagram::autobind(socket.as_raw_fd()).context("cannot bind a reply address")?;
    socket
        .set_nonblocking(true)
        .context("cannot make the socket non-blocking")?;

    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .context("cannot start inotify")?;
    let socket_dir = paths.socket.parent().unwrap_or(Path::new("/"));
    let socket_name = paths.socket.file_name().map(|n| n.to_os_string());
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

    let mut printer = Printer::default();
    if !printer.print(&current_module(paths)) {
        return Ok(());
    }
    subscribe(&socket, &paths.socket);

    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let mut fds = [
            PollFd::new(socket.as_fd(), PollFlags::POLLIN),
            PollFd::new(inotify.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll failed"),
        }
        // Drain both sources; if waybar.json changed, the file is newest.
        let mut pushed = None;
        loop {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    if let Some(body) =
                        buf[..n.min(MAX_DATAGRAM)].strip_prefix(reply::MODULE.as_bytes())
                    {
                        pushed = Some(String::from_utf8_lossy(body).into_owned());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let mut file_changed = false;
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                let name = event.name.as_deref();
                if name == socket_name.as_deref()
                    && event
                        .mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
                {
                    subscribe(&socket, &paths.socket);
                }
                if name == paths.waybar_json.file_name() {
                    file_changed = true;
                }
            }
        }
        let line = if file_changed {
            Some(current_module(paths))
        } else {
            pushed
        };
        if let Some(line) = line {
            if !printer.print(&line) {
                return Ok(());
            }
        }
    }
}

fn subscribe(socket: &UnixDatagram, path: &Path) {
    // Nothing listening is fine: the socket's creation will wake us.
    let _ = socket.send_to(&Message::Subscribe.encode(), path);
}

#[derive(Default)]
struct Printer {
    last: Option<String>,
}

impl Printer {
    /// Prints `line` unless it repeats the last one; false once stdout is gone.
    fn print(&mut self, line: &str) -> bool {
        if self.last.as_deref() == Some(line) {
            return true;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return false;
        }
        self.last = Some(line.to_string());
        log_exec(line);
        true
    }
}
