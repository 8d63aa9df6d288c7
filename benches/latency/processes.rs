//! Process start, spawn to exit as the parent sees it (stdin from a sample,
//! stdout to /dev/null), each command interleaved with its floor: the hook,
//! the statusline, Waybar's exec, and the fallback.

use crate::env::BenchEnv;
use crate::figures::{median, ms, pct, ratio, row};
use crate::Ctx;
use llm_bridge_hooks::statusline::input::StatusInput;
use llm_bridge_protocol::json_value::Json;
use llm_bridge_protocol::wire::Message;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The C floors, /bin/true, cat and the hook (daemon up), interleaved.
pub fn hot_path(ctx: &mut Ctx) {
    let (hook, pre_tool, runs) = (
        ctx.hook(),
        ctx.sample("hook-PreToolUse-Bash.json"),
        ctx.runs,
    );
    let floor = ctx.fixture("floor");
    let floor_send = ctx.fixture("floor_send");
    let env = &ctx.shared().env;
    let true_bin = PathBuf::from("/bin/true");
    let cat_bin = PathBuf::from("/bin/cat");
    let (mut t_floor, mut t_fsend, mut t_true, mut t_cat, mut t_hook) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        t_floor.push(env.time_run(&floor, &[], &pre_tool));
        t_fsend.push(env.time_run(&floor_send, &[], &pre_tool));
        t_true.push(env.time_run(&true_bin, &[], &pre_tool));
        t_cat.push(env.time_run(&cat_bin, &[], &pre_tool));
        t_hook.push(env.time_run(&hook, &[], &pre_tool));
    }
    let m_floor = median(&mut t_floor);
    let m_fsend = median(&mut t_fsend);
    let (m_true, m_cat, m_hook) = (median(&mut t_true), median(&mut t_cat), median(&mut t_hook));
    row(
        "floor: static C program reading stdin (`benches/fixtures/floor.c`; stdin = PreToolUse sample)",
        &format!("median {} · p99 {}", ms(m_floor), ms(pct(&mut t_floor, 99.0))),
    );
    row(
        "static C program reading stdin and sending it (`floor_send.c`: socket + sendto, as the hook)",
        &format!("median {} · {:.2}x floor", ms(m_fsend), ratio(m_fsend, m_floor)),
    );
    row(
        "`/bin/true` (same stdin)",
        &format!(
            "median {} · p99 {} · {:.2}x floor",
            ms(m_true),
            ms(pct(&mut t_true, 99.0)),
            ratio(m_true, m_floor)
        ),
    );
    row(
        "`cat` (same stdin)",
        &format!(
            "median {} · p99 {} · {:.2}x true",
            ms(m_cat),
            ms(pct(&mut t_cat, 99.0)),
            ratio(m_cat, m_true)
        ),
    );
    row(
        "`llm-bridge-hook`, daemon running",
        &format!(
            "median {} · p99 {} · **{:.2}x floor**, {:.2}x floor_send, {:.2}x true",
            ms(m_hook),
            ms(pct(&mut t_hook, 99.0)),
            ratio(m_hook, m_floor),
            ratio(m_hook, m_fsend),
            ratio(m_hook, m_true)
        ),
    );
}

/// The statusline, next to cat and the docs' bash + jq script, with the
/// sample rewritten to point into this git checkout (so the branch segment
/// reads .git/HEAD).
pub fn statusline(ctx: &mut Ctx) {
    let (root, samples, runs) = (ctx.root.clone(), ctx.samples.clone(), ctx.runs);
    let statusline = ctx.release_bin("llm-bridge-statusline");
    let floor = ctx.fixture("floor");
    let cat_bin = PathBuf::from("/bin/cat");
    // The statusline's own floor: the same files opened, the same STATUS
    // datagram sent, nothing computed in between.
    let floor_statusline = ctx.fixture("floor_statusline");
    let env = &ctx.shared().env;
    let status_input = env.dir.join("statusline.json");
    let sample = std::fs::read_to_string(samples.join("statusline.json")).unwrap();
    std::fs::write(
        &status_input,
        sample.replace("/home/user/src/waybar-llm", root.to_str().unwrap()),
    )
    .unwrap();
    let jq_script = root.join("benches/statusline-jq.sh");
    let has_jq = Command::new("jq")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let status_json = std::fs::read(&status_input).unwrap();
    let status_datagram = StatusInput::from_json(&Json::parse(&status_json).unwrap())
        .to_status(llm_bridge_protocol::agent::Agent::Claude)
        .map(|s| Message::Status(s).encode())
        .unwrap();
    let status_datagram = String::from_utf8(status_datagram).unwrap();
    let floor_sl_args = [root.to_str().unwrap(), status_datagram.as_str()];
    let (mut s_floor, mut s_cat, mut s_line, mut s_jq, mut s_fsl) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        s_floor.push(env.time_run(&floor, &[], &status_input));
        s_fsl.push(env.time_run(&floor_statusline, &floor_sl_args, &status_input));
        s_cat.push(env.time_run(&cat_bin, &[], &status_input));
        s_line.push(env.time_run(&statusline, &[], &status_input));
        if has_jq && i < runs / 10 {
            s_jq.push(env.time_run(&jq_script, &[], &status_input));
        }
    }
    let (m_sfloor, m_scat, m_line, m_fsl) = (
        median(&mut s_floor),
        median(&mut s_cat),
        median(&mut s_line),
        median(&mut s_fsl),
    );
    row(
        "floor and `cat` (stdin = statusline.json)",
        &format!("median {} · {}", ms(m_sfloor), ms(m_scat)),
    );
    row(
        "statusline floor: static C program making the statusline's system calls \
         (`floor_statusline.c`: config file, `.git` climb, HEAD, one line out, the same STATUS datagram)",
        &format!(
            "median {} · {:.2}x floor",
            ms(m_fsl),
            ratio(m_fsl, m_sfloor)
        ),
    );
    row(
        "`llm-bridge-statusline` (inside a git checkout, daemon running)",
        &format!(
            "median {} · p99 {} · **{:.2}x the statusline floor**, {:.2}x floor, {:.2}x cat",
            ms(m_line),
            ms(pct(&mut s_line, 99.0)),
            ratio(m_line, m_fsl),
            ratio(m_line, m_sfloor),
            ratio(m_line, m_scat)
        ),
    );
    if has_jq {
        let m_jq = median(&mut s_jq);
        row(
            "docs' bash + jq statusline (`benches/statusline-jq.sh`)",
            &format!(
                "median {} · {:.0}x cat · {:.0}x llm-bridge-statusline",
                ms(m_jq),
                ratio(m_jq, m_scat),
                ratio(m_jq, m_line)
            ),
        );
    } else {
        row("docs' bash + jq statusline", "skipped: jq is not installed");
    }
}

/// Waybar's exec (what Waybar forks per signal): the static
/// llm-bridge-waybar README's module runs, and `llm-bridge waybar`.
pub fn waybar_exec(ctx: &mut Ctx) {
    let waybar_exec = ctx.release_bin("llm-bridge-waybar");
    let (floor, pre_tool, runs) = (
        ctx.fixture("floor"),
        ctx.sample("hook-PreToolUse-Bash.json"),
        ctx.runs,
    );
    let bridge = ctx.bridge.clone();
    let env = &ctx.shared().env;
    let (mut w_floor, mut w_small, mut w_main) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs / 2 {
        w_floor.push(env.time_run(&floor, &[], &pre_tool));
        w_small.push(env.time_run(&waybar_exec, &[], &pre_tool));
        w_main.push(env.time_run(&bridge, &["waybar"], &pre_tool));
    }
    let (m_wfloor, m_small, m_main) = (
        median(&mut w_floor),
        median(&mut w_small),
        median(&mut w_main),
    );
    row(
        "`llm-bridge-waybar` (Waybar's exec, README's module)",
        &format!(
            "median {} · p99 {} · **{:.2}x floor**",
            ms(m_small),
            ms(pct(&mut w_small, 99.0)),
            ratio(m_small, m_wfloor)
        ),
    );
    row(
        "`llm-bridge waybar` (the same from the daemon's binary)",
        &format!(
            "median {} · {:.2}x floor · {:.2}x llm-bridge-waybar",
            ms(m_main),
            ratio(m_main, m_wfloor),
            ratio(m_main, m_small)
        ),
    );
}

/// The fallback: no daemon, the hook execs `llm-bridge-apply`.
pub fn fallback(ctx: &mut Ctx) {
    let (hook, pre_tool, runs) = (
        ctx.hook(),
        ctx.sample("hook-PreToolUse-Bash.json"),
        ctx.runs,
    );
    let (submit, stop) = (
        ctx.sample("hook-UserPromptSubmit.json"),
        ctx.sample("hook-Stop.json"),
    );
    let true_bin = PathBuf::from("/bin/true");
    let fallback_env = BenchEnv::new();
    let _waybar2 = fallback_env.recorder();
    let mut t_fb = Vec::new();
    let mut t_true2 = Vec::new();
    for i in 0..runs / 4 {
        t_true2.push(fallback_env.time_run(&true_bin, &[], &pre_tool));
        let sample = if i % 2 == 0 { &submit } else { &stop };
        t_fb.push(fallback_env.time_run(&hook, &[], sample));
    }
    let m_fb = median(&mut t_fb);
    row(
        "fallback: hook → `llm-bridge-apply` (no daemon; state.json, waybar.json, signal)",
        &format!(
            "median {} · p99 {} · {:.1}x true",
            ms(m_fb),
            ms(pct(&mut t_fb, 99.0)),
            ratio(m_fb, median(&mut t_true2))
        ),
    );
}

/// The hook per agent (issue 23): each agent's tool-start event through
/// `llm-bridge-hook AGENT EVENT`, against `floor_send.c` fed the same
/// payload, interleaved, the daemon running.
pub fn agents(ctx: &mut Ctx) {
    let (hook, runs) = (ctx.hook(), ctx.runs);
    let floor_send = ctx.fixture("floor_send");
    let cases = [
        (
            "Claude Code",
            Vec::<&str>::new(),
            ctx.sample("hook-PreToolUse-Bash.json"),
        ),
        (
            "Gemini CLI",
            vec!["gemini", "BeforeTool"],
            ctx.sample("agents/gemini-BeforeTool.json"),
        ),
        (
            "Codex CLI",
            vec!["codex", "PreToolUse"],
            ctx.sample("agents/codex-PreToolUse.json"),
        ),
        (
            "Qwen Code",
            vec!["qwen", "PreToolUse"],
            ctx.sample("agents/qwen-PreToolUse.json"),
        ),
    ];
    let env = &ctx.shared().env;
    let mut times: Vec<(Vec<_>, Vec<_>)> = cases.iter().map(|_| (Vec::new(), Vec::new())).collect();
    for _ in 0..runs {
        for ((_, args, sample), (t_floor, t_hook)) in cases.iter().zip(&mut times) {
            t_floor.push(env.time_run(&floor_send, &[], sample));
            t_hook.push(env.time_run(&hook, args, sample));
        }
    }
    for ((agent, args, _), (t_floor, t_hook)) in cases.iter().zip(&mut times) {
        let (m_floor, m_hook) = (median(t_floor), median(t_hook));
        row(
            &format!(
                "`{}` ({agent}'s tool start), daemon running",
                std::iter::once("llm-bridge-hook")
                    .chain(args.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            &format!(
                "median {} · p99 {} · **{:.2}x floor_send** (same payload: median {})",
                ms(m_hook),
                ms(pct(t_hook, 99.0)),
                ratio(m_hook, m_floor),
                ms(m_floor)
            ),
        );
    }
}
