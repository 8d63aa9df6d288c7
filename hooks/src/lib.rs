//! The hot-path half of llm-bridge: what the hook and statusline binaries
//! do beyond the protocol (crate `llm-bridge-protocol`), with no dependency
//! beyond libc, memchr and that crate, so the binaries can be linked
//! statically and start as fast as `/bin/true`.

pub mod agent_answer;
pub mod bounded_read;
pub mod default_config;
pub mod entry;
pub mod hook_input;
pub mod private_dir;
pub mod proc_stat;
pub mod runtime_path;
pub mod send;
pub mod spool;
pub mod statusline;
