//! The runtime files and the checks that make them safe to use.
//!
//! RUNTIME is `$XDG_RUNTIME_DIR`, or `/tmp/llm-bridge-$UID` without it; our
//! files live in `RUNTIME/llm-bridge/`. Both directories must be real
//! directories (not symlinks) owned by the user and closed to others
//! ([`PrivateDir`], the one check): a directory in /tmp that another user
//! created first is refused, never used.

use crate::error::Result;
use llm_bridge_hooks::private_dir::PrivateDir;
use llm_bridge_hooks::runtime_path;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Paths {
    pub runtime: PathBuf,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub waybar_json: PathBuf,
    pub state_json: PathBuf,
    /// The events taken since state.json was written ([`crate::journal`]).
    pub journal: PathBuf,
    pub lock: PathBuf,
    /// Waybar PIDs found by the last /proc scan.
    pub waybar_pids: PathBuf,
    /// Written by a daemon that `llm-bridge start` started.
    pub pid_file: PathBuf,
}

impl Paths {
    /// Every file in the one directory `dir`, under its usual name (the
    /// tests' daemons and fallbacks); no I/O.
    pub fn in_dir(dir: &Path) -> Paths {
        let at = |name: &str| dir.join(name);
        Paths {
            runtime: dir.to_path_buf(),
            socket: at("socket"),
            state_dir: dir.to_path_buf(),
            waybar_json: at("waybar.json"),
            state_json: at("state.json"),
            journal: at("journal"),
            lock: at("lock"),
            waybar_pids: at("waybar.pids"),
            pid_file: at("pid"),
        }
    }

    /// The paths the environment selects; no I/O.
    pub fn from_env() -> Paths {
        let runtime = runtime_path::runtime_dir();
        let state_dir = runtime.join("llm-bridge");
        Paths {
            socket: runtime_path::socket_path(),
            waybar_json: state_dir.join("waybar.json"),
            state_json: state_dir.join("state.json"),
            journal: state_dir.join("journal"),
            lock: state_dir.join("lock"),
            waybar_pids: state_dir.join("waybar.pids"),
            pid_file: runtime.join("llm-bridge.pid"),
            runtime,
            state_dir,
        }
    }

    /// Creates RUNTIME and RUNTIME/llm-bridge (0700) as needed and checks
    /// that both are private directories of this user; returns the second,
    /// open.
    pub fn ensure_dirs(&self) -> Result<PrivateDir> {
        PrivateDir::ensure(&self.runtime)?;
        Ok(PrivateDir::ensure(&self.state_dir)?)
    }
}

/// `$XDG_STATE_HOME/llm-bridge` (default `~/.local/state/llm-bridge`): what
/// outlives a login, the history and daemon.log.
pub fn state_home() -> Option<PathBuf> {
    ours_under("XDG_STATE_HOME", ".local/state")
}

/// `$VAR/llm-bridge`, or `~/DEFAULT/llm-bridge` when the XDG variable `var`
/// is unset or empty.
fn ours_under(var: &str, default: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(default)))?;
    Some(base.join("llm-bridge"))
}

/// Where rendered phrases are kept: systemd's `$CACHE_DIRECTORY` (the unit's
/// `CacheDirectory=`), else `$XDG_CACHE_HOME/llm-bridge` (default
/// `~/.cache/llm-bridge`).
pub fn cache_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CACHE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd lists one directory per CacheDirectory= entry.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if first.starts_with('/') {
            return Some(PathBuf::from(first));
        }
    }
    ours_under("XDG_CACHE_HOME", ".cache")
}

/// `$XDG_DATA_HOME/llm-bridge` (default `~/.local/share/llm-bridge`): the
/// user's voices.
pub fn data_home() -> Option<PathBuf> {
    ours_under("XDG_DATA_HOME", ".local/share")
}

/// Where `llm-bridge voice install` puts voices, and the one directory the
/// daemon watches for a voice that appears or changes.
pub fn voices_dir() -> Option<PathBuf> {
    Some(data_home()?.join("voices"))
}

/// Where a voice is looked for when `[speech] voice` is empty, in order:
/// `voices/voice.onnx` (the link `voice install` makes), then `voice.onnx`
/// in the data directory (the place earlier versions documented).
pub fn default_voices() -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(voices) = voices_dir() {
        places.push(voices.join("voice.onnx"));
    }
    if let Some(data) = data_home() {
        places.push(data.join("voice.onnx"));
    }
    places
}
