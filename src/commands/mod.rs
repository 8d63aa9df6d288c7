//! The `llm-bridge` subcommands that talk to a running daemon or manage
//! its installation. Each returns its exit code; errors reach the user as
//! one line on stderr.

pub mod doctor;
pub mod focus;
pub mod history;
pub mod install;
pub mod lifecycle;
pub mod mute;
pub mod say;
pub mod status;
pub mod voice;
pub mod waybar;
