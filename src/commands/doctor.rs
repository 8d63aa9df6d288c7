//! `llm-bridge doctor`: every part of an installation checked, one line
//! each, with the fix for what is wrong.
//!
//! A user whose bar stays empty should not have to know where to look: the
//! binaries, Claude Code's settings, the daemon, Waybar and its config, the
//! systemd units, the voice, quiet hours and the mute are each one line,
//! `✓` when right, `✗` with the fix when llm-bridge cannot work as set up,
//! and `!` with the fix for what it works without (the daemon, whose work
//! the hooks' fallback does; the units; the statusLine; a voice while
//! speech is off; a mute). The exit status is 0 unless a check failed.
//!
//! Every file read here is the user's: opened without blocking, a regular
//! file only, read up to a cap; nothing is written and nothing is started.

use super::install::{self, bin_dir, jsonc, merge};
use crate::commands::lifecycle;
use crate::commands::status;
use crate::commands::voice::sums::{self, Verdict};
use crate::control::RequestError;
use crate::daemon::StatusReport;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::{one_line, Result};
use llm_bridge_core::local_time::{utc_offset_secs, wall_clock_ms};
use llm_bridge_core::module::clock;
use llm_bridge_core::paths::Paths;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::printable;
use llm_bridge_core::waybar_signal;
use llm_bridge_hooks::bounded_read::{self, Links};
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The largest Waybar config or unit file read.
const MAX_FILE: u64 = 4 << 20;

/// How a check came out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    Pass,
    /// llm-bridge works without it; the line says what is missed.
    Warn,
    /// llm-bridge does not work as set up.
    Fail,
}

/// The checks' lines, printed as they come.
#[derive(Default)]
struct Report {
    failed: usize,
    warned: usize,
}

impl Report {
    fn pass(&mut self, what: impl AsRef<str>) {
        self.line(Mark::Pass, what.as_ref(), None);
    }

    fn warn(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.line(Mark::Warn, what.as_ref(), Some(fix.as_ref()));
    }

    fn fail(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.line(Mark::Fail, what.as_ref(), Some(fix.as_ref()));
    }

    fn line(&mut self, mark: Mark, what: &str, fix: Option<&str>) {
        let sign = match mark {
            Mark::Pass => "✓",
            Mark::Warn => {
                self.warned += 1;
                "!"
            }
            Mark::Fail => {
                self.failed += 1;
                "✗"
            }
        };
        // Paths and what other programs answered come from outside: a
        // control character in one is shown as `?`.
        let what = printable(what);
        match fix {
            Some(fix) => println!("{sign} {what}: {}", printable(fix)),
            None => println!("{sign} {what}"),
        }
    }
}

/// Runs every check; exit 0 if none failed, 1 otherwise.
pub fn doctor(paths: &Paths) -> Result<i32> {
    let mut r = Report::default();
    let config = check_config(&mut r);
    let bin = check_binaries(&mut r);
    check_settings(&mut r, bin.as_deref());
    check_other_agents(&mut r);
    let daemon = check_daemon(&mut r, paths);
    check_waybar(&mut r, &config, bin.as_deref());
    check_units(&mut r, bin.as_deref());
    check_voice(&mut r, &config, daemon.as_ref());
    check_phonemes(&mut r, &config);
    check_audio(&mut r, &config);
    check_quiet(&mut r, paths, &config, daemon.as_ref());
    match (r.failed, r.warned) {
        (0, 0) => println!("all checks passed"),
        (0, w) => println!("no check failed ({w} to look at, marked !)"),
        (f, w) => println!("{f} failed (✗), {w} to look at (!)"),
    }
    Ok(if r.failed == 0 { 0 } else { 1 })
}

/// The config file: absent (the defaults), valid, or the error.
fn check_config(r: &mut Report) -> Config {
    let path = Config::path();
    match Config::load() {
        Ok(config) => {
            match path.filter(|p| std::fs::symlink_metadata(p).is_ok()) {
                Some(p) => r.pass(format!("config: {}", p.display())),
                None => r.pass("config: none (defaults)"),
            }
            config
        }
        Err(e) => {
            r.fail(
                one_line(&e),
                "fix the file (`llm-bridge config --default` shows every key); \
                 the checks below use the defaults",
            );
            Config::default()
        }
    }
}

/// The directory with all five binaries, as `llm-bridge install` chooses it.
fn check_binaries(r: &mut Report) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    match bin_dir::choose(&exe, std::env::var_os("PATH").as_deref()) {
        Ok(bin) => {
            let not_executable: Vec<&str> = bin_dir::BINARIES
                .into_iter()
                .filter(|b| !is_executable(&bin.dir.join(b)))
                .collect();
            if !not_executable.is_empty() {
                r.fail(
                    format!(
                        "binaries: {} in {} cannot be run",
                        not_executable.join(", "),
                        bin.dir.display()
                    ),
                    "chmod 755 them, or run scripts/install again",
                );
            } else if let Some(warning) = &bin.warning {
                r.warn(
                    format!(
                        "binaries: only in the build directory {}",
                        bin.dir.display()
                    ),
                    warning.strip_prefix("warning: ").unwrap_or(warning),
                );
            } else {
                r.pass(format!("binaries: {}", bin.dir.display()));
            }
            Some(bin.dir)
        }
        Err(e) => {
            r.fail(
                format!("binaries: {}", one_line(&e)),
                "run scripts/install from a checkout",
            );
            None
        }
    }
}

/// Claude Code's settings: every hook event wired to an existing hook, and
/// the statusLine.
fn check_settings(r: &mut Report, bin: Option<&Path>) {
    let fix = match bin {
        Some(dir) => format!(
            "run `llm-bridge install --write` (hooks to {})",
            dir.display()
        ),
        None => "run `llm-bridge install --write`".to_string(),
    };
    let Some(path) = install::default_settings_path() else {
        r.fail("Claude Code settings: HOME is not set", "set HOME");
        return;
    };
    let shown = path.display();
    let text =
        match bounded_read::read_string(&path, install::settings_file::MAX_SETTINGS, Links::Follow)
        {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                r.fail(
                    format!("Claude Code settings: {shown} does not exist"),
                    &fix,
                );
                return;
            }
            Err(e) => {
                r.fail(
                    format!("Claude Code settings: cannot read {shown}: {e}"),
                    "make it a readable file",
                );
                return;
            }
        };
    let settings: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            r.fail(
                format!("Claude Code settings: {shown} is not valid JSON ({e})"),
                "fix it: Claude Code ignores the whole file",
            );
            return;
        }
    };

    let mut missing = Vec::new();
    let mut commands: Vec<String> = Vec::new();
    for &(event, _) in install::events() {
        let ours = our_commands(&settings, event);
        if ours.is_empty() {
            missing.push(event);
        }
        for c in ours {
            if !commands.iter().any(|k| k == c) {
                commands.push(c.to_string());
            }
        }
    }
    if missing.len() == install::events().len() {
        r.fail(format!("hooks: none of llm-bridge's in {shown}"), &fix);
    } else if !missing.is_empty() {
        r.fail(
            format!(
                "hooks: {shown} lacks llm-bridge's for {}",
                missing.join(", ")
            ),
            &fix,
        );
    } else {
        r.pass(format!(
            "hooks: all {} events in {shown}",
            install::events().len()
        ));
    }
    for command in &commands {
        match runnable(command) {
            Ok(at) => {
                let apply = at.with_file_name("llm-bridge-apply");
                if is_executable(&apply) {
                    r.pass(format!("hooks run {}", at.display()));
                } else {
                    r.warn(
                        format!(
                            "hooks run {}, but {} is missing (the fallback when no daemon runs)",
                            at.display(),
                            apply.display()
                        ),
                        "keep the five binaries in one directory (scripts/install does)",
                    );
                }
            }
            Err(why) => r.fail(format!("hooks run {command}, {why}"), &fix),
        }
    }

    match settings.get("statusLine").filter(|v| !v.is_null()) {
        None => r.warn(
            "statusLine: none (optional: the tooltip then lacks model, cost and context)",
            &fix,
        ),
        Some(line) if merge::is_our_status_line(line) => {
            let command = line["command"].as_str().unwrap_or_default();
            match runnable(command) {
                Ok(at) => r.pass(format!("statusLine runs {}", at.display())),
                Err(why) => r.fail(format!("statusLine runs {command}, {why}"), &fix),
            }
        }
        Some(line) => r.warn(
            format!(
                "statusLine: your own ({})",
                line["command"].as_str().unwrap_or("not a command")
            ),
            "`llm-bridge install --write --replace-statusline` shows llm-bridge's \
             (the tooltip's model, cost and context come from it)",
        ),
    }
}

/// Every other agent whose configuration directory exists: its hooks file
/// holds llm-bridge's hook for each event it maps, and that hook runs.
fn check_other_agents(r: &mut Report) {
    for agent in install::agent_files::present()
        .into_iter()
        .filter(|a| !a.is_claude())
    {
        let title = agent.title();
        let fix = format!("run `llm-bridge install --agent {agent} --write`");
        let Some(path) = install::agent_files::hooks_file(agent) else {
            continue;
        };
        let shown = path.display();
        let text = match bounded_read::read_string(
            &path,
            install::settings_file::MAX_SETTINGS,
            Links::Follow,
        ) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                r.fail(format!("{title} hooks: {shown} does not exist"), &fix);
                continue;
            }
            Err(e) => {
                r.fail(
                    format!("{title} hooks: cannot read {shown}: {e}"),
                    "make it a readable file",
                );
                continue;
            }
        };
        let text = if merge::allows_comments(agent) {
            jsonc::blank_comments(&text)
        } else {
            text
        };
        let Ok(settings) = serde_json::from_str::<Value>(&text) else {
            r.fail(
                format!("{title} hooks: {shown} is not valid JSON"),
                format!("fix it: {title} ignores it"),
            );
            continue;
        };
        let events = agent.hooked_events();
        let mut missing = Vec::new();
        let mut programs: Vec<String> = Vec::new();
        for &(event, _) in events {
            let ours = our_commands(&settings, event);
            if ours.is_empty() {
                missing.push(event);
            }
            for program in ours.into_iter().map(first_word) {
                if !programs.contains(&program) {
                    programs.push(program);
                }
            }
        }
        if missing.len() == events.len() {
            r.fail(
                format!("{title} hooks: none of llm-bridge's in {shown}"),
                &fix,
            );
            continue;
        }
        if !missing.is_empty() {
            r.fail(
                format!(
                    "{title} hooks: {shown} lacks llm-bridge's for {}",
                    missing.join(", ")
                ),
                &fix,
            );
        }
        let broken: Vec<String> = programs
            .iter()
            .filter_map(|p| runnable(p).err().map(|why| format!("{p}, {why}")))
            .collect();
        if !broken.is_empty() {
            r.fail(format!("{title} hooks run {}", broken.join("; ")), &fix);
        } else if missing.is_empty() {
            r.pass(format!(
                "{title} hooks: all {} events in {shown}",
                events.len()
            ));
            if agent == llm_bridge_protocol::agent::Agent::Codex {
                check_codex_trust(r, &settings, &path);
            }
        }
    }
}

/// Codex CLI runs only the hooks the user trusted in its `/hooks` screen
/// (`codex exec` skips the others silently): each of ours against the hash
/// recorded in Codex's config.toml.
fn check_codex_trust(r: &mut Report, hooks: &Value, hooks_path: &Path) {
    use install::codex_trust::{self, Trust};
    let fix = "start `codex`, type `/hooks` and trust llm-bridge's hooks";
    let config_path = hooks_path.with_file_name("config.toml");
    let config = match bounded_read::read_string(
        &config_path,
        install::settings_file::MAX_SETTINGS,
        Links::Follow,
    ) {
        Ok(text) => match toml::from_str::<toml::Table>(&text) {
            Ok(table) => Some(table),
            Err(e) => {
                let why = e.message().to_string();
                r.fail(
                    format!(
                        "Codex CLI config: {} is not valid TOML: {why}",
                        config_path.display()
                    ),
                    "fix it: Codex does not start with it",
                );
                return;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            r.fail(
                format!(
                    "Codex CLI config: cannot read {}: {e}",
                    config_path.display()
                ),
                "make it a readable file",
            );
            return;
        }
    };
    let hooks = codex_trust::check(hooks, hooks_path, config.as_ref());
    let named = |want: Trust| -> Vec<&str> {
        hooks
            .iter()
            .filter(|(_, trust)| *trust == want)
            .map(|(event, _)| event.as_str())
            .collect()
    };
    let (untrusted, changed) = (named(Trust::Untrusted), named(Trust::Changed));
    if untrusted.is_empty() && changed.is_empty() {
        r.pass(format!(
            "Codex CLI runs them: all {} trusted in its /hooks",
            hooks.len()
        ));
        return;
    }
    let mut why = Vec::new();
    if !untrusted.is_empty() {
        why.push(format!("not trusted yet: {}", untrusted.join(", ")));
    }
    if !changed.is_empty() {
        why.push(format!("changed since trusted: {}", changed.join(", ")));
    }
    r.fail(
        format!(
            "Codex CLI skips {} of llm-bridge's {} hooks ({})",
            untrusted.len() + changed.len(),
            hooks.len(),
            why.join("; ")
        ),
        fix,
    );
}

/// llm-bridge's hook commands among a settings file's entries for `event`.
fn our_commands<'v>(settings: &'v Value, event: &str) -> Vec<&'v str> {
    settings["hooks"][event]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["hooks"].as_array())
        .flatten()
        .filter(|c| merge::is_our_command(c))
        .filter_map(|c| c["command"].as_str())
        .collect()
}

/// Where a command runs from, or why it cannot run.
fn runnable(command: &str) -> std::result::Result<PathBuf, String> {
    let path = Path::new(command);
    let found = if path.is_absolute() {
        path.to_path_buf()
    } else {
        on_path(command).ok_or("which is not on PATH (use its full path)")?
    };
    if !found.exists() {
        return Err("which does not exist".into());
    }
    if !is_executable(&found) {
        return Err("which is not executable".into());
    }
    Ok(found)
}

/// `name` in the first `PATH` directory that has it.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether this user may run `path` (a regular file, through links).
fn is_executable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string; access(2) only reads it.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// The daemon and its socket; its status, when it answers.
fn check_daemon(r: &mut Report, paths: &Paths) -> Option<StatusReport> {
    match status::query(paths) {
        Ok(report) => {
            r.pass(format!(
                "daemon: running (pid {}{}), socket {}",
                report.pid,
                if report.socket_activated {
                    ", socket-activated"
                } else {
                    ""
                },
                report.socket.display()
            ));
            Some(report)
        }
        Err(RequestError::NotRunning) => {
            match lifecycle::unreachable_daemon(paths) {
                Some(pid) => r.fail(
                    format!("daemon: pid {pid} runs but does not answer"),
                    lifecycle::unreachable_text(paths, pid),
                ),
                None => r.warn(
                    format!(
                        "daemon: not running (no one answers on {}; the hooks do its work, \
                         a little slower)",
                        paths.socket.display()
                    ),
                    "`llm-bridge start`, or `systemctl --user enable --now llm-bridge.socket`",
                ),
            }
            None
        }
        Err(e) => {
            r.fail(
                format!("daemon: {e}"),
                "`llm-bridge stop && llm-bridge start`",
            );
            None
        }
    }
}

/// A running Waybar (listening on the module's signal), and its config's
/// module.
fn check_waybar(r: &mut Report, config: &Config, bin: Option<&Path>) {
    let pids = waybar_signal::find_our_waybars();
    let signal = i32::from(config.signal);
    let module = read_waybar_module(&pids);
    let continuous = matches!(&module, Ok((_, Some(m))) if exec_of(m).contains("--follow"));
    if pids.is_empty() {
        r.fail(
            "Waybar: not running (for this user and session)",
            "start Waybar (e.g. from your compositor's config)",
        );
    } else if continuous {
        r.pass(format!("Waybar: running (pid {})", join(&pids)));
    } else {
        let deaf: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|&p| {
                waybar_signal::handler_installed(p, libc::SIGRTMIN() + signal) == Some(false)
            })
            .collect();
        if deaf.is_empty() {
            r.pass(format!(
                "Waybar: running (pid {}), listening on SIGRTMIN+{signal}",
                join(&pids)
            ));
        } else {
            r.fail(
                format!(
                    "Waybar: pid {} has no handler for SIGRTMIN+{signal}, so no module with \
                     \"signal\": {signal} is loaded",
                    join(&deaf)
                ),
                "add the module below and reload Waybar (`killall -SIGUSR2 waybar`)",
            );
        }
    }

    let (file, module) = match module {
        Ok(found) => found,
        Err((what, fix)) => {
            r.fail(what, fix);
            return;
        }
    };
    let shown = file.display();
    let Some(module) = module else {
        r.fail(
            format!("Waybar config {shown}: no \"custom/llm\" module in a modules-* list"),
            "run `llm-bridge install --waybar --write` (or add the module it prints by hand)",
        );
        return;
    };
    let exec = exec_of(&module);
    let program = first_word(&exec);
    if exec.contains("--follow") {
        // Continuous mode: `llm-bridge waybar --follow`, no signal.
        match runnable(&program) {
            Ok(_) => r.pass(format!("Waybar config {shown}: custom/llm runs `{exec}`")),
            Err(why) => r.fail(
                format!("Waybar config {shown}: custom/llm runs {program}, {why}"),
                "give its full path",
            ),
        }
        return;
    }
    let ours = program.ends_with("/llm-bridge-waybar")
        || program == "llm-bridge-waybar"
        || (exec.split_whitespace().nth(1) == Some("waybar")
            && (program.ends_with("/llm-bridge") || program == "llm-bridge"));
    let exec_fix = match bin {
        Some(dir) => format!(
            "set \"exec\": \"{}\"",
            dir.join("llm-bridge-waybar").display()
        ),
        None => "set \"exec\" to the full path of llm-bridge-waybar".into(),
    };
    if !ours {
        r.fail(
            format!("Waybar config {shown}: custom/llm runs `{exec}`, not llm-bridge-waybar"),
            exec_fix,
        );
    } else if let Err(why) = runnable(&program) {
        r.fail(
            format!("Waybar config {shown}: custom/llm runs {program}, {why}"),
            exec_fix,
        );
    } else if module["signal"].as_i64() != Some(i64::from(signal)) {
        r.fail(
            format!(
                "Waybar config {shown}: custom/llm has \"signal\": {}, but llm-bridge sends {signal}",
                module.get("signal").map_or("none".into(), Value::to_string)
            ),
            format!("set \"signal\": {signal} (or `signal` in config.toml), then reload Waybar"),
        );
    } else if module["interval"].as_str() != Some("once") {
        r.warn(
            format!("Waybar config {shown}: custom/llm has no \"interval\": \"once\""),
            "add it: some Waybar versions treat a signal without one as continuous mode",
        );
    } else {
        r.pass(format!(
            "Waybar config {shown}: custom/llm runs {program} on signal {signal}"
        ));
    }
}

fn join(pids: &[i32]) -> String {
    pids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A module's `exec`, or an empty text.
fn exec_of(module: &Value) -> String {
    module["exec"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The program of a shell command line as Waybar's `sh -c` reads the
/// simple ones: the first word, without its quotes.
fn first_word(exec: &str) -> String {
    let exec = exec.trim_start();
    for quote in ['\'', '"'] {
        if let Some(rest) = exec.strip_prefix(quote) {
            return rest.split(quote).next().unwrap_or_default().to_string();
        }
    }
    exec.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

type Found = (PathBuf, Option<Value>);

/// Waybar's config file (the one a running Waybar was given with `-c`, else
/// the first in Waybar's search order) and its `custom/llm` module when a
/// bar lists it; or the failure and its fix.
fn read_waybar_module(pids: &[i32]) -> std::result::Result<Found, (String, String)> {
    let file = pids
        .iter()
        .find_map(|&pid| config_argument(pid))
        .or_else(|| waybar_config_candidates().into_iter().find(|p| p.exists()))
        .ok_or_else(|| {
            (
                "Waybar config: none found (looked in $XDG_CONFIG_HOME/waybar, ~/.config/waybar, \
                 /etc/xdg/waybar)"
                    .to_string(),
                "create ~/.config/waybar/config.jsonc with the module `llm-bridge install` prints"
                    .to_string(),
            )
        })?;
    let shown = file.display().to_string();
    let text = bounded_read::read_string(&file, MAX_FILE, Links::Follow).map_err(|e| {
        (
            format!("Waybar config {shown}: cannot read it: {e}"),
            "make it a readable file".to_string(),
        )
    })?;
    let value: Value = serde_json::from_str(&jsonc::blank_jsonc(&text)).map_err(|e| {
        (
            format!("Waybar config {shown}: not valid JSON(C) ({e})"),
            "fix it (Waybar does not start with it either)".to_string(),
        )
    })?;
    let bars: Vec<&Value> = match &value {
        Value::Array(bars) => bars.iter().collect(),
        bar => vec![bar],
    };
    let module = bars
        .iter()
        .find(|bar| install::waybar_config::lists_module(bar) && bar.get("custom/llm").is_some())
        .map(|bar| bar["custom/llm"].clone());
    Ok((file, module))
}

/// The `-c FILE` / `--config FILE` a Waybar process was started with.
fn config_argument(pid: i32) -> Option<PathBuf> {
    let cmdline = bounded_read::read(
        Path::new(&format!("/proc/{pid}/cmdline")),
        1 << 20,
        Links::Refuse,
    )
    .ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let mut at = args.iter();
    while let Some(arg) = at.next() {
        let value = match *arg {
            b"-c" | b"--config" => at.next().copied(),
            a => a.strip_prefix(b"--config="),
        };
        if let Some(value) = value {
            let path = PathBuf::from(OsString::from(std::ffi::OsStr::from_bytes(value)));
            return Some(match (&cwd, path.is_absolute()) {
                (Some(cwd), false) => cwd.join(path),
                _ => path,
            });
        }
    }
    None
}

/// Where Waybar looks for its config, in its order.
pub(crate) fn waybar_config_candidates() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut dirs = Vec::new();
    match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        Some(d) => dirs.push(PathBuf::from(d).join("waybar")),
        None => dirs.extend(home.as_ref().map(|h| h.join(".config/waybar"))),
    }
    dirs.extend(home.as_ref().map(|h| h.join("waybar")));
    let system = std::env::var_os("XDG_CONFIG_DIRS")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/etc/xdg".into());
    dirs.extend(std::env::split_paths(&system).map(|d| d.join("waybar")));
    dirs.iter()
        .flat_map(|d| [d.join("config.jsonc"), d.join("config")])
        .collect()
}

/// The systemd user units: both there, ExecStart running an existing binary.
fn check_units(r: &mut Report, bin: Option<&Path>) {
    let Some(dir) = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("systemd/user"))
    else {
        return;
    };
    let socket = dir.join("llm-bridge.socket");
    let service = dir.join("llm-bridge.service");
    match (socket.exists(), service.exists()) {
        (false, false) => {
            r.warn(
                format!("systemd units: not in {} (optional)", dir.display()),
                "scripts/install installs them; or run the daemon with `llm-bridge start`",
            );
            return;
        }
        (true, false) | (false, true) => {
            let missing = if socket.exists() { &service } else { &socket };
            r.fail(
                format!("systemd units: {} is missing", missing.display()),
                "install both from contrib/systemd (scripts/install does)",
            );
            return;
        }
        (true, true) => {}
    }
    let text = match bounded_read::read_string(&service, MAX_FILE, Links::Follow) {
        Ok(t) => t,
        Err(e) => {
            r.fail(
                format!("systemd units: cannot read {}: {e}", service.display()),
                "make it a readable file",
            );
            return;
        }
    };
    let exec = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .next_back()
        .unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let program = first_word(exec).replace("%h", &home);
    let fix = match bin {
        Some(dir) => format!(
            "set ExecStart={} daemon, then `systemctl --user daemon-reload`",
            dir.join("llm-bridge").display()
        ),
        None => "point ExecStart at the installed llm-bridge (scripts/install does)".into(),
    };
    match runnable(&program) {
        Ok(at) => r.pass(format!(
            "systemd units: {}, ExecStart runs {}",
            dir.display(),
            at.display()
        )),
        Err(why) => r.fail(
            format!("systemd units: {} runs {program}, {why}", service.display()),
            fix,
        ),
    }
}

/// The voice: a failure when speech is on and it is missing.
fn check_voice(r: &mut Report, config: &Config, daemon: Option<&StatusReport>) {
    let speech = &config.speech;
    let mark_missing = |r: &mut Report, what: String, fix: &str| {
        if speech.enabled {
            r.fail(what, fix);
        } else {
            r.warn(what + " (speech is off)", fix);
        }
    };
    let Some(voice) = speech.voice_path() else {
        let places: Vec<String> = llm_bridge_core::paths::default_voices()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        mark_missing(
            r,
            format!(
                "voice: none ([speech] voice is empty and there is no {})",
                places.join(" or ")
            ),
            "`llm-bridge voice install en_US-joe-medium` (README, Speech)",
        );
        return;
    };
    let mut json = voice.clone().into_os_string();
    json.push(".json");
    let json = PathBuf::from(json);
    if !voice.is_file() {
        mark_missing(
            r,
            format!("voice: {} does not exist", voice.display()),
            "fix [speech] voice in config.toml, or put the voice there",
        );
    } else if !json.is_file() {
        mark_missing(
            r,
            format!(
                "voice: {} has no {} beside it",
                voice.display(),
                json.display()
            ),
            "put the voice's .onnx.json there",
        );
    } else {
        // Loaded: the daemon's voice is this one and its load finished.
        let loaded = daemon
            .filter(|d| d.speech_load_ms.is_some() && d.speech_voice.as_ref() == Some(&voice))
            .map_or("", |_| ", loaded by the daemon");
        let state = if speech.enabled {
            "speech on"
        } else {
            "speech off"
        };
        match sums::verify(&voice) {
            Ok(Verdict::Matches(n)) => r.pass(format!(
                "voice: {} ({state}{loaded}; the md5 of its {n} files as installed)",
                voice.display()
            )),
            Ok(Verdict::NotRecorded) => r.pass(format!(
                "voice: {} ({state}{loaded}; no md5 recorded: not put there by \
                 `llm-bridge voice install`)",
                voice.display()
            )),
            Ok(Verdict::Differs(file)) => mark_missing(
                r,
                format!(
                    "voice: {} is not the file installed (its md5 differs from the one \
                     recorded beside it)",
                    file.display()
                ),
                "install the voice again (`llm-bridge voice install NAME`, or `--from PATH`)",
            ),
            Err(e) => r.warn(
                format!(
                    "voice: {} (its md5 cannot be checked: {})",
                    voice.display(),
                    one_line(&e)
                ),
                "install the voice again (`llm-bridge voice install NAME`)",
            ),
        }
    }
}

/// The audio device speech plays on: opened and closed again, as `say`
/// would open it. Only a failure with speech on is a ✗.
#[cfg(feature = "speech")]
fn check_audio(r: &mut Report, config: &Config) {
    match llm_bridge_speech::audio::Output::open(22_050) {
        Ok(output) => {
            let (rate, channels) = output.device_format();
            r.pass(format!(
                "audio: ALSA \"default\" opens ({rate} Hz, {channels} channel{})",
                if channels == 1 { "" } else { "s" }
            ));
        }
        Err(e) => {
            // The message ends with the fix, after its last colon.
            let (what, fix) = one_line(&e)
                .rsplit_once(": ")
                .map(|(what, fix)| (what.to_string(), fix.to_string()))
                .unwrap_or_else(|| (one_line(&e), String::new()));
            let what = format!("audio: {what}");
            if config.speech.enabled {
                r.fail(what, fix);
            } else {
                r.warn(what + " (speech is off)", fix);
            }
        }
    }
}

/// The phonemizer: espeak-ng, built in, and the cache directory its data is
/// unpacked into on first use. A refused directory fails as speech itself
/// would (only a ✗ with speech on), with the same fix.
#[cfg(feature = "speech")]
fn check_phonemes(r: &mut Report, config: &Config) {
    let what = format!(
        "phonemes: espeak-ng {} (built in)",
        llm_bridge_espeak_ng::data::VERSION
    );
    let problem = match llm_bridge_core::paths::cache_home() {
        None => Err((
            "no cache directory for its data".to_string(),
            "set XDG_CACHE_HOME or HOME".to_string(),
        )),
        Some(cache) => match llm_bridge_hooks::private_dir::PrivateDir::check(&cache) {
            Ok(_) => Ok(cache.join(llm_bridge_espeak_ng::tree_name())),
            Err(e) => Err((
                e.reason(),
                e.fix().unwrap_or_else(|| "check the directory".to_string()),
            )),
        },
    };
    match problem {
        Ok(tree) if tree.symlink_metadata().is_ok_and(|m| m.is_dir()) => {
            r.pass(format!("{what}, its data in {}", tree.display()));
        }
        Ok(tree) => r.pass(format!(
            "{what}, its data unpacked into {} on first use",
            tree.display()
        )),
        Err((why, fix)) if config.speech.enabled => r.fail(format!("{what}: {why}"), fix),
        Err((why, fix)) => r.warn(format!("{what}: {why} (speech is off)"), fix),
    }
}

/// Built without speech: no phonemes.
#[cfg(not(feature = "speech"))]
fn check_phonemes(r: &mut Report, _config: &Config) {
    r.pass("phonemes: not checked (built without speech)");
}

/// Built without speech: nothing plays, so there is no device to check.
#[cfg(not(feature = "speech"))]
fn check_audio(r: &mut Report, _config: &Config) {
    r.pass("audio: not checked (built without speech)");
}

/// Quiet hours and the mute: a warning while they silence notifications.
fn check_quiet(r: &mut Report, paths: &Paths, config: &Config, daemon: Option<&StatusReport>) {
    let now = wall_clock_ms();
    let offset = utc_offset_secs((now / 1000) as i64);
    match config.speech.quiet() {
        None => r.pass("quiet hours: none"),
        Some(q) => {
            let minute = ((now as i64 / 1000 + offset).rem_euclid(86_400) / 60) as u16;
            let hours = &config.speech.quiet_hours;
            if q.contains(minute) && config.speech.enabled {
                r.warn(
                    format!("quiet hours: {hours}, now (spoken notifications are silent)"),
                    "change [speech] quiet_hours in config.toml if that is not what you want",
                );
            } else {
                r.pass(format!("quiet hours: {hours}"));
            }
        }
    }
    // The daemon's own view, else the state file (what a daemon started
    // now would keep).
    let mute = match daemon {
        Some(d) => d.muted.then_some(d.muted_until),
        None => snapshot::load(&paths.state_json)
            .ok()
            .and_then(|(state, _)| state.mute(now).map(|m| m.until)),
    };
    match mute {
        None => r.pass("mute: off"),
        Some(until) => {
            let until = until.map_or(String::new(), |t| {
                format!(" until {}", clock(t, utc_offset_secs((t / 1000) as i64)))
            });
            r.warn(
                format!("mute: spoken notifications are muted{until}"),
                "`llm-bridge mute off`",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_comments_and_trailing_commas_go_and_strings_stay() {
        let text = r#"// top
{
  "a": "x // not a comment /* nor this */", /* block
  comment */ "b": [1, 2,], // trailing
  "c": {"d": "\"quoted,\"",},
}
"#;
        let v: Value = serde_json::from_str(&jsonc::blank_jsonc(text)).unwrap();
        assert_eq!(v["a"], "x // not a comment /* nor this */");
        assert_eq!(v["b"], serde_json::json!([1, 2]));
        assert_eq!(v["c"]["d"], "\"quoted,\"");
    }

    #[test]
    fn the_program_of_an_exec_is_its_first_word_unquoted() {
        assert_eq!(first_word("/a b/x"), "/a");
        assert_eq!(first_word("'/a b/x' waybar"), "/a b/x");
        assert_eq!(
            first_word(" \"/c/llm-bridge-waybar\""),
            "/c/llm-bridge-waybar"
        );
        assert_eq!(first_word(""), "");
    }
}
