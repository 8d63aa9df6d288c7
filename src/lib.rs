//! llm-bridge: shows what every Claude Code session is doing in Waybar.
//!
//! See ARCHITECTURE.md for the bird's-eye view. In short: hooks send
//! datagrams ([`llm_bridge_protocol::wire`]), the [`daemon`] applies them to
//! the pure core ([`llm_bridge_core::state`]), renders the module and
//! publishes it, and `llm-bridge apply` does the same without a daemon.

pub mod client_socket;
pub mod commands;
pub mod control;
pub mod daemon;
pub mod datagram;
pub mod focus;
pub mod sd_notify;
pub mod socket_activation;
pub mod subscription;
pub mod supervisor;
#[doc(hidden)]
pub mod test_voice;
pub mod voice_settings;
