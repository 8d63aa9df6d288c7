//! `llm-bridge voice list | install NAME | install --from PATH | remove
//! NAME`: Piper voices without pip. The official catalogue
//! (`voice/catalogue.rs`) names them; a voice's model and config are
//! downloaded resumably and checked against the catalogue's md5
//! (`voice/download.rs`, over `voice/http.rs`, shown by
//! `voice/progress.rs`) into `$XDG_DATA_HOME/llm-bridge/voices/` (created
//! 0700 by the one private-directory check), and moved into place only
//! once both are whole. `install` makes the new voice the one that speaks
//! unless one is chosen already (`voice/current.rs`); a running daemon
//! notices it there and loads it.

mod catalogue;
mod current;
mod download;
mod http;
mod progress;
pub(crate) mod sums;

use catalogue::{Catalogue, Part};
use current::Chosen;
use download::Expected;
use http::Http;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::state::printable;
use llm_bridge_hooks::bounded_read::{self, Links};
use llm_bridge_hooks::private_dir::PrivateDir;
use progress::{mib, Progress};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The largest voice model `--from` copies (Piper's "high" voices are
/// about 110 MiB).
const MAX_MODEL: u64 = 2 << 30;

/// The largest voice config read (Piper's are a few KiB).
const MAX_VOICE_CONFIG: u64 = 4 << 20;

/// `voice list`: the catalogue, one voice a line, marking those installed.
pub fn list() -> Result<i32> {
    let catalogue = Catalogue::fetch(&Http::new())?;
    let dir = llm_bridge_core::paths::voices_dir();
    let speaking = Config::load()
        .ok()
        .and_then(|c| c.speech.voice_path())
        .and_then(|p| p.canonicalize().ok());
    for voice in catalogue.voices() {
        let model = dir
            .as_ref()
            .map(|d| d.join(Part::Model.file_name(&voice.key)));
        let mark = match model.filter(|m| m.is_file()) {
            Some(m) if m.canonicalize().ok() == speaking => "  installed, speaking",
            Some(_) => "  installed",
            None => "",
        };
        let language = match voice.language.country_english.as_str() {
            "" => voice.language.name_english.clone(),
            country => format!("{} ({country})", voice.language.name_english),
        };
        let speakers = match voice.num_speakers {
            0 | 1 => String::new(),
            n => format!(", {n} speakers"),
        };
        tell(format!(
            "{:<34} {:<32} {:<7} {:>9}{speakers}{mark}",
            voice.key,
            language,
            voice.quality,
            mib(voice.size())
        ));
    }
    Ok(0)
}

/// `voice install NAME` (from the catalogue) or `voice install --from
/// PATH` (a local `.onnx` with its `.onnx.json` beside it).
pub fn install(name: Option<&str>, from: Option<&Path>) -> Result<i32> {
    let config = Config::load()?;
    let dir = voices_dir()?;
    let key = match from {
        Some(path) => copy_local(path, dir.path())?,
        None => download(name.unwrap_or_default(), dir.path())?,
    };
    match current::choose(&config.speech, dir.path(), &key)? {
        Chosen::Linked(link) => tell(format!(
            "{key} speaks now: {} links to {key}.onnx ([speech] voice is empty); \
             a running daemon loads it by itself",
            link.display()
        )),
        Chosen::Kept { voice, why } => tell(format!(
            "the voice stays {} ({why}); to speak with {key}, set [speech] voice = \"{}\" \
             in config.toml and run `llm-bridge reload`",
            voice.display(),
            dir.path().join(Part::Model.file_name(&key)).display()
        )),
    }
    Ok(0)
}

/// `voice remove NAME`: its files, and the links if they point at it.
pub fn remove(name: &str) -> Result<i32> {
    check_name(name)?;
    let Some(dir) = llm_bridge_core::paths::voices_dir() else {
        bail!("no voices directory: neither XDG_DATA_HOME nor HOME is set");
    };
    let was_speaking = current::unlink(&dir, name)?;
    let mut removed = 0;
    for file in [
        Part::Model.file_name(name),
        Part::Config.file_name(name),
        sums::file_name(name),
    ] {
        for file in [file.clone(), format!("{file}.part")] {
            let path = dir.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()))
                }
            }
        }
    }
    if removed == 0 {
        bail!(
            "{name} is not installed in {} (`llm-bridge voice list` marks those that are)",
            dir.display()
        );
    }
    tell(format!("removed {name} from {}", dir.display()));
    if was_speaking {
        println!(
            "it was the voice: install another (`llm-bridge voice install NAME`) \
             or set [speech] voice in config.toml"
        );
    }
    Ok(0)
}

/// A voice's name as a file name in the voices directory: letters,
/// digits, `_`, `-` and `.`, not hidden, and not the link's own name.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name != "voice"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !fine {
        bail!("{name:?} is not a voice name (letters, digits, _, - and . only, like en_US-joe-medium)");
    }
    Ok(())
}

/// The voices directory, created 0700 if missing, refused if not private.
fn voices_dir() -> Result<PrivateDir> {
    let Some(path) = llm_bridge_core::paths::voices_dir() else {
        bail!("no voices directory: neither XDG_DATA_HOME nor HOME is set");
    };
    Ok(PrivateDir::ensure(&path)?)
}

/// Downloads catalogue voice `name` into `dir`; returns its key.
fn download(name: &str, dir: &Path) -> Result<String> {
    let http = Http::new();
    let catalogue = Catalogue::fetch(&http)?;
    let voice = catalogue.voice(name)?;
    let progress = Progress::new();
    let mut checked = Vec::new();
    let mut digests = Vec::new();
    for part in [Part::Config, Part::Model] {
        let (path, file) = voice.file(part)?;
        let dest = dir.join(part.file_name(&voice.key));
        digests.push((file.md5_digest.clone(), part.file_name(&voice.key)));
        if holds(&dest, file.size_bytes, &file.md5_digest) {
            progress.note(&format!(
                "{} is there already (md5 checked)",
                dest.display()
            ));
            continue;
        }
        let part_path = part_path(&dest);
        let want = Expected {
            url: catalogue.url(path),
            size: file.size_bytes,
            md5: &file.md5_digest,
        };
        download::fetch(&http, &part_path, &want, &progress)?;
        checked.push((part_path, dest));
    }
    // Both whole and checked: into place, the config first (a daemon
    // loads a model as soon as it sees it, with the config beside it).
    for (part_path, dest) in checked {
        into_place(&part_path, &dest)?;
    }
    record_sums(dir, &voice.key, &digests)?;
    tell(format!(
        "installed {} ({}, {}) in {}",
        voice.key,
        voice.language.code,
        mib(voice.size()),
        dir.display()
    ));
    Ok(voice.key.clone())
}

/// Copies a local voice (`PATH.onnx` and `PATH.onnx.json`) into `dir`;
/// returns its name.
fn copy_local(model: &Path, dir: &Path) -> Result<String> {
    let file_name = model.file_name().unwrap_or_default().to_string_lossy();
    let Some(key) = file_name.strip_suffix(".onnx") else {
        bail!("{} is not a Piper voice (a .onnx file)", model.display());
    };
    check_name(key)?;
    let mut config = model.as_os_str().to_owned();
    config.push(".json");
    let config = PathBuf::from(config);
    let text = bounded_read::read(&config, MAX_VOICE_CONFIG, Links::Follow)
        .with_context(|| format!("cannot read the voice's config {}", config.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", config.display()))?;
    if json.get("phoneme_id_map").is_none() {
        bail!(
            "{} is not a Piper voice config (no phoneme_id_map)",
            config.display()
        );
    }
    let source = bounded_read::open(model, Links::Follow)
        .with_context(|| format!("cannot read {}", model.display()))?;
    let config_dest = dir.join(Part::Config.file_name(key));
    let model_dest = dir.join(Part::Model.file_name(key));
    copy_into(&text[..], &part_path(&config_dest), MAX_VOICE_CONFIG)?;
    copy_into(source, &part_path(&model_dest), MAX_MODEL)?;
    let mut digests = Vec::new();
    for (dest, part) in [(&config_dest, Part::Config), (&model_dest, Part::Model)] {
        let part_file = part_path(dest);
        let md5 = bounded_read::open(&part_file, Links::Refuse)
            .and_then(|mut f| download::md5_of(&mut f))
            .with_context(|| format!("cannot read {}", part_file.display()))?;
        digests.push((md5, part.file_name(key)));
    }
    // The config first: see `download`.
    into_place(&part_path(&config_dest), &config_dest)?;
    into_place(&part_path(&model_dest), &model_dest)?;
    record_sums(dir, key, &digests)?;
    tell(format!(
        "installed {key} from {} in {}",
        model.display(),
        dir.display()
    ));
    Ok(key.to_string())
}

/// Writes voice `key`'s md5 list beside it (created exclusively, then
/// moved into place like the voice's files), for `doctor`.
fn record_sums(dir: &Path, key: &str, digests: &[(String, String)]) -> Result<()> {
    let dest = sums::path(dir, key);
    let text = sums::text(digests);
    copy_into(text.as_bytes(), &part_path(&dest), MAX_VOICE_CONFIG)?;
    into_place(&part_path(&dest), &dest)
}

/// Where `dest` is written before it is whole.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Whether `path` is a regular file (not a link) of `size` bytes with
/// this md5: an installed file that needs no download.
fn holds(path: &Path, size: u64, md5: &str) -> bool {
    let Ok(mut file) = bounded_read::open(path, Links::Refuse) else {
        return false;
    };
    file.metadata().is_ok_and(|m| m.len() == size)
        && download::md5_of(&mut file).is_ok_and(|got| got.eq_ignore_ascii_case(md5))
}

/// Copies at most `cap` bytes of `from` into a new `part` (created
/// exclusively, 0600; a leftover of ours is removed first).
fn copy_into(mut from: impl Read, part: &Path, cap: u64) -> Result<()> {
    match std::fs::remove_file(part) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", part.display()))
        }
        _ => {}
    }
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(part)
        .with_context(|| format!("cannot create {}", part.display()))?;
    let copied = std::io::copy(&mut (&mut from).take(cap + 1), &mut file)
        .and_then(|n| file.flush().map(|()| n))
        .with_context(|| format!("cannot write {}", part.display()))?;
    if copied > cap {
        let _ = std::fs::remove_file(part);
        bail!("the voice is larger than {}", mib(cap));
    }
    Ok(())
}

/// Moves a checked `part` to `dest`, never over a link.
fn into_place(part: &Path, dest: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a link: remove it to install the voice there",
            dest.display()
        );
    }
    std::fs::rename(part, dest)
        .with_context(|| format!("cannot move the voice to {}", dest.display()))
}

/// Prints one line of this command's report. Paths, names and languages
/// come from outside (the environment, the catalogue): a control character
/// in one is shown as `?`, never sent to the terminal.
fn tell(line: String) {
    println!("{}", printable(&line));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_names_stay_file_names_in_the_voices_directory() {
        for fine in ["en_US-joe-medium", "de_DE-thorsten-x_low", "a.b"] {
            assert!(check_name(fine).is_ok(), "{fine}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "voice", "é", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
