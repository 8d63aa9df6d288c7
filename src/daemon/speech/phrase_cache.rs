//! Rendered phrases, kept so that a notification plays at once instead of
//! after its synthesis (0.3-0.8 s for a short phrase here).
//!
//! Owned by the speech thread. Two levels: memory (least recently used
//! first out, bounded by bytes) and a directory (`$XDG_CACHE_HOME/llm-bridge/
//! phrases/`, 0700, files 0600, bounded by bytes, least recently used out)
//! that survives a restart. A phrase is keyed by everything that shapes its
//! samples: the voice file (path, size, modification time), the speaker,
//! the three scales and the text. The volume is applied when played, so it
//! is not part of the key. A file holds its whole key and is used only if
//! the key matches, so a hash collision or a damaged file costs a synthesis,
//! never a wrong phrase.

use llm_bridge_hooks::private_dir::PrivateDir;
use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What memory holds at most: about 45 two-second phrases of a 22 kHz voice.
pub const MEMORY_BYTES: usize = 4 << 20;

const MAGIC: &[u8; 8] = b"LLMBPHR1";
const SUFFIX: &str = ".phrase";

/// Samples at a rate, as kept: 16-bit, as a WAV file or the device takes them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub rate: u32,
    pub samples: Arc<[i16]>,
}

impl Rendered {
    pub fn from_f32(rate: u32, samples: &[f32]) -> Rendered {
        let samples: Vec<i16> = samples
            .iter()
            .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16)
            .collect();
        Rendered {
            rate,
            samples: samples.into(),
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.samples
            .iter()
            .map(|s| f32::from(*s) / f32::from(i16::MAX))
            .collect()
    }

    fn bytes(&self) -> usize {
        self.samples.len() * 2
    }
}

pub struct PhraseCache {
    /// Most recently used last.
    memory: Vec<(String, Rendered)>,
    memory_bytes: usize,
    memory_cap: usize,
    disk: Option<Disk>,
    rendered: u64,
    hits: u64,
}

/// The directory level; its listing is read once, at the first use.
struct Disk {
    dir: PathBuf,
    cap: u64,
    /// (file name, size), least recently used first.
    files: Option<Vec<(String, u64)>>,
}

pub use super::types::CacheFigures;

impl PhraseCache {
    /// A cache with `disk_cap` bytes in `dir` (created 0700 if needed; no
    /// disk level if `dir` is `None`, `disk_cap` is 0 or `dir` is unusable).
    pub fn new(dir: Option<PathBuf>, disk_cap: u64, memory_cap: usize) -> PhraseCache {
        let disk = dir.filter(|_| disk_cap > 0).and_then(|dir| {
            // Created 0700 with its parents, or refused if not private.
            match PrivateDir::ensure(&dir) {
                Ok(_) => Some(Disk {
                    dir,
                    cap: disk_cap,
                    files: None,
                }),
                Err(e) => {
                    llm_bridge_core::log::log(format_args!(
                        "speech: no phrase cache on disk: {e:#}"
                    ));
                    None
                }
            }
        });
        PhraseCache {
            memory: Vec::new(),
            memory_bytes: 0,
            memory_cap,
            disk,
            rendered: 0,
            hits: 0,
        }
    }

    /// The phrase for `key`, from memory or disk (which it then keeps in
    /// memory too).
    pub fn get(&mut self, key: &str) -> Option<Rendered> {
        if let Some(i) = self.memory.iter().position(|(k, _)| k == key) {
            let entry = self.memory.remove(i);
            let rendered = entry.1.clone();
            self.memory.push(entry);
            self.hits += 1;
            return Some(rendered);
        }
        let rendered = self.disk.as_mut()?.read(key)?;
        self.remember(key, rendered.clone());
        self.hits += 1;
        Some(rendered)
    }

    /// Keeps a freshly rendered phrase in memory and on disk.
    pub fn put(&mut self, key: &str, rendered: Rendered) {
        self.rendered += 1;
        if let Some(disk) = &mut self.disk {
            if let Err(e) = disk.write(key, &rendered) {
                llm_bridge_core::log::log(format_args!(
                    "speech: cannot keep a phrase on disk: {e}"
                ));
            }
        }
        self.remember(key, rendered);
    }

    pub fn figures(&self) -> CacheFigures {
        let (disk_bytes, disk_files) = self
            .disk
            .as_ref()
            .and_then(|d| d.files.as_ref())
            .map_or((0, 0), |f| (f.iter().map(|(_, n)| n).sum(), f.len()));
        CacheFigures {
            memory_bytes: self.memory_bytes,
            disk_bytes,
            disk_files,
            rendered: self.rendered,
            hits: self.hits,
        }
    }

    fn remember(&mut self, key: &str, rendered: Rendered) {
        if rendered.bytes() > self.memory_cap {
            return;
        }
        if let Some(i) = self.memory.iter().position(|(k, _)| k == key) {
            let (_, old) = self.memory.remove(i);
            self.memory_bytes -= old.bytes();
        }
        self.memory_bytes += rendered.bytes();
        self.memory.push((key.to_string(), rendered));
        while self.memory_bytes > self.memory_cap {
            let (_, old) = self.memory.remove(0);
            self.memory_bytes -= old.bytes();
        }
    }
}

impl Disk {
    /// The listing, least recently used (modified) first.
    fn files(&mut self) -> &mut Vec<(String, u64)> {
        let dir = &self.dir;
        self.files.get_or_insert_with(|| {
            let mut found: Vec<(SystemTime, String, u64)> = fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let meta = entry.metadata().ok()?;
                    (name.ends_with(SUFFIX) && meta.is_file()).then(|| {
                        (
                            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                            name,
                            meta.len(),
                        )
                    })
                })
                .collect();
            found.sort();
            found
                .into_iter()
                .map(|(_, name, len)| (name, len))
                .collect()
        })
    }

    /// Whether the directory is still a private one of ours: checked at
    /// each use, not only when the cache was made (it may have been
    /// replaced since).
    fn private(&self) -> io::Result<()> {
        PrivateDir::check(&self.dir)
            .map_err(io::Error::other)?
            .then_some(())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the cache directory is gone"))
    }

    fn read(&mut self, key: &str) -> Option<Rendered> {
        self.private().ok()?;
        let name = file_name(key);
        let path = self.dir.join(&name);
        let bytes = read_private(&path).ok()?;
        let rendered = decode(&bytes, key)?;
        // Used now: last out (never through a link).
        let _ = fs::File::options()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        let files = self.files();
        if let Some(i) = files.iter().position(|(n, _)| *n == name) {
            let entry = files.remove(i);
            files.push(entry);
        }
        Some(rendered)
    }

    fn write(&mut self, key: &str, rendered: &Rendered) -> io::Result<()> {
        let bytes = encode(key, rendered);
        if bytes.len() as u64 > self.cap {
            return Ok(());
        }
        self.private()?;
        let name = file_name(key);
        llm_bridge_core::atomic_file::write_atomic(&self.dir.join(&name), &bytes)?;
        let (dir, cap) = (self.dir.clone(), self.cap);
        let files = self.files();
        files.retain(|(n, _)| *n != name);
        files.push((name, bytes.len() as u64));
        let mut total: u64 = files.iter().map(|(_, n)| n).sum();
        while total > cap && !files.is_empty() {
            let (old, len) = files.remove(0);
            let _ = fs::remove_file(dir.join(old));
            total -= len;
        }
        Ok(())
    }
}

/// Reads a cache file only if it is a regular file of this user (the
/// directory is private, this is defence in depth).
fn read_private(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut file = fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    // SAFETY: getuid cannot fail.
    if !meta.is_file() || meta.uid() != unsafe { libc::getuid() } {
        return Err(io::Error::other("not a file of this user"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn encode(key: &str, rendered: &Rendered) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.len() + rendered.bytes());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&rendered.rate.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    for s in rendered.samples.iter() {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

fn decode(bytes: &[u8], key: &str) -> Option<Rendered> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let rate = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?);
    let key_len = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
    let stored = rest.get(8..8usize.checked_add(key_len)?)?;
    if stored != key.as_bytes() || rate == 0 {
        return None;
    }
    let samples = &rest[8 + key_len..];
    if samples.len() % 2 != 0 {
        return None;
    }
    let samples: Vec<i16> = samples
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    Some(Rendered {
        rate,
        samples: samples.into(),
    })
}

/// FNV-1a (64 bits) of the key, in hex: stable across builds, unlike std's
/// hasher, so a file written by one version is found by the next.
fn file_name(key: &str) -> String {
    let hash = llm_bridge_protocol::wire::line_digest(key);
    format!("{hash:016x}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn phrase(n: usize, v: i16) -> Rendered {
        Rendered {
            rate: 22050,
            samples: vec![v; n].into(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("llmb-phrases-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn memory_keeps_the_most_recently_used_within_its_bytes() {
        let mut cache = PhraseCache::new(None, 0, 4000);
        cache.put("a", phrase(1000, 1));
        cache.put("b", phrase(1000, 2));
        assert!(cache.get("a").is_some(), "a is now the most recent");
        cache.put("c", phrase(1000, 3));
        assert_eq!(cache.figures().memory_bytes, 4000);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert_eq!(cache.get("a"), Some(phrase(1000, 1)));
        assert_eq!(cache.get("c"), Some(phrase(1000, 3)));
    }

    #[test]
    fn disk_survives_a_new_cache_checks_keys_and_stays_within_its_bound() {
        let dir = temp_dir("disk");
        let bytes = encode("k0", &phrase(1000, 0)).len() as u64;
        {
            let mut cache = PhraseCache::new(Some(dir.clone()), bytes * 3, 0);
            for i in 0..5 {
                cache.put(&format!("k{i}"), phrase(1000, i as i16));
            }
            let f = cache.figures();
            assert_eq!((f.disk_files, f.disk_bytes), (3, bytes * 3));
        }
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let mut cache = PhraseCache::new(Some(dir.clone()), bytes * 3, 0);
        assert_eq!(cache.get("k4"), Some(phrase(1000, 4)), "kept across caches");
        assert!(cache.get("k0").is_none(), "the oldest went");
        for entry in fs::read_dir(&dir).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A file whose key differs (a collision, or damage) is not used.
        let path = dir.join(file_name("k4"));
        let mut damaged = fs::read(&path).unwrap();
        damaged[17] ^= 1;
        fs::write(&path, damaged).unwrap();
        let mut fresh = PhraseCache::new(Some(dir.clone()), bytes * 3, 0);
        assert!(fresh.get("k4").is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cache_directory_replaced_by_a_link_is_not_written_through() {
        let dir = temp_dir("swapped");
        let elsewhere = temp_dir("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let mut cache = PhraseCache::new(Some(dir.clone()), 1 << 20, 0);
        cache.put("before", phrase(100, 1));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        // Swapped for a link after the cache checked it at its start.
        fs::remove_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
        cache.put("after", phrase(100, 2));
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing written through the link"
        );
        let _ = fs::remove_file(&dir);
        let _ = fs::remove_dir_all(&elsewhere);
    }

    #[test]
    fn samples_round_trip_through_sixteen_bits() {
        let r = Rendered::from_f32(22050, &[0.0, 0.5, -1.0, 2.0]);
        assert_eq!(&*r.samples, &[0, 16384, -32767, 32767]);
        let back = r.to_f32();
        assert!((back[1] - 0.5).abs() < 1e-4);
    }
}
