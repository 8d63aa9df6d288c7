//! niri's IPC over `$NIRI_SOCKET`: one JSON request per line, one JSON
//! reply per line. `"Windows"` lists the windows (`{"Ok":{"Windows":[…]}}`);
//! the action `{"Action":{"FocusWindow":{"id":N}}}` focuses one
//! (`{"Ok":"Handled"}`).

use super::stream;
use super::window::Window;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::state::printable;
use serde_json::Value;
use std::path::Path;

/// Every window.
pub fn windows(path: &Path) -> Result<Vec<Window>> {
    let reply = ok(path, "\"Windows\"")?;
    let Some(windows) = reply["Windows"].as_array() else {
        bail!("niri's answer to Windows holds no list of windows");
    };
    Ok(windows
        .iter()
        .filter_map(|w| {
            Some(Window {
                id: w["id"].as_u64()?,
                pid: u32::try_from(w["pid"].as_i64()?).ok()?,
                title: w["title"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect())
}

/// Focuses `window`.
pub fn focus(path: &Path, window: &Window) -> Result<()> {
    let request = format!(
        "{{\"Action\":{{\"FocusWindow\":{{\"id\":{}}}}}}}",
        window.id
    );
    let reply = ok(path, &request)?;
    if reply != "Handled" {
        bail!(
            "niri answered the focus action with {}",
            printable(&reply.to_string())
        );
    }
    Ok(())
}

/// Sends one request and returns what its `Ok` holds.
fn ok(path: &Path, request: &str) -> Result<Value> {
    let mut conn = stream::connect(path)?;
    stream::send(&mut conn, format!("{request}\n").as_bytes(), path)?;
    let line = stream::read_until(&mut conn, path, |read| read.contains(&b'\n'))?;
    let reply: Value = serde_json::from_slice(&line).context("niri's reply is not JSON")?;
    match reply {
        Value::Object(mut fields) => {
            if let Some(why) = fields.get("Err") {
                bail!("niri refused {request}: {}", printable(&why.to_string()));
            }
            fields
                .remove("Ok")
                .context("niri's reply holds neither Ok nor Err")
        }
        _ => bail!("niri's reply is not a JSON object"),
    }
}
