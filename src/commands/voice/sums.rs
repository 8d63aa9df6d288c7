//! The md5 of each file of an installed voice, kept beside it as
//! `NAME.md5` (the format `md5sum -c` reads), so that `doctor` can say
//! later whether the voice is still the one installed: a disk error, a
//! cut copy or an edit by hand shows there rather than as a voice that
//! fails to load or speaks garbage.
//!
//! `voice install` writes it once both files are in place: the catalogue's
//! digests (each file was checked against them), or for `--from` the
//! digests of what was copied. A voice put in place by hand has none, and
//! `doctor` says so rather than guess.

use super::download::md5_of;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_hooks::bounded_read::{self, Links};
use std::path::{Path, PathBuf};

/// The largest sums file read (two lines).
const MAX_SUMS: u64 = 4096;

/// The sums file's name for voice `key`.
pub fn file_name(key: &str) -> String {
    format!("{key}.md5")
}

/// The sums file of voice `key` in `dir`.
pub fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(file_name(key))
}

/// The sums file's text for `files`: `(md5, file name)` pairs.
pub fn text(files: &[(String, String)]) -> String {
    files
        .iter()
        .map(|(md5, name)| format!("{}  {name}\n", md5.to_ascii_lowercase()))
        .collect()
}

/// What checking a voice against its sums found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every file listed has its recorded md5; how many were checked.
    Matches(usize),
    /// No sums file: the voice was not installed by `voice install`.
    NotRecorded,
    /// This file's md5 is not the one recorded.
    Differs(PathBuf),
}

/// Checks the voice whose model is `model` (a link to it is followed:
/// `voice.onnx` names the installed voice) against the sums file beside
/// the model's real path.
pub fn verify(model: &Path) -> Result<Verdict> {
    let real = model
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", model.display()))?;
    let (Some(dir), Some(key)) = (
        real.parent(),
        real.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".onnx")),
    ) else {
        return Ok(Verdict::NotRecorded);
    };
    let sums = path(dir, key);
    let bytes = match bounded_read::read(&sums, MAX_SUMS, Links::Refuse) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verdict::NotRecorded),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sums.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((want, name)) = line.split_once("  ") else {
            bail!("{} is not an md5 list: {line:?}", sums.display());
        };
        if name.contains('/') || name.starts_with('.') {
            bail!(
                "{} names a file outside its directory: {name:?}",
                sums.display()
            );
        }
        let file = dir.join(name);
        let mut opened = bounded_read::open(&file, Links::Refuse)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let got = md5_of(&mut opened).with_context(|| format!("cannot read {}", file.display()))?;
        if !got.eq_ignore_ascii_case(want.trim()) {
            return Ok(Verdict::Differs(file));
        }
        checked += 1;
    }
    Ok(Verdict::Matches(checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("llmb-sums-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_voice_is_checked_through_its_link_and_a_changed_file_is_named() {
        let dir = temp_dir("verify");
        std::fs::write(dir.join("v.onnx"), b"model").unwrap();
        std::fs::write(dir.join("v.onnx.json"), b"{}").unwrap();
        let link = dir.join("voice.onnx");
        std::os::unix::fs::symlink("v.onnx", &link).unwrap();
        assert_eq!(verify(&link).unwrap(), Verdict::NotRecorded);
        let md5 = |bytes: &[u8]| md5_of(&mut &bytes[..]).unwrap();
        let sums = text(&[
            (md5(b"model"), "v.onnx".into()),
            (md5(b"{}"), "v.onnx.json".into()),
        ]);
        std::fs::write(path(&dir, "v"), &sums).unwrap();
        assert_eq!(verify(&link).unwrap(), Verdict::Matches(2));
        std::fs::write(dir.join("v.onnx.json"), b"{ }").unwrap();
        assert_eq!(
            verify(&link).unwrap(),
            Verdict::Differs(dir.canonicalize().unwrap().join("v.onnx.json"))
        );
        std::fs::write(path(&dir, "v"), "0123  ../etc/passwd\n").unwrap();
        assert!(verify(&link).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
