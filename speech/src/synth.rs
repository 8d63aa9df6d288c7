//! Text → samples: the pipeline's owner. A [`Synthesizer`] holds the
//! process's libespeak-ng handle and the voice's plans, so it lives on one
//! thread (it is `!Send`) and is made there; the caller splits text into
//! sentences and synthesizes them one by one, playing each as soon as it is
//! ready.
//!
//! Memory, measured with the PyPI test voice (en_US-joe-medium, 63 MB of
//! weights; speech/README.md): RSS is about 80 MiB with the voice loaded,
//! about 100 MiB once the flow's and decoder's plans and the 64-id encoder
//! plan are built, and about 32 MiB more per further encoder plan (128, 256,
//! 512 ids: 134, 166, 201 MiB). Synthesis adds 53-66 MiB at its peak
//! whatever the sentence's length (a decoder window's working memory), where
//! the decoder over a whole sentence used to add about 55 MB per second of
//! speech. [`Synthesizer::set_max_ids`] now saves memory only by the encoder
//! plans it never builds.

use anyhow::{bail, Result};

use crate::config::{PhonemeType, Scales};
use crate::ids::{IdMap, Phoneme};
use crate::model::{Latents, Model, BUCKETS, MAX_IDS};
use crate::phonemes::Espeak;
use crate::sentences;
use crate::voice::Voice;

/// The default gain of streamed blocks: the model's raw output peaked at
/// 0.41-0.74 on the measured sentences (speech/README.md), which Piper's
/// per-sentence normalisation raises to 1; 1.3 brings a typical sentence
/// near that loudness without clipping the loudest measured one.
pub const STREAM_GAIN: f32 = 1.3;

/// Counters since the synthesizer was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sentences synthesized.
    pub sentences: u64,
    /// Model runs (a sentence longer than the longest plan takes several).
    pub inferences: u64,
    /// Phonemes skipped because the voice's id map lacks them.
    pub unknown_phonemes: u64,
}

/// A voice ready to speak, on the thread that made it:
///
/// ```compile_fail,E0277
/// fn send<T: Send>() {}
/// send::<llm_bridge_speech::Synthesizer>();
/// ```
pub struct Synthesizer {
    sample_rate: u32,
    phoneme_type: PhonemeType,
    espeak_voice: String,
    ids: IdMap,
    model: Model,
    espeak: Option<Espeak>,
    scales: Scales,
    speaker: Option<i64>,
    num_speakers: u32,
    max_ids: usize,
    stream_gain: f32,
    stats: Stats,
}

impl Synthesizer {
    /// Takes the voice and, for espeak voices, the process's libespeak-ng
    /// handle (an error if another synthesizer holds it). No plan is built
    /// yet: see [`Synthesizer::warm_up`].
    pub fn new(voice: Voice) -> Result<Synthesizer> {
        let Voice { config, model, .. } = voice;
        let espeak = match config.phoneme_type {
            PhonemeType::Espeak => {
                let mut e = Espeak::acquire()?;
                e.set_voice(&config.espeak_voice)?;
                Some(e)
            }
            PhonemeType::Text => None,
        };
        let speaker = model.has_sid().then_some(0);
        Ok(Synthesizer {
            sample_rate: config.sample_rate,
            phoneme_type: config.phoneme_type,
            espeak_voice: config.espeak_voice,
            ids: IdMap::new(config.phoneme_id_map, &config.vowel_clusters),
            model,
            espeak,
            scales: config.scales,
            speaker,
            num_speakers: config.num_speakers,
            max_ids: MAX_IDS,
            stream_gain: STREAM_GAIN,
            stats: Stats::default(),
        })
    }

    /// The rate of the samples this voice makes.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn scales(&self) -> Scales {
        self.scales
    }

    /// Replaces the voice's default scales.
    pub fn set_scales(&mut self, scales: Scales) {
        self.scales = scales;
    }

    /// Selects the speaker of a multi-speaker voice (0 by default; a name
    /// becomes an id through [`crate::VoiceConfig::speaker_id`]).
    pub fn set_speaker(&mut self, id: i64) -> Result<()> {
        if self.speaker.is_none() {
            bail!("this voice has a single speaker");
        }
        if !(0..i64::from(self.num_speakers)).contains(&id) {
            bail!("speaker {id} is outside 0..{}", self.num_speakers);
        }
        self.speaker = Some(id);
        Ok(())
    }

    /// Caps the ids of one inference (default and upper bound
    /// [`crate::MAX_IDS`]): longer sentences are cut into more pieces, and
    /// the encoder plans of longer buckets (about 32 MiB each with the test
    /// voice) are never built. The working memory of synthesis no longer
    /// depends on it: the decoder runs in fixed windows.
    pub fn set_max_ids(&mut self, max_ids: usize) -> Result<()> {
        if !(BUCKETS[0]..=MAX_IDS).contains(&max_ids) {
            bail!(
                "the ids of one inference must be capped between {} and {MAX_IDS}",
                BUCKETS[0]
            );
        }
        self.max_ids = max_ids;
        Ok(())
    }

    /// Sets the gain of [`Synthesizer::synthesize_sentence_chunks`]
    /// (default [`STREAM_GAIN`]).
    pub fn set_stream_gain(&mut self, gain: f32) -> Result<()> {
        if !(gain.is_finite() && gain > 0.0) {
            bail!("the stream gain must be a positive number, not {gain}");
        }
        self.stream_gain = gain;
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Builds the decoder's plan and the encoder plans of every bucket up to
    /// the one that holds `max_ids`, so that the first sentences do not wait
    /// for them.
    pub fn warm_up(&mut self, max_ids: usize) -> Result<()> {
        self.model.warm_up(max_ids)
    }

    /// Whether one encoder plan serves every id length (the voice's
    /// attention could be rewritten for it), instead of one per bucket.
    pub fn one_plan_for_any_length(&self) -> bool {
        self.model.any_length()
    }

    /// Whether that one plan is built in two halves, the text encoder's and
    /// the rest's, which tract plans faster than the whole (see
    /// `encoder_halves`).
    pub fn encoder_in_halves(&self) -> bool {
        self.model.encoder_halves()
    }

    /// Whether the plan of each bucket ([`crate::BUCKETS`]) is built (with
    /// [`Synthesizer::one_plan_for_any_length`]: whether that one is).
    pub fn built_plans(&self) -> [bool; BUCKETS.len()] {
        std::array::from_fn(|b| self.model.is_built(b))
    }

    /// Splits text into Piper's sentences (espeak-ng's clause rules: `.?!`
    /// end one, `, : ;` stay inside). Text with nothing to say (empty,
    /// punctuation only) gives none. Cannot fail once [`Synthesizer::new`]
    /// has selected the voice; should espeak-ng still refuse, it gives none.
    pub fn sentences(&mut self, text: &str) -> Vec<String> {
        match self.phoneme_type {
            PhonemeType::Text => {
                let t = text.trim();
                if t.is_empty() {
                    Vec::new()
                } else {
                    vec![t.to_string()]
                }
            }
            PhonemeType::Espeak => match self.espeak_sentences(text) {
                Ok(s) => s
                    .into_iter()
                    .filter_map(|s| text.get(s.text))
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect(),
                Err(_) => Vec::new(),
            },
        }
    }

    fn espeak_sentences(&mut self, text: &str) -> Result<Vec<sentences::Sentence>> {
        let Some(espeak) = self.espeak.as_mut() else {
            bail!("this voice does not use espeak-ng");
        };
        espeak.set_voice(&self.espeak_voice)?;
        Ok(sentences::group(&espeak.clauses(text)?))
    }

    /// Piper's phoneme string for text taken as one sentence.
    pub fn phonemes(&mut self, sentence: &str) -> Result<String> {
        Ok(match self.phoneme_type {
            PhonemeType::Text => sentence.to_string(),
            PhonemeType::Espeak => self
                .espeak_sentences(sentence)?
                .into_iter()
                .map(|s| s.phonemes)
                .collect(),
        })
    }

    /// The model's ids for text taken as one sentence (`^ _ (p _)* $`),
    /// unknown phonemes skipped, whatever its length.
    pub fn sentence_ids(&mut self, sentence: &str) -> Result<Vec<i64>> {
        let phonemes = self.known_phonemes(sentence)?;
        Ok(self.ids.ids(&phonemes))
    }

    fn known_phonemes(&mut self, sentence: &str) -> Result<Vec<Phoneme>> {
        let text = self.phonemes(sentence)?;
        let mapped = self.ids.map(&text);
        self.stats.unknown_phonemes += mapped.unknown as u64;
        Ok(mapped.phonemes)
    }

    /// Synthesizes text taken as one sentence: samples in [-1, 1] at
    /// [`Synthesizer::sample_rate`], peak-normalised as Piper does. A
    /// sentence whose ids exceed the longest plan (512, or the cap of
    /// [`Synthesizer::set_max_ids`]) is cut at a clause, else a word boundary
    /// into pieces run one after the other. Text with no phoneme gives no
    /// sample.
    pub fn synthesize_sentence(&mut self, sentence: &str) -> Result<Vec<f32>> {
        let mut samples = Vec::new();
        self.synthesize_raw(sentence, &mut |chunk| {
            samples.extend_from_slice(chunk);
            Ok(())
        })?;
        normalize_peak(&mut samples);
        Ok(samples)
    }

    /// Synthesizes text taken as one sentence, like
    /// [`Synthesizer::synthesize_sentence`], giving its samples to `play`
    /// block by block as the decoder makes them (a block is at most 112
    /// frames, 2.6 s at 22050 Hz), so that playing can start after the
    /// encoder and the decoder's first window. The peak of the whole
    /// sentence is not known before its end, so each block is scaled by
    /// [`Synthesizer::set_stream_gain`]'s gain and clamped to [-1, 1]
    /// instead of peak-normalised. An error from `play` stops synthesis and
    /// is returned.
    pub fn synthesize_sentence_chunks(
        &mut self,
        sentence: &str,
        mut play: impl FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        let gain = self.stream_gain;
        let mut scaled = Vec::new();
        self.synthesize_raw(sentence, &mut |chunk| {
            scaled.clear();
            scaled.extend(chunk.iter().map(|s| {
                if s.is_finite() {
                    (s * gain).clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
            play(&scaled)
        })
    }

    /// The model's raw samples for text taken as one sentence, piece by
    /// piece and window by window.
    fn synthesize_raw(
        &mut self,
        sentence: &str,
        sink: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        let pieces = self.piece_ids(sentence)?;
        if pieces.is_empty() {
            return Ok(());
        }
        for ids in pieces {
            let latents = self.encode(&ids)?;
            self.decode(&latents, sink)?;
            self.stats.inferences += 1;
        }
        self.stats.sentences += 1;
        Ok(())
    }

    /// The id sequences of one sentence's pieces, each run through the
    /// model on its own (one unless the sentence exceeds the cap of ids);
    /// none for text with no phoneme to say.
    #[doc(hidden)]
    pub fn piece_ids(&mut self, sentence: &str) -> Result<Vec<Vec<i64>>> {
        let phonemes = self.known_phonemes(sentence)?;
        if !phonemes
            .iter()
            .any(|p| !matches!(p.text.as_str(), " " | "." | "," | "!" | "?" | ":" | ";"))
        {
            return Ok(Vec::new());
        }
        let Some(pieces) = self.ids.split(&phonemes, self.max_ids) else {
            bail!(
                "a phoneme's ids exceed the {} ids of one inference",
                self.max_ids
            );
        };
        Ok(pieces.into_iter().map(|p| self.ids.ids(p)).collect())
    }

    /// One model run on an id sequence (at most [`crate::MAX_IDS`] ids) with
    /// the current scales and speaker: the raw samples, not normalised.
    pub fn infer(&mut self, ids: &[i64]) -> Result<Vec<f32>> {
        let latents = self.encode(ids)?;
        let mut samples = Vec::new();
        self.decode(&latents, &mut |chunk| {
            samples.extend_from_slice(chunk);
            Ok(())
        })?;
        self.stats.inferences += 1;
        Ok(samples)
    }

    /// The first part of a model run: the prior's frames of an id sequence
    /// (encoder, duration predictor, the prior's sampling).
    #[doc(hidden)]
    pub fn encode(&mut self, ids: &[i64]) -> Result<Latents> {
        self.model.encode(ids, self.scales, self.speaker)
    }

    /// The rest: the flow and the decoder over fixed windows of frames,
    /// each decoder window's kept samples given to `sink` as it is decoded.
    #[doc(hidden)]
    pub fn decode(
        &mut self,
        latents: &Latents,
        sink: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        self.model.decode(latents, self.speaker, sink)
    }

    /// Seconds per op kind of one encoder run on `ids`, one flow window and
    /// one decoder window, longest first (for BENCHMARKS.md).
    #[doc(hidden)]
    pub fn profile(&mut self, ids: &[i64]) -> Result<[Vec<(String, f64)>; 3]> {
        self.model.profile(ids, self.scales, self.speaker)
    }

    /// The flow and the decoder each in one run over all the frames, with
    /// plans built for their exact length: the reference the windows are
    /// checked against. Only before the window plans are built (building
    /// them drops the graphs).
    #[doc(hidden)]
    pub fn decode_one_shot(&mut self, latents: &Latents) -> Result<Vec<f32>> {
        self.model.decode_one_shot(latents, self.speaker)
    }
}

/// Scales samples so that the largest magnitude is 1 (silence stays
/// silence), then clamps them to [-1, 1], as Piper's default output does.
pub fn normalize_peak(samples: &mut [f32]) {
    let peak = samples
        .iter()
        .filter(|s| s.is_finite())
        .fold(0.0f32, |m, s| m.max(s.abs()));
    if peak < 1e-8 {
        samples.fill(0.0);
        return;
    }
    for s in samples {
        *s = if s.is_finite() {
            (*s / peak).clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_a_peak_of_one() {
        let mut s = [0.25, -0.5, 0.1, f32::NAN];
        normalize_peak(&mut s);
        assert_eq!(s, [0.5, -1.0, 0.2, 0.0]);
        let mut quiet = [0.0, 1e-9];
        normalize_peak(&mut quiet);
        assert_eq!(quiet, [0.0, 0.0]);
    }
}
