//! Errors: `anyhow`, so every error keeps its chain of causes, and one rule
//! for showing it: [`one_line`] joins the chain as `context: cause: cause`
//! on a single line, which is how every command and the daemon report it.

pub use anyhow::{anyhow, bail, Context, Error, Result};

/// The error and its causes on one line: `cannot write X: No space left`.
pub fn one_line(e: &Error) -> String {
    format!("{e:#}")
}
