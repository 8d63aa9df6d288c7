//! Text → IPA clauses with espeak-ng, through its C API.
//!
//! The library is the pinned one of `llm-bridge-espeak-ng` (espeak-ng 1.52.0
//! built from source, the release nearest to the snapshot piper-tts 1.8
//! bundles), and its data is unpacked into our cache directory on first use,
//! so no system espeak-ng is involved.
//!
//! libespeak-ng keeps all its state in globals (the selected voice, the
//! translator, the buffer its answers live in), so it must have one user at a
//! time. [`Espeak`] is that user: at most one exists in the process at any
//! moment (a static flag, taken by [`Espeak::acquire`] and given back on
//! drop), and it is `!Send`, so its calls stay on the thread that made it.

use std::ffi::{c_void, CStr, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use llm_bridge_hooks::private_dir::PrivateDir;

use crate::sentences::{self, Clause};

use llm_bridge_espeak_ng::ffi;

const UNINITIALIZED: u8 = 0;
const FREE: u8 = 1;
const TAKEN: u8 = 2;

/// The library's state: never initialised, initialised and free, or owned
/// by a live [`Espeak`].
static STATE: AtomicU8 = AtomicU8::new(UNINITIALIZED);

/// Unpacks espeak-ng's data (once per build) into our cache directory
/// (`$XDG_CACHE_HOME/llm-bridge`, systemd's `CacheDirectory=` under the
/// unit), checked as every private directory is, and returns the directory
/// to initialise the library with, also as a C string.
fn data_root() -> Result<(PathBuf, CString)> {
    let cache = llm_bridge_core::paths::cache_home()
        .context("no cache directory for espeak-ng's data: set XDG_CACHE_HOME or HOME")?;
    let dir = PrivateDir::ensure(&cache)?;
    let root = llm_bridge_espeak_ng::unpack(dir.fd(), dir.path())?;
    let c_root = CString::new(root.as_os_str().as_bytes())
        .context("the cache directory's path contains a NUL byte")?;
    Ok((root, c_root))
}

/// The process's one handle on libespeak-ng.
pub struct Espeak {
    /// The voice last selected, to skip reselecting it for every text.
    voice: Option<String>,
    /// `!Send` and `!Sync`: libespeak-ng's globals belong to one thread.
    _not_send: PhantomData<*const ()>,
}

impl Espeak {
    /// Takes the handle, initialising libespeak-ng on first use (its data
    /// unpacked into our cache directory, see [`data_root`]). Fails if another
    /// handle is alive.
    pub fn acquire() -> Result<Espeak> {
        loop {
            match STATE.compare_exchange(FREE, TAKEN, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break,
                Err(TAKEN) => bail!("libespeak-ng is already in use by another Espeak handle"),
                Err(_) => {}
            }
            if STATE
                .compare_exchange(UNINITIALIZED, TAKEN, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
            {
                let (root, c_root) = match data_root() {
                    Ok(root) => root,
                    Err(e) => {
                        STATE.store(UNINITIALIZED, Ordering::Release);
                        return Err(e);
                    }
                };
                // SAFETY: we hold the flag, so no other thread is in
                // libespeak-ng; `c_root` is NUL-terminated and outlives the
                // call; DONT_EXIT makes missing data an error return instead
                // of exit().
                let rate = unsafe {
                    ffi::espeak_Initialize(
                        ffi::AUDIO_OUTPUT_SYNCHRONOUS,
                        0,
                        c_root.as_ptr(),
                        ffi::INITIALIZE_DONT_EXIT,
                    )
                };
                if rate <= 0 {
                    STATE.store(UNINITIALIZED, Ordering::Release);
                    bail!(
                        "espeak-ng failed to initialise with its data in {}",
                        root.display()
                    );
                }
                break;
            }
        }
        Ok(Espeak {
            voice: None,
            _not_send: PhantomData,
        })
    }

    /// Selects an espeak-ng voice (`en-us`) unless it is already selected.
    pub fn set_voice(&mut self, voice: &str) -> Result<()> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let Ok(name) = CString::new(voice) else {
            bail!("espeak-ng voice name {voice:?} contains a NUL byte");
        };
        // SAFETY: we own libespeak-ng (this handle exists); `name` is a
        // NUL-terminated string that outlives the call.
        let status = unsafe { ffi::espeak_SetVoiceByName(name.as_ptr()) };
        if status != ffi::EE_OK {
            self.voice = None;
            bail!("espeak-ng has no voice {voice:?} (error {status})");
        }
        self.voice = Some(voice.to_string());
        Ok(())
    }

    /// Translates `text` with the selected voice, clause by clause. NUL
    /// bytes are read as spaces; an empty text gives no clause.
    pub fn clauses(&mut self, text: &str) -> Result<Vec<Clause>> {
        if self.voice.is_none() {
            bail!("no espeak-ng voice selected");
        }
        let clean = text.replace('\0', " ");
        let owned = CString::new(clean.as_str()).expect("NUL bytes were replaced");
        let base = owned.as_ptr() as *const c_void;
        let mut ptr = base;
        let mut clauses = Vec::new();
        let mut start = 0usize;
        // Each call consumes at least one byte; the bound only guards
        // against a library that stops advancing.
        for _ in 0..=clean.len() + 1 {
            if ptr.is_null() {
                break;
            }
            // SAFETY: we own libespeak-ng; `ptr` points into `owned`
            // (NUL-terminated, alive for the whole loop) where the previous
            // call left it; the library only advances it, or sets it to NULL
            // at the end of the text.
            let answer =
                unsafe { ffi::espeak_TextToPhonemes(&mut ptr, ffi::CHARS_UTF8, ffi::PHONEMES_IPA) };
            let phonemes = if answer.is_null() {
                String::new()
            } else {
                // SAFETY: a non-NULL answer is a NUL-terminated string in the
                // library's buffer, valid until the next call; it is copied
                // here, before any other call.
                unsafe { CStr::from_ptr(answer) }
                    .to_string_lossy()
                    .into_owned()
            };
            let is_last = ptr.is_null();
            let consumed_end = if is_last {
                clean.len()
            } else {
                (ptr as usize)
                    .saturating_sub(base as usize)
                    .clamp(start, clean.len())
            };
            // The library reads whole UTF-8 characters; should it ever stop
            // inside one, the clause simply keeps the whole consumed span.
            let own_end = match clean.get(start..consumed_end) {
                Some(consumed) => start + sentences::clause_text_end(consumed, is_last),
                None => consumed_end,
            };
            let (terminator, ends_sentence) =
                sentences::clause_end(clean.get(start..own_end).unwrap_or(""), is_last);
            clauses.push(Clause {
                phonemes: sentences::strip_language_flags(&phonemes),
                terminator,
                ends_sentence,
                text: start..own_end,
            });
            start = own_end;
        }
        Ok(clauses)
    }
}

impl Drop for Espeak {
    fn drop(&mut self) {
        // libespeak-ng stays initialised; the next handle reuses it.
        STATE.store(FREE, Ordering::Release);
    }
}
