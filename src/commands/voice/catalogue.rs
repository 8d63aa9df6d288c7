//! The Piper voice catalogue: `voices.json` of the rhasspy/piper-voices
//! repository, the list Piper's own `download_voices` reads.
//!
//! It is one JSON object keyed by voice (`en_US-joe-medium`), each with its
//! name, language, quality, speakers, aliases and files; a file is a path
//! in the repository with its size and md5. Files are fetched from the same
//! base as the catalogue, which `LLM_BRIDGE_VOICES_URL` replaces (a mirror,
//! or the tests' local server). Only what `voice list` and `voice install`
//! use is read; other keys are ignored, so a newer catalogue still parses.

use super::http::Http;
use llm_bridge_core::error::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where the catalogue and the voices are, unless `LLM_BRIDGE_VOICES_URL`
/// says otherwise: the release Piper's `download_voices` uses.
pub const DEFAULT_BASE: &str = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/";

/// The variable that replaces [`DEFAULT_BASE`].
pub const BASE_ENV: &str = "LLM_BRIDGE_VOICES_URL";

/// The largest catalogue read (the real one is about 1 MiB).
const MAX_CATALOGUE: u64 = 32 << 20;

/// One voice of the catalogue.
#[derive(Debug, Deserialize)]
pub struct Voice {
    pub key: String,
    pub language: Language,
    pub quality: String,
    #[serde(default)]
    pub num_speakers: u32,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Path in the repository → size and checksum.
    pub files: BTreeMap<String, File>,
}

#[derive(Debug, Deserialize)]
pub struct Language {
    pub code: String,
    #[serde(default)]
    pub name_english: String,
    #[serde(default)]
    pub country_english: String,
}

#[derive(Debug, Deserialize)]
pub struct File {
    pub size_bytes: u64,
    pub md5_digest: String,
}

/// What a voice needs to speak: its model and its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Model,
    Config,
}

impl Part {
    /// The name it is installed under, for voice `key`.
    pub fn file_name(self, key: &str) -> String {
        match self {
            Part::Model => format!("{key}.onnx"),
            Part::Config => format!("{key}.onnx.json"),
        }
    }
}

pub struct Catalogue {
    base: String,
    voices: BTreeMap<String, Voice>,
}

impl Catalogue {
    /// The base URL of the catalogue and the voices (with a final `/`).
    pub fn base() -> String {
        let mut base = std::env::var(BASE_ENV)
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| DEFAULT_BASE.to_string());
        if !base.ends_with('/') {
            base.push('/');
        }
        base
    }

    /// Downloads the catalogue.
    pub fn fetch(http: &Http) -> Result<Catalogue> {
        let base = Catalogue::base();
        let url = format!("{base}voices.json");
        let bytes = http.get_all(&url, MAX_CATALOGUE)?;
        Catalogue::parse(base, &bytes).with_context(|| format!("the catalogue {url}"))
    }

    pub fn parse(base: String, bytes: &[u8]) -> Result<Catalogue> {
        let voices: BTreeMap<String, Voice> =
            serde_json::from_slice(bytes).context("not a Piper voices.json")?;
        Ok(Catalogue { base, voices })
    }

    pub fn voices(&self) -> impl Iterator<Item = &Voice> {
        self.voices.values()
    }

    /// The voice called `name` (its key, or one of its aliases).
    pub fn voice(&self, name: &str) -> Result<&Voice> {
        let found = self
            .voices
            .get(name)
            .or_else(|| self.voices().find(|v| v.aliases.iter().any(|a| a == name)));
        match found {
            Some(voice) => {
                super::check_name(&voice.key)?;
                Ok(voice)
            }
            None => bail!(
                "there is no voice {name:?} in the catalogue ({}voices.json): \
                 `llm-bridge voice list` lists them",
                self.base
            ),
        }
    }

    /// Where the catalogue's file `path` is downloaded from.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, percent_encode(path))
    }
}

impl Voice {
    /// The catalogue's file for `part`: the one whose name ends as that
    /// part's does.
    pub fn file(&self, part: Part) -> Result<(&str, &File)> {
        let suffix = match part {
            Part::Model => ".onnx",
            Part::Config => ".onnx.json",
        };
        self.files
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .map(|(path, file)| (path.as_str(), file))
            .with_context(|| format!("the catalogue lists no {suffix} file for {}", self.key))
    }

    /// The bytes to download: the model and its config.
    pub fn size(&self) -> u64 {
        [Part::Model, Part::Config]
            .into_iter()
            .filter_map(|p| self.file(p).ok())
            .map(|(_, f)| f.size_bytes)
            .sum()
    }
}

/// `path` with every byte but the unreserved ones and `/` written `%XX`
/// (some voices' names are not ASCII).
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry as the real voices.json has it.
    const JOE: &str = r#"{"en_US-joe-medium": {
        "key": "en_US-joe-medium", "name": "joe",
        "language": {"code": "en_US", "family": "en", "region": "US",
            "name_native": "English", "name_english": "English",
            "country_english": "United States"},
        "quality": "medium", "num_speakers": 1, "speaker_id_map": {},
        "files": {
            "en/en_US/joe/medium/en_US-joe-medium.onnx":
                {"size_bytes": 63201294, "md5_digest": "00112233445566778899aabbccddeeff"},
            "en/en_US/joe/medium/en_US-joe-medium.onnx.json":
                {"size_bytes": 4888, "md5_digest": "ffeeddccbbaa99887766554433221100"},
            "en/en_US/joe/medium/MODEL_CARD":
                {"size_bytes": 281, "md5_digest": "0123456789abcdef0123456789abcdef"}
        },
        "aliases": ["joe"]}}"#;

    #[test]
    fn the_real_format_parses_and_names_find_voices_by_key_or_alias() {
        let c = Catalogue::parse("http://mirror/".into(), JOE.as_bytes()).unwrap();
        let joe = c.voice("en_US-joe-medium").unwrap();
        assert_eq!((joe.language.code.as_str(), joe.num_speakers), ("en_US", 1));
        assert_eq!(c.voice("joe").unwrap().key, "en_US-joe-medium");
        let (path, model) = joe.file(Part::Model).unwrap();
        assert_eq!(path, "en/en_US/joe/medium/en_US-joe-medium.onnx");
        assert_eq!(model.size_bytes, 63201294);
        assert_eq!(joe.size(), 63201294 + 4888, "the model card is left out");
        let missing = c.voice("en_US-nobody-low").unwrap_err().to_string();
        assert!(missing.contains("http://mirror/voices.json"), "{missing}");
    }

    #[test]
    fn urls_are_percent_encoded_below_the_base() {
        let c = Catalogue::parse("http://mirror/v1/".into(), b"{}").unwrap();
        assert_eq!(
            c.url("fa/fa_IR/gyro/x é.onnx"),
            "http://mirror/v1/fa/fa_IR/gyro/x%20%C3%A9.onnx"
        );
    }

    #[test]
    fn a_key_that_could_leave_the_voices_directory_is_refused() {
        let evil = JOE.replace("\"key\": \"en_US-joe-medium\"", "\"key\": \"../x\"");
        let c = Catalogue::parse("http://m/".into(), evil.as_bytes()).unwrap();
        assert!(c.voice("en_US-joe-medium").is_err());
    }
}
