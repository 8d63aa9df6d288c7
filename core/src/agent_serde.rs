//! An [`Agent`] in state.json and the history, written as its name.
//!
//! The protocol crate stays free of serde (the hook binaries link it
//! statically), so the core says how an agent is stored: by its short name,
//! and absent for Claude Code (what a file written before agents existed
//! holds). An unknown name is an error, not Claude Code: a session of an
//! agent this version does not know must not be mixed up with one of
//! Claude Code's.

use llm_bridge_protocol::agent::Agent;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(agent: &Agent, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(agent.name())
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Agent, D::Error> {
    let name = String::deserialize(deserializer)?;
    Agent::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown agent '{name}'")))
}
