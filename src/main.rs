//! The `llm-bridge` command: the daemon, the hook fallback and Waybar's exec.

use clap::{Parser, Subcommand};
use llm_bridge::config::Config;
use llm_bridge::daemon::Daemon;
use llm_bridge::fallback;
use llm_bridge::paths::Paths;
use llm_bridge::waybar_exec;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "llm-bridge",
    version,
    about = "Shows what your Claude Code sessions are doing in Waybar"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground.
    Daemon,
    /// Apply one protocol message to the state files (the hook's fallback).
    Apply {
        /// Invoked by llm-bridge-hook: never fail, report on stderr only.
        #[arg(long)]
        from_hook: bool,
        /// The encoded message (see docs/protocol.md).
        message: OsString,
    },
    /// Print the Waybar module JSON (Waybar's exec).
    Waybar {
        /// Keep running and print one line per change (Waybar's continuous mode).
        #[arg(long)]
        follow: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::from_env();
    match cli.command {
        Command::Daemon => {
            let result = Config::load().and_then(|config| {
                let mut daemon = Daemon::start(paths, &config)?;
                eprintln!(
                    "llm-bridge: daemon listening on {}",
                    daemon.socket_path().display()
                );
                daemon.run()
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("llm-bridge: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Apply { from_hook, message } => {
            let config = Config::load().unwrap_or_else(|e| {
                eprintln!("llm-bridge: {e}; using the defaults");
                Config::default()
            });
            match fallback::apply(&paths, &config, message.as_bytes()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("llm-bridge apply: {e}");
                    // The hook's exit status is ours: never fail a hook.
                    if from_hook {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(2)
                    }
                }
            }
        }
        Command::Waybar { follow: false } => {
            waybar_exec::print_once(&paths);
            ExitCode::SUCCESS
        }
        Command::Waybar { follow: true } => {
            if let Err(e) = waybar_exec::follow(&paths) {
                eprintln!("llm-bridge waybar: {e}");
                // A failing follower must not hide the module: show the current state.
                waybar_exec::print_once(&paths);
            }
            ExitCode::SUCCESS
        }
    }
}
