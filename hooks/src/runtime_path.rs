//! Where the daemon's socket is, computed from the environment alone.
//!
//! The hot path only needs the socket path and must not touch the disk to
//! find it; creating and checking the runtime directory is the daemon's job
//! (`llm_bridge::runtime_dir`).

use std::path::PathBuf;

/// `$XDG_RUNTIME_DIR` if set to an absolute path, else `/tmp/llm-bridge-$UID`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if dir.as_encoded_bytes().first() == Some(&b'/') => PathBuf::from(dir),
        _ => {
            // SAFETY: getuid cannot fail.
            let uid = unsafe { libc::getuid() };
            PathBuf::from(format!("/tmp/llm-bridge-{uid}"))
        }
    }
}

/// `$LLM_BRIDGE_SOCKET` if set and non-empty, else `RUNTIME/llm-bridge.sock`.
pub fn socket_path() -> PathBuf {
    match std::env::var_os("LLM_BRIDGE_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => runtime_dir().join("llm-bridge.sock"),
    }
}

/// The directory holding waybar.json, state.json and the lock.
pub fn state_dir() -> PathBuf {
    runtime_dir().join("llm-bridge")
}

/// The config file: `$LLM_BRIDGE_CONFIG`, else
/// `$XDG_CONFIG_HOME/llm-bridge/config.toml`, else
/// `~/.config/llm-bridge/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LLM_BRIDGE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("llm-bridge").join("config.toml"))
}
