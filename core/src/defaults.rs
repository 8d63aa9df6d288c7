//! The default of every config key, as written in the commented default
//! config (`llm_bridge_hooks::default_config::TEXT`): `default_config!(key)`
//! and `default_config!(section.key)` expand to the value as a literal
//! (a string, integer, float or boolean), which takes the field's type.
//! Generated at build time by core/build.rs, so the `Default` impls of
//! [`crate::config`] have no values of their own and nothing parses the text
//! at run time. A key missing from the text is a compile error.

include!(concat!(env!("OUT_DIR"), "/defaults.rs"));
