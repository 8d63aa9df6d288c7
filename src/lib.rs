//! llm-bridge: shows what every Claude Code session is doing in Waybar.
//!
//! See ARCHITECTURE.md for the bird's-eye view. In short: hooks send
//! datagrams ([`llm_bridge_hooks::wire`]), the [`daemon`] applies them to the
//! pure [`state`] core, renders the [`module`] and [`publish`]es it, and
//! [`commands::apply`] does the same without a daemon.

pub mod atomic_file;
pub mod commands;
pub mod config;
pub mod control;
pub mod daemon;
pub mod datagram;
pub mod debounce;
pub mod error;
pub mod history;
pub mod local_time;
pub mod log;
pub mod module;
pub mod paths;
pub mod publish;
pub mod snapshot;
pub mod socket_activation;
pub mod state;
pub mod state_lock;
pub mod subscription;
pub mod waybar_signal;
