//! The hot-path half of llm-bridge: the wire protocol, the JSON scanner and
//! the helpers the hook binaries need, with no dependency beyond libc and
//! memchr so the binaries can be linked statically and start as fast as
//! `/bin/true`. The daemon (`llm-bridge`) uses this crate for the protocol,
//! so both ends share one implementation.

pub mod default_config;
pub mod entry;
pub mod hook_input;
pub mod json_scan;
pub mod json_value;
pub mod private_dir;
pub mod proc_stat;
pub mod runtime_path;
pub mod send;
pub mod statusline;
pub mod template;
pub mod wire;
