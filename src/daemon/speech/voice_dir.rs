//! The voices directory (`$XDG_DATA_HOME/llm-bridge/voices`), watched: a
//! voice that `llm-bridge voice install` (or the user) puts there, or one
//! that changes there, is loaded without a `reload`.
//!
//! The daemon creates the directory (0700, the one private-directory
//! check) and watches that directory alone with inotify, for files
//! complete in it: `IN_CLOSE_WRITE` after a write in place, `IN_MOVED_TO`
//! after a rename (how `voice install` puts each file and link), never
//! `IN_MODIFY`. Nothing polls, and a change elsewhere never wakes the
//! daemon. The descriptor is registered in the loop's poll by the speech
//! service, which owns this watch.

use crate::daemon::tokens::VOICES;
use llm_bridge_core::error::{Context, Result};
use llm_bridge_hooks::private_dir::PrivateDir;
use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::sys::inotify::{AddWatchFlags, Inotify};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

pub struct VoiceDir {
    dir: PrivateDir,
    /// The directory with its links resolved, as a voice's resolved path
    /// names it.
    real: PathBuf,
    inotify: Inotify,
}

impl VoiceDir {
    /// Creates (or checks) `path` and watches it.
    pub fn open(path: &Path) -> Result<VoiceDir> {
        let (dir, inotify) = crate::daemon::watched_dir::watch(
            path,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO,
        )?;
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Ok(VoiceDir { dir, real, inotify })
    }

    pub fn register(&self, registry: &Registry) -> Result<()> {
        registry
            .register(
                &mut SourceFd(&self.inotify.as_fd().as_raw_fd()),
                VOICES,
                Interest::READABLE,
            )
            .context("cannot poll the voices directory's inotify descriptor")
    }

    pub fn deregister(&self, registry: &Registry) {
        let _ = registry.deregister(&mut SourceFd(&self.inotify.as_fd().as_raw_fd()));
    }

    /// Reads every pending event; returns the voice files (`.onnx` and
    /// `.onnx.json`) completed in the directory, each as both its path and
    /// its path in the resolved directory.
    pub fn drain(&mut self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                let Some(name) = event.name else { continue };
                let name = Path::new(&name);
                let voice_file = name
                    .to_str()
                    .is_some_and(|n| n.ends_with(".onnx") || n.ends_with(".onnx.json"));
                if voice_file {
                    changed.push(self.dir.path().join(name));
                    changed.push(self.real.join(name));
                }
            }
        }
        changed
    }
}

/// Whether a change of `changed` concerns the voice at `voice`: its model
/// or its config, by the path it is named with or the one its links lead
/// to.
pub fn concerns(voice: &Path, changed: &[PathBuf]) -> bool {
    let mut config = voice.as_os_str().to_owned();
    config.push(".json");
    let config = PathBuf::from(config);
    let mut names = vec![voice.to_path_buf(), config.clone()];
    names.extend(voice.canonicalize().ok());
    names.extend(config.canonicalize().ok());
    changed.iter().any(|c| names.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_concerns_the_voice_by_its_name_or_its_links_target() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::write(d.join("joe.onnx"), b"m").unwrap();
        std::fs::write(d.join("joe.onnx.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("joe.onnx", d.join("voice.onnx")).unwrap();
        let link = d.join("voice.onnx");
        assert!(concerns(&link, &[d.join("voice.onnx")]));
        assert!(concerns(&link, &[d.join("joe.onnx")]), "the link's target");
        assert!(concerns(&d.join("joe.onnx"), &[d.join("joe.onnx.json")]));
        assert!(!concerns(&link, &[d.join("amy.onnx")]));
    }

    #[test]
    fn only_voice_files_completed_in_the_directory_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voices");
        let mut voices = VoiceDir::open(&path).unwrap();
        let real = path.canonicalize().unwrap();
        std::fs::write(path.join("joe.onnx.part"), b"partial").unwrap();
        std::fs::write(path.join("notes.txt"), b"x").unwrap();
        assert!(voices.drain().is_empty());
        std::fs::rename(path.join("joe.onnx.part"), path.join("joe.onnx")).unwrap();
        std::fs::write(path.join("joe.onnx.json"), b"{}").unwrap();
        let changed = voices.drain();
        assert!(changed.contains(&real.join("joe.onnx")), "{changed:?}");
        assert!(changed.contains(&real.join("joe.onnx.json")), "{changed:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "created private");
    }
}
