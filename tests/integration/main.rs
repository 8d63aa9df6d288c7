//! All integration tests, in one binary: real sockets in private runtime
//! directories, the real daemon and hook binaries, real signals.

mod agents;
mod cli;
mod daemon_lifecycle;
mod doctor;
mod fallback;
mod faults;
mod focus;
mod hook_binary;
mod hostile;
mod http_server;
mod install;
mod install_agents;
mod install_script;
mod lifecycle;
mod mute;
#[cfg(feature = "speech")]
mod no_audio;
#[cfg(not(feature = "speech"))]
mod no_speech;
#[cfg(feature = "speech")]
mod notifications;
mod readme;
mod release_build;
mod replay;
mod signals;
#[cfg(feature = "speech")]
mod speech;
mod statusline;
mod subscribers;
mod support;
mod voice;
#[cfg(feature = "speech")]
mod voice_appears;
mod watching;
mod waybar_exec;
