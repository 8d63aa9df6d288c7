//! llm-bridge: shows what every Claude Code session is doing in Waybar.
//!
//! See ARCHITECTURE.md for the bird's-eye view. In short: hooks send
//! datagrams ([`llm_bridge_hooks::wire`]), the [`daemon`] applies them to the
//! pure [`state`] core, renders the [`module`] and [`publish`]es it, and
//! [`apply`] does the same without a daemon.

pub mod client_socket;
pub mod commands;
pub mod control;
pub mod daemon;
pub mod datagram;
pub mod socket_activation;
pub mod subscription;
pub mod voice_settings;

// The core, shared with the small static binaries, under its usual names.
pub use llm_bridge_core::{
    announce, append_file, apply, atomic_file, client, config, debounce, error, history,
    local_time, log, module, paths, pidfd, publish, snapshot, state, state_lock, transcript,
    waybar_exec, waybar_signal,
};
