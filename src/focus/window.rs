//! Which compositor window holds a process: the window whose PID is the
//! nearest ancestor of it. A terminal server (`foot --server`, kitty's
//! single instance) owns many windows with one PID; then the window's title
//! must name the session's project, or nothing is chosen.

use std::fmt;

/// One window as a compositor lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The compositor's id: sway's `con_id`, Hyprland's address, niri's id.
    pub id: u64,
    pub pid: u32,
    /// As the compositor reports it: outside text, never printed raw.
    pub title: String,
}

/// Why no window was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoWindow {
    /// No window belongs to the process or any of its ancestors.
    NotFound,
    /// Several windows share the PID and the titles do not tell which.
    Ambiguous { pid: u32, windows: usize },
}

impl fmt::Display for NoWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoWindow::NotFound => f.write_str("no window holds it (was it closed?)"),
            NoWindow::Ambiguous { pid, windows } => write!(
                f,
                "{windows} windows belong to process {pid} (a terminal server?) and their titles \
                 do not name the project, so which one holds it is unknown"
            ),
        }
    }
}

/// The window of the nearest ancestor in `ancestors` (the process first)
/// that has one; among several of one PID, the only one whose title holds
/// `project`.
pub fn choose<'w>(
    windows: &'w [Window],
    ancestors: &[u32],
    project: &str,
) -> Result<&'w Window, NoWindow> {
    for &pid in ancestors {
        let of_pid: Vec<&Window> = windows.iter().filter(|w| w.pid == pid).collect();
        match of_pid.as_slice() {
            [] => continue,
            [only] => return Ok(only),
            several => {
                let mut titled = several
                    .iter()
                    .filter(|w| !project.is_empty() && w.title.contains(project));
                return match (titled.next(), titled.next()) {
                    (Some(w), None) => Ok(w),
                    _ => Err(NoWindow::Ambiguous {
                        pid,
                        windows: several.len(),
                    }),
                };
            }
        }
    }
    Err(NoWindow::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(id: u64, pid: u32, title: &str) -> Window {
        Window {
            id,
            pid,
            title: title.into(),
        }
    }

    #[test]
    fn the_nearest_ancestors_window_wins() {
        let windows = [window(1, 10, "a"), window(2, 20, "b")];
        assert_eq!(choose(&windows, &[30, 20, 10], "p").unwrap().id, 2);
        assert_eq!(choose(&windows, &[40, 1], "p"), Err(NoWindow::NotFound));
    }

    #[test]
    fn a_shared_pid_needs_a_title_that_names_the_project() {
        let windows = [
            window(1, 10, "~/src/alpha"),
            window(2, 10, "~/src/beta"),
            window(3, 10, "foot"),
        ];
        assert_eq!(choose(&windows, &[50, 10], "beta").unwrap().id, 2);
        let ambiguous = Err(NoWindow::Ambiguous {
            pid: 10,
            windows: 3,
        });
        assert_eq!(choose(&windows, &[50, 10], "src"), ambiguous);
        assert_eq!(choose(&windows, &[50, 10], "gamma"), ambiguous);
        assert_eq!(choose(&windows, &[50, 10], ""), ambiguous);
    }
}
