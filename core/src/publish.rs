//! Publishing a rendered module: write `waybar.json` atomically, then (and
//! only then) signal Waybar. Shared by the daemon and the fallback, so both
//! behave the same. A module identical to the last one written is neither
//! written nor signalled: every signal costs Waybar a fork.

use crate::atomic_file::write_atomic;
use crate::error::{Context, Result};
use crate::module;
use crate::paths::Paths;
use crate::waybar_signal::{SignalReport, WaybarSignaller};
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The module changed and was written.
    pub written: bool,
    pub signals: SignalReport,
}

#[derive(Debug)]
pub struct Publisher {
    waybar_json: PathBuf,
    /// The module last written (without the newline), to skip repeats.
    last: Option<String>,
    pub signaller: WaybarSignaller,
}

impl Publisher {
    /// `signal_offset` is Waybar's `"signal"` number. The current
    /// waybar.json is read so a restart does not re-signal an unchanged module.
    pub fn new(paths: &Paths, signal_offset: u8) -> Publisher {
        let last = std::fs::read_to_string(&paths.waybar_json)
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string());
        Publisher {
            waybar_json: paths.waybar_json.clone(),
            last,
            signaller: WaybarSignaller::new(signal_offset, paths.waybar_pids.clone()),
        }
    }

    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// `now_ms` is wall-clock milliseconds.
    pub fn publish(&mut self, module: &str, now_ms: u64) -> Result<Published> {
        if self.last.as_deref() == Some(module) {
            return Ok(Published::default());
        }
        let mut line = String::with_capacity(module.len() + 1);
        line.push_str(module);
        line.push('\n');
        write_atomic(&self.waybar_json, line.as_bytes())
            .with_context(|| format!("cannot write {}", self.waybar_json.display()))?;
        self.last = Some(module.to_string());
        let signals = self.signaller.signal_all(now_ms);
        Ok(Published {
            written: true,
            signals,
        })
    }
}

/// The module as last published: waybar.json's first line, else the `none`
/// module (no daemon or fallback ever ran).
pub fn current_module(paths: &Paths) -> String {
    std::fs::read_to_string(&paths.waybar_json)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(module::render_empty)
}
