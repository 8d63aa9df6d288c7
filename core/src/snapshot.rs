//! `state.json`: the sessions on disk, so a restart or the fallback loses
//! nothing. Written atomically; a file that cannot be read is set aside
//! (`state.json.bad`) rather than overwritten, so no data is destroyed.

use crate::atomic_file::write_atomic;
use crate::error::{Context, Result};
use crate::state::State;
use llm_bridge_hooks::bounded_read::{self, Links};
use std::io::ErrorKind;
use std::path::Path;

/// The largest state.json read: far beyond `max_sessions` sessions.
pub const MAX_SNAPSHOT: u64 = 64 << 20;

/// Loads the snapshot; a missing file is an empty state. A corrupt file is
/// renamed to `state.json.bad` and reported in the second element.
pub fn load(path: &Path) -> Result<(State, Option<String>)> {
    // Ours: never a link, a FIFO or anything larger than a huge state.
    let problem = match bounded_read::read(path, MAX_SNAPSHOT, Links::Refuse) {
        Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
            Ok(state) => return Ok((state, None)),
            Err(e) => e.to_string(),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((State::new(), None)),
        // A link, a FIFO, a device, a huge file: not ours to read.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => "a symbolic link".to_string(),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::InvalidData) => {
            e.to_string()
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let aside = path.with_extension("json.bad");
    std::fs::rename(path, &aside)
        .with_context(|| format!("cannot set aside {}", path.display()))?;
    let warning = format!(
        "{} was unreadable ({problem}); moved to {} and started empty",
        path.display(),
        aside.display()
    );
    Ok((State::new(), Some(warning)))
}

pub fn save(path: &Path, state: &State) -> Result<()> {
    let mut json = serde_json::to_vec(state).context("cannot serialize the state")?;
    json.push(b'\n');
    write_atomic(path, &json).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Input;
    use llm_bridge_protocol::wire::{Event, EventKind};

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert!(load(&p).unwrap().0.is_empty());
        let mut st = State::new();
        st.apply(&Input::Event(Event::new(EventKind::Submit, "a")), 1);
        save(&p, &st).unwrap();
        assert_eq!(load(&p).unwrap().0, st);
        std::fs::write(&p, b"{not json").unwrap();
        let (st, warning) = load(&p).unwrap();
        assert!(st.is_empty());
        assert!(warning.unwrap().contains("state.json.bad"));
        assert_eq!(
            std::fs::read(dir.path().join("state.json.bad")).unwrap(),
            b"{not json"
        );
    }
}
