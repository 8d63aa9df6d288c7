//! ALSA's and JACK's own messages, kept off stderr.
//!
//! libasound prints every error it meets to stderr ("ALSA lib pcm.c:...
//! Unknown PCM default", a few lines per device tried), and libjack, which
//! ALSA's JACK plugin loads, prints its own ("Cannot connect to server
//! socket"). Without a device that opens, `say` printed about thirty such
//! lines and the daemon's log thirty-five, before the one line that said
//! what was wrong. That line (the error [`crate::audio::Output::open`]
//! returns) is what the user and the log get now:
//! - libasound's error handler (`snd_lib_error_set_handler`) is set to one
//!   that drops the message;
//! - JACK is not probed: the output opens ALSA's default device only,
//!   never every device in turn (rodio's fallback); and if libjack is in
//!   the process anyway (the default device is JACK's), its error and info
//!   functions are set to ones that drop the message too.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Once;

/// libasound's handler type is C-variadic (`const char *fmt, ...`); this
/// one never reads past `fmt`.
type AlsaHandler = unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char);

unsafe extern "C" {
    fn snd_lib_error_set_handler(handler: Option<AlsaHandler>) -> c_int;
}

unsafe extern "C" fn drop_alsa_message(
    _file: *const c_char,
    _line: c_int,
    _function: *const c_char,
    _err: c_int,
    _fmt: *const c_char,
) {
}

/// `jack_set_error_function` and `jack_set_info_function`.
type JackSetter = extern "C" fn(extern "C" fn(*const c_char));

extern "C" fn drop_jack_message(_message: *const c_char) {}

/// Silences ALSA (once per process) and JACK (if loaded); called before
/// and after a device is opened.
pub fn silence() {
    static ALSA: Once = Once::new();
    ALSA.call_once(|| {
        // SAFETY: the handler matches the handler's fixed arguments. On
        // the C ABIs of Linux (x86-64 SysV, AArch64, ...) a C-variadic
        // call passes those in the same places as a plain one, and the
        // handler reads none of the variadic ones.
        unsafe { snd_lib_error_set_handler(Some(drop_alsa_message)) };
    });
    silence_jack();
}

/// Sets libjack's error and info functions if libjack is loaded; loads
/// nothing.
fn silence_jack() {
    const LIBJACK: &CStr = c"libjack.so.0";
    // SAFETY: RTLD_NOLOAD only looks the library up; a handle it returns
    // is released below.
    let handle = unsafe { libc::dlopen(LIBJACK.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return;
    }
    for name in [c"jack_set_error_function", c"jack_set_info_function"] {
        // SAFETY: `handle` is a live handle from dlopen.
        let setter = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if setter.is_null() {
            continue;
        }
        // SAFETY: both libjack functions take `void (*)(const char *)`.
        let set = unsafe { std::mem::transmute::<*mut c_void, JackSetter>(setter) };
        set(drop_jack_message);
    }
    // SAFETY: releases the reference RTLD_NOLOAD took; libjack stays
    // loaded for whoever loaded it.
    unsafe { libc::dlclose(handle) };
}
