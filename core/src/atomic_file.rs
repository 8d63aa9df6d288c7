//! Replacing a file so that readers see the old or the new content, never
//! a mix: write a temporary file in the same directory, then rename it.
//! [`write_atomic`] is for our own runtime files; [`Staged`] is for a
//! user's file, whose mode and owner it keeps and which it flushes to disk.

use std::ffi::CString;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Atomically replaces `path` with `contents` (mode 0600). The temporary
/// file beside it is created exclusively (`O_EXCL | O_NOFOLLOW`): never a
/// file or link someone put there.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (mut file, tmp) = create_new_beside(path, ".tmp", 0o600)?;
    let written = file.write_all(contents);
    drop(file);
    let placed = written.and_then(|()| std::fs::rename(&tmp, path));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

/// [`write_atomic`] for a file replaced again and again (waybar.json on
/// every flush): the directory stays open, so each replacement works on
/// names in it with no path to walk, and [`Rewriter::prepare`] creates the
/// next temporary file ahead of time (after a flush, off its critical path),
/// which leaves a `write` and a `renameat` for the flush itself.
#[derive(Debug)]
pub struct Rewriter {
    dir: OwnedFd,
    name: CString,
    temp: CString,
    /// The next temporary file, created and empty.
    prepared: Option<File>,
    /// The file just renamed into place, closed at the next `prepare`.
    spent: Option<File>,
}

impl Rewriter {
    /// Opens `path`'s directory; `path` itself need not exist.
    pub fn new(path: &Path) -> io::Result<Rewriter> {
        use std::os::unix::ffi::OsStrExt;
        let dir_path = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = File::open(dir_path.unwrap_or(Path::new(".")))?;
        let cstring = |p: &Path| {
            CString::new(p.as_os_str().as_bytes().to_vec())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a file name"))
        };
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        Ok(Rewriter {
            dir: dir.into(),
            name: cstring(Path::new(name))?,
            temp: cstring(temp_path(Path::new(name)).as_path())?,
            prepared: None,
            spent: None,
        })
    }

    /// Creates the next temporary file now, so the next [`Rewriter::write`]
    /// need not; closes the one the last write renamed into place.
    pub fn prepare(&mut self) -> io::Result<()> {
        self.spent = None;
        if self.prepared.is_none() {
            self.prepared = Some(self.open_temp()?);
        }
        Ok(())
    }

    /// Replaces the file with `contents` (mode 0600), atomically.
    pub fn write(&mut self, contents: &[u8]) -> io::Result<()> {
        let file = match self.prepared.take() {
            Some(f) => f,
            None => self.open_temp()?,
        };
        (&file).write_all(contents)?;
        // SAFETY: valid descriptor and NUL-terminated names.
        let rc = unsafe {
            libc::renameat(
                self.dir.as_raw_fd(),
                self.temp.as_ptr(),
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.spent = Some(file);
        Ok(())
    }

    fn open_temp(&self) -> io::Result<File> {
        // SAFETY: valid descriptor and NUL-terminated name; the new
        // descriptor is owned by the File at once.
        unsafe {
            let fd = libc::openat(
                self.dir.as_raw_fd(),
                self.temp.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o600,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(File::from_raw_fd(fd))
        }
    }
}

impl Drop for Rewriter {
    /// A prepared, unused temporary file is removed.
    fn drop(&mut self) {
        if self.prepared.take().is_some() {
            // SAFETY: valid descriptor and NUL-terminated name.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.temp.as_ptr(), 0) };
        }
    }
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
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
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
    fn a_rewriter_replaces_the_file_again_and_again() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waybar.json");
        let mut w = Rewriter::new(&path).unwrap();
        for text in ["one\n", "two\n", "three\n"] {
            w.write(text.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            w.prepare().unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }

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
