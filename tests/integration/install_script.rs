//! `scripts/install`: the one command of the README, run as a new user
//! would, into a fresh HOME and a temporary prefix. Cargo's and rustup's
//! homes and the target directory are the machine's, so the release build
//! it runs is the one already made (CI builds it before the tests): nothing
//! is rebuilt. Every file it writes is checked, and `--uninstall` removes
//! them.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BINARIES: [&str; 5] = [
    "llm-bridge",
    "llm-bridge-hook",
    "llm-bridge-statusline",
    "llm-bridge-waybar",
    "llm-bridge-apply",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory `scripts/build-release` uses, as release_build.rs
/// finds it.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// `scripts/install ARGS` with HOME in the environment's private directory
/// (empty) and nothing of the machine's user but the Rust toolchain.
fn install(env: &Env, args: &[&str]) -> Command {
    let home = std::env::var_os("HOME").map(PathBuf::from).expect("HOME");
    let keep = |var: &str, default: PathBuf| std::env::var_os(var).map_or(default, PathBuf::from);
    let mut cmd = env.command(&root().join("scripts/install"));
    cmd.args(args)
        .env("CARGO_HOME", keep("CARGO_HOME", home.join(".cargo")))
        .env("RUSTUP_HOME", keep("RUSTUP_HOME", home.join(".rustup")))
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("LLM_BRIDGE_CONFIG")
        .stdin(Stdio::null());
    std::fs::create_dir_all(env.runtime().join("home")).unwrap();
    cmd
}

fn run(mut cmd: Command) -> (Option<i32>, String, String) {
    let out: Output = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A `systemctl` that answers as a user manager would (and says no unit
/// is active), recording its arguments: the script's calls are checked
/// without touching this machine's systemd. Returns the log and a function
/// that puts the stand-in first on a command's PATH.
fn systemctl_stand_in(env: &Env) -> (PathBuf, impl Fn(Command) -> Command) {
    let dir = env.runtime().join("stand-ins");
    std::fs::create_dir_all(&dir).unwrap();
    let log = env.runtime().join("systemctl.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >>'{}'\ncase \"$*\" in *is-active*) exit 3 ;; esac\nexit 0\n",
        log.display()
    );
    std::fs::write(dir.join("systemctl"), script).unwrap();
    std::fs::set_permissions(
        dir.join("systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    (log, move |mut cmd: Command| {
        cmd.env("PATH", &path);
        cmd
    })
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn the_install_script_refuses_to_ask_without_a_terminal() {
    let env = Env::new();
    let prefix = env.runtime().join("prefix");
    for args in [&[][..], &["--uninstall"][..]] {
        let mut all = vec!["--prefix", prefix.to_str().unwrap()];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = run(install(&env, &all));
        assert_eq!(code, Some(2), "{stdout}{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("pass --yes"), "{stderr}");
    }
    assert!(!prefix.exists());
    assert!(files(&env.runtime().join("home")).is_empty());
}

#[test]
fn the_install_script_names_the_missing_system_packages_for_each_distribution() {
    let env = Env::new();
    let prefix = env.runtime().join("prefix");
    let mut cmd = install(&env, &["--yes", "--prefix", prefix.to_str().unwrap()]);
    // pkg-config then finds no library: ALSA's headers are "missing"
    // (espeak-ng is built from source and needs none).
    cmd.env("PKG_CONFIG_LIBDIR", env.runtime().join("no-pkgconfig"))
        .env_remove("PKG_CONFIG_PATH");
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    for line in [
        "  Debian/Ubuntu: sudo apt install libasound2-dev\n",
        "  Fedora:        sudo dnf install alsa-lib-devel\n",
        "  Arch:          sudo pacman -S --needed alsa-lib\n",
        "  NixOS:         ",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    assert_eq!(stderr, "install: then run scripts/install again\n");
    assert!(!prefix.exists());
}

#[test]
fn the_install_script_installs_upgrades_and_uninstalls_into_a_fresh_home() {
    // The README's install is this one command.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let install_section = &readme[readme.find("## Install").unwrap()..];
    assert!(
        install_section
            .lines()
            .take_while(|l| !l.starts_with("## Setup"))
            .any(|l| l.starts_with("scripts/install ")),
        "README's Install section runs scripts/install"
    );
    let env = Env::new();
    let prefix = env.runtime().join("prefix");
    let bin = prefix.join("bin");
    let home = env.runtime().join("home");
    let args = ["--yes", "--prefix", prefix.to_str().unwrap()];
    let (systemctl_log, with_systemd) = systemctl_stand_in(&env);
    let (code, stdout, stderr) = run(with_systemd(install(&env, &args)));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        std::fs::read_to_string(&systemctl_log).unwrap(),
        "--user show-environment\n--user is-active --quiet llm-bridge.service\n\
         --user show-environment\n--user daemon-reload\n--user enable --now llm-bridge.socket\n"
    );
    assert!(stdout.contains("enabled llm-bridge.socket"), "{stdout}");
    assert!(
        stdout.contains("install: building the release binaries: several minutes"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} is not on PATH", bin.display())),
        "{stdout}"
    );

    // Every file it wrote, and nothing else.
    assert_eq!(
        files(&prefix),
        [
            "bin/llm-bridge",
            "bin/llm-bridge-apply",
            "bin/llm-bridge-hook",
            "bin/llm-bridge-statusline",
            "bin/llm-bridge-waybar",
        ]
    );
    assert_eq!(
        files(&home),
        [
            ".claude/settings.json",
            ".config/systemd/user/llm-bridge.service",
            ".config/systemd/user/llm-bridge.socket",
        ]
    );
    let release = target_dir().join("release");
    for name in BINARIES {
        let installed = bin.join(name);
        assert_eq!(mode(&installed), 0o755, "{name}");
        assert!(
            std::fs::read(&installed).unwrap() == std::fs::read(release.join(name)).unwrap(),
            "{name} is the release build's"
        );
    }
    let units = home.join(".config/systemd/user");
    let contrib = root().join("contrib/systemd");
    assert_eq!(
        std::fs::read_to_string(units.join("llm-bridge.socket")).unwrap(),
        std::fs::read_to_string(contrib.join("llm-bridge.socket")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(units.join("llm-bridge.service")).unwrap(),
        std::fs::read_to_string(contrib.join("llm-bridge.service"))
            .unwrap()
            .replace(
                "ExecStart=%h/.local/bin/llm-bridge daemon",
                &format!("ExecStart={} daemon", bin.join("llm-bridge").display())
            )
    );
    assert_eq!(mode(&units.join("llm-bridge.service")), 0o644);
    // The voices directory, which the unit's sandbox lets the daemon watch
    // but not create: private, and empty.
    let voices = home.join(".local/share/llm-bridge/voices");
    assert_eq!(mode(&voices), 0o700);
    assert_eq!(mode(voices.parent().unwrap()), 0o700);
    let settings = home.join(".claude/settings.json");
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        merged["hooks"]["Stop"][0]["hooks"][0]["command"],
        bin.join("llm-bridge-hook").to_str().unwrap()
    );
    assert_eq!(
        merged["statusLine"]["command"],
        bin.join("llm-bridge-statusline").to_str().unwrap()
    );
    assert_eq!(mode(&settings), 0o600);

    // Again, with a daemon running: it is stopped, upgraded in place and
    // started again from the installed binary; the settings are unchanged.
    let before = std::fs::read_to_string(&settings).unwrap();
    let daemon = env.daemon();
    let _stop = StopOnDrop(&env);
    let (code, stdout, stderr) = run(install(&env, &args));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("stopping the running daemon"), "{stdout}");
    assert!(
        stdout.contains("already has the llm-bridge hooks and statusLine: unchanged"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    let mut daemon = daemon;
    assert!(!daemon.is_running(), "the old daemon was stopped");
    let status = env
        .command(&bin.join("llm-bridge"))
        .arg("status")
        .output()
        .unwrap();
    assert!(status.status.success(), "the new daemon runs: {status:?}");
    let pid = std::fs::read_to_string(env.pid_file()).unwrap();
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).unwrap();
    assert_eq!(exe, bin.join("llm-bridge"));

    // The README's walk ends with a session on the bar: Claude Code runs
    // the hook exactly as the merged settings say (program and args, no
    // shell), and the README's Waybar module (`exec`) prints it.
    let hook = &merged["hooks"]["UserPromptSubmit"][0]["hooks"][0];
    let mut claude_runs = env.command(Path::new(hook["command"].as_str().unwrap()));
    for arg in hook["args"].as_array().into_iter().flatten() {
        claude_runs.arg(arg.as_str().unwrap());
    }
    let out = run_with_stdin(claude_runs, &sample("UserPromptSubmit"));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let exec = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"exec\": \""))
        .and_then(|rest| rest.split('"').next())
        .expect("README's module has an exec");
    assert_eq!(
        exec, "llm-bridge-waybar",
        "the README's module runs the static exec"
    );
    wait_until("the README's Waybar exec to show the session", || {
        let out = env.command(&bin.join(exec)).output().unwrap();
        String::from_utf8_lossy(&out.stdout).starts_with("{\"text\":\"working")
    });

    // Uninstalled: the binaries, the units and the settings entries go; the
    // settings file is back to what it was before (nothing), with backups.
    std::fs::remove_file(&systemctl_log).unwrap();
    let (code, stdout, stderr) = run(with_systemd(install(
        &env,
        &["--yes", "--uninstall", "--prefix", prefix.to_str().unwrap()],
    )));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        std::fs::read_to_string(&systemctl_log)
            .unwrap()
            .contains("--user disable --now llm-bridge.socket llm-bridge.service\n"),
        "{stdout}"
    );
    assert!(files(&prefix).is_empty(), "{:?}", files(&prefix));
    let left = files(&home);
    assert_eq!(left[0], ".claude/settings.json", "{left:?}");
    assert!(
        left[1..]
            .iter()
            .all(|f| f.starts_with(".claude/settings.json.bak-")),
        "{left:?}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{}\n");
    let status = env.bridge(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "the daemon was stopped: {status:?}"
    );
}
