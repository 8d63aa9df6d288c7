//! One file of a voice, downloaded into `NAME.part` in the voices directory
//! and checked against the catalogue's size and md5 before anything is
//! installed.
//!
//! The `.part` file is created exclusively (`O_EXCL | O_NOFOLLOW`, 0600);
//! one left by a cut download is reopened without following a link, and
//! kept only if it is a regular file of ours. A connection that breaks is
//! resumed where it stopped with an HTTP `Range` request, a few times in
//! one run, and by the next run after that; a server that ignores the
//! range sends the whole file, which then starts again from the first byte.
//! A download that does not match its checksum is removed.

use super::http::Http;
use super::progress::{mib, Progress};
use llm_bridge_core::error::{anyhow, bail, Context, Error, Result};
use md5::{Digest, Md5};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Tries per file in one run: a cut connection is resumed this many times.
const ATTEMPTS: u32 = 5;

/// What the catalogue says of a file.
pub struct Expected<'a> {
    pub url: String,
    pub size: u64,
    pub md5: &'a str,
}

/// Why a try stopped short.
enum Stop {
    /// The connection failed or broke: worth resuming.
    Cut(Error),
    /// Anything else: resuming would not help.
    Fatal(Error),
}

/// Downloads `want` into `part` (resuming what is there) and checks it;
/// on success `part` holds exactly the catalogue's bytes.
pub fn fetch(http: &Http, part: &Path, want: &Expected, progress: &Progress) -> Result<()> {
    let name = part
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_end_matches(".part")
        .to_string();
    let mut file = open_part(part)?;
    let mut attempt = 1;
    loop {
        let have = file
            .metadata()
            .context("cannot inspect the download")?
            .len();
        if have > want.size {
            file.set_len(0).context("cannot restart the download")?;
            continue;
        }
        if have == want.size {
            break;
        }
        progress.start(&name, want.size, have);
        match fill(http, &mut file, have, want, (&name, progress)) {
            Ok(()) => {}
            Err(Stop::Fatal(e)) => return Err(e),
            Err(Stop::Cut(e)) if attempt < ATTEMPTS => {
                attempt += 1;
                let at = file.metadata().map(|m| m.len()).unwrap_or(0);
                progress.note(&format!(
                    "{name}: {}; resuming at {} (try {attempt} of {ATTEMPTS})",
                    llm_bridge_core::error::one_line(&e),
                    mib(at)
                ));
            }
            Err(Stop::Cut(e)) => {
                return Err(e.context(format!(
                    "{name}: the download stopped; run the same command again to resume it"
                )))
            }
        }
    }
    progress.finish();
    file.rewind().context("cannot read the download")?;
    let got = md5_of(&mut file).with_context(|| format!("cannot read {}", part.display()))?;
    if !got.eq_ignore_ascii_case(want.md5) {
        let _ = std::fs::remove_file(part);
        bail!(
            "{name}: its md5 is {got} but the catalogue says {}: the download was removed \
             and nothing was installed",
            want.md5
        );
    }
    Ok(())
}

/// One request: from what `file` holds to the end (or a break).
fn fill(
    http: &Http,
    file: &mut File,
    have: u64,
    want: &Expected,
    (name, progress): (&str, &Progress),
) -> Result<(), Stop> {
    let answer = http.get(&want.url, have).map_err(Stop::Cut)?;
    let from = match answer.status {
        206 if answer.range_start == Some(have) => have,
        206 => {
            return Err(Stop::Fatal(anyhow!(
                "{}: the server sent another range than the one asked for",
                want.url
            )))
        }
        // The whole file: from the start again.
        200 => {
            file.set_len(0)
                .context("cannot restart the download")
                .map_err(Stop::Fatal)?;
            progress.start(name, want.size, 0);
            0
        }
        status => {
            return Err(Stop::Fatal(anyhow!(
                "cannot fetch {}: HTTP {status}",
                want.url
            )))
        }
    };
    file.seek(SeekFrom::Start(from))
        .context("cannot write the download")
        .map_err(Stop::Fatal)?;
    let mut left = want.size - from;
    let mut body = answer.body;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stop::Cut(Error::from(e).context("the connection broke"))),
        };
        if n as u64 > left {
            return Err(Stop::Fatal(anyhow!(
                "{}: the server sent more than the catalogue's {} bytes",
                want.url,
                want.size
            )));
        }
        file.write_all(&buf[..n])
            .context("cannot write the download")
            .map_err(Stop::Fatal)?;
        left -= n as u64;
        progress.advance(n as u64);
    }
    if left > 0 {
        return Err(Stop::Cut(anyhow!(
            "the connection closed {left} bytes short"
        )));
    }
    Ok(())
}

/// The `.part` file: created exclusively, or one a cut download left,
/// reopened without following a link and kept only if it is ours.
fn open_part(path: &Path) -> Result<File> {
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match created {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let meta = file.metadata()?;
            // SAFETY: geteuid cannot fail.
            let uid = unsafe { libc::geteuid() };
            if !meta.is_file() || meta.uid() != uid {
                bail!(
                    "{} is not a download of ours: remove it and try again",
                    path.display()
                );
            }
            Ok(file)
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The md5 of the whole file, in lowercase hex.
pub fn md5_of(file: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
