//! llm-bridge's core: everything the no-daemon paths need.
//!
//! The pure session rules ([`state`]), the Waybar module ([`module`]), the
//! state files ([`snapshot`], [`publish`], [`history`]), the config, and the
//! two commands that run on the hot path and use them: the hook's fallback
//! ([`apply`], `llm-bridge-apply`) and Waybar's exec ([`waybar_exec`],
//! `llm-bridge-waybar`). It has no event loop and no speech, so those two
//! binaries stay small and static; the daemon (crate `llm-bridge`) builds on
//! this crate.

pub mod agent_serde;
pub mod announce;
pub mod append_file;
pub mod apply;
pub mod atomic_file;
pub mod client;
pub mod config;
mod defaults;
pub mod error;
pub mod focus;
pub mod history;
pub mod journal;
pub mod local_time;
pub mod log;
pub mod module;
pub mod paths;
pub mod pidfd;
pub mod publish;
pub mod snapshot;
pub mod state;
pub mod state_lock;
pub mod waybar_exec;
pub mod waybar_signal;
