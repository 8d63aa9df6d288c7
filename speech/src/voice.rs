//! A Piper voice on disk: `NAME.onnx` with `NAME.onnx.json` beside it,
//! loaded, checked against each other and parsed for tract. A [`Voice`] is
//! `Send`, so it can be loaded on any thread and handed to the speech thread.

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
        let path = onnx_path.as_ref();
        let context = || format!("voice {}", path.display());
        let mut proto = onnx()
            .proto_model_for_path(path)
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .context("reading the ONNX file")
            .with_context(context)?;
        let layout = InputLayout::from_proto(&proto).with_context(context)?;
        if config.is_multi_speaker() && !layout.has_sid() {
            bail!(
                "{}: the config declares {} speakers but the model has no sid input",
                context(),
                config.num_speakers
            );
        }
        let cut = model::find_cut(&proto).with_context(context)?;
        let (parsed, patched) = model::parse(&mut proto).with_context(context)?;
        drop(proto);
        let model = Model::new(parsed, layout, &cut, path).with_context(context)?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_voice_can_move_to_the_speech_thread() {
        fn send<T: Send>() {}
        send::<super::Voice>();
    }
}
