//! Writes the embedded data into a directory the library can read.
//!
//! espeak-ng opens its data by path, so the files are written once into
//! `espeak-ng-VERSION-DIGEST/espeak-ng-data/` inside a directory the caller
//! has checked and holds open (our private cache). The tree is built under a
//! temporary name, every file created exclusively without following links,
//! synced, and renamed into place in one step, so a reader sees all of it or
//! none; a process that loses the race to another uses the winner's copy.
//! Copies left by other builds, and temporary trees whose writer died, are
//! removed.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::data;

/// The name of the unpacked tree for this build's data.
pub fn tree_name() -> String {
    format!("espeak-ng-{}-{:016x}", data::VERSION, data::DIGEST)
}

/// Makes sure this build's data is unpacked in `dir` (the directory `dir_fd`
/// is open on, already checked by the caller) and returns the path to pass to
/// `espeak_Initialize`: the directory that holds `espeak-ng-data/`.
pub fn unpack(dir_fd: BorrowedFd<'_>, dir: &Path) -> io::Result<PathBuf> {
    let name = tree_name();
    let target = dir.join(&name);
    let c_name = cstring(&name)?;
    if open_dir_at(dir_fd.as_raw_fd(), &c_name).is_ok() {
        return Ok(target);
    }
    let temp = format!(".{name}.{}.tmp", std::process::id());
    let c_temp = cstring(&temp)?;
    // Ours from an earlier run of this same pid number, which died.
    remove_tree_at(dir_fd.as_raw_fd(), &c_temp)?;
    mkdir_at(dir_fd.as_raw_fd(), &c_temp)?;
    let written = open_dir_at(dir_fd.as_raw_fd(), &c_temp).and_then(|root| {
        let data_dir = cstring("espeak-ng-data")?;
        mkdir_at(root.as_raw_fd(), &data_dir)?;
        let data_fd = open_dir_at(root.as_raw_fd(), &data_dir)?;
        for (path, bytes) in data::FILES {
            write_file(data_fd.as_raw_fd(), path, bytes)
                .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
            release(bytes);
        }
        // SAFETY: a valid descriptor of ours.
        if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    });
    if let Err(e) = written {
        let _ = remove_tree_at(dir_fd.as_raw_fd(), &c_temp);
        return Err(io::Error::new(
            e.kind(),
            format!("unpacking espeak-ng's data into {}: {e}", dir.display()),
        ));
    }
    // SAFETY: both names are NUL-terminated and the descriptor is open.
    let renamed = unsafe {
        libc::renameat(
            dir_fd.as_raw_fd(),
            c_temp.as_ptr(),
            dir_fd.as_raw_fd(),
            c_name.as_ptr(),
        )
    };
    if renamed != 0 {
        let e = io::Error::last_os_error();
        let _ = remove_tree_at(dir_fd.as_raw_fd(), &c_temp);
        // Another process unpacked the same data first: use its copy.
        if !matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) {
            return Err(io::Error::new(
                e.kind(),
                format!("unpacking espeak-ng's data into {}: {e}", dir.display()),
            ));
        }
    }
    remove_stale(dir_fd.as_raw_fd(), &name);
    Ok(target)
}

/// Removes other builds' trees and temporary trees whose writer is gone.
fn remove_stale(dir: RawFd, current: &str) {
    let Ok(entries) = list_at(dir) else {
        return;
    };
    for entry in entries {
        let Ok(text) = entry.to_str() else { continue };
        let stale = if let Some(rest) = text.strip_prefix('.') {
            // `.NAME.PID.tmp`: stale once PID no longer runs.
            rest.strip_suffix(".tmp")
                .and_then(|r| r.rsplit_once('.'))
                .filter(|(n, _)| n.starts_with("espeak-ng-"))
                .and_then(|(_, pid)| pid.parse::<libc::pid_t>().ok())
                .is_some_and(|pid| !alive(pid))
        } else {
            text.starts_with("espeak-ng-") && text != current
        };
        if stale {
            let _ = remove_tree_at(dir, &entry);
        }
    }
}

fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, as another user's process.
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Creates `path` (which may name subdirectories) under `dir`, exclusively.
fn write_file(dir: RawFd, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut parent: Option<OwnedFd> = None;
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let at = parent.as_ref().map_or(dir, AsRawFd::as_raw_fd);
        let c_part = cstring(part)?;
        if parts.peek().is_none() {
            // SAFETY: a NUL-terminated name under an open directory; the
            // descriptor returned is owned by the File.
            let fd = unsafe {
                libc::openat(
                    at,
                    c_part.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just opened and is owned by nobody else.
            let mut file = unsafe { File::from_raw_fd(fd) };
            return file.write_all(bytes);
        }
        match mkdir_at(at, &c_part) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            other => other?,
        }
        parent = Some(open_dir_at(at, &c_part)?);
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"))
}

/// Gives back the pages of embedded data that writing it brought in: they
/// are read once, here, and never again by this process.
fn release(bytes: &[u8]) {
    // SAFETY: plain arithmetic on the slice's address.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let start = (bytes.as_ptr() as usize).div_ceil(page) * page;
    let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
    if end > start {
        // SAFETY: whole pages inside a read-only mapping of the executable;
        // MADV_DONTNEED on a file mapping only drops our mapping of them,
        // and they read the same if touched again.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a name"))
}

fn mkdir_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated name under an open directory.
    if unsafe { libc::mkdirat(dir, name.as_ptr(), 0o700) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name under an open directory; the descriptor
    // returned is owned by the OwnedFd.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in `dir`, without `.` and `..`.
fn list_at(dir: RawFd) -> io::Result<Vec<CString>> {
    let dot = cstring(".")?;
    let fd = open_dir_at(dir, &dot)?;
    // SAFETY: fdopendir takes over the descriptor on success.
    let stream = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    let mut names = Vec::new();
    loop {
        // SAFETY: `stream` is a valid open directory stream.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry whose name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    // SAFETY: closes the stream (and its descriptor) once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

/// Removes `name` under `dir` and everything in it, never following a link.
/// A missing `name` is not an error.
fn remove_tree_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    match open_dir_at(dir, name) {
        Ok(sub) => {
            for entry in list_at(sub.as_raw_fd())? {
                remove_tree_at(sub.as_raw_fd(), &entry)?;
            }
            // SAFETY: a NUL-terminated name under an open directory.
            if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        // Not a directory (or a link): remove the name itself.
        Err(_) => {
            // SAFETY: a NUL-terminated name under an open directory.
            if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ENOENT) {
                    return Err(e);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;

    fn dir_fd(path: &Path) -> OwnedFd {
        OwnedFd::from(File::open(path).unwrap())
    }

    #[test]
    fn unpacks_every_file_once_and_reuses_it() {
        let tmp = tempfile::tempdir().unwrap();
        let fd = dir_fd(tmp.path());
        let root = unpack(fd.as_fd(), tmp.path()).unwrap();
        assert_eq!(root, tmp.path().join(tree_name()));
        for (path, bytes) in data::FILES {
            let on_disk = fs::read(root.join("espeak-ng-data").join(path)).unwrap();
            assert_eq!(&on_disk, bytes, "{path}");
        }
        let mode = fs::metadata(root.join("espeak-ng-data/en_dict"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second call finds the tree and writes nothing: a file removed
        // from it stays removed.
        fs::remove_file(root.join("espeak-ng-data/af_dict")).unwrap();
        assert_eq!(unpack(fd.as_fd(), tmp.path()).unwrap(), root);
        assert!(!root.join("espeak-ng-data/af_dict").exists());
        // Nothing else is left in the directory.
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(tree_name())]);
    }

    #[test]
    fn removes_other_builds_and_dead_writers_but_not_live_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("espeak-ng-1.0-0000000000000000");
        fs::create_dir_all(old.join("espeak-ng-data")).unwrap();
        fs::write(old.join("espeak-ng-data/en_dict"), b"old").unwrap();
        // A pid above pid_max, so no process has it.
        let dead = tmp
            .path()
            .join(format!(".{}.{}.tmp", tree_name(), i32::MAX));
        fs::create_dir_all(&dead).unwrap();
        let live = tmp.path().join(format!(".{}.1.tmp", tree_name()));
        fs::create_dir_all(&live).unwrap();
        let users = tmp.path().join("voice.onnx");
        fs::write(&users, b"not ours").unwrap();
        let fd = dir_fd(tmp.path());
        unpack(fd.as_fd(), tmp.path()).unwrap();
        assert!(!old.exists());
        assert!(!dead.exists());
        assert!(live.exists(), "pid 1 runs: its tree is being written");
        assert!(users.exists());
    }

    #[test]
    fn a_link_planted_at_a_file_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"mine").unwrap();
        let fd = dir_fd(tmp.path());
        // The temporary tree of this pid, with a link where a file goes.
        let temp = tmp
            .path()
            .join(format!(".{}.{}.tmp", tree_name(), std::process::id()));
        fs::create_dir_all(temp.join("espeak-ng-data")).unwrap();
        std::os::unix::fs::symlink(&victim, temp.join("espeak-ng-data/phontab")).unwrap();
        // The stale tree is removed first (the link itself, not its target),
        // then written afresh.
        let root = unpack(fd.as_fd(), tmp.path()).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"mine");
        assert!(root.join("espeak-ng-data/phontab").is_file());
    }
}
