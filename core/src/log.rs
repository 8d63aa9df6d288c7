//! Log lines: one line each on stderr, which is the journal under systemd.

/// Writes `llm-bridge: <message>` on stderr; a failed write is ignored.
pub fn log(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "llm-bridge: {args}");
}
