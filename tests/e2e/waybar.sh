#!/usr/bin/env bash
# End-to-end on real parts: headless sway, a real Waybar with the README's
# custom/llm module (plain words instead of icons, so OCR can read them), the
# release llm-bridge daemon, and the real hook replaying the Claude Code
# samples, all as an unprivileged user sharing one XDG_RUNTIME_DIR.
#
# Checks, in signal mode (the daemon started before Waybar, events flowing
# while Waybar starts): Waybar survives, re-runs the module after the last
# flush, and shows the daemon's final state on screen (grim + tesseract).
# Then the same in continuous mode (`llm-bridge waybar --follow`).
#
# Usage (as root): tests/e2e/waybar.sh [BIN_DIR]   (default: target/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
USER_NAME=lbe2e
STARTED_PIDS=()

say() { printf 'e2e waybar: %s\n' "$*"; }
fail() {
    say "FAIL: $*"
    local log
    for log in "${D:-/nonexistent}"/*.out; do
        [[ -f $log ]] && { say "--- ${log##*/}"; tail -n 15 "$log"; }
    done
    exit 1
}
now_ns() { date +%s%N; }

# Polls a command until it succeeds or SECONDS_LEFT run out.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$(($(now_ns) + seconds * 1000000000))
    until "$@"; do
        (($(now_ns) < deadline)) || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.02
    done
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ -n ${KEEP_BAR_PNG:-} && -f ${D:-}/bar.png ]] && cp "$D/bar.png" "$KEEP_BAR_PNG"
    [[ -n ${D:-} ]] && rm -rf "$D"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || fail "run as root: it creates a user and installs packages"
for bin in llm-bridge llm-bridge-hook; do
    [[ -x $BIN_DIR/$bin ]] || fail "$BIN_DIR/$bin is missing: run scripts/build-release first"
done

need=()
for cmd in waybar:waybar sway:sway grim:grim tesseract:tesseract-ocr; do
    command -v "${cmd%%:*}" >/dev/null || need+=("${cmd#*:}")
done
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
[[ -d /usr/share/tesseract-ocr ]] && ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || need+=(tesseract-ocr-eng)
if ((${#need[@]})); then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
id "$USER_NAME" >/dev/null 2>&1 || useradd -m "$USER_NAME"

# Everything the user needs lives in its own directory: root's 0700
# directories are closed to it.
D=$(mktemp -d /tmp/lbe2e.XXXXXX)
chmod 755 "$D"
mkdir -p "$D/bin" "$D/samples" "$D/xdg" "$D/home"
cp "$BIN_DIR/llm-bridge" "$BIN_DIR/llm-bridge-hook" "$D/bin/"
cp "$ROOT"/tests/samples/hook-*.json "$D/samples/"
chmod 700 "$D/xdg"
chown -R "$USER_NAME:" "$D"
XDG=$D/xdg
RUN=(runuser -u "$USER_NAME" -- env -i HOME="$D/home" XDG_RUNTIME_DIR="$XDG" PATH="$D/bin:/usr/bin:/bin"
    LLM_BRIDGE_CONFIG="$D/none.toml")

cat >"$D/sway.conf" <<'EOF'
output HEADLESS-1 resolution 800x200
bar swaybar_command true
EOF
cat >"$D/style.css" <<'EOF'
* { font-family: "DejaVu Sans Mono", monospace; font-size: 24px; }
window#waybar { background: #ffffff; color: #000000; }
#custom-llm { padding: 0 8px; color: #000000; }
EOF
# The README's module, with plain words (text is already a word) and no icons.
write_waybar_config() {
    local mode=$1
    if [[ $mode == signal ]]; then
        cat >"$D/config.json" <<EOF
{"layer": "top", "height": 40, "modules-left": ["custom/llm"],
 "custom/llm": {"exec": "llm-bridge waybar", "return-type": "json", "interval": "once", "signal": 8,
                "format": "{}", "tooltip": true}}
EOF
    else
        cat >"$D/config.json" <<EOF
{"layer": "top", "height": 40, "modules-left": ["custom/llm"],
 "custom/llm": {"exec": "llm-bridge waybar --follow", "return-type": "json", "format": "{}", "tooltip": true}}
EOF
    fi
    chown "$USER_NAME:" "$D/config.json"
}

hook() { "${RUN[@]}" llm-bridge-hook <"$D/samples/hook-$1.json" || fail "hook $1 exited non-zero"; }
module_text() { sed -n 's/^{"text":"\([^"]*\)".*/\1/p' "$XDG/llm-bridge/waybar.json" 2>/dev/null; }
text_is() { [[ $(module_text) == "$1" ]]; }
alive() { kill -0 "$1" 2>/dev/null; }

start_bg() { # start_bg LOG CMD...: records the PID in BG_PID and STARTED_PIDS
    local log=$1
    shift
    "$@" >"$log.out" 2>&1 &
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
}

# Screenshot the bar and OCR it; succeeds when the text starts with $1.
bar_shows() {
    "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 grim -g "0,0 800x40" "$D/bar.png" 2>/dev/null || return 1
    local seen
    seen=$(tesseract "$D/bar.png" - 2>/dev/null | tr -s ' \n' ' ' | sed 's/^ *//')
    LAST_OCR=$seen
    [[ $seen == "$1"* ]]
}

# The waybar process (its comm is exactly "waybar"), child of the runuser we started.
waybar_pid() { pgrep -u "$USER_NAME" -x waybar | head -n 1; }
waybar_running() { [[ -n $(waybar_pid) ]]; }

# --- sway -------------------------------------------------------------------
start_bg "$D/sway" "${RUN[@]}" WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman \
    sway -c "$D/sway.conf"
wait_for "sway's wayland socket" 20 test -S "$XDG/wayland-1"

# --- signal mode: the daemon first, then Waybar while events flow -------------
start_bg "$D/daemon" "${RUN[@]}" llm-bridge daemon
DAEMON_PID=$BG_PID
wait_for "the daemon's socket" 10 test -S "$XDG/llm-bridge.sock"
hook SessionStart
wait_for "the first flush" 5 text_is idle

write_waybar_config signal
# The daemon rescans /proc for Waybar at most every 5 s after its last scan:
# start Waybar just before that, and keep events flowing across it, so the
# first signal can race Waybar's start-up (the SigCgt check must hold it back).
sleep 4.8
start_bg "$D/waybar" "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 LLM_BRIDGE_EXEC_LOG="$D/exec.log" \
    waybar -c "$D/config.json" -s "$D/style.css"
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

# --- continuous mode: llm-bridge waybar --follow ---------------------------------
kill "$WAYBAR"
wait_for "Waybar to exit" 10 bash -c "! kill -0 $WAYBAR 2>/dev/null"
write_waybar_config follow
: >"$D/exec.log"
start_bg "$D/waybar2" "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 LLM_BRIDGE_EXEC_LOG="$D/exec.log" \
    waybar -c "$D/config.json" -s "$D/style.css"
wait_for "Waybar's process" 10 waybar_running
wait_for "the follower's first line" 10 test -s "$D/exec.log"
hook PermissionRequest
wait_for "waiting in waybar.json" 5 text_is waiting
wait_for "the bar to show 'waiting'" 15 bar_shows "waiting"
# A daemon restart: the follower re-subscribes by itself.
kill "$DAEMON_PID"
wait_for "the daemon to exit" 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null"
start_bg "$D/daemon2" "${RUN[@]}" llm-bridge daemon
DAEMON_PID=$BG_PID
wait_for "the new daemon's socket" 10 test -S "$XDG/llm-bridge.sock"
hook Stop
wait_for "idle in waybar.json" 5 text_is idle
wait_for "the bar to show 'idle'" 15 bar_shows "idle"
alive "$(waybar_pid)" || fail "Waybar died in continuous mode"
say "continuous mode: ok (bar reads '$LAST_OCR' after a daemon restart)"
say "PASS"
