//! Replacing a file so that readers see the old or the new content, never
//! a mix: write a temporary file in the same directory, then rename it.
//! [`write_atomic`] is for our own runtime files; [`Staged`] is for a
//! user's file, whose mode and owner it keeps and which it flushes to disk.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Atomically replaces `path` with `contents` (mode 0600). Writers are
/// serialized by the state lock, so one fixed temporary name is enough.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)?;
    file.write_all(contents)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}

/// A new version of a file, written and flushed beside it but not in place
/// yet: [`Staged::commit`] renames it over the file; dropping it instead
/// removes it, so a failure leaves the file as it was.
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `contents` to a new temporary file beside `target`, with
    /// exactly `mode` and, when given, the owner `(uid, gid)`.
    pub fn new(
        target: &Path,
        contents: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> io::Result<Staged> {
        let (mut file, temp) = create_new_beside(target, ".tmp", mode)?;
        let staged = Staged {
            temp,
            target: target.to_path_buf(),
            committed: false,
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        Ok(staged)
    }

    /// Renames the new version over the file and flushes the directory.
    pub fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        sync_dir(&self.target)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Creates a file that did not exist (`O_EXCL`) with exactly `mode` from the
/// start: `path` itself, or `path` with `-1`, `-2`... appended if taken.
pub fn create_new_numbered(path: &Path, mode: u32) -> io::Result<(File, PathBuf)> {
    let mut n = 0;
    loop {
        let candidate = if n == 0 {
            path.to_path_buf()
        } else {
            let mut name = path.as_os_str().to_owned();
            name.push(format!("-{n}"));
            PathBuf::from(name)
        };
        match create_new(&candidate, mode) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            result => return result.map(|file| (file, candidate)),
        }
    }
}

/// A new hidden file beside `target`, named after it and this process.
fn create_new_beside(target: &Path, suffix: &str, mode: u32) -> io::Result<(File, PathBuf)> {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{}{suffix}", std::process::id()));
    create_new_numbered(&target.with_file_name(name), mode)
}

fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    // The mode is given at creation, so the file is never more open than
    // `mode` (the umask can only narrow it); then it is set exactly.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(mode))?;
    Ok(file)
}

/// Flushes the directory holding `path`, so a new name in it is on disk.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("waybar.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn staged_keeps_the_mode_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.json");
        std::fs::write(&p, "old").unwrap();
        let staged = Staged::new(&p, b"new", 0o640, None).unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"old",
            "not in place before commit"
        );
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        drop(Staged::new(&p, b"dropped", 0o600, None).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn numbered_creation_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bak-1");
        std::fs::write(&p, "first").unwrap();
        let (_, second) = create_new_numbered(&p, 0o600).unwrap();
        let (_, third) = create_new_numbered(&p, 0o600).unwrap();
        assert_eq!(second, dir.path().join("f.bak-1-1"));
        assert_eq!(third, dir.path().join("f.bak-1-2"));
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
    }
}
