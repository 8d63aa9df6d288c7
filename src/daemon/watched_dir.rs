//! A directory of ours, made private and watched alone with inotify: how
//! the spool and the voices directory each learn that a file was put in
//! them, without polling. The directory is created 0700 (or checked) by the
//! one private-directory check, and the watch never follows a link.

use llm_bridge_core::error::{Context, Result};
use llm_bridge_hooks::private_dir::PrivateDir;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::path::Path;

/// Creates (or checks) `path` and watches it for `events`; the descriptor
/// is non-blocking, for the loop's poll.
pub fn watch(path: &Path, events: AddWatchFlags) -> Result<(PrivateDir, Inotify)> {
    let dir = PrivateDir::ensure(path)?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .context("cannot create an inotify descriptor")?;
    inotify
        .add_watch(
            path,
            events | AddWatchFlags::IN_ONLYDIR | AddWatchFlags::IN_DONT_FOLLOW,
        )
        .with_context(|| format!("cannot watch {}", path.display()))?;
    Ok((dir, inotify))
}
