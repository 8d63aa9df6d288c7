//! Log lines: one line each on stderr, which is the journal under systemd.

/// Writes `llm-bridge: <message>` on stderr; a failed write is ignored.
pub fn log(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    // One line, one write: a line is in the log whole or not at all (a
    // formatted write would be several, and a full disk could cut it).
    let line = format!("llm-bridge: {args}\n");
    let _ = std::io::stderr().write(line.as_bytes());
}
