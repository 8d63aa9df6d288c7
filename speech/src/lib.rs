//! llm-bridge's speech engine: Piper voices run by tract, with phonemes from
//! libespeak-ng and playback through rodio.
//!
//! It is a crate of its own so that the hot-path binaries never link tract,
//! ALSA or espeak-ng. The pipeline, one module per stage:
//!
//! text → [`Synthesizer::sentences`] (espeak-ng's clauses, `sentences`) →
//! phonemes (`phonemes`, the FFI) → ids (`ids`) → the encoder's tract plan
//! → latent frames → the decoder's plan, window by window (`model`) → f32
//! samples → [`audio::Output`] or [`wav::write`].
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use llm_bridge_speech::{audio::Output, Synthesizer, Voice};
//! let voice = Voice::load("en_US-joe-medium.onnx")?;
//! let rate = voice.sample_rate();
//! let mut synth = Synthesizer::new(voice)?; // on the speech thread
//! let out = Output::open(rate)?;
//! for sentence in synth.sentences("Build finished. Three tests failed.") {
//!     out.play(synth.synthesize_sentence(&sentence)?, rate)?;
//! }
//! out.wait_until_idle();
//! # Ok(())
//! # }
//! ```
//!
//! Errors are `anyhow` chains: print them with `{:#}` for one line with
//! their context.

mod any_length;
pub mod audio;
mod audio_noise;
mod code_pages;
pub mod config;
mod encoder_halves;
mod ids;
mod model;
mod phonemes;
mod sentences;
mod synth;
mod voice;
pub mod wav;

pub use code_pages::release_code_pages;
pub use config::{PhonemeType, Scales, VoiceConfig};
pub use model::{
    decoder_windows, release_freed_memory, windows, Latents, Patched, BUCKETS, FIRST_WINDOW,
    FLOW_MARGIN, FLOW_WINDOW, MARGIN, MAX_IDS, WINDOW,
};
#[doc(hidden)]
pub use synth::normalize_peak;
pub use synth::{Stats, Synthesizer, STREAM_GAIN};
pub use voice::Voice;
