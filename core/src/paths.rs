//! The runtime files and the checks that make them safe to use.
//!
//! RUNTIME is `$XDG_RUNTIME_DIR`, or `/tmp/llm-bridge-$UID` without it; our
//! files live in `RUNTIME/llm-bridge/`. Both directories must be real
//! directories (not symlinks) owned by the user and closed to others: a
//! directory in /tmp that another user created first is refused, never used.

use crate::error::{Context, Error, Result};
use llm_bridge_hooks::runtime_path;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Paths {
    pub runtime: PathBuf,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub waybar_json: PathBuf,
    pub state_json: PathBuf,
    pub lock: PathBuf,
    /// Waybar PIDs found by the last /proc scan.
    pub waybar_pids: PathBuf,
    /// Written by a daemon that `llm-bridge start` started.
    pub pid_file: PathBuf,
}

impl Paths {
    /// The paths the environment selects; no I/O.
    pub fn from_env() -> Paths {
        let runtime = runtime_path::runtime_dir();
        let state_dir = runtime.join("llm-bridge");
        Paths {
            socket: runtime_path::socket_path(),
            waybar_json: state_dir.join("waybar.json"),
            state_json: state_dir.join("state.json"),
            lock: state_dir.join("lock"),
            waybar_pids: state_dir.join("waybar.pids"),
            pid_file: runtime.join("llm-bridge.pid"),
            runtime,
            state_dir,
        }
    }

    /// Creates RUNTIME and RUNTIME/llm-bridge (0700) as needed and checks
    /// that both are private directories of this user.
    pub fn ensure_dirs(&self) -> Result<()> {
        ensure_private_dir(&self.runtime)?;
        ensure_private_dir(&self.state_dir)
    }
}

/// `$XDG_STATE_HOME/llm-bridge` (default `~/.local/state/llm-bridge`): what
/// outlives a login, the history and daemon.log.
pub fn state_home() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
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
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("llm-bridge"))
}

/// Creates `dir` (0700) if needed, and checks that it is a private
/// directory of this user: a real directory, not a symlink, owned by the
/// user, closed to others (a wider mode is narrowed).
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    let meta =
        fs::symlink_metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
    if meta.file_type().is_symlink() {
        return Err(Error::msg(format!(
            "refusing to use {}: it is a symlink",
            dir.display()
        )));
    }
    if !meta.is_dir() {
        return Err(Error::msg(format!(
            "refusing to use {}: not a directory",
            dir.display()
        )));
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if meta.uid() != uid {
        return Err(Error::msg(format!(
            "refusing to use {}: owned by uid {}, not by you (uid {uid})",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dirs_and_refuses_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rt");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().mode() & 0o777,
            0o700,
            "tightened"
        );
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(ensure_private_dir(&file)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }
}
