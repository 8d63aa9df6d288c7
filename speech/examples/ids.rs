//! Prints the phoneme ids this build gives each text, sentence by sentence, in
//! the format of `tests/reference.py ids`, to compare espeak-ng builds with
//! Piper's on many sentences (BENCHMARKS.md, "Piper's own phonemes").
//!
//!     cargo run -p llm-bridge-speech --example ids -- VOICE.onnx < texts.json

use std::io::Read;

use anyhow::{Context, Result};
use llm_bridge_speech::{Synthesizer, Voice};

fn main() -> Result<()> {
    let voice = std::env::args()
        .nth(1)
        .context("usage: ids VOICE.onnx < texts.json")?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let texts: Vec<String> = serde_json::from_str(&input).context("stdin: a JSON list of texts")?;
    let mut synth = Synthesizer::new(Voice::load(&voice)?)?;
    let mut out = Vec::new();
    for text in &texts {
        let mut sentences = Vec::new();
        for s in synth.sentences(text) {
            sentences.push(synth.sentence_ids(&s)?);
        }
        out.push(sentences);
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
