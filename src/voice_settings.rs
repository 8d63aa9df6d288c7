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

/// Where a spoken text's samples go, block by block as the decoder makes
/// them: the audio device (each user paces it its own way), a WAV file, or
/// memory. All get the same samples, so a file or a phrase kept for later
/// sounds as a listener hears it.
#[cfg(feature = "speech")]
pub trait Sink {
    /// Takes one block of mono samples at `rate`, at their volume.
    fn take(&mut self, samples: Vec<f32>, rate: u32) -> Result<()>;
}

/// A WAV file written as the blocks come.
#[cfg(feature = "speech")]
impl Sink for llm_bridge_speech::wav::Writer {
    fn take(&mut self, samples: Vec<f32>, _rate: u32) -> Result<()> {
        self.append(&samples)
    }
}

/// All the samples in memory (a phrase, kept whole).
#[cfg(feature = "speech")]
impl Sink for Vec<f32> {
    fn take(&mut self, samples: Vec<f32>, _rate: u32) -> Result<()> {
        self.extend(samples);
        Ok(())
    }
}

/// A streamed sentence was cut between two blocks.
#[cfg(feature = "speech")]
#[derive(Debug)]
struct StoppedEarly;

#[cfg(feature = "speech")]
impl std::fmt::Display for StoppedEarly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped")
    }
}

#[cfg(feature = "speech")]
impl std::error::Error for StoppedEarly {}

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
    /// Piper's scales; `None`: the voice's own. A noise of 0 is no noise.
    pub length_scale: Option<f32>,
    pub noise_scale: Option<f32>,
    pub noise_w: Option<f32>,
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
        if let Some(v) = tuning.length_scale {
            if !(v > 0.0 && v <= 10.0) {
                return Err(anyhow!(
                    "the length scale {v} is out of range: above 0, at most 10"
                ));
            }
            s.length_scale = Some(v);
        }
        for (name, value, slot) in [
            ("noise scale", tuning.noise_scale, &mut s.noise_scale),
            ("noise w", tuning.noise_w, &mut s.noise_w),
        ] {
            if let Some(v) = value {
                if !(0.0..=2.0).contains(&v) {
                    return Err(anyhow!("the {name} {v} is out of range: 0 to 2"));
                }
                *slot = Some(v);
            }
        }
        Ok(s)
    }

    /// Sets the speaker and the scales of `synth`, which speaks `voice`.
    #[cfg(feature = "speech")]
    pub fn apply(&self, synth: &mut Synthesizer, voice: &VoiceConfig) -> Result<()> {
        let own = voice.scales;
        synth.set_scales(Scales {
            length: self.length_scale.unwrap_or(own.length),
            noise: self.noise_scale.unwrap_or(own.noise),
            noise_w: self.noise_w.unwrap_or(own.noise_w),
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
    /// sentence by sentence, each handed to `sink` block by block as the
    /// decoder makes them (at the stream's gain, brought to the volume), so
    /// that the first is heard after the encoder and one decoder window
    /// rather than after the whole sentence. Asks `stopped` before each
    /// sentence and each block, and ends there once it says so.
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
            let mut taken = 0;
            let streamed = synth.synthesize_sentence_chunks(sentence, |block| {
                if stopped() {
                    return Err(anyhow!(StoppedEarly));
                }
                let mut block = block.to_vec();
                self.louden(&mut block);
                taken += block.len();
                sink.take(block, rate)
            });
            said.seconds += taken as f32 / rate as f32;
            match streamed {
                Ok(()) => said.sentences += 1,
                Err(e) if e.is::<StoppedEarly>() => {
                    said.stopped = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(said)
    }

    /// Scales the loudness of `samples` (clipped to the valid range).
    pub fn louden(&self, samples: &mut [f32]) {
        louden(self.volume, samples);
    }
}

/// Scales the loudness of `samples` by `volume` (clipped to the valid range).
pub fn louden(volume: f32, samples: &mut [f32]) {
    if (volume - 1.0).abs() > f32::EPSILON {
        for s in samples {
            *s = (*s * volume).clamp(-1.0, 1.0);
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
        assert_eq!(tuned.length_scale, Some(0.5));
        assert_eq!(tuned.noise_scale, None, "kept: the voice's own");
        let silent = base
            .with(&SayTuning {
                noise_scale: Some(0.0),
                noise_w: Some(0.0),
                ..SayTuning::default()
            })
            .unwrap();
        assert_eq!((silent.noise_scale, silent.noise_w), (Some(0.0), Some(0.0)));
        let err = base
            .with(&SayTuning {
                length_scale: Some(0.0),
                ..SayTuning::default()
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the length scale 0 is out of range: above 0, at most 10"
        );
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

/// Speaking with the real test voice (scripts/fetch-test-voice).
#[cfg(all(test, feature = "speech"))]
mod streaming {
    use super::*;
    use crate::test_voice::{one_synthesizer_at_a_time, test_voice};
    use llm_bridge_core::config::SpeechConfig;
    use llm_bridge_speech::Voice;
    use std::time::Instant;

    /// 60 words, one sentence.
    const LONG: &str = "While you were away the assistant read the whole repository, \
        found the failing test in the parser module, traced it to an off by one \
        error in the tokenizer, wrote a fix with two new regression tests, ran the \
        complete suite twice on both targets, updated the changelog and the \
        documentation, and is now waiting for you to review the pull request before \
        it merges anything into the main branch.";

    /// Records when each block came and how long it was.
    #[derive(Default)]
    struct Listener {
        blocks: Vec<(Instant, usize)>,
    }

    impl Sink for Listener {
        fn take(&mut self, samples: Vec<f32>, _rate: u32) -> Result<()> {
            self.blocks.push((Instant::now(), samples.len()));
            Ok(())
        }
    }

    fn synthesizer(settings: &VoiceSettings) -> (Synthesizer, VoiceConfig) {
        let voice = Voice::load(test_voice()).unwrap();
        let config = voice.config().clone();
        let mut synth = Synthesizer::new(voice).unwrap();
        settings.apply(&mut synth, &config).unwrap();
        (synth, config)
    }

    fn silent() -> VoiceSettings {
        VoiceSettings {
            noise_scale: Some(0.0),
            noise_w: Some(0.0),
            ..VoiceSettings::from_config(&SpeechConfig::default())
        }
    }

    #[test]
    fn a_long_sentence_is_heard_before_its_synthesis_ends() {
        let _turn = one_synthesizer_at_a_time();
        let settings = silent();
        let (mut synth, _) = synthesizer(&settings);
        assert_eq!(synth.sentences(LONG).len(), 1, "one sentence");
        let mut listener = Listener::default();
        let said = settings
            .speak(&mut synth, LONG, &mut listener, || false)
            .unwrap();
        let ended = Instant::now();
        assert_eq!((said.sentences, said.stopped), (1, false));
        let blocks = &listener.blocks;
        assert!(blocks.len() >= 4, "{} blocks", blocks.len());
        // The first block was handed over while the rest was still being
        // decoded: later blocks came later, each after its own decoding.
        let first = blocks[0].0;
        let last = blocks[blocks.len() - 1].0;
        assert!(
            last.duration_since(first) > (ended - first) / 2,
            "blocks came as they were decoded"
        );
        // Streamed, the sentence is as long as made whole (zero noise: the
        // same durations).
        let streamed: usize = blocks.iter().map(|b| b.1).sum();
        assert_eq!(streamed, synth.synthesize_sentence(LONG).unwrap().len());
        assert!((said.seconds - streamed as f32 / synth.sample_rate() as f32).abs() < 1e-3);
    }

    #[test]
    fn a_stop_between_blocks_ends_the_sentence_there() {
        let _turn = one_synthesizer_at_a_time();
        let settings = silent();
        let (mut synth, _) = synthesizer(&settings);
        let mut listener = Listener::default();
        let taken = std::cell::Cell::new(0);
        let said = settings
            .speak(&mut synth, LONG, &mut listener, || {
                taken.set(taken.get() + 1);
                // Asked before the sentence, then before each block: the
                // second block is refused.
                taken.get() > 2
            })
            .unwrap();
        assert!(said.stopped);
        assert_eq!(listener.blocks.len(), 1, "only the first block");
        assert_eq!(said.sentences, 0, "the sentence was not finished");
    }

    #[test]
    fn zero_noise_gives_the_same_audio_every_time() {
        let _turn = one_synthesizer_at_a_time();
        let settings = silent();
        let (mut synth, config) = synthesizer(&settings);
        let mut a = Vec::new();
        let mut b = Vec::new();
        settings
            .speak(&mut synth, "Zero means zero.", &mut a, || false)
            .unwrap();
        settings
            .speak(&mut synth, "Zero means zero.", &mut b, || false)
            .unwrap();
        assert!(!a.is_empty());
        assert_eq!(a, b);
        // The voice's own noise (the setting left out) varies.
        let own = VoiceSettings::from_config(&SpeechConfig::default());
        own.apply(&mut synth, &config).unwrap();
        let mut c = Vec::new();
        let mut d = Vec::new();
        own.speak(&mut synth, "Zero means zero.", &mut c, || false)
            .unwrap();
        own.speak(&mut synth, "Zero means zero.", &mut d, || false)
            .unwrap();
        assert_ne!(c, d);
    }
}
