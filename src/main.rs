//! The `llm-bridge` command: the daemon and its lifecycle, Waybar's exec,
//! the hook fallback, status, installation and history.

use clap::{Parser, Subcommand};
use llm_bridge::commands::{
    doctor, focus, history, install, lifecycle, mute, say, status, voice, waybar,
};
use llm_bridge::daemon::{Daemon, Options};
use llm_bridge_core::apply;
use llm_bridge_core::config::{Config, DEFAULT_CONFIG_TOML};
use llm_bridge_core::error::{one_line, Result};
use llm_bridge_core::paths::Paths;
use llm_bridge_protocol::wire::{FocusPick, MuteAction, SayTuning};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "llm-bridge",
    version,
    about = "Shows what your coding agents (Claude Code, Gemini CLI, Codex CLI, Qwen Code) are doing in Waybar",
    after_help = "Examples:\n  llm-bridge install --write    # wire the hooks into every agent installed\n  llm-bridge start\n  llm-bridge doctor             # what is missing, and how to fix it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (what systemd runs).
    #[command(
        after_help = "Example:\n  llm-bridge daemon    # in a terminal, to watch its log; Ctrl-C stops it"
    )]
    Daemon {
        /// Write the daemon's PID here once it serves (used by `start`).
        #[arg(long, value_name = "PATH")]
        pid_file: Option<PathBuf>,
        /// Leave no keeper beside it. By default a daemon that binds its
        /// socket itself (not systemd's, not `start`'s) leaves a small
        /// process holding it, which starts a new daemon on it if this one
        /// is killed, so that no queued event is lost. For a process
        /// manager that restarts the daemon itself.
        #[arg(long)]
        no_keeper: bool,
    },
    /// Start the daemon in the background; returns once it answers.
    #[command(
        after_help = "Example:\n  llm-bridge start    # logs to ~/.local/state/llm-bridge/daemon.log"
    )]
    Start,
    /// Ask the daemon to flush and exit, and wait until it has.
    #[command(after_help = "Example:\n  llm-bridge stop && llm-bridge start    # restart it")]
    Stop,
    /// Show the daemon's sessions and counters (exit 0 running, 1 not, 2 error).
    #[command(
        after_help = "Examples:\n  llm-bridge status\n  llm-bridge status --json | jq .sessions\n  llm-bridge status --watch"
    )]
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        /// Keep running and print every change.
        #[arg(long, conflicts_with = "json")]
        watch: bool,
    },
    /// Make the daemon reread its config (exit 2 if the config is invalid).
    #[command(
        after_help = "Example:\n  $EDITOR ~/.config/llm-bridge/config.toml && llm-bridge reload"
    )]
    Reload,
    /// Print Waybar's module JSON (the module's exec).
    #[command(
        after_help = "Examples:\n  llm-bridge waybar\n  llm-bridge waybar --follow    # Waybar's continuous mode: \"exec\": \"llm-bridge waybar --follow\""
    )]
    Waybar {
        /// Keep running and print one line per change (Waybar's continuous mode).
        #[arg(long)]
        follow: bool,
    },
    /// Print the Claude Code settings (hooks and statusLine), Waybar module and CSS.
    #[command(
        after_help = "Examples:\n  llm-bridge install            # print what would be merged\n  llm-bridge install --write    # merge it into ~/.claude/settings.json (with a backup)\n  llm-bridge install --write --bin-dir ~/.cargo/bin\n  llm-bridge install --waybar --write   # the module into your Waybar config"
    )]
    Install {
        /// Which agent's hooks: claude, gemini, codex, qwen, or all (the default: Claude
        /// Code and every other agent whose configuration directory exists).
        #[arg(long, value_name = "AGENT", default_value = "all",
              value_parser = ["claude", "gemini", "codex", "qwen", "all"])]
        agent: String,
        /// Merge the settings into ~/.claude/settings.json (and each agent's file; keeps
        /// other keys, writes a backup).
        #[arg(long)]
        write: bool,
        /// Claude Code's settings file to merge into.
        #[arg(long, value_name = "PATH", requires = "write")]
        settings: Option<PathBuf>,
        /// Where the llm-bridge binaries are installed (default: beside this one, else on PATH).
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<PathBuf>,
        /// Replace a statusLine of your own with llm-bridge's (kept otherwise).
        #[arg(long, requires = "write")]
        replace_statusline: bool,
        /// Instead of the hooks: put the custom/llm module in your Waybar config
        /// (prints what would change; with --write changes it, keeping a backup).
        #[arg(long, conflicts_with_all = ["settings", "replace_statusline"])]
        waybar: bool,
        /// The Waybar config to change (default: the first in Waybar's search order).
        #[arg(long, value_name = "PATH", requires = "waybar")]
        waybar_config: Option<PathBuf>,
        /// In a config with several bars, the one ("name") to put the module in.
        #[arg(long, value_name = "NAME", requires = "waybar")]
        bar: Option<String>,
    },
    /// Where the config file is and whether it exists; --default prints every default.
    #[command(
        after_help = "Examples:\n  llm-bridge config\n  llm-bridge config --default > ~/.config/llm-bridge/config.toml"
    )]
    Config {
        /// Print the fully commented default config.
        #[arg(long)]
        default: bool,
    },
    /// Take llm-bridge's hooks and statusLine out of Claude Code's settings
    /// (prints what would go; --write removes it, keeping a backup).
    #[command(
        after_help = "Examples:\n  llm-bridge uninstall            # print what would be removed\n  llm-bridge uninstall --write    # remove it (scripts/install --uninstall also removes the binaries)"
    )]
    Uninstall {
        /// Change the settings file (keeps everything else, writes a backup).
        #[arg(long)]
        write: bool,
        /// The settings file to remove llm-bridge from.
        #[arg(long, value_name = "PATH")]
        settings: Option<PathBuf>,
        /// Instead of the hooks: take the custom/llm module out of your Waybar config.
        #[arg(long, conflicts_with = "settings")]
        waybar: bool,
        /// The Waybar config to change (default: the first in Waybar's search order).
        #[arg(long, value_name = "PATH", requires = "waybar")]
        waybar_config: Option<PathBuf>,
    },
    /// Check the installation: one line per check, with the fix (exit 0 only
    /// if nothing failed; warnings, marked !, do not fail).
    #[command(after_help = "Example:\n  llm-bridge doctor")]
    Doctor,
    /// Speak TEXT (or stdin) with the Piper voice of [speech], through the
    /// daemon (the voice stays loaded) or, without one, right here.
    #[command(
        after_help = "Examples:\n  llm-bridge say \"the build is done\"\n  make 2>&1 | tail -1 | llm-bridge say\n  llm-bridge say -o hello.wav hello\n  llm-bridge say --stop"
    )]
    Say {
        /// Write the speech to this WAV file instead of playing it.
        #[arg(short, long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
        /// Return when the speech has played, not when it is queued.
        #[arg(long)]
        wait: bool,
        /// Another Piper voice (.onnx): loaded by this command, not the daemon.
        #[arg(long, value_name = "PATH")]
        voice: Option<PathBuf>,
        /// A speaker of a multi-speaker voice: its name or number.
        #[arg(long, value_name = "N")]
        speaker: Option<String>,
        /// Speaking rate: 2 is twice as fast (length scale 1/R).
        #[arg(long, value_name = "R", value_parser = positive)]
        rate: Option<f32>,
        /// Generator noise (0 to 2; the voice's own by default).
        #[arg(long, value_name = "X")]
        noise_scale: Option<f32>,
        /// Phoneme width noise (0 to 2; the voice's own by default).
        #[arg(long, value_name = "X")]
        noise_w: Option<f32>,
        /// Cut the speech the daemon is playing, and what waits.
        #[arg(long, conflicts_with_all = ["out", "text"])]
        stop: bool,
        /// What to say (default: read stdin).
        text: Vec<String>,
    },
    /// Piper voices: list the catalogue, install one (downloaded, checked,
    /// made the voice unless one is chosen), remove one.
    #[command(
        after_help = "Examples:\n  llm-bridge voice install en_US-joe-medium\n  llm-bridge voice list | grep en_GB\n  llm-bridge voice install --from ~/Downloads/de_DE-thorsten-medium.onnx\n  llm-bridge voice remove en_US-joe-medium"
    )]
    Voice {
        #[command(subcommand)]
        action: VoiceAction,
    },
    /// Silence spoken notifications (on), speak again (off), or switch
    /// (toggle, the default: for Waybar's on-click-right). The bar shows it.
    #[command(after_help = "Examples:\n  llm-bridge mute on --for 1h\n  llm-bridge mute off")]
    Mute {
        #[arg(value_enum, default_value = "toggle")]
        action: MuteArg,
        /// Only for this long (30m, 1h, 1h30m, 90s); then they speak again.
        #[arg(long = "for", value_name = "DURATION", value_parser = mute::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Focus the terminal window of the session that needs you (sway,
    /// Hyprland, niri; inside tmux its pane too). Exit 0 focused, 1 nothing
    /// to focus, 2 an error, 3 its window is gone or ambiguous, 4 no
    /// supported compositor.
    #[command(
        after_help = "Examples:\n  llm-bridge focus                # the session a phrase named, else the longest waiting\n  llm-bridge focus --next         # the next one, in the tooltip's order\n  llm-bridge focus --session 4f2a"
    )]
    Focus {
        /// This session (its id, or the start of it).
        #[arg(long, value_name = "ID", conflicts_with = "next")]
        session: Option<String>,
        /// The session after the one focused last, in the tooltip's order.
        #[arg(long)]
        next: bool,
    },
    /// List finished sessions.
    #[command(after_help = "Examples:\n  llm-bridge history --today\n  llm-bridge history | tail")]
    History {
        /// Only sessions started today.
        #[arg(long)]
        today: bool,
    },
    /// Hold the daemon's socket and run the daemon on it, again if it is
    /// killed (what `start` leaves running).
    #[command(hide = true)]
    Supervise {
        /// Where the daemon writes its PID once it serves.
        #[arg(long, value_name = "PATH")]
        pid_file: PathBuf,
        /// Keep a foreground daemon's socket (fd 3, its file's id DEV:INO)
        /// while that daemon (pidfd on fd 4) lives; supervise from then on
        /// if it is killed.
        #[arg(long, value_name = "DEV:INO")]
        adopt: Option<String>,
    },
    /// Apply one protocol message to the state files (the hook's fallback).
    #[command(hide = true)]
    Apply {
        /// Invoked by llm-bridge-hook: never fail, report on stderr only.
        #[arg(long)]
        from_hook: bool,
        /// The encoded message (see docs/protocol.md); read from stdin when
        /// absent, as the hook passes it (a process's arguments are readable
        /// by every user in /proc/PID/cmdline).
        message: Option<OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A command whose reader goes away (`config --default | head -1`) ends
    // quietly, as cat does, instead of panicking on a failed print. The
    // daemon and the two streaming clients keep SIGPIPE ignored: they see
    // EPIPE and clean up (unsubscribe) before they exit.
    let streams = matches!(
        cli.command,
        Command::Daemon { .. }
            | Command::Waybar { follow: true }
            | Command::Status { watch: true, .. }
    );
    if !streams {
        // SAFETY: restoring a default disposition at start-up, before any thread.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let paths = Paths::from_env();
    let code = match cli.command {
        // A daemon that cannot start (one is already running...) exits 1.
        Command::Daemon {
            pid_file,
            no_keeper,
        } => run_daemon(paths, pid_file, no_keeper).map_or_else(
            |e| {
                eprintln!("llm-bridge: {}", one_line(&e));
                1
            },
            |()| 0,
        ),
        Command::Start => report(lifecycle::start(&paths)),
        Command::Supervise { pid_file, adopt } => match adopt {
            Some(file) => llm_bridge::supervisor::parse_file_id(&file)
                .and_then(|file| llm_bridge::supervisor::adopt(&paths, &pid_file, file)),
            None => llm_bridge::supervisor::run(&paths, &pid_file),
        }
        .unwrap_or_else(|e| {
            llm_bridge_core::log::log(format_args!("supervisor: {}", one_line(&e)));
            1
        }),
        Command::Stop => report(lifecycle::stop(&paths)),
        Command::Reload => report(lifecycle::reload(&paths)),
        Command::Status {
            json: _,
            watch: true,
        } => report(status::watch(&paths)),
        Command::Status { json, watch: false } => status::status(&paths, json),
        Command::Waybar { follow: false } => {
            waybar::print_once(&paths);
            0
        }
        Command::Waybar { follow: true } => {
            if let Err(e) = waybar::follow(&paths) {
                eprintln!("llm-bridge waybar: {}", one_line(&e));
                // A failing follower must not hide the module: show the current state.
                waybar::print_once(&paths);
            }
            0
        }
        Command::Install {
            write,
            bin_dir,
            waybar: true,
            waybar_config,
            bar,
            ..
        } => report(install::waybar(
            install::WaybarOptions {
                write,
                config: waybar_config,
                bar,
            },
            bin_dir.as_deref(),
        )),
        Command::Install {
            agent,
            write,
            settings,
            bin_dir,
            replace_statusline,
            ..
        } => report(install::run(install::InstallOptions {
            agent: llm_bridge_protocol::agent::Agent::parse(&agent),
            write,
            settings,
            bin_dir,
            replace_statusline,
        })),
        Command::Config { default: true } => {
            print!("{DEFAULT_CONFIG_TOML}");
            0
        }
        Command::Config { default: false } => config_file(),
        Command::Uninstall {
            write,
            waybar: true,
            waybar_config,
            ..
        } => report(install::uninstall_waybar(&install::WaybarOptions {
            write,
            config: waybar_config,
            bar: None,
        })),
        Command::Uninstall {
            write, settings, ..
        } => report(install::uninstall(install::UninstallOptions {
            write,
            settings,
        })),
        Command::Doctor => report(doctor::doctor(&paths)),
        Command::History { today } => report(history::history(today)),
        Command::Focus { session, next } => focus::focus(
            &paths,
            match (session, next) {
                (Some(id), _) => FocusPick::Session(id),
                (None, true) => FocusPick::Next,
                (None, false) => FocusPick::Default,
            },
        ),
        Command::Mute { action, duration } => {
            let action = match action {
                MuteArg::On => MuteAction::On,
                MuteArg::Off => MuteAction::Off,
                MuteArg::Toggle => MuteAction::Toggle,
            };
            report(mute::mute(&paths, action, duration))
        }
        Command::Voice { action } => report(match action {
            VoiceAction::List => voice::list(),
            VoiceAction::Install { name, from } => voice::install(name.as_deref(), from.as_deref()),
            VoiceAction::Remove { name } => voice::remove(&name),
        }),
        Command::Say { stop: true, .. } => report(say::stop(&paths)),
        Command::Say {
            out,
            text,
            wait,
            voice,
            speaker,
            rate,
            noise_scale,
            noise_w,
            ..
        } => {
            let options = say::SayOptions {
                wait,
                voice,
                tuning: SayTuning {
                    speaker,
                    length_scale: rate.map(|r| 1.0 / r),
                    noise_scale,
                    noise_w,
                },
            };
            report(say::say(&paths, &text, out.as_deref(), &options))
        }
        Command::Apply { from_hook, message } => {
            let config = Config::load().unwrap_or_else(|e| {
                eprintln!("llm-bridge: {}; using the defaults", one_line(&e));
                Config::default()
            });
            let message = match message {
                Some(m) => Ok(m.as_bytes().to_vec()),
                None => apply::read_message(std::io::stdin().lock()),
            };
            match message.and_then(|m| apply::apply(&paths, &config, &m)) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("llm-bridge apply: {}", one_line(&e));
                    // The hook's exit status is ours: never fail a hook.
                    if from_hook {
                        0
                    } else {
                        2
                    }
                }
            }
        }
    };
    ExitCode::from(code as u8)
}

#[derive(Subcommand)]
enum VoiceAction {
    /// The voices of the catalogue (LLM_BRIDGE_VOICES_URL replaces its
    /// address), marking those installed.
    List,
    /// Download a voice into ~/.local/share/llm-bridge/voices (resumable,
    /// md5 checked), or copy one with --from.
    Install {
        /// The voice, as `voice list` names it.
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        name: Option<String>,
        /// A local Piper voice (.onnx, its .onnx.json beside it).
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
    },
    /// Remove an installed voice (and the voice.onnx link if it is to it).
    Remove { name: String },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum MuteArg {
    On,
    Off,
    Toggle,
}

/// Prints an error as one line; errors exit 2 unless the command chose a code.
fn report(result: Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("llm-bridge: {}", one_line(&e));
        2
    })
}

fn run_daemon(paths: Paths, pid_file: Option<PathBuf>, no_keeper: bool) -> Result<()> {
    let config = Config::load()?;
    // Under systemd (a service without its socket unit) systemd restarts
    // the daemon and ends whatever else runs in the unit: no keeper.
    let keeper = (!no_keeper && std::env::var_os("INVOCATION_ID").is_none())
        .then(|| pid_file.clone().unwrap_or_else(|| paths.pid_file.clone()));
    let mut daemon = Daemon::start(paths, config, Options { pid_file, keeper })?;
    eprintln!(
        "llm-bridge: daemon listening on {}",
        daemon.socket_path().display()
    );
    daemon.run()
}

/// Plain `llm-bridge config`: where the file is, whether it exists, and
/// whether it is valid (exit 2 if not).
fn config_file() -> i32 {
    let Some(path) = Config::path() else {
        println!(
            "config: no path (neither XDG_CONFIG_HOME nor HOME is set; or set LLM_BRIDGE_CONFIG)"
        );
        return 0;
    };
    if !path.exists() && std::fs::symlink_metadata(&path).is_err() {
        println!(
            "config: {} (does not exist: the defaults apply; `llm-bridge config --default` prints them)",
            path.display()
        );
        return 0;
    }
    match Config::load() {
        Ok(_) => {
            println!("config: {} (exists, valid)", path.display());
            0
        }
        Err(e) => {
            println!("config: {} (exists)", path.display());
            eprintln!("llm-bridge: {}", one_line(&e));
            2
        }
    }
}

/// A rate: a positive number.
fn positive(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}
