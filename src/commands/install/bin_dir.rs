//! Which directory's binaries the settings point at.
//!
//! The hooks must run installed binaries: a build directory changes with
//! every `cargo build` and disappears with `cargo clean`. Without
//! `--bin-dir`, an installed copy is preferred: this executable's own
//! directory when it holds all llm-bridge binaries and is not a build directory,
//! else the first directory on `PATH` that holds all of them. A build
//! directory is used only when nothing else has them, with a warning.

use llm_bridge_core::error::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The binaries the settings and the hook's fallback run.
pub const BINARIES: [&str; 5] = [
    "llm-bridge",
    "llm-bridge-hook",
    "llm-bridge-statusline",
    "llm-bridge-waybar",
    "llm-bridge-apply",
];

/// The directory chosen and, when it was not given, why.
#[derive(Debug, PartialEq, Eq)]
pub struct BinDir {
    pub dir: PathBuf,
    /// Why this one, for a line on stdout (`None` when given by --bin-dir).
    pub why: Option<String>,
    /// Set when the hooks would point into a build directory.
    pub warning: Option<String>,
}

/// The binaries `dir` lacks.
fn missing(dir: &Path) -> Vec<&'static str> {
    BINARIES
        .into_iter()
        .filter(|bin| !dir.join(bin).is_file())
        .collect()
}

/// A `--bin-dir` given by the user: it must hold all llm-bridge binaries.
pub fn given(dir: &Path) -> Result<BinDir> {
    if !dir.is_dir() {
        return Err(Error::msg(format!(
            "--bin-dir {} is not a directory",
            dir.display()
        )));
    }
    let missing = missing(dir);
    if !missing.is_empty() {
        return Err(Error::msg(format!(
            "--bin-dir {} has no {}: pass the directory where the llm-bridge binaries \
             are installed",
            dir.display(),
            missing.join(", ")
        )));
    }
    Ok(BinDir {
        dir: dir.to_path_buf(),
        why: None,
        warning: None,
    })
}

/// The directory to use when none was given, for this executable `exe`
/// and the `PATH` value `path`.
pub fn choose(exe: &Path, path: Option<&OsStr>) -> Result<BinDir> {
    let here = exe.parent().unwrap_or(Path::new("/"));
    let on_path: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    // Relative PATH entries depend on the current directory: never those.
    let on_path = || on_path.iter().filter(|d| d.is_absolute());
    let complete = |d: &Path| missing(d).is_empty();

    if complete(here) && !is_build_dir(here) {
        return Ok(BinDir {
            dir: here.to_path_buf(),
            why: Some("beside this llm-bridge".into()),
            warning: None,
        });
    }
    if let Some(dir) = on_path().find(|d| complete(d) && !is_build_dir(d)) {
        return Ok(BinDir {
            dir: dir.clone(),
            why: Some("the first directory on PATH that has them all".into()),
            warning: None,
        });
    }
    let build = std::iter::once(here)
        .chain(on_path().map(PathBuf::as_path))
        .find(|d| complete(d));
    match build {
        Some(dir) => Ok(BinDir {
            dir: dir.to_path_buf(),
            why: Some("a build directory: no installed copy found".into()),
            warning: Some(format!(
                "warning: the hooks point into the build directory {}, which every rebuild \
                 replaces and `cargo clean` deletes; install the binaries (see the README) and \
                 run this again, or pass --bin-dir",
                dir.display()
            )),
        }),
        None => Err(Error::msg(format!(
            "found no directory with all of {} (looked in {} and on PATH): install them, \
             or pass --bin-dir DIR",
            BINARIES.join(", "),
            here.display()
        ))),
    }
}

/// Whether `dir` is a Cargo profile directory (`target/debug`,
/// `target/<triple>/release`, or one in a `CARGO_TARGET_DIR`, which Cargo
/// marks with a `CACHEDIR.TAG`).
fn is_build_dir(dir: &Path) -> bool {
    if !matches!(
        dir.file_name().and_then(OsStr::to_str),
        Some("debug" | "release")
    ) {
        return false;
    }
    dir.ancestors()
        .skip(1)
        .take(2)
        .any(|d| d.file_name() == Some(OsStr::new("target")) || d.join("CACHEDIR.TAG").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_binaries(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        for bin in BINARIES {
            std::fs::write(dir.join(bin), "").unwrap();
        }
        dir.to_path_buf()
    }

    #[test]
    fn build_directories_are_recognised() {
        let tmp = tempfile::tempdir().unwrap();
        let custom = tmp.path().join("ci-target");
        std::fs::create_dir_all(custom.join("release")).unwrap();
        std::fs::write(custom.join("CACHEDIR.TAG"), "").unwrap();
        assert!(is_build_dir(Path::new("/src/llm-bridge/target/debug")));
        assert!(is_build_dir(Path::new(
            "/src/llm-bridge/target/x86_64-unknown-linux-gnu/release"
        )));
        assert!(is_build_dir(&custom.join("release")));
        assert!(!is_build_dir(Path::new("/home/u/.local/bin")));
        assert!(!is_build_dir(Path::new("/home/u/release")));
        assert!(!is_build_dir(Path::new("/home/u/target")));
    }

    #[test]
    fn an_installed_copy_wins_over_a_build_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let build = with_binaries(&tmp.path().join("target/debug"));
        let installed = with_binaries(&tmp.path().join("bin"));
        let partial = tmp.path().join("partial");
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::write(partial.join("llm-bridge-hook"), "").unwrap();
        let path = std::env::join_paths([&partial, &installed]).unwrap();

        let chosen = choose(&build.join("llm-bridge"), Some(&path)).unwrap();
        assert_eq!(chosen.dir, installed);
        assert!(chosen.why.unwrap().contains("PATH"));
        assert_eq!(chosen.warning, None);

        let chosen = choose(&installed.join("llm-bridge"), Some(&path)).unwrap();
        assert_eq!(chosen.dir, installed);
        assert_eq!(chosen.why.as_deref(), Some("beside this llm-bridge"));

        let chosen = choose(&build.join("llm-bridge"), Some(partial.as_os_str())).unwrap();
        assert_eq!(chosen.dir, build);
        assert!(chosen.warning.unwrap().contains("build directory"));

        let e = choose(
            &partial.join("llm-bridge"),
            Some(OsStr::new("bin:/nonexistent")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pass --bin-dir"), "{e}");
    }

    #[test]
    fn a_given_directory_must_hold_every_binary() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("llm-bridge-hook"), "").unwrap();
        let e = given(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains(
                "has no llm-bridge, llm-bridge-statusline, llm-bridge-waybar, llm-bridge-apply:"
            ),
            "{e}"
        );
        let full = with_binaries(&tmp.path().join("full"));
        assert_eq!(given(&full).unwrap().dir, full);
    }
}
