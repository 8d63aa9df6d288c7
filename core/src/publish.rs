//! Publishing a rendered module: write `waybar.json` atomically, then (and
//! only then) signal Waybar. Shared by the daemon and the fallback, so both
//! behave the same. A module identical to the last one written is neither
//! written nor signalled: every signal costs Waybar a fork.

use crate::atomic_file::Rewriter;
use crate::error::{Context, Result};
use crate::module;
use crate::paths::Paths;
use crate::waybar_signal::{SignalReport, WaybarSignaller};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The module changed and was written.
    pub written: bool,
    pub signals: SignalReport,
    /// How long writing waybar.json took, and then signalling (for `status`).
    pub write_time: Duration,
    pub signal_time: Duration,
}

#[derive(Debug)]
pub struct Publisher {
    waybar_json: PathBuf,
    /// Opened on the first write and kept: waybar.json is replaced often.
    writer: Option<Rewriter>,
    /// The line last written (the module and a newline), to skip repeats.
    last: Option<String>,
    /// The line being written; swapped with `last` once it is.
    line: String,
    pub signaller: WaybarSignaller,
}

impl Publisher {
    /// `signal_offset` is Waybar's `"signal"` number. The current
    /// waybar.json is read so a restart does not re-signal an unchanged module.
    pub fn new(paths: &Paths, signal_offset: u8) -> Publisher {
        let last = read_module_file(paths).map(|s| {
            let mut line = s.trim_end_matches('\n').to_string();
            line.push('\n');
            line
        });
        Publisher {
            waybar_json: paths.waybar_json.clone(),
            writer: None,
            last,
            line: String::new(),
            signaller: WaybarSignaller::new(signal_offset, paths.waybar_pids.clone()),
        }
    }

    /// Gets the next write ready ahead of time (see [`Rewriter::prepare`]):
    /// the daemon calls it after a flush, when nobody waits.
    pub fn prepare_next(&mut self) {
        if let Some(w) = &mut self.writer {
            // A failure here only means the next write opens its own file.
            let _ = w.prepare();
        }
    }

    /// The module last written, without its newline.
    pub fn last(&self) -> Option<&str> {
        self.last
            .as_deref()
            .map(|l| l.strip_suffix('\n').unwrap_or(l))
    }

    /// `now_ms` is wall-clock milliseconds.
    pub fn publish(&mut self, module: &str, now_ms: u64) -> Result<Published> {
        if self.last() == Some(module) {
            return Ok(Published::default());
        }
        let started = Instant::now();
        self.line.clear();
        self.line.push_str(module);
        self.line.push('\n');
        let writer = match &mut self.writer {
            Some(w) => w,
            None => self
                .writer
                .insert(Rewriter::new(&self.waybar_json).with_context(|| {
                    format!("cannot open {}'s directory", self.waybar_json.display())
                })?),
        };
        writer
            .write(self.line.as_bytes())
            .with_context(|| format!("cannot write {}", self.waybar_json.display()))?;
        // The old line's buffer takes the next one.
        let last = self.last.get_or_insert_with(String::new);
        std::mem::swap(last, &mut self.line);
        let written = Instant::now();
        let signals = self.signaller.signal_all(now_ms);
        Ok(Published {
            written: true,
            signals,
            write_time: written - started,
            signal_time: written.elapsed(),
        })
    }
}

/// waybar.json as it is: ours, so never through a link, never a FIFO, and
/// never more than a module can be.
fn read_module_file(paths: &Paths) -> Option<String> {
    use llm_bridge_hooks::bounded_read::{read_string, Links};
    read_string(&paths.waybar_json, 1 << 20, Links::Refuse).ok()
}

/// The module as last published: waybar.json's first line, else the `none`
/// module (no daemon or fallback ever ran).
pub fn current_module(paths: &Paths) -> String {
    read_module_file(paths)
        .and_then(|s| s.lines().next().map(str::to_string))
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(module::render_empty)
}
