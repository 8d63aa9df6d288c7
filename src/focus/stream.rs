//! One request to a compositor over its Unix socket: connect, write, read
//! the answer, all blocking with a timeout, and every read capped, so a
//! compositor that hangs or floods costs a click a bounded wait and memory.

use llm_bridge_core::error::{Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long one connect, write or read may wait.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The largest answer read (a sway tree with hundreds of windows is well
/// under a MiB).
pub const CAP: usize = 16 * 1024 * 1024;

/// A connection with its timeouts set.
pub fn connect(path: &Path) -> Result<UnixStream> {
    let stream = UnixStream::connect(path)
        .with_context(|| format!("cannot connect to {}", path.display()))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Writes `request` whole.
pub fn send(stream: &mut UnixStream, request: &[u8], path: &Path) -> Result<()> {
    stream
        .write_all(request)
        .with_context(|| format!("cannot write to {}", path.display()))
}

/// Reads exactly `n` bytes (`n` at most [`CAP`]).
pub fn read_exact(stream: &mut UnixStream, n: usize, path: &Path) -> Result<Vec<u8>> {
    if n > CAP {
        llm_bridge_core::error::bail!(
            "{} announced an answer of {n} bytes, more than the {CAP} read",
            path.display()
        );
    }
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .with_context(|| format!("no complete answer from {}", path.display()))?;
    Ok(buf)
}

/// Reads until the peer closes, or until `until` says the answer is whole
/// (given what was read so far), at most [`CAP`] bytes.
pub fn read_until(
    stream: &mut UnixStream,
    path: &Path,
    until: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .with_context(|| format!("no complete answer from {}", path.display()))?;
        if n == 0 {
            return Ok(answer);
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > CAP {
            llm_bridge_core::error::bail!("{} answered more than {CAP} bytes", path.display());
        }
        if until(&answer) {
            return Ok(answer);
        }
    }
}
