//! The start of the hot-path binaries: a C `main` instead of std's.
//!
//! Before a Rust `fn main` runs, std's runtime polls descriptors 0-2, reads
//! /proc/self/maps and installs a sigaltstack with SIGSEGV/SIGBUS handlers
//! (to report a stack overflow by name). For a process that lives well under
//! a millisecond that is a measurable share (BENCHMARKS.md: the hook and the
//! statusline against a static C program reading the same stdin). These
//! binaries declare `#![no_main]` and a C `main` through [`hot_main!`](crate::hot_main),
//! which calls [`start`] first: it does the part of std's set-up they rely
//! on. SIGPIPE stays ignored (a closed pipe is an `EPIPE` error, as under
//! std), and a panic ends the process with exit status 0 after the binary's
//! last words: a panic can neither fail a hook nor leave a core dump.
//! (Descriptors 0-2 are not reopened: a closed stdout makes a print fail,
//! which every print here ignores.)

use std::panic::PanicHookInfo;

/// std's set-up that the hot-path binaries keep; called first in `main`.
pub fn start(on_panic: fn(&PanicHookInfo<'_>)) {
    // SAFETY: setting a disposition at start-up, before any thread.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    std::panic::set_hook(Box::new(move |info| {
        on_panic(info);
        // SAFETY: _exit only ends the process; nothing unwinds past it.
        unsafe { libc::_exit(0) }
    }));
}

/// Defines the C `main` of a `#![no_main]` hot-path binary: [`start`] with
/// `on_panic`, then `run`, then exit status 0.
#[macro_export]
macro_rules! hot_main {
    ($run:path, $on_panic:path) => {
        #[no_mangle]
        pub extern "C" fn main(
            _argc: ::core::ffi::c_int,
            _argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            $crate::entry::start($on_panic);
            $run();
            0
        }
    };
}

/// A panic as one line: `message (at file:line)`, newlines turned to spaces.
pub fn panic_line(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic");
    let mut line = message.replace(['\n', '\r'], " ");
    if let Some(at) = info.location() {
        line.push_str(&format!(" (at {}:{})", at.file(), at.line()));
    }
    line
}
