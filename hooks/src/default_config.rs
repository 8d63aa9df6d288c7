//! The commented default `config.toml`, the one source of every default.
//!
//! `llm-bridge config --default` prints [`TEXT`] and README quotes it. The
//! values in it are the defaults themselves: build scripts read them from
//! it (this crate's for the `[statusline]` section, core's for the rest),
//! so nothing parses the text at run time and no second list of defaults
//! can drift from it. It lives in this crate, the lowest one, because the
//! statusline, which links nothing else, needs its section too.

/// The fully commented default config.
pub const TEXT: &str = include_str!("default_config.toml");

/// The `[statusline]` section of [`TEXT`]: one constant per key (`FORMAT`,
/// `COLOR`, `CONTEXT_WARN`, `CONTEXT_CRITICAL`), written by build.rs with the
/// statusline's own reader of the section.
pub mod statusline {
    include!(concat!(env!("OUT_DIR"), "/statusline_defaults.rs"));
}
