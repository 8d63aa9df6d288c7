//! Which installed voice speaks while `[speech] voice` is empty: the link
//! `voice.onnx` in the voices directory (with `voice.onnx.json` beside it),
//! the first place the daemon and `say` look (`paths::default_voices`).
//!
//! `voice install` makes the links only where no voice is chosen yet: a
//! voice in config.toml, or one at a default place, is never replaced.
//! Each link is made under a temporary name and renamed into place without
//! replacing anything (`RENAME_NOREPLACE`): the daemon, which watches the
//! directory for names moved into it, sees the config's link first and
//! then the model's, and loads the voice whole.

use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{bail, Context, Result};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The link's name in the voices directory.
pub const LINK: &str = "voice.onnx";

/// What `install` did about the voice that speaks.
pub enum Chosen {
    /// The new voice speaks now, through this link.
    Linked(PathBuf),
    /// Another voice was chosen already; `why` says where.
    Kept { voice: PathBuf, why: &'static str },
}

/// Makes `KEY.onnx` in `dir` the voice unless one is chosen already.
pub fn choose(speech: &SpeechConfig, dir: &Path, key: &str) -> Result<Chosen> {
    if !speech.voice.is_empty() {
        let voice = speech.voice_path().unwrap_or_default();
        return Ok(Chosen::Kept {
            voice,
            why: "[speech] voice in config.toml",
        });
    }
    let taken = llm_bridge_core::paths::default_voices()
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok());
    if let Some(voice) = taken {
        return Ok(Chosen::Kept {
            voice,
            why: "the default place",
        });
    }
    link(dir, &format!("{key}.onnx.json"), &format!("{LINK}.json"))?;
    link(dir, &format!("{key}.onnx"), LINK)?;
    Ok(Chosen::Linked(dir.join(LINK)))
}

/// Removes the links if they point at `KEY.onnx`; whether they did.
pub fn unlink(dir: &Path, key: &str) -> Result<bool> {
    let mut removed = false;
    for (name, target) in [
        (LINK.to_string(), format!("{key}.onnx")),
        (format!("{LINK}.json"), format!("{key}.onnx.json")),
    ] {
        let path = dir.join(&name);
        if std::fs::read_link(&path).is_ok_and(|t| t == Path::new(&target)) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            removed = true;
        }
    }
    Ok(removed)
}

/// Creates the link `dir/name` → `target` (relative) if `name` is free.
fn link(dir: &Path, target: &str, name: &str) -> Result<()> {
    let temp = dir.join(format!(".{name}.{}.link", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)
        .with_context(|| format!("cannot create the link {}", temp.display()))?;
    let at = dir.join(name);
    let renamed = rename_no_replace(&temp, &at);
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    match renamed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => bail!(
            "{} exists already: remove it, or set [speech] voice in config.toml",
            at.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot create the link {}", at.display())),
    }
}

/// `rename(from, to)` that fails rather than replace `to`.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths for the call's duration.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
