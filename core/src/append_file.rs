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
    // Ours: never through a link; a FIFO or device put there is refused
    // (O_NONBLOCK: opening a FIFO cannot block either).
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if file.metadata()?.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Appends `record` whole or not at all: one `write`, and a short one (a
/// full disk) cut back to the length before it, so the next record never
/// starts glued to half of this one.
pub fn append_whole(file: &File, record: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let before = file.metadata()?.len();
    // SAFETY: write from a valid buffer of its length to our descriptor.
    let n = unsafe { libc::write(file.as_raw_fd(), record.as_ptr().cast(), record.len()) };
    if n >= 0 && n as usize == record.len() {
        return Ok(());
    }
    let err = if n < 0 {
        io::Error::last_os_error()
    } else {
        // A short write: the reason is what the next write would say.
        io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left for the whole record",
        )
    };
    if n > 0 {
        // SAFETY: ftruncate of our own descriptor to its former length.
        unsafe { libc::ftruncate(file.as_raw_fd(), before as libc::off_t) };
    }
    Err(err)
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
