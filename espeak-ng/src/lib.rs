//! espeak-ng, pinned: release 1.52.0, the nearest on a package registry to the
//! snapshot piper-tts 1.8 phonemizes with, built from the source in
//! `upstream/` (`upstream/VENDORED.md` says where it comes from and why), and
//! its compiled data embedded in the binary.
//!
//! Why: espeak-ng's phonemes differ between releases and distributions (Debian
//! 12's 1.51 gives other phonemes than Piper's for common English words), and a
//! Piper voice was trained on Piper's. Building our own copy makes every
//! distribution speak alike and needs no espeak-ng package.
//!
//! The library reads its data from a directory, so [`unpack`] writes the
//! embedded files once into a private cache directory named by their digest;
//! later starts find it there.

mod unpack;

pub use unpack::{tree_name, unpack};

/// The embedded data: [`data::VERSION`], [`data::DIGEST`], [`data::FILES`].
pub mod data {
    include!(concat!(env!("OUT_DIR"), "/data.rs"));
}

/// The parts of espeak-ng's C API that phonemization uses
/// (`speak_lib.h`).
pub mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// `AUDIO_OUTPUT_SYNCHRONOUS` in `espeak_AUDIO_OUTPUT`: no audio thread.
    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    /// Return an error instead of calling `exit()` when the data is missing.
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const CHARS_UTF8: c_int = 1;
    pub const PHONEMES_IPA: c_int = 0x02;
    pub const EE_OK: c_int = 0;

    extern "C" {
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_TextToPhonemes(
            textptr: *mut *const c_void,
            textmode: c_int,
            phonememode: c_int,
        ) -> *const c_char;
    }
}
