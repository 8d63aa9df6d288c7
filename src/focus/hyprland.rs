//! Hyprland's request socket (`.socket.sock`): one request per connection,
//! answered and closed. `j/clients` lists the windows as JSON;
//! `dispatch focuswindow pid:N` (or `address:0x…` when several windows
//! share the PID) focuses one and answers `ok`.

use super::stream;
use super::window::Window;
use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_core::state::printable;
use serde_json::Value;
use std::path::Path;

/// Every client (window).
pub fn windows(path: &Path) -> Result<Vec<Window>> {
    let answer = request(path, "j/clients")?;
    let clients: Value =
        serde_json::from_slice(&answer).context("Hyprland's client list is not JSON")?;
    let Some(clients) = clients.as_array() else {
        bail!("Hyprland's client list is not a JSON array");
    };
    Ok(clients
        .iter()
        .filter_map(|c| {
            let address = c["address"].as_str()?.strip_prefix("0x")?;
            Some(Window {
                id: u64::from_str_radix(address, 16).ok()?,
                pid: u32::try_from(c["pid"].as_i64()?).ok()?,
                title: c["title"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect())
}

/// Focuses `window`: by its PID when no other window has it, else by address.
pub fn focus(path: &Path, window: &Window, windows: &[Window]) -> Result<()> {
    let shared = windows.iter().filter(|w| w.pid == window.pid).count() > 1;
    let command = if shared {
        format!("dispatch focuswindow address:0x{:x}", window.id)
    } else {
        format!("dispatch focuswindow pid:{}", window.pid)
    };
    let answer = request(path, &command)?;
    let answer = String::from_utf8_lossy(&answer);
    if answer.trim() != "ok" {
        bail!(
            "Hyprland refused `{command}`: {}",
            printable(answer.trim())
                .chars()
                .take(200)
                .collect::<String>()
        );
    }
    Ok(())
}

fn request(path: &Path, request: &str) -> Result<Vec<u8>> {
    let mut conn = stream::connect(path)?;
    stream::send(&mut conn, request.as_bytes(), path)?;
    stream::read_until(&mut conn, path, |_| false)
}
