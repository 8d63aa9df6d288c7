//! Sway's IPC (i3's protocol) over `$SWAYSOCK`: `GET_TREE` lists the
//! windows (every node with a `pid`), `RUN_COMMAND` `[con_id=N] focus`
//! focuses one. A message is `i3-ipc`, the payload's length and type
//! (native-endian u32s), then the payload; the reply has the same frame.

use super::stream;
use super::window::Window;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::state::printable;
use serde_json::Value;
use std::path::Path;

const MAGIC: &[u8] = b"i3-ipc";
const RUN_COMMAND: u32 = 0;
const GET_TREE: u32 = 4;

/// Every window (view) in the tree.
pub fn windows(path: &Path) -> Result<Vec<Window>> {
    let tree = exchange(path, GET_TREE, b"")?;
    let tree: Value = serde_json::from_slice(&tree).context("sway's tree is not JSON")?;
    let mut windows = Vec::new();
    let mut stack = vec![&tree];
    while let Some(node) = stack.pop() {
        if let (Some(id), Some(pid)) = (node["id"].as_u64(), node["pid"].as_u64()) {
            windows.push(Window {
                id,
                pid: u32::try_from(pid).unwrap_or(0),
                title: node["name"].as_str().unwrap_or("").to_string(),
            });
        }
        for children in ["nodes", "floating_nodes"] {
            if let Some(children) = node[children].as_array() {
                stack.extend(children);
            }
        }
    }
    Ok(windows)
}

/// Focuses `window` (switching to its workspace, as sway does).
pub fn focus(path: &Path, window: &Window) -> Result<()> {
    let command = format!("[con_id={}] focus", window.id);
    let reply = exchange(path, RUN_COMMAND, command.as_bytes())?;
    let reply: Value = serde_json::from_slice(&reply).context("sway's reply is not JSON")?;
    match reply.get(0) {
        Some(outcome) if outcome["success"] == Value::Bool(true) => Ok(()),
        Some(outcome) => bail!(
            "sway refused `{command}`: {}",
            printable(outcome["error"].as_str().unwrap_or("no reason given"))
        ),
        None => bail!("sway answered `{command}` with no outcome"),
    }
}

/// One message out, its reply's payload back.
fn exchange(path: &Path, kind: u32, payload: &[u8]) -> Result<Vec<u8>> {
    let mut conn = stream::connect(path)?;
    let mut message = Vec::with_capacity(14 + payload.len());
    message.extend_from_slice(MAGIC);
    message.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(payload);
    stream::send(&mut conn, &message, path)?;
    let header = stream::read_exact(&mut conn, 14, path)?;
    if &header[..6] != MAGIC {
        bail!("{} does not speak i3 IPC", path.display());
    }
    let length = u32::from_ne_bytes(header[6..10].try_into().expect("4 bytes"));
    let reply_kind = u32::from_ne_bytes(header[10..14].try_into().expect("4 bytes"));
    if reply_kind != kind {
        bail!(
            "{} answered message type {kind} with type {reply_kind}",
            path.display()
        );
    }
    stream::read_exact(&mut conn, length as usize, path)
}
