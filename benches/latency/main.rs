//! Whole-system latency harness: `cargo bench --bench latency [-- NAME...]`.
//!
//! Measures, in one run on this machine, what BENCHMARKS.md reports: hook
//! process time next to `/bin/true` and `cat` (interleaved, same stdin), the
//! fallback path, `llm-bridge waybar`, isolated event → signal latency, a
//! burst of parallel senders (loss, final state, signals), daemon RSS and
//! idle wakeups, and next to each hot-path process and to the daemon's own
//! share of an event a static C fixture making the same system calls
//! (`benches/fixtures/`). Prints a markdown table.
//!
//! Each measurement is a named scenario in [`SCENARIOS`]; the names given on
//! the command line run just those (`-- hot-path daemon-floor`), none runs
//! them all in the table's order, `-- --list` prints them. `-- --quick` runs
//! fewer rounds; `-- --notifications` is the `notifications` scenario;
//! `-- --real-waybar` (as root) adds event → real Waybar exec start, measured
//! by tests/e2e/waybar.sh on headless sway. Uses the release daemon and the
//! static release hot-path binaries (built by `scripts/build-release
//! --static-only`, once, by the first scenario that needs them).
//!
//! The bench re-executes itself as the Waybar stand-in: with
//! `LLM_BRIDGE_BENCH_ROLE=waybar` it names itself `waybar` and appends the
//! arrival time of each SIGRTMIN+8 to a file.

mod daemon;
mod env;
mod events;
mod figures;
mod load;
mod paced;
mod processes;
mod procfs;
mod speech;

use env::{BenchEnv, Daemon, Recorder};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A measurement: its name on the command line, what it measures (for
/// `--list`), the function that prints its rows, and whether a run that
/// names no scenario includes it.
struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&mut Ctx),
    by_default: bool,
}

/// Every scenario, in the order a full run takes them. The first ones share
/// one daemon (see [`Ctx::shared`]), so their order is part of what they
/// measure: `daemon-idle` reports the memory left after those before it.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "hot-path",
        about: "process start: the C floors, /bin/true, cat, llm-bridge-hook",
        run: processes::hot_path,
        by_default: true,
    },
    Scenario {
        name: "statusline",
        about: "llm-bridge-statusline next to its C floor, cat and the docs' jq script",
        run: processes::statusline,
        by_default: true,
    },
    Scenario {
        name: "isolated",
        about: "event → signal, isolated: hook start to signal arrival",
        run: events::isolated,
        by_default: true,
    },
    Scenario {
        name: "bursts",
        about: "event → signal in bursts of 10: the leading flush and the trailing one",
        run: events::bursts,
        by_default: true,
    },
    Scenario {
        name: "waybar-exec",
        about: "Waybar's exec: llm-bridge-waybar and `llm-bridge waybar`",
        run: processes::waybar_exec,
        by_default: true,
    },
    Scenario {
        name: "senders",
        about: "8 parallel senders × 1000 events: loss, final state, signals",
        run: events::senders,
        by_default: true,
    },
    Scenario {
        name: "parallel-hooks",
        about: "8 parallel hook processes: loss, final state, signals",
        run: events::parallel_hooks,
        by_default: true,
    },
    Scenario {
        name: "raw-datagrams",
        about: "raw datagram throughput into the daemon and its CPU per event",
        run: events::raw_datagrams,
        by_default: true,
    },
    Scenario {
        name: "daemon-idle",
        about: "the shared daemon's memory after the above, and its idle wakeups",
        run: events::daemon_idle,
        by_default: true,
    },
    Scenario {
        name: "sessions",
        about: "an event's cost at 1, 10, 100 and 1000 sessions",
        run: daemon::sessions,
        by_default: true,
    },
    Scenario {
        name: "agents",
        about: "the hook of each agent (Claude, Gemini, Codex, Qwen) against floor_send.c",
        run: processes::agents,
        by_default: true,
    },
    Scenario {
        name: "load",
        about: "64 clients × 1000 hook runs, a kill -9 and a 2 s SIGSTOP: nothing lost",
        run: load::load,
        by_default: false,
    },
    Scenario {
        name: "daemon-floor",
        about: "the daemon's part of an event against floor_daemon.c, interleaved",
        run: daemon::floor,
        by_default: true,
    },
    Scenario {
        name: "watchers",
        about: "Esc, a killed client, an answered dialog → signal; idle with watched clients",
        run: daemon::watchers,
        by_default: true,
    },
    Scenario {
        name: "speech",
        about: "event → signal while speech synthesizes; voice memory; time to first audio",
        run: speech::speech,
        by_default: true,
    },
    Scenario {
        name: "notifications",
        about: "spoken notifications: hook start → first loud sample at the device",
        run: speech::notifications,
        by_default: true,
    },
    Scenario {
        name: "notifications-busy",
        about: "spoken notifications with one busy loop per core at normal priority",
        run: speech::notifications_busy,
        by_default: false,
    },
    Scenario {
        name: "speech-paced",
        about: "speech heard at a paced PulseAudio sink, idle and busy, beside piper-tts; memory",
        run: paced::speech_paced,
        by_default: false,
    },
    Scenario {
        name: "real-waybar",
        about: "event → a real Waybar's exec start on headless sway (as root; by name or --real-waybar)",
        run: events::real_waybar,
        by_default: false,
    },
    Scenario {
        name: "fallback",
        about: "no daemon: the hook execs llm-bridge-apply",
        run: processes::fallback,
        by_default: true,
    },
];

/// What the scenarios share: the paths of what they run, how many rounds,
/// and the objects one scenario leaves for the next.
pub struct Ctx {
    pub root: PathBuf,
    pub target: PathBuf,
    /// The release daemon's binary (`llm-bridge`).
    pub bridge: PathBuf,
    /// tests/samples/.
    pub samples: PathBuf,
    /// Process-start runs per command (100 with `--quick`).
    pub runs: usize,
    pub quick: bool,
    /// Set once `scripts/build-release --static-only` has run.
    built: OnceCell<()>,
    /// The daemon the first scenarios share, started by the first that
    /// needs it and stopped by `daemon-idle`.
    shared: Option<Running>,
    /// The speaking daemon `speech` leaves for `notifications`, so that a
    /// full run measures both on one daemon, as it always has.
    pub speaking: Option<speech::Speaking>,
}

/// A runtime directory with a daemon running in it and a stand-in Waybar.
/// Fields drop in order: the daemon first, the directory last.
pub struct Running {
    pub daemon: Daemon,
    pub waybar: Recorder,
    pub env: BenchEnv,
}

impl Ctx {
    /// A static release hot-path binary (`llm-bridge-hook`...), built on
    /// first use.
    pub fn release_bin(&self, name: &str) -> PathBuf {
        self.built.get_or_init(|| {
            let status = Command::new(self.root.join("scripts/build-release"))
                .arg("--static-only")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "scripts/build-release --static-only failed"
            );
        });
        self.target.join("release").join(name)
    }

    pub fn hook(&self) -> PathBuf {
        self.release_bin("llm-bridge-hook")
    }

    pub fn sample(&self, name: &str) -> PathBuf {
        self.samples.join(name)
    }

    /// Compiles `benches/fixtures/NAME.c` statically.
    pub fn fixture(&self, name: &str) -> PathBuf {
        env::build_fixture(&self.target, name)
    }

    /// Seconds of idleness over which wakeups are counted.
    pub fn idle_secs(&self) -> u64 {
        if self.quick {
            2
        } else {
            10
        }
    }

    /// The shared daemon, started if no scenario before this one did.
    pub fn shared(&mut self) -> &Running {
        let bridge = &self.bridge;
        self.shared.get_or_insert_with(|| {
            let env = BenchEnv::new();
            let waybar = env.recorder();
            let daemon = env.daemon(bridge);
            Running {
                daemon,
                waybar,
                env,
            }
        })
    }

    /// Stops the shared daemon; the next scenario that asks starts another.
    pub fn stop_shared(&mut self) {
        if let Some(mut shared) = self.shared.take() {
            shared.daemon.stop();
        }
    }
}

/// The command line: the scenarios to run, in the table's order.
fn selected() -> Result<Vec<&'static Scenario>, String> {
    let mut names = Vec::new();
    let mut real_waybar = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            // `cargo bench` passes `--bench`.
            "--bench" | "--quick" | "--list" => {}
            "--notifications" => names.push("notifications".to_string()),
            "--real-waybar" => real_waybar = true,
            _ => names.push(arg),
        }
    }
    if let Some(unknown) = names
        .iter()
        .find(|n| !SCENARIOS.iter().any(|s| s.name == n.as_str()))
    {
        let all: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        return Err(format!(
            "latency: no scenario named `{unknown}` (the scenarios: {})",
            all.join(", ")
        ));
    }
    Ok(SCENARIOS
        .iter()
        .filter(|s| {
            let named = names.iter().any(|n| n == s.name);
            let by_flag = real_waybar && s.name == "real-waybar";
            named || by_flag || (names.is_empty() && s.by_default)
        })
        .collect())
}

fn main() {
    if std::env::var_os(env::ROLE).is_some_and(|r| r == "waybar") {
        return env::recorder(&std::env::args().nth(1).expect("log path"));
    }
    if std::env::args().any(|a| a == "--list") {
        for s in SCENARIOS {
            println!("{:<16}{}", s.name, s.about);
        }
        return;
    }
    let scenarios = selected().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let quick = std::env::args().any(|a| a == "--quick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut ctx = Ctx {
        samples: root.join("tests/samples"),
        bridge: PathBuf::from(env!("CARGO_BIN_EXE_llm-bridge")),
        runs: if quick { 100 } else { 1000 },
        quick,
        root,
        target,
        built: OnceCell::new(),
        shared: None,
        speaking: None,
    };
    println!("llm-bridge latency harness: {}", procfs::machine());
    println!();
    println!("| measurement | result |");
    println!("|---|---|");
    for scenario in scenarios {
        (scenario.run)(&mut ctx);
    }
}
