//! Where the daemon's socket is, computed from the environment alone.
//!
//! The hot path only needs the socket path; creating the runtime directory
//! is the daemon's and the fallback's job (`Paths::ensure_dirs`). One case
//! costs the hot path one `lstat`: without `XDG_RUNTIME_DIR` (which logind
//! makes private) the directory is `/tmp/llm-bridge-$UID`, a name any local
//! user can take first. [`checked_socket_path`] and
//! [`fallback_dir_problem`] refuse it unless it is this user's own private
//! directory (the one rule of [`crate::private_dir`]), so another user never
//! receives our events nor feeds us a module.

use crate::private_dir::{PrivateDir, PrivateDirError};
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

/// Whether the runtime directory is the shared-`/tmp` fallback.
fn is_fallback() -> bool {
    !matches!(std::env::var_os("XDG_RUNTIME_DIR"),
        Some(dir) if dir.as_encoded_bytes().first() == Some(&b'/'))
}

/// Without `XDG_RUNTIME_DIR`: why `/tmp/llm-bridge-$UID` is refused, if it
/// is (a missing one is fine: whoever creates it creates it private). The
/// rule is [`PrivateDir`]'s, on one `lstat`.
pub fn fallback_dir_problem() -> Option<PrivateDirError> {
    if !is_fallback() {
        return None;
    }
    PrivateDir::check(&runtime_dir()).err()
}

/// [`socket_path`], refused when it lies in a fallback directory that is not
/// this user's own private one.
pub fn checked_socket_path() -> Result<PathBuf, PrivateDirError> {
    let explicit = std::env::var_os("LLM_BRIDGE_SOCKET").is_some_and(|p| !p.is_empty());
    match fallback_dir_problem() {
        Some(problem) if !explicit => Err(problem),
        _ => Ok(socket_path()),
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
