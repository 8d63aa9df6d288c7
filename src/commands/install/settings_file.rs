//! The settings file on disk, replaced without ever damaging it.
//!
//! A symlink (stow, chezmoi, Home Manager) is followed to the file it leads
//! to, and that file is what changes: the link stays a link. The new
//! version is written beside that file (so the rename stays on one file
//! system) with the file's mode and owner, flushed, then renamed over it.
//! The backup is created exclusively, with the file's mode from the start,
//! and flushed too. A read-only file is refused before anything is written.

use llm_bridge_core::atomic_file::{create_new_numbered, sync_dir, Staged};
use llm_bridge_core::error::{Context, Error, Result};
use llm_bridge_hooks::bounded_read::{self, Links};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The largest settings file read (Claude Code's are a few KiB).
pub const MAX_SETTINGS: u64 = 16 << 20;

/// Links followed before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// A settings file: the path the user named and the file it leads to.
pub struct SettingsFile {
    /// The path as named (perhaps a symlink).
    pub path: PathBuf,
    /// The file at the end of the symlinks (`path` itself if none).
    pub target: PathBuf,
    /// Whether `path` is a symlink.
    pub via_link: bool,
    /// What the file holds now; `None` if it does not exist yet.
    pub current: Option<Current>,
}

/// The contents and permissions of an existing settings file.
pub struct Current {
    pub text: String,
    mode: u32,
    owner: (u32, u32),
}

impl SettingsFile {
    /// Follows `path`'s symlinks and reads the file they lead to.
    pub fn open(path: &Path) -> Result<SettingsFile> {
        let (target, via_link) = resolve_links(path)?;
        // Without blocking (a FIFO there), a regular file only, and capped.
        let current = match bounded_read::open(&target, Links::Follow) {
            Ok(file) => {
                let meta = file
                    .metadata()
                    .with_context(|| format!("cannot read {}", target.display()))?;
                let mut text = String::new();
                file.take(MAX_SETTINGS + 1)
                    .read_to_string(&mut text)
                    .with_context(|| format!("cannot read {}", target.display()))?;
                if text.len() as u64 > MAX_SETTINGS {
                    return Err(Error::msg(format!(
                        "{} is larger than {MAX_SETTINGS} bytes; nothing was changed",
                        target.display()
                    )));
                }
                Some(Current {
                    text,
                    mode: meta.mode() & 0o7777,
                    owner: (meta.uid(), meta.gid()),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
        };
        Ok(SettingsFile {
            path: path.to_path_buf(),
            target,
            via_link,
            current,
        })
    }

    /// The file for messages: `path`, and where it leads if it is a link.
    pub fn describe(&self) -> String {
        // Printed to the terminal: a control character in a path is not.
        let shown = if self.via_link {
            format!("{} -> {}", self.path.display(), self.target.display())
        } else {
            self.path.display().to_string()
        };
        llm_bridge_core::state::printable(&shown)
    }

    /// Replaces the file's contents with `text`. Returns the backup of the
    /// previous contents, if there were any. On any error nothing changed.
    pub fn replace(&self, text: &str) -> Result<Option<PathBuf>> {
        if let Some(reason) = self.read_only_reason() {
            return Err(self.refusal(&reason));
        }
        // A new file may hold secrets later: private, like Claude Code's own.
        let mode = self.current.as_ref().map_or(0o600, |c| c.mode);
        // Root writing someone's file gives the new version their owner;
        // anyone else creates files that are already theirs.
        let owner = self.current.as_ref().filter(|_| is_root()).map(|c| c.owner);
        if self.current.is_none() {
            if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| self.write_error(e))?;
            }
        }
        let staged = Staged::new(&self.target, text.as_bytes(), mode, owner)
            .map_err(|e| self.write_error(e))?;
        let backup = match &self.current {
            Some(current) => Some(self.backup(current, owner)?),
            None => None,
        };
        if let Err(e) = staged.commit() {
            if let Some(backup) = &backup {
                let _ = std::fs::remove_file(backup);
            }
            return Err(self.write_error(e));
        }
        Ok(backup)
    }

    /// Why the file must not be written, if it must not.
    fn read_only_reason(&self) -> Option<String> {
        if self.target.starts_with("/nix/store") {
            return Some("it is in the Nix store".into());
        }
        let current = self.current.as_ref()?;
        if current.mode & 0o222 == 0 {
            return Some(format!("its mode is {:04o}", current.mode));
        }
        let path = std::ffi::CString::new(self.target.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid C string; access(2) only reads it.
        if unsafe { libc::access(path.as_ptr(), libc::W_OK) } != 0 {
            return Some(std::io::Error::last_os_error().to_string());
        }
        None
    }

    /// The one line for a file that cannot be written: what to do instead.
    fn refusal(&self, reason: &str) -> Error {
        Error::msg(format!(
            "{} cannot be written ({reason}); nothing was changed: add the block printed by \
             `llm-bridge install` by hand where this file comes from (e.g. your Home Manager \
             or dotfiles configuration)",
            self.describe()
        ))
    }

    fn write_error(&self, e: std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => self.refusal(&e.to_string()),
            _ => Error::msg(format!(
                "cannot write {}: {e}; nothing was changed",
                self.describe()
            )),
        }
    }

    /// Saves `current` as `<name>.bak-<seconds>` beside the path the user
    /// named (not beside a link's target, which may be in a repository).
    fn backup(&self, current: &Current, owner: Option<(u32, u32)>) -> Result<PathBuf> {
        let stamp = llm_bridge_core::local_time::wall_clock_ms() / 1000;
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".bak-{stamp}"));
        let wanted = self.path.with_file_name(name);
        let fail = |what: &Path, e: std::io::Error| {
            Error::msg(format!(
                "cannot write the backup {}: {e}; nothing was changed",
                what.display()
            ))
        };
        let (mut file, backup) =
            create_new_numbered(&wanted, current.mode).map_err(|e| fail(&wanted, e))?;
        let written = (|| {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            file.write_all(current.text.as_bytes())?;
            file.sync_all()?;
            sync_dir(&backup)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&backup);
            return Err(fail(&backup, e));
        }
        Ok(backup)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The file at the end of `path`'s symlinks (which need not exist), and
/// whether there were any. Its directory is made canonical for messages.
fn resolve_links(path: &Path) -> Result<(PathBuf, bool)> {
    let mut current = path.to_path_buf();
    for hops in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read the link {}", current.display()))?;
                // A relative link is relative to the link's directory.
                current = match current.parent() {
                    Some(dir) => dir.join(to),
                    None => to,
                };
            }
            Ok(_) => return Ok((tidy(current), hops > 0)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((tidy(current), hops > 0))
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", current.display())),
        }
    }
    Err(Error::msg(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// `dir/../x/name` as `/canonical/x/name`, when the directory exists.
fn tidy(path: PathBuf) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => match dir.canonicalize() {
            Ok(dir) => dir.join(name),
            Err(_) => path,
        },
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn follows_a_chain_of_relative_and_dangling_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/real.json"), "{}").unwrap();
        symlink("b/real.json", root.join("a/hop")).unwrap();
        symlink("a/hop", root.join("link")).unwrap();
        assert_eq!(
            resolve_links(&root.join("link")).unwrap(),
            (root.join("a/b/real.json"), true)
        );
        assert_eq!(
            resolve_links(&root.join("a/b/real.json")).unwrap(),
            (root.join("a/b/real.json"), false)
        );
        symlink("missing/new.json", root.join("dangling")).unwrap();
        assert_eq!(
            resolve_links(&root.join("dangling")).unwrap(),
            (root.join("missing/new.json"), true)
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_links(&root.join("loop"))
            .unwrap_err()
            .to_string()
            .contains("too many levels"));
    }

    #[test]
    fn a_file_without_write_permission_or_in_the_nix_store_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let file = SettingsFile::open(&path).unwrap();
        let e = file.replace("{\"x\": 1}").unwrap_err().to_string();
        assert!(
            e.contains("mode is 0444") && e.contains("`llm-bridge install`"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let store = SettingsFile {
            path: PathBuf::from("/home/u/.claude/settings.json"),
            target: PathBuf::from("/nix/store/abc-hm/settings.json"),
            via_link: true,
            current: None,
        };
        let e = store.replace("{}").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "/home/u/.claude/settings.json -> /nix/store/abc-hm/settings.json cannot be \
                 written (it is in the Nix store); nothing was changed"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_new_file_is_private_and_has_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/settings.json");
        let file = SettingsFile::open(&path).unwrap();
        assert!(file.current.is_none());
        assert_eq!(file.replace("{}\n").unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }
}
