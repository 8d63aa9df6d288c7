#!/usr/bin/env bash
# End-to-end on real parts: headless sway, a real Waybar with the README's
# custom/llm module (plain words instead of icons, so OCR can read them), the
# release llm-bridge daemon, and the real hook replaying the Claude Code
# samples, all as an unprivileged user sharing one XDG_RUNTIME_DIR.
#
# Checks, in signal mode (the daemon started before Waybar, events flowing
# while Waybar starts): Waybar survives, re-runs the module after the last
# flush, and shows the daemon's final state on screen (grim + tesseract).
# Then the same in continuous mode (`llm-bridge waybar --follow`), and a
# session of each agent beside Claude Code's on the bar. Then
# `llm-bridge focus` (Waybar's on-click): three real foot windows, each running
# agent.py, a process that reports as a Claude Code session through the real
# hook; the one waiting is focused (sway's focused node, read back with
# swaymsg), `--next` goes on in the tooltip's order, and a session inside tmux
# gets its pane and window selected. The focus command runs without SWAYSOCK,
# as from a Waybar started by systemd: it finds sway's socket itself.
#
# With --measure it also times event -> Waybar exec start (the hook's start
# to the moment Waybar's re-run of `llm-bridge waybar` prints), 40 events.
# Every run times `llm-bridge focus` from its process start to sway's focus
# change, 40 clicks.
#
# Usage (as root): tests/e2e/waybar.sh [--measure] [BIN_DIR]   (default: target/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MEASURE=
if [[ ${1:-} == --measure ]]; then
    MEASURE=1
    shift
fi
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
E2E_NAME=waybar
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
trap e2e_cleanup EXIT
e2e_setup bar foot:foot tmux:tmux python3:python3
cp "$ROOT/tests/e2e/agent.py" "$D/bin/"
chown "$E2E_USER:" "$D/bin/agent.py"

start_sway

# --- signal mode: the daemon first, then Waybar while events flow -------------
start_bg daemon "${RUN[@]}" llm-bridge daemon
DAEMON_PID=$BG_PID
wait_for "the daemon's socket" 10 test -S "$XDG/llm-bridge.sock"
hook SessionStart
wait_for "the first flush" 5 text_is idle

write_waybar_config signal
# The daemon rescans /proc for Waybar at most every 5 s after its last scan:
# start Waybar just before that, and keep events flowing across it, so the
# first signal can race Waybar's start-up (the SigCgt check must hold it back).
sleep 4.8
start_waybar waybar
for i in $(seq 1 60); do
    if ((i % 2)); then hook UserPromptSubmit; else hook Stop; fi
done
wait_for "Waybar's process" 10 waybar_running
WAYBAR=$(waybar_pid)

# Replay every sample in the order the samples' README gives, then leave a
# visible state.
for s in SessionStart UserPromptSubmit PreToolUse-Bash PermissionRequest PostToolUse-Bash \
    PreToolUse-Edit PreToolUse-mcp PostToolUse-Write PostToolUseFailure SubagentStart SubagentStop \
    Notification-permission_prompt Notification-idle_prompt SessionStart-resume Stop StopFailure \
    PreCompact PostCompact SessionEnd SessionStart UserPromptSubmit PreToolUse-Bash; do
    hook "$s"
done
wait_for "the final state in waybar.json" 5 text_is "working: Bash"
alive "$WAYBAR" || fail "Waybar died (signalled before its handler was installed?)"
alive "$DAEMON_PID" || fail "the daemon died"
FLUSHED_AT=$(date -r "$XDG/llm-bridge/waybar.json" +%s%N)
ran_after_flush() {
    awk -v t="$FLUSHED_AT" '$1 >= t && index($0, "\"text\":\"working: Bash\"") { found = 1 } END { exit !found }' "$D/exec.log" 2>/dev/null
}
wait_for "Waybar to re-run the module after the last flush" 10 ran_after_flush
wait_for "the bar to show 'working: Bash'" 15 bar_shows "working: Bash"
RUNS=$(wc -l <"$D/exec.log")
say "signal mode: ok (Waybar pid $WAYBAR alive, $RUNS module runs, bar reads '$LAST_OCR')"

if [[ -n $MEASURE ]]; then
    # The hook runs directly (root may write to the user's socket), so the
    # figure starts at the hook's own process start, as in the harness.
    lat=()
    for i in $(seq 1 40); do
        sleep 0.06 # past the debounce window: every event is a leading edge
        if ((i % 2)); then s=Stop; else s=UserPromptSubmit; fi
        runs=$(wc -l <"$D/exec.log")
        t0=$(now_ns)
        XDG_RUNTIME_DIR=$XDG LLM_BRIDGE_CONFIG=$D/none.toml "$BIN_DIR/llm-bridge-hook" <"$D/samples/hook-$s.json"
        wait_for "Waybar's re-run" 5 bash -c "(( \$(wc -l <'$D/exec.log') > $runs ))"
        t1=$(sed -n "$((runs + 1))p" "$D/exec.log" | cut -d' ' -f1)
        lat+=($(((t1 - t0) / 1000)))
    done
    sorted=($(printf '%s\n' "${lat[@]}" | sort -n))
    n=${#sorted[@]}
    us_ms() { printf '%d.%03d ms' $(($1 / 1000)) $(($1 % 1000)); }
    say "measure: event -> real Waybar exec start ($n events): p50 $(us_ms "${sorted[$((n / 2))]}") · p99 $(us_ms "${sorted[$((n * 99 / 100))]}") · max $(us_ms "${sorted[$((n - 1))]}")"
fi

# --- a Waybar restart: a change right after its start reaches it ---------------
# The new Waybar's first exec names it to the daemon (no /proc rescan needed),
# and a signal it cannot take yet (no handler) is retried until it can.
kill "$WAYBAR"
wait_for "Waybar to exit" 10 bash -c "! kill -0 $WAYBAR 2>/dev/null"
: >"$D/exec.log"
start_waybar waybar-restarted
until waybar_running; do sleep 0.005; done
STARTED=$(now_ns)
hook PermissionRequest
CHANGED=$(now_ns)
say "restart: state changed $(((CHANGED - STARTED) / 1000000)) ms after the new Waybar appeared"
(((CHANGED - STARTED) < 100000000)) || fail "the change came too late to test the restart race"
wait_for "waiting in waybar.json" 5 text_is waiting
wait_for "the restarted bar to show 'waiting'" 15 bar_shows "waiting"
WAYBAR=$(waybar_pid)
alive "$WAYBAR" || fail "the restarted Waybar died"
say "restart: ok (bar reads '$LAST_OCR')"

# --- continuous mode: llm-bridge waybar --follow ---------------------------------
kill "$WAYBAR"
wait_for "Waybar to exit" 10 bash -c "! kill -0 $WAYBAR 2>/dev/null"
write_waybar_config follow
: >"$D/exec.log"
start_waybar waybar2
wait_for "Waybar's process" 10 waybar_running
wait_for "the follower's first line" 10 test -s "$D/exec.log"
hook PermissionRequest
wait_for "waiting in waybar.json" 5 text_is waiting
wait_for "the bar to show 'waiting'" 15 bar_shows "waiting"
# A daemon restart: the follower re-subscribes by itself.
kill "$DAEMON_PID"
wait_for "the daemon to exit" 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null"
start_bg daemon2 "${RUN[@]}" llm-bridge daemon
DAEMON_PID=$BG_PID
wait_for "the new daemon's socket" 10 test -S "$XDG/llm-bridge.sock"
hook Stop
wait_for "idle in waybar.json" 5 text_is idle
wait_for "the bar to show 'idle'" 15 bar_shows "idle"
alive "$(waybar_pid)" || fail "Waybar died in continuous mode"
say "continuous mode: ok (bar reads '$LAST_OCR' after a daemon restart)"

# --- every agent on one bar --------------------------------------------------------
# Claude Code's session and one session of each other agent (the agents'
# samples through the real hook, as each client runs it): one aggregate on
# the bar, one tooltip line per session naming its agent.
agent_hook() {
    "${RUN[@]}" llm-bridge-hook "$1" "$2" <"$D/samples/agents/$1-$2.json" || fail "hook $1 $2 exited non-zero"
}
hook UserPromptSubmit
agent_hook gemini BeforeAgent
agent_hook codex UserPromptSubmit
agent_hook qwen UserPromptSubmit
agent_hook codex PermissionRequest
wait_for "four agents in waybar.json" 5 text_is "waiting 1 · 3 working"
for agent in claude gemini codex qwen; do
    tooltip_has " · $agent" || fail "the tooltip has no line for $agent: $(tooltip)"
done
wait_for "the bar to show the four agents' aggregate" 15 bar_shows "waiting 1"
say "four agents: '$(module_text)' on the bar (reads '$LAST_OCR'), tooltip: $(tooltip)"
agent_hook gemini SessionEnd
agent_hook codex SessionEnd
sed 's/"hook_event_name":"UserPromptSubmit"/"hook_event_name":"SessionEnd"/' "$D/samples/agents/qwen-UserPromptSubmit.json" |
    "${RUN[@]}" llm-bridge-hook qwen SessionEnd || fail "hook qwen SessionEnd exited non-zero"
wait_for "Claude Code's session alone again" 5 text_is working

# --- llm-bridge focus: the click lands in the session that needs you ----------
hook SessionEnd # only the agents' sessions below
SWAY_SOCK=$(echo "$XDG"/sway-ipc.*.sock)
swaymsg_() { "${RUN[@]}" SWAYSOCK="$SWAY_SOCK" swaymsg "$@"; }
# The title of sway's focused window.
focused_title() {
    swaymsg_ -t get_tree --raw | python3 -c '
import json, sys
stack = [json.load(sys.stdin)]
while stack:
    n = stack.pop()
    if n.get("focused"):
        print(n.get("name") or "")
    stack += n.get("nodes", []) + n.get("floating_nodes", [])'
}
focused_is() { [[ $(focused_title) == "$1" ]]; }
session_count() { "${RUN[@]}" llm-bridge status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_count"])'; }
sessions_are() { [[ $(session_count) == "$1" ]]; }
# agent_window TITLE SID PROJECT EVENT...: a foot window whose agent reports.
agent_window() {
    local title=$1 sid=$2 project=$3
    shift 3
    mkdir -p "$D/home/$project" && chown "$E2E_USER:" "$D/home/$project"
    start_bg "foot-$title" "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 foot -T "$title" \
        agent.py "$D/samples" "$sid" "$D/home/$project" "$@"
}
agent_window focus-beta s-beta beta SessionStart
agent_window focus-alpha s-alpha alpha SessionStart UserPromptSubmit PermissionRequest
TMUX_SOCK=$D/tmux-focus.sock
start_bg foot-focus-tmux "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 foot -T focus-tmux \
    tmux -S "$TMUX_SOCK" new-session -s focus agent.py "$D/samples" s-gamma "$D/home/gamma" SessionStart
wait_for "three agents' sessions" 20 sessions_are 3
tmux_() { "${RUN[@]}" tmux -S "$TMUX_SOCK" "$@"; }
# A second pane beside the agent's and a second window, both made current:
# focus must come back to the agent's pane and window.
AGENT_PANE=$(tmux_ display -p -t focus:0 '#{pane_id}')
tmux_ split-window -t focus:0
tmux_ new-window -t focus
tmux_where() { tmux_ display -p '#{window_index} #{pane_id}'; }
wait_for "the second tmux window" 5 bash -c "[[ \$(runuser -u $E2E_USER -- tmux -S '$TMUX_SOCK' display -p '#{window_index}') == 1 ]]"
[[ $(tmux_ display -p -t focus:0 '#{pane_id}') != "$AGENT_PANE" ]] || fail "the split did not take the agent's pane's place"
# The last window opened has sway's focus: put it on beta, away from alpha.
swaymsg_ '[title="^focus-beta$"] focus' >/dev/null
wait_for "beta focused" 5 focused_is focus-beta
wait_for "the waiting session in the module" 5 text_starts waiting
"${RUN[@]}" llm-bridge focus || fail "llm-bridge focus exited $?"
wait_for "the waiting session's window (alpha) focused" 5 focused_is focus-alpha
"${RUN[@]}" llm-bridge focus --next || fail "llm-bridge focus --next exited $?"
wait_for "the next in the tooltip's order (beta) focused" 5 focused_is focus-beta
"${RUN[@]}" llm-bridge focus --next || fail "llm-bridge focus --next exited $?"
wait_for "the tmux session's terminal focused" 5 focused_is focus-tmux
[[ $(tmux_where) == "0 $AGENT_PANE" ]] || fail "tmux shows '$(tmux_where)', not the agent's window 0 and pane $AGENT_PANE"
say "focus: ok (waiting alpha, then beta, then gamma's tmux window 0 and pane $AGENT_PANE selected)"

# Process start to sway's focus change, 40 clicks (under two seconds in all,
# so every run does it): the command returns once sway answered its
# RUN_COMMAND (sway has moved the focus by then), which is checked after each.
us_ms() { printf '%d.%03d ms' $(($1 / 1000)) $(($1 % 1000)); }
lat=()
for i in $(seq 1 40); do
    if ((i % 2)); then sid=s-alpha want=focus-alpha; else sid=s-beta want=focus-beta; fi
    # Timed inside the user's shell: runuser's own start is not counted.
    ns=$("${RUN[@]}" bash -c 't0=$(date +%s%N); llm-bridge focus --session "$1" >/dev/null || exit 1; echo $(($(date +%s%N) - t0))' _ "$sid") ||
        fail "focus --session $sid"
    focused_is "$want" || fail "focus --session $sid left sway's focus elsewhere"
    lat+=($((ns / 1000)))
done
sorted=($(printf '%s\n' "${lat[@]}" | sort -n))
n=${#sorted[@]}
say "focus: llm-bridge focus, process start -> sway's focus changed ($n clicks): p50 $(us_ms "${sorted[$((n / 2))]}") · p99 $(us_ms "${sorted[$((n * 99 / 100))]}") · max $(us_ms "${sorted[$((n - 1))]}")"
say "PASS"
