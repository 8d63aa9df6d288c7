//! `llm-bridge-waybar`: what Waybar's `custom/llm` module runs on every
//! signal. Prints the current module (one line) and exits 0, always. Linked
//! statically, `#![no_main]` ([`llm_bridge_hooks::entry`]) and free of the
//! daemon's parts, so it costs about what a static C program costs
//! (BENCHMARKS.md).

#![no_main]

use llm_bridge_core::paths::Paths;
use llm_bridge_core::waybar_exec::print_once;

llm_bridge_hooks::hot_main!(run, on_panic);

/// A panic must not become a non-zero exit (Waybar would hide the module).
fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    eprintln!(
        "llm-bridge-waybar: internal error: {}",
        llm_bridge_hooks::entry::panic_line(info)
    );
}

fn run() {
    print_once(&Paths::from_env());
}
