//! Samples → a 16-bit PCM mono WAV file, written atomically (a temporary
//! file in the same directory, then a rename), so that a reader never sees
//! half a file. The file gets the usual mode for user output (0666 less the
//! umask, 0644 typically).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The bytes of a 16-bit PCM mono WAV file. Samples are clamped to [-1, 1]
/// and scaled by 32767; NaN becomes 0.
pub fn encode(sample_rate: u32, samples: &[f32]) -> Result<Vec<u8>> {
    let data_len = samples
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= u32::MAX - 36);
    let Some(data_len) = data_len else {
        bail!("{} samples are too many for a WAV file", samples.len());
    };
    if sample_rate == 0 {
        bail!("a WAV file needs a sample rate above 0");
    }
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate.saturating_mul(2)).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        // `as` saturates and maps NaN to 0.
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes `samples` to `path` as a WAV file, replacing it atomically.
pub fn write(path: impl AsRef<Path>, sample_rate: u32, samples: &[f32]) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode(sample_rate, samples)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = create_temp(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// A WAV file written as the samples come (a long text's speech never sits
/// in memory whole): a temporary beside `path`, its sizes filled in and
/// renamed into place by [`Writer::finish`]; dropped unfinished, it is
/// removed.
pub struct Writer {
    file: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    samples: u64,
}

impl Writer {
    pub fn create(path: impl AsRef<Path>, sample_rate: u32) -> Result<Writer> {
        let path = path.as_ref().to_path_buf();
        if sample_rate == 0 {
            bail!("a WAV file needs a sample rate above 0");
        }
        let tmp = temp_path(&path);
        let file = create_temp(&tmp).with_context(|| format!("writing {}", path.display()))?;
        let mut writer = Writer {
            file: std::io::BufWriter::new(file),
            tmp,
            path,
            samples: 0,
        };
        // The header with sizes 0, rewritten at the end.
        let header = encode(sample_rate, &[])?;
        writer
            .file
            .write_all(&header)
            .context("writing the WAV header")?;
        Ok(writer)
    }

    /// Appends samples, encoded as [`encode`] does.
    pub fn append(&mut self, samples: &[f32]) -> Result<()> {
        if (self.samples + samples.len() as u64) * 2 > u64::from(u32::MAX - 36) {
            bail!("the speech is too long for a WAV file");
        }
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            self.file.write_all(&v.to_le_bytes())?;
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Fills in the sizes, syncs and renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        let data_len = (self.samples * 2) as u32;
        let result = (|| {
            self.file.flush()?;
            let file = self.file.get_mut();
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&(36 + data_len).to_le_bytes())?;
            file.seek(SeekFrom::Start(40))?;
            file.write_all(&data_len.to_le_bytes())?;
            file.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        result.with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Renamed away by `finish`; otherwise an unfinished file.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Creates the temporary `tmp`, never opens one: a file or link planted at
/// its name is refused, not written through.
fn create_temp(tmp: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(tmp)
}

/// A temporary's name beside `path`, unique to this process and this
/// writer (two writers of one process to one path never share it).
fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_writers_of_one_path_never_share_a_temporary() {
        let dir = std::env::temp_dir().join(format!("wav-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("said.wav");
        let mut a = Writer::create(&path, 16_000).unwrap();
        let b = Writer::create(&path, 16_000).unwrap();
        a.append(&[0.5; 10]).unwrap();
        b.finish().unwrap();
        a.finish().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            encode(16_000, &[0.5; 10]).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn header_describes_16_bit_mono_pcm() {
        let b = encode(22050, &[0.0, 1.0, -1.0, 0.5, 2.0, f32::NAN]).unwrap();
        assert_eq!(b.len(), 44 + 12);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32_at(4), 36 + 12);
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u32_at(16), 16);
        assert_eq!(u16_at(20), 1, "PCM");
        assert_eq!(u16_at(22), 1, "mono");
        assert_eq!(u32_at(24), 22050);
        assert_eq!(u32_at(28), 44100, "byte rate");
        assert_eq!(u16_at(32), 2, "block align");
        assert_eq!(u16_at(34), 16, "bits");
        assert_eq!(&b[36..40], b"data");
        assert_eq!(u32_at(40), 12);
        let samples: Vec<i16> = b[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples, [0, 32767, -32767, 16384, 32767, 0]);
    }

    #[test]
    fn the_streaming_writer_writes_what_encode_does() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.wav");
        let mut w = Writer::create(&p, 22050).unwrap();
        w.append(&[0.0, 1.0]).unwrap();
        w.append(&[-1.0, 0.5, 2.0, f32::NAN]).unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            encode(22050, &[0.0, 1.0, -1.0, 0.5, 2.0, f32::NAN]).unwrap()
        );
        // Dropped unfinished: nothing is left.
        let q = dir.path().join("q.wav");
        drop(Writer::create(&q, 22050).unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("s.wav")]);
    }

    #[test]
    fn rejects_a_zero_rate() {
        assert!(encode(0, &[]).is_err());
    }

    #[test]
    fn writes_atomically_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.wav");
        write(&p, 16000, &[0.0; 10]).unwrap();
        write(&p, 16000, &[0.5; 3]).unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            encode(16000, &[0.5; 3]).unwrap()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("out.wav")]);
        let e = format!(
            "{:#}",
            write(dir.path().join("no/such/dir.wav"), 16000, &[]).unwrap_err()
        );
        assert!(e.starts_with("writing "), "{e}");
    }
}
