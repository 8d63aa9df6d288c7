//! llm-bridge's protocol: what travels between the hooks, the commands and
//! the daemon, and the readers of outside text that every side shares.
//!
//! It exists as a crate of its own so that the hot-path binaries (crate
//! `llm-bridge-hooks`), the no-daemon core (`llm-bridge-core`) and the
//! daemon (`llm-bridge`) use one implementation of each format, and so that
//! a change to the format is one change in one place. It depends on memchr
//! alone, which keeps the hook binaries static and small.
//!
//! - [`agent`]: the coding agents and each one's table of hook events.
//! - [`wire`]: the datagram format and every request ([`wire::Message`]).
//! - [`reply`]: every reply ([`reply::Reply`]). Requests and replies are
//!   encoded and decoded in these two modules only.
//! - [`json_scan`]: a top-level JSON object scanner that decodes only the
//!   keys asked for (the hook's input).
//! - [`json_value`]: a small, depth-limited JSON value parser (the
//!   statusline's nested input).
//! - [`template`]: the one reader of `{placeholder}` templates.

pub mod agent;
pub mod json_scan;
pub mod json_value;
pub mod reply;
pub mod template;
pub mod wire;
