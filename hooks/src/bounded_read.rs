//! Reading a file that something outside may have put there: never
//! blocking, never more than a cap, and only a regular file.
//!
//! A FIFO at state.json would block the daemon's loop (holding the lock)
//! and a hook's fallback forever; a link to /dev/zero would read until
//! memory runs out. So every file the hooks, the fallback, the commands and
//! the daemon read from their own directories or the user's config goes
//! through [`read`]: opened with `O_NONBLOCK` (a FIFO cannot block the
//! open), checked with `fstat` to be a regular file, and read up to `cap`
//! bytes, past which it is refused. Our own files (state, waybar, history,
//! cache, spool) are opened with `O_NOFOLLOW`; the user's config and voice
//! may be links (Home Manager links config.toml into the Nix store), which
//! are followed and then checked the same way.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether a link at the path is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// The user's files (config.toml, the voice): followed, then checked.
    Follow,
    /// Our own files: a link there is refused.
    Refuse,
}

/// Opens `path` for reading without blocking and checks it is a regular
/// file; the descriptor is left blocking for plain reads after that.
pub fn open(path: &Path, links: Links) -> io::Result<File> {
    let mut flags = libc::O_NONBLOCK;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = File::options().read(true).custom_flags(flags).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// The whole file, if it is a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64, links: Links) -> io::Result<Vec<u8>> {
    let file = open(path, links)?;
    let size = file.metadata()?.len();
    if size > cap {
        return Err(too_large(cap));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        // It grew while being read.
        return Err(too_large(cap));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_string(path: &Path, cap: u64, links: Links) -> io::Result<String> {
    String::from_utf8(read(path, cap, links)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {cap} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn fifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn only_a_regular_file_within_its_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read(&file, 2, Links::Refuse).unwrap(), b"{}");
        let err = read(&file, 1, Links::Refuse).unwrap_err();
        assert_eq!(err.to_string(), "larger than 1 bytes");

        // A FIFO nobody writes to: refused at once, not waited on.
        let pipe = dir.path().join("fifo");
        fifo(&pipe);
        let err = read(&pipe, 1024, Links::Follow).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");

        // A link to /dev/zero: refused (not followed, or not regular).
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(
            read(&zero, 1024, Links::Refuse).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            read(&zero, 1024, Links::Follow).unwrap_err().to_string(),
            "not a regular file"
        );

        // A link to a regular file: followed only when allowed.
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_string(&link, 16, Links::Follow).unwrap(), "{}");
        assert!(read(&link, 16, Links::Refuse).is_err());
        assert_eq!(
            read(&dir.path().join("missing"), 16, Links::Follow)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }
}
