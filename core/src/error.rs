//! Errors: `anyhow`, so every error keeps its chain of causes, and one rule
//! for showing it: [`one_line`] joins the chain as `context: cause: cause`
//! on a single line, which is how every command and the daemon report it.

pub use anyhow::{anyhow, bail, Context, Error, Result};

/// The error and its causes on one line: `cannot write X: No space left`.
pub fn one_line(e: &Error) -> String {
    // A path or a value from outside in the chain must not break the line
    // or reach a terminal as an escape sequence.
    crate::state::printable(&format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_one_printable_line() {
        let e = anyhow!("cannot read /tmp/a\nb\x1b[31m").context("config");
        assert_eq!(one_line(&e), "config: cannot read /tmp/a?b?[31m");
    }
}
