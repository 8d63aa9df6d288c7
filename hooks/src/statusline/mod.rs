//! `llm-bridge-statusline`: Claude Code's status line, printed in about the
//! time `cat` takes, and the same figures sent to the daemon.
//!
//! Claude Code runs the statusLine command after every assistant message and
//! cancels a run that is still going when the next fires, so the whole job is
//! one read, one parse, a few `stat`s for the git branch, one write and one
//! non-blocking datagram. No subprocess, ever.

pub mod config;
pub mod git_branch;
pub mod input;
pub mod render;
pub mod template;
pub mod toml_subset;

pub use config::StatuslineConfig;
pub use input::StatusInput;
