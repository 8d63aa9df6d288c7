//! How the voice speaks: the speaker, the three scales and the volume, from
//! `[speech]` and a `say`'s own options. The daemon's speech worker and
//! `say` without a daemon apply them the same way.

use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{anyhow, Result};
use llm_bridge_protocol::wire::SayTuning;
#[cfg(feature = "speech")]
use llm_bridge_speech::{Scales, Synthesizer, VoiceConfig};

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
