//! Files that only grow by appends: the history (`sessions.jsonl`) and
//! `daemon.log`. They are created 0600 (session ids, project paths and
//! costs are nobody else's business; an older file made 0644 is fixed when
//! next opened), in a private directory (created 0700, refused if it is not
//! private: [`PrivateDir`]), and rotated once they pass a stated
//! size: the file becomes `NAME.1` (replacing the older one) and a new one
//! starts, so neither grows forever and a reader's memory stays bounded.

use llm_bridge_hooks::private_dir::PrivateDir;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the previous generation of `path` is kept.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Opens `path` for appending, first rotating it if it holds `limit` bytes
/// or more.
pub fn open(path: &Path, limit: u64) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        PrivateDir::ensure(dir)?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= limit) {
        std::fs::rename(path, rotated(path))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    if file.metadata()?.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn created_private_and_rotated_past_the_limit() {
        let dir = private_tempdir();
        let path = dir.path().join("state/log");
        open(&path, 10).unwrap().write_all(b"0123456789").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()) & 0o077, 0);
        // At the limit: the next open starts a new file, the old one is .1.
        open(&path, 10).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read(rotated(&path)).unwrap(), b"0123456789");
        // Below it: appended.
        open(&path, 10).unwrap().write_all(b"+").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new+");
    }

    #[test]
    fn an_older_world_readable_file_is_made_private() {
        let dir = private_tempdir();
        let path = dir.path().join("log");
        std::fs::write(&path, b"old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        open(&path, 1 << 20).unwrap().write_all(b"more\n").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"old\nmore\n");
    }

    /// A temporary directory made 0700, as the history's and the log's
    /// directory always is: a wider one is refused.
    #[track_caller]
    fn private_tempdir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap()
    }
}
