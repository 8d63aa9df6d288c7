//! Which compositor runs, and its socket: from `SWAYSOCK`,
//! `HYPRLAND_INSTANCE_SIGNATURE` or `NIRI_SOCKET`, or, when a Waybar started
//! by systemd lacks them, from the sockets under `$XDG_RUNTIME_DIR`
//! (`sway-ipc.UID.PID.sock`, `hypr/*/.socket.sock`, `niri.*.PID.sock`).
//! Only this user's sockets count, and only those a live process listens on.

use super::ancestry::owned_by_me;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The compositors `llm-bridge focus` speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sway,
    Hyprland,
    Niri,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sway => "sway",
            Kind::Hyprland => "Hyprland",
            Kind::Niri => "niri",
        }
    }
}

/// A compositor and the socket it answers on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compositor {
    pub kind: Kind,
    pub socket: PathBuf,
}

/// Why no compositor was found.
#[derive(Debug)]
pub struct NoCompositor(String);

impl fmt::Display for NoCompositor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most this many entries of the runtime directory are looked at.
const MAX_ENTRIES: usize = 4096;

/// The compositor the environment names, else the newest live one under
/// `$XDG_RUNTIME_DIR`.
pub fn find() -> Result<Compositor, NoCompositor> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let named = [
        (Kind::Sway, var("SWAYSOCK").map(PathBuf::from)),
        (
            Kind::Hyprland,
            var("HYPRLAND_INSTANCE_SIGNATURE")
                .zip(runtime.as_ref())
                .map(|(sig, dir)| dir.join("hypr").join(sig).join(".socket.sock")),
        ),
        (Kind::Niri, var("NIRI_SOCKET").map(PathBuf::from)),
    ];
    for (kind, socket) in named {
        if let Some(socket) = socket {
            return match mine(&socket) {
                true => Ok(Compositor { kind, socket }),
                false => Err(NoCompositor(format!(
                    "{}'s socket {} is not a socket of yours",
                    kind.name(),
                    socket.display()
                ))),
            };
        }
    }
    let Some(runtime) = runtime else {
        return Err(NoCompositor(
            "no supported compositor: SWAYSOCK, HYPRLAND_INSTANCE_SIGNATURE, NIRI_SOCKET and \
             XDG_RUNTIME_DIR are all unset"
                .into(),
        ));
    };
    let mut found: Vec<(SystemTime, Compositor)> = candidates(&runtime)
        .into_iter()
        .filter(|c| UnixStream::connect(&c.socket).is_ok())
        .filter_map(|c| {
            Some((
                std::fs::symlink_metadata(&c.socket).ok()?.modified().ok()?,
                c,
            ))
        })
        .collect();
    found.sort_by_key(|(modified, _)| *modified);
    found.pop().map(|(_, c)| c).ok_or_else(|| {
        NoCompositor(format!(
            "no supported compositor: SWAYSOCK, HYPRLAND_INSTANCE_SIGNATURE and NIRI_SOCKET are \
             unset, and no live sway, Hyprland or niri socket of yours is in {}",
            runtime.display()
        ))
    })
}

/// A non-empty environment variable.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The sockets under `runtime` that look like a compositor's, are this
/// user's, and (where the name holds the compositor's PID) whose process
/// runs as this user.
fn candidates(runtime: &Path) -> Vec<Compositor> {
    let mut found = Vec::new();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() }.to_string();
    for name in entries(runtime) {
        let kind = if let Some(rest) = name.strip_prefix("sway-ipc.") {
            // sway-ipc.UID.PID.sock
            let mut parts = rest.split('.');
            let (Some(owner), Some(pid), Some("sock"), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if owner != uid || !pid_runs(pid) {
                continue;
            }
            Kind::Sway
        } else if name.starts_with("niri.") && name.ends_with(".sock") {
            // niri.WAYLAND_DISPLAY.PID.sock
            let mut parts = name.rsplit('.').skip(1);
            if !parts.next().is_some_and(pid_runs) {
                continue;
            }
            Kind::Niri
        } else {
            continue;
        };
        let socket = runtime.join(&name);
        if mine(&socket) {
            found.push(Compositor { kind, socket });
        }
    }
    for instance in entries(&runtime.join("hypr")) {
        let socket = runtime.join("hypr").join(instance).join(".socket.sock");
        if mine(&socket) {
            found.push(Compositor {
                kind: Kind::Hyprland,
                socket,
            });
        }
    }
    found
}

/// The names in a directory (at most [`MAX_ENTRIES`]); none if unreadable.
fn entries(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.take(MAX_ENTRIES)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// Whether `path` is a socket (not a link to one) owned by this user.
fn mine(path: &Path) -> bool {
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket() && m.uid() == me)
}

/// Whether the decimal `pid` names a process of this user's.
fn pid_runs(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|pid| pid > 1 && owned_by_me(pid))
}
