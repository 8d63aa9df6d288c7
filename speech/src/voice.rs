//! A Piper voice on disk: `NAME.onnx` with `NAME.onnx.json` beside it,
//! loaded, checked against each other and parsed for tract. A [`Voice`] is
//! `Send`, so it can be loaded on any thread and handed to the speech thread.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tract_onnx::prelude::*;

use crate::config::VoiceConfig;
use crate::model::{self, InputLayout, Model, Patched};

/// A loaded voice: its config and its parsed model, cut in two (encoder and
/// decoder, see `model`), no plan built yet.
pub struct Voice {
    pub(crate) config: VoiceConfig,
    pub(crate) model: Model,
    patched: Patched,
    path: PathBuf,
}

impl Voice {
    /// Loads `onnx_path` and the `.onnx.json` beside it.
    pub fn load(onnx_path: impl AsRef<Path>) -> Result<Voice> {
        let path = onnx_path.as_ref();
        let mut json = path.as_os_str().to_owned();
        json.push(".json");
        let config = VoiceConfig::load(Path::new(&json))?;
        Voice::load_with_config(path, config)
    }

    /// Loads the model at `onnx_path` with a config read elsewhere.
    pub fn load_with_config(onnx_path: impl AsRef<Path>, config: VoiceConfig) -> Result<Voice> {
        Voice::load_as(onnx_path.as_ref(), config, true)
    }

    /// Loads `onnx_path` with its graph as exported: the encoder gets one
    /// plan per bucket, its ids padded (the reference for the plan over any
    /// length, in the tests).
    #[doc(hidden)]
    pub fn load_padded_to_buckets(onnx_path: impl AsRef<Path>) -> Result<Voice> {
        let path = onnx_path.as_ref();
        let mut json = path.as_os_str().to_owned();
        json.push(".json");
        let config = VoiceConfig::load(Path::new(&json))?;
        Voice::load_as(path, config, false)
    }

    fn load_as(path: &Path, config: VoiceConfig, any_length: bool) -> Result<Voice> {
        let context = || format!("voice {}", path.display());
        let mut file = open_regular(path, MAX_MODEL_BYTES)
            .context("reading the ONNX file")
            .with_context(context)?;
        let mut proto = onnx()
            .proto_model_for_read(&mut (&mut file).take(MAX_MODEL_BYTES))
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .context("reading the ONNX file")
            .with_context(context)?;
        drop(file);
        let layout = InputLayout::from_proto(&proto).with_context(context)?;
        if config.is_multi_speaker() && !layout.has_sid() {
            bail!(
                "{}: the config declares {} speakers but the model has no sid input",
                context(),
                config.num_speakers
            );
        }
        let cut = model::find_cut(&proto).with_context(context)?;
        let (parsed, patched) = model::parse(&mut proto, any_length).with_context(context)?;
        drop(proto);
        let any_length = patched.any_length_layers > 0;
        let model = Model::new(parsed, layout, &cut, path, any_length).with_context(context)?;
        model::release_freed_memory();
        Ok(Voice {
            config,
            model,
            patched,
            path: path.to_path_buf(),
        })
    }

    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// Whether the model takes a speaker id.
    pub fn has_speaker_input(&self) -> bool {
        self.model.has_sid()
    }

    /// What loading changed in the model to suit tract.
    pub fn patched(&self) -> Patched {
        self.patched
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Piper's largest voices are about 120 MB; a larger file is not a voice.
const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Opens a voice's file the way every file from outside is opened: without
/// blocking (a FIFO put there would hang the opener), through links (a
/// voice may well be one, into the Nix store), and only if it is a regular
/// file of at most `cap` bytes.
fn open_regular(path: &Path, cap: u64) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > cap {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than a voice can be ({cap})",
            meta.len()
        )));
    }
    Ok(file)
}

/// Reads a voice's file whole, as [`open_regular`] opens it.
pub(crate) fn read_regular(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path, cap)?.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_can_move_to_the_speech_thread() {
        fn send<T: Send>() {}
        send::<Voice>();
    }

    #[test]
    fn a_fifo_or_a_folder_in_a_voices_place_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("v.onnx");
        let json = dir.path().join("v.onnx.json");
        let fifo = std::ffi::CString::new(json.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::write(&onnx, b"not a model").unwrap();
        // No writer ever opens the FIFO: a blocking open would hang here.
        let e = format!("{:#}", Voice::load(&onnx).err().expect("refused"));
        assert!(
            e.contains("v.onnx.json") && e.contains("not a regular file"),
            "{e}"
        );

        std::fs::remove_file(&json).unwrap();
        std::fs::write(&json, b"{}").unwrap();
        std::fs::remove_file(&onnx).unwrap();
        std::fs::create_dir(&onnx).unwrap();
        let config = VoiceConfig::parse(
            r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},"phoneme_id_map":{"_":[0],"^":[1],"$":[2]}}"#,
        );
        let e = format!(
            "{:#}",
            Voice::load_with_config(&onnx, config.unwrap())
                .err()
                .expect("refused")
        );
        assert!(e.contains("not a regular file"), "{e}");
    }
}
