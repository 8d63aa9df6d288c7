//! A Piper voice's `.onnx.json`: what the model alone does not say (its sample
//! rate, how phonemes become ids, its default scales, its espeak-ng voice and
//! its speakers), read and checked once so that later stages can trust it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Piper's symbols with fixed roles in every phoneme id map.
pub const PAD: &str = "_";
pub const BOS: &str = "^";
pub const EOS: &str = "$";

/// The three numbers a VITS voice takes as its `scales` input, in that order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scales {
    /// Generator noise (Piper's `noise_scale`).
    pub noise: f32,
    /// Speaking time: above 1 is slower (Piper's `length_scale`).
    pub length: f32,
    /// Phoneme width noise (Piper's `noise_w`).
    pub noise_w: f32,
}

impl Scales {
    /// Piper's defaults, used when a config leaves a scale out.
    pub const PIPER_DEFAULT: Scales = Scales {
        noise: 0.667,
        length: 1.0,
        noise_w: 0.8,
    };

    /// No noise at all: the output depends on the ids only (used to compare
    /// runtimes sample by sample).
    pub const DETERMINISTIC: Scales = Scales {
        noise: 0.0,
        length: 1.0,
        noise_w: 0.0,
    };
}

/// How a voice turns text into phonemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhonemeType {
    /// IPA from espeak-ng (almost every Piper voice).
    Espeak,
    /// The text's own characters, NFD-decomposed.
    Text,
}

/// A checked voice config.
#[derive(Clone, Debug)]
pub struct VoiceConfig {
    pub sample_rate: u32,
    pub phoneme_type: PhonemeType,
    /// The espeak-ng voice name (`en-us`); empty for [`PhonemeType::Text`].
    pub espeak_voice: String,
    /// Phoneme (one or more characters) → its ids.
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    pub scales: Scales,
    pub num_speakers: u32,
    /// Speaker name → speaker id, empty for single-speaker voices.
    pub speaker_id_map: BTreeMap<String, i64>,
    /// Phoneme sequences that the voice was trained to see as one symbol.
    pub vowel_clusters: Vec<Vec<String>>,
}

/// The JSON as written by Piper's training; every field we do not need is
/// ignored.
#[derive(Deserialize)]
struct Raw {
    audio: Option<RawAudio>,
    espeak: Option<RawEspeak>,
    inference: Option<RawInference>,
    phoneme_type: Option<String>,
    phoneme_id_map: Option<HashMap<String, Vec<i64>>>,
    num_speakers: Option<u32>,
    #[serde(default)]
    speaker_id_map: BTreeMap<String, i64>,
    #[serde(default)]
    vowel_clusters: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: Option<u32>,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: Option<String>,
}

/// A voice's config is a few KiB; a larger file is not one.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

#[derive(Deserialize)]
struct RawInference {
    noise_scale: Option<f32>,
    length_scale: Option<f32>,
    noise_w: Option<f32>,
}

impl VoiceConfig {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> Result<VoiceConfig> {
        let text = crate::voice::read_regular(path, MAX_CONFIG_BYTES)
            .with_context(|| format!("reading voice config {}", path.display()))?;
        let text = String::from_utf8(text)
            .with_context(|| format!("voice config {}: not UTF-8", path.display()))?;
        VoiceConfig::parse(&text).with_context(|| format!("voice config {}", path.display()))
    }

    /// Parses and checks a config's JSON text.
    pub fn parse(json: &str) -> Result<VoiceConfig> {
        let raw: Raw = serde_json::from_str(json).context("invalid JSON")?;

        let sample_rate = raw
            .audio
            .and_then(|a| a.sample_rate)
            .context("missing audio.sample_rate")?;
        if !(1000..=384_000).contains(&sample_rate) {
            bail!("audio.sample_rate {sample_rate} is out of range");
        }

        let phoneme_type = match raw.phoneme_type.as_deref() {
            None | Some("espeak") => PhonemeType::Espeak,
            Some("text") => PhonemeType::Text,
            Some(other) => bail!("phoneme_type {other:?} is not supported (espeak or text)"),
        };
        let espeak_voice = raw.espeak.and_then(|e| e.voice).unwrap_or_default();
        if phoneme_type == PhonemeType::Espeak && espeak_voice.is_empty() {
            bail!("missing espeak.voice");
        }

        let phoneme_id_map = raw.phoneme_id_map.context("missing phoneme_id_map")?;
        for symbol in [PAD, BOS, EOS] {
            match phoneme_id_map.get(symbol) {
                Some(ids) if !ids.is_empty() => {}
                _ => bail!("phoneme_id_map has no ids for {symbol:?}"),
            }
        }
        if let Some((phoneme, _)) = phoneme_id_map.iter().find(|(_, ids)| ids.is_empty()) {
            bail!("phoneme_id_map has an empty id list for {phoneme:?}");
        }

        let d = Scales::PIPER_DEFAULT;
        let scales = match raw.inference {
            Some(i) => Scales {
                noise: i.noise_scale.unwrap_or(d.noise),
                length: i.length_scale.unwrap_or(d.length),
                noise_w: i.noise_w.unwrap_or(d.noise_w),
            },
            None => d,
        };
        if !(scales.length > 0.0 && scales.length.is_finite()) {
            bail!("inference.length_scale {} must be positive", scales.length);
        }

        let num_speakers = raw.num_speakers.unwrap_or(1).max(1);
        for (name, &id) in &raw.speaker_id_map {
            if id < 0 || id >= i64::from(num_speakers) {
                bail!("speaker {name:?} has id {id}, outside 0..{num_speakers}");
            }
        }

        Ok(VoiceConfig {
            sample_rate,
            phoneme_type,
            espeak_voice,
            phoneme_id_map,
            scales,
            num_speakers,
            speaker_id_map: raw.speaker_id_map,
            vowel_clusters: raw
                .vowel_clusters
                .into_iter()
                .filter(|c| c.len() > 1)
                .collect(),
        })
    }

    /// Whether the model takes a `sid` (speaker id) input.
    pub fn is_multi_speaker(&self) -> bool {
        self.num_speakers > 1
    }

    /// The id of a speaker given by name, or by number as text.
    pub fn speaker_id(&self, speaker: &str) -> Result<i64> {
        if let Some(&id) = self.speaker_id_map.get(speaker) {
            return Ok(id);
        }
        match speaker.parse::<i64>() {
            Ok(id) if (0..i64::from(self.num_speakers)).contains(&id) => Ok(id),
            _ => bail!(
                "unknown speaker {speaker:?} (this voice has {} speaker(s))",
                self.num_speakers
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single-speaker config in the shape of the PyPI test voice, cut down.
    const SINGLE: &str = r#"{
        "audio": {"sample_rate": 22050, "quality": "medium"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "ˈ": [120]},
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0"
    }"#;

    /// A multi-speaker config in the shape of Piper's libritts voices.
    const MULTI: &str = r#"{
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "en-gb"},
        "inference": {"noise_scale": 0.333, "length_scale": 1.2},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "b": [15]},
        "num_speakers": 3,
        "speaker_id_map": {"p225": 0, "p226": 1, "p227": 2}
    }"#;

    #[test]
    fn parses_a_single_speaker_voice() {
        let c = VoiceConfig::parse(SINGLE).unwrap();
        assert_eq!(c.sample_rate, 22050);
        assert_eq!(c.phoneme_type, PhonemeType::Espeak);
        assert_eq!(c.espeak_voice, "en-us");
        assert_eq!(c.phoneme_id_map["ˈ"], vec![120]);
        assert_eq!(c.phoneme_id_map[" "], vec![3]);
        assert_eq!(
            c.scales,
            Scales {
                noise: 0.667,
                length: 1.0,
                noise_w: 0.8
            }
        );
        assert_eq!(c.num_speakers, 1);
        assert!(!c.is_multi_speaker());
        assert!(c.speaker_id("0").is_ok());
        assert!(c.speaker_id("1").is_err());
    }

    #[test]
    fn parses_a_multi_speaker_voice_with_default_noise_w() {
        let c = VoiceConfig::parse(MULTI).unwrap();
        assert_eq!(c.sample_rate, 16000);
        assert_eq!(c.espeak_voice, "en-gb");
        assert!(c.is_multi_speaker());
        assert_eq!(c.speaker_id("p226").unwrap(), 1);
        assert_eq!(c.speaker_id("2").unwrap(), 2);
        let e = c.speaker_id("p999").unwrap_err().to_string();
        assert!(e.contains("unknown speaker \"p999\""), "{e}");
        assert_eq!(c.scales.noise, 0.333);
        assert_eq!(c.scales.length, 1.2);
        assert_eq!(c.scales.noise_w, 0.8);
    }

    #[test]
    fn rejects_broken_configs_with_a_reason() {
        let cases = [
            ("{", "invalid JSON"),
            (r#"{"phoneme_id_map": {}}"#, "missing audio.sample_rate"),
            (
                r#"{"audio": {"sample_rate": 22050}, "phoneme_id_map": {}}"#,
                "missing espeak.voice",
            ),
            (
                r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en"}}"#,
                "missing phoneme_id_map",
            ),
            (
                r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en"},
                    "phoneme_id_map": {"_": [0], "^": [1]}}"#,
                "no ids for \"$\"",
            ),
            (
                r#"{"audio": {"sample_rate": 7}, "phoneme_id_map": {}}"#,
                "out of range",
            ),
            (
                r#"{"audio": {"sample_rate": 22050}, "phoneme_type": "pinyin"}"#,
                "not supported",
            ),
            (
                r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en"},
                    "phoneme_id_map": {"_": [0], "^": [1], "$": [2]},
                    "num_speakers": 2, "speaker_id_map": {"x": 5}}"#,
                "outside 0..2",
            ),
        ];
        for (json, want) in cases {
            let e = format!("{:#}", VoiceConfig::parse(json).unwrap_err());
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn text_voices_need_no_espeak_voice() {
        let c = VoiceConfig::parse(
            r#"{"audio": {"sample_rate": 22050}, "phoneme_type": "text",
                "phoneme_id_map": {"_": [0], "^": [1], "$": [2]}}"#,
        )
        .unwrap();
        assert_eq!(c.phoneme_type, PhonemeType::Text);
        assert_eq!(c.scales, Scales::PIPER_DEFAULT);
    }
}
