//! How the voice speaks: the speaker, the three scales and the volume, from
//! `[speech]` and a `say`'s own options, and the one loop that speaks a text
//! with them ([`VoiceSettings::speak`]: sentence, synthesis, volume, into a
//! [`Sink`]). The daemon's speech worker and `say` without a daemon both
//! speak through it; only where the samples go differs.

use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{anyhow, Result};
use llm_bridge_protocol::wire::SayTuning;
#[cfg(feature = "speech")]
use llm_bridge_speech::{Scales, Synthesizer, VoiceConfig};

/// Where a spoken text's samples go, one sentence at a time: the audio
/// device (each user paces it its own way), a WAV file, or memory.
#[cfg(feature = "speech")]
pub trait Sink {
    /// Takes one sentence's mono samples at `rate`, at their volume.
    fn take(&mut self, samples: Vec<f32>, rate: u32) -> Result<()>;
}

/// A WAV file written as the sentences come.
#[cfg(feature = "speech")]
impl Sink for llm_bridge_speech::wav::Writer {
    fn take(&mut self, samples: Vec<f32>, _rate: u32) -> Result<()> {
        self.append(&samples)
    }
}

/// All the samples in memory (a short phrase, kept whole).
#[cfg(feature = "speech")]
impl Sink for Vec<f32> {
    fn take(&mut self, samples: Vec<f32>, _rate: u32) -> Result<()> {
        self.extend(samples);
        Ok(())
    }
}

/// What [`VoiceSettings::speak`] did.
#[cfg(feature = "speech")]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Said {
    /// Sentences synthesized and handed to the sink.
    pub sentences: usize,
    /// Seconds of audio in them.
    pub seconds: f32,
    /// `stopped` said so before the last sentence.
    pub stopped: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VoiceSettings {
    /// A speaker's name or number; empty: the voice's first.
    pub speaker: String,
    /// Each 0: the voice's own.
    pub length_scale: f32,
    pub noise_scale: f32,
    pub noise_w: f32,
    pub volume: f32,
}

impl VoiceSettings {
    pub fn from_config(config: &SpeechConfig) -> VoiceSettings {
        VoiceSettings {
            speaker: config.speaker.clone(),
            length_scale: config.length_scale,
            noise_scale: config.noise_scale,
            noise_w: config.noise_w,
            volume: config.volume,
        }
    }

    /// These settings with a request's own over them; an out-of-range value
    /// is refused with one line.
    pub fn with(&self, tuning: &SayTuning) -> Result<VoiceSettings> {
        let mut s = self.clone();
        if let Some(speaker) = &tuning.speaker {
            s.speaker.clone_from(speaker);
        }
        for (name, value, slot, max) in [
            (
                "length scale",
                tuning.length_scale,
                &mut s.length_scale,
                10.0,
            ),
            ("noise scale", tuning.noise_scale, &mut s.noise_scale, 2.0),
            ("noise w", tuning.noise_w, &mut s.noise_w, 2.0),
        ] {
            if let Some(v) = value {
                if !(0.0..=max).contains(&v) {
                    return Err(anyhow!("the {name} {v} is out of range: 0 to {max}"));
                }
                *slot = v;
            }
        }
        Ok(s)
    }

    /// Sets the speaker and the scales of `synth`, which speaks `voice`.
    #[cfg(feature = "speech")]
    pub fn apply(&self, synth: &mut Synthesizer, voice: &VoiceConfig) -> Result<()> {
        let base = voice.scales;
        let pick = |v: f32, own: f32| if v > 0.0 { v } else { own };
        synth.set_scales(Scales {
            length: pick(self.length_scale, base.length),
            noise: pick(self.noise_scale, base.noise),
            noise_w: pick(self.noise_w, base.noise_w),
        });
        let speaker = self.speaker.trim();
        if !speaker.is_empty() {
            synth.set_speaker(voice.speaker_id(speaker)?)?;
        } else if voice.num_speakers > 1 {
            synth.set_speaker(0)?;
        }
        Ok(())
    }

    /// Speaks `text` with `synth`, already set up with [`VoiceSettings::apply`]:
    /// sentence by sentence, each synthesized, brought to the volume and
    /// handed to `sink` before the next is made (so the first is heard
    /// while the rest are synthesized). Asks `stopped` before each sentence
    /// and ends there once it says so.
    #[cfg(feature = "speech")]
    pub fn speak(
        &self,
        synth: &mut Synthesizer,
        text: &str,
        sink: &mut impl Sink,
        stopped: impl Fn() -> bool,
    ) -> Result<Said> {
        let rate = synth.sample_rate();
        let mut said = Said::default();
        for sentence in &synth.sentences(text) {
            if stopped() {
                said.stopped = true;
                break;
            }
            let mut samples = synth.synthesize_sentence(sentence)?;
            self.louden(&mut samples);
            said.sentences += 1;
            said.seconds += samples.len() as f32 / rate as f32;
            sink.take(samples, rate)?;
        }
        Ok(said)
    }

    /// Scales the loudness of `samples` (clipped to the valid range).
    pub fn louden(&self, samples: &mut [f32]) {
        if (self.volume - 1.0).abs() > f32::EPSILON {
            for s in samples {
                *s = (*s * self.volume).clamp(-1.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_overrides_the_config_within_range() {
        let base = VoiceSettings::from_config(&SpeechConfig::default());
        let tuned = base
            .with(&SayTuning {
                speaker: Some("2".into()),
                length_scale: Some(0.5),
                ..SayTuning::default()
            })
            .unwrap();
        assert_eq!(tuned.speaker, "2");
        assert_eq!(tuned.length_scale, 0.5);
        assert_eq!(tuned.noise_scale, 0.0, "kept: the voice's own");
        let err = base
            .with(&SayTuning {
                noise_w: Some(-1.0),
                ..SayTuning::default()
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "the noise w -1 is out of range: 0 to 2");
    }

    #[test]
    fn volume_scales_and_clips() {
        let mut s = VoiceSettings::from_config(&SpeechConfig::default());
        let mut samples = [0.25f32, -0.75, 1.0];
        s.louden(&mut samples);
        assert_eq!(samples, [0.25, -0.75, 1.0], "1.0 leaves them");
        s.volume = 2.0;
        s.louden(&mut samples);
        assert_eq!(samples, [0.5, -1.0, 1.0]);
    }
}
