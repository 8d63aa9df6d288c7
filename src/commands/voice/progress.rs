//! How a download shows its progress: a bar on a terminal (indicatif, on
//! stderr), plain lines otherwise (a log, a pipe, a test), so that neither
//! gets the other's form.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use llm_bridge_core::state::printable;
use std::io::IsTerminal;

pub struct Progress {
    /// `None`: not a terminal, plain lines on stdout.
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Progress { bar }
    }

    /// A file starts, `from` bytes of its `size` already here.
    pub fn start(&self, name: &str, size: u64, from: u64) {
        match &self.bar {
            Some(bar) => {
                bar.reset();
                bar.set_length(size);
                bar.set_position(from);
                bar.set_message(printable(name));
            }
            None if from > 0 => {
                super::tell(format!("resuming {name} at {} of {}", mib(from), mib(size)));
            }
            None => super::tell(format!("downloading {name} ({})", mib(size))),
        }
    }

    /// `n` more bytes arrived.
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// A line between the bar's updates (a cut connection, a file done).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(printable(line)),
            None => super::tell(line.to_string()),
        }
    }

    /// The bar goes; what is printed next stands alone.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Bytes as MiB, for a person.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
