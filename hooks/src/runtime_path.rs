//! Where the daemon's socket is, computed from the environment alone.
//!
//! The hot path only needs the socket path; creating the runtime directory
//! is the daemon's and the fallback's job (`Paths::ensure_dirs`). One case
//! costs the hot path one `lstat`: without `XDG_RUNTIME_DIR` (which logind
//! makes private) the directory is `/tmp/llm-bridge-$UID`, a name any local
//! user can take first. [`checked_socket_path`] and
//! [`fallback_dir_problem`] refuse it unless it is this user's own private
//! directory, so another user never receives our events nor feeds us a
//! module.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// What is wrong with `dir` as `uid`'s private directory: a link, not a
/// directory, another owner, access for others. A missing one is fine
/// (whoever creates it creates it 0700).
pub fn check_private(dir: &Path, uid: u32) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect {}: {e}", dir.display())),
    };
    let problem = if meta.file_type().is_symlink() {
        "it is a symlink".to_string()
    } else if !meta.is_dir() {
        "it is not a directory".to_string()
    } else if meta.uid() != uid {
        format!("it is owned by uid {}, not by you (uid {uid})", meta.uid())
    } else if meta.permissions().mode() & 0o077 != 0 {
        format!(
            "its mode is {:o}, not 700",
            meta.permissions().mode() & 0o777
        )
    } else {
        return Ok(());
    };
    Err(format!(
        "refusing {}: {problem}; remove it or set XDG_RUNTIME_DIR",
        dir.display()
    ))
}

/// Without `XDG_RUNTIME_DIR`: what is wrong with `/tmp/llm-bridge-$UID`.
pub fn fallback_dir_problem() -> Option<String> {
    if !is_fallback() {
        return None;
    }
    // SAFETY: getuid cannot fail.
    check_private(&runtime_dir(), unsafe { libc::getuid() }).err()
}

/// [`socket_path`], refused when it lies in a fallback directory that is not
/// this user's own private one.
pub fn checked_socket_path() -> Result<PathBuf, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::DirBuilderExt;

    #[test]
    fn only_a_private_directory_of_ones_own_passes() {
        let base = tempfile_dir("rp");
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        let private = base.join("private");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .unwrap();
        assert_eq!(check_private(&private, me), Ok(()));
        assert_eq!(check_private(&base.join("missing"), me), Ok(()));
        // Taken first by another user (seen from another uid), open to
        // others, a link, a file.
        assert!(check_private(&private, me + 1)
            .unwrap_err()
            .contains("owned by uid"));
        let open = base.join("open");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&open)
            .unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_private(&open, me)
            .unwrap_err()
            .contains("mode is 755"));
        let link = base.join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(check_private(&link, me).unwrap_err().contains("symlink"));
        let file = base.join("file");
        std::fs::write(&file, "").unwrap();
        assert!(check_private(&file, me)
            .unwrap_err()
            .contains("not a directory"));
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A fresh directory under /tmp (this crate has no tempfile).
    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "llm-bridge-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
