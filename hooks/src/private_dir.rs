//! The one check of a private directory, used by the hook, the fallback,
//! the commands and the daemon alike.
//!
//! Our runtime, state and cache files are nobody else's business, and a
//! directory another user can enter or replace would let them read our
//! events, feed us a module or take a socket's name. So a directory we put
//! files in is either created here (0700, parents as needed) or, if it
//! exists, refused unless it is a real directory (not a symlink) owned by
//! the effective uid with no access for group or others. Nothing is ever
//! narrowed or removed behind the user's back: a refusal is one line that
//! names the fix.
//!
//! [`PrivateDir::ensure`] judges the directory on an open descriptor
//! (`O_DIRECTORY | O_NOFOLLOW`, then `fstat`), so what was checked is what
//! later code creates files in, relative to [`PrivateDir::fd`]. The hot
//! path, which creates nothing and only needs to know whether a path is
//! safe to send to, uses [`PrivateDir::check`]: the same rule on one
//! `lstat`.

use std::fmt;
use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A directory that passed the check, held open.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl PrivateDir {
    /// Opens `path` and checks it, first creating it (0700, and its missing
    /// parents 0700) if it does not exist.
    pub fn ensure(path: &Path) -> Result<PrivateDir, PrivateDirError> {
        let file = match open_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|e| PrivateDirError::io(path, "create", e))?;
                // Opened again, never trusted: another process may have put
                // something else there meanwhile.
                open_dir(path)
            }
            opened => opened,
        };
        let file = file.map_err(|e| refusal_for_unopenable(path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| PrivateDirError::io(path, "inspect", e))?;
        judge(path, &meta)?;
        Ok(PrivateDir {
            path: path.to_path_buf(),
            fd: OwnedFd::from(file),
        })
    }

    /// The same rule as [`PrivateDir::ensure`] on one `lstat`, creating and
    /// opening nothing: `Ok(true)` if `path` is a private directory of ours,
    /// `Ok(false)` if it does not exist (whoever creates it creates it
    /// private). For the hot path, which only sends to a path in it.
    pub fn check(path: &Path) -> Result<bool, PrivateDirError> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => judge(path, &meta).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(PrivateDirError::io(path, "inspect", e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open directory, for `openat` and its kin.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for PrivateDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Why a directory is not used: it is not private, or it could not be
/// created or looked at.
#[derive(Debug)]
pub struct PrivateDirError {
    path: PathBuf,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    Symlink,
    NotDirectory,
    /// Owned by `owner`, not by `euid`.
    Owner {
        owner: u32,
        euid: u32,
    },
    /// Group or others have some access (the permission bits).
    Mode(u32),
    /// A system call failed: what was being done, and its error.
    Io(&'static str, io::Error),
}

impl PrivateDirError {
    fn io(path: &Path, doing: &'static str, e: io::Error) -> PrivateDirError {
        PrivateDirError {
            path: path.to_path_buf(),
            problem: Problem::Io(doing, e),
        }
    }

    /// The directory refused.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl PrivateDirError {
    /// What is wrong, without the fix: `refusing PATH: it is a symlink`.
    pub fn reason(&self) -> String {
        let path = self.path.display();
        match &self.problem {
            Problem::Symlink => format!("refusing {path}: it is a symlink"),
            Problem::NotDirectory => format!("refusing {path}: it is not a directory"),
            Problem::Owner { owner, euid } => {
                format!("refusing {path}: owned by uid {owner}, not by you (uid {euid})")
            }
            Problem::Mode(mode) => format!("refusing {path}: mode {mode:04o} is not 0700"),
            Problem::Io(doing, e) => format!("cannot {doing} {path}: {e}"),
        }
    }

    /// How the user puts it right, when there is one thing to do.
    pub fn fix(&self) -> Option<String> {
        let path = self.path.display();
        match &self.problem {
            Problem::Symlink => Some(format!("rm {path}")),
            Problem::NotDirectory => Some("move it away".to_string()),
            Problem::Owner { owner, .. } => Some(format!("have uid {owner} or root remove it")),
            Problem::Mode(_) => Some(format!("chmod 700 {path}")),
            Problem::Io(..) => None,
        }
    }
}

impl fmt::Display for PrivateDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fix() {
            Some(fix) => write!(f, "{} (fix: {fix})", self.reason()),
            None => f.write_str(&self.reason()),
        }
    }
}

impl std::error::Error for PrivateDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

impl From<PrivateDirError> for io::Error {
    fn from(e: PrivateDirError) -> io::Error {
        let kind = match &e.problem {
            Problem::Io(_, io) => io.kind(),
            _ => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, e)
    }
}

/// Opens the directory itself, never what a symlink points to.
fn open_dir(path: &Path) -> io::Result<File> {
    // std adds O_CLOEXEC to every open.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// The refusal for a path that exists but cannot be opened as a directory
/// (a symlink and a file both give `ENOTDIR`; another user's closed
/// directory `EACCES`): what `lstat` says of it, else the open's error.
fn refusal_for_unopenable(path: &Path, e: io::Error) -> PrivateDirError {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => match judge(path, &meta) {
            Err(refused) => refused,
            Ok(()) => PrivateDirError::io(path, "open", e),
        },
        Err(_) => PrivateDirError::io(path, "open", e),
    }
}

/// The rule: a directory, not a symlink, owned by the effective uid, with
/// no permission bit for group or others.
fn judge(path: &Path, meta: &Metadata) -> Result<(), PrivateDirError> {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let problem = if meta.file_type().is_symlink() {
        Problem::Symlink
    } else if !meta.is_dir() {
        Problem::NotDirectory
    } else if meta.uid() != euid {
        Problem::Owner {
            owner: meta.uid(),
            euid,
        }
    } else if meta.mode() & 0o077 != 0 {
        Problem::Mode(meta.mode() & 0o7777)
    } else {
        return Ok(());
    };
    Err(PrivateDirError {
        path: path.to_path_buf(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory under /tmp (this crate has no tempfile), removed
    /// on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        #[track_caller]
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "llm-bridge-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[track_caller]
    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// Both entry points refuse `path`; the refusal's line.
    #[track_caller]
    fn refused(path: &Path) -> String {
        let checked = PrivateDir::check(path).unwrap_err().to_string();
        let ensured = PrivateDir::ensure(path).unwrap_err().to_string();
        assert_eq!(checked, ensured, "one rule, one line");
        assert!(!ensured.contains('\n'), "{ensured}");
        ensured
    }

    #[test]
    fn a_missing_directory_is_created_0700_with_its_parents() {
        let base = Scratch::new("pd-create");
        let dir = base.0.join("a/b/c");
        assert!(!PrivateDir::check(&dir).unwrap(), "missing is fine");
        let made = PrivateDir::ensure(&dir).unwrap();
        assert_eq!(made.path(), dir);
        for p in [base.0.join("a"), base.0.join("a/b"), dir.clone()] {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
        assert!(PrivateDir::check(&dir).unwrap());
        // The descriptor is the directory's: a file made relative to it
        // appears there.
        let name = c"made-at";
        // SAFETY: a valid descriptor and C string.
        let fd = unsafe {
            libc::openat(
                std::os::fd::AsRawFd::as_raw_fd(&made.fd()),
                name.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            )
        };
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: the descriptor was just opened and is owned here.
        drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        assert!(dir.join("made-at").is_file());
        // An existing private one is taken as it is.
        PrivateDir::ensure(&dir).unwrap();
    }

    #[test]
    fn a_wider_mode_is_refused_and_left_alone() {
        let base = Scratch::new("pd-wide");
        let dir = base.0.join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            refused(&dir),
            format!(
                "refusing {0}: mode 0755 is not 0700 (fix: chmod 700 {0})",
                dir.display()
            )
        );
        assert_eq!(mode(&dir), 0o755, "never narrowed behind the user's back");
    }

    #[test]
    fn another_owners_directory_is_refused() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root to give a directory to another user");
            return;
        }
        let base = Scratch::new("pd-owner");
        let dir = base.0.join("theirs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let line = refused(&dir);
        assert!(
            line.contains("owned by uid 65534, not by you (uid 0)"),
            "{line}"
        );
        assert!(line.contains("(fix: "), "{line}");
    }

    #[test]
    fn a_symlink_is_refused_even_to_a_private_directory() {
        let base = Scratch::new("pd-link");
        let target = base.0.join("private");
        PrivateDir::ensure(&target).unwrap();
        let link = base.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            refused(&link),
            format!(
                "refusing {0}: it is a symlink (fix: rm {0})",
                link.display()
            )
        );
    }

    #[test]
    fn a_file_is_refused() {
        let base = Scratch::new("pd-file");
        let file = base.0.join("file");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let line = refused(&file);
        assert!(line.contains("it is not a directory"), "{line}");
        // Nor can a directory be made under it.
        let below = PrivateDir::ensure(&file.join("below")).unwrap_err();
        assert!(below.to_string().starts_with("cannot "), "{below}");
    }
}
