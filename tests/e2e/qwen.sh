#!/usr/bin/env bash
# End-to-end with the real Qwen Code client: the pinned client from npm, in
# a network namespace of its own whose only network is a loopback with a
# stand-in OpenAI-compatible server (tests/e2e/fake_openai.py) as its
# model, fires its real hooks, which `llm-bridge install --agent qwen
# --write` merged into the user's ~/.qwen/settings.json. The release
# daemon runs beside it; no Waybar: the daemon's module (waybar.json and a
# `waybar --follow` subscriber), `status` and the history are read back.
#
# A. One run of `qwen -p` whose model calls the shell tool once, held open
# while the tool runs: status shows one working Qwen session in
# run_shell_command (1 prompt, 1 tool use, the client's process watched);
# the subscriber saw it go idle (SessionStart) → working → working:
# run_shell_command → working → idle (Stop) → none (`qwen -p` sends no
# SessionEnd: its process exit, seen through its pidfd, ends the session);
# the history holds a qwen session with its one prompt (Qwen's empty
# UserPromptSubmit after a tool result is not counted) and tool use, ended
# "exited"; qwen exits 0 with the model's answer and nothing of
# llm-bridge's on its output.
# B. The same, and the client (its node process, the hook's parent) killed
# with -9 while the tool runs: its session gone (the time reported), ended "exited".
# C. The interactive client in tmux (--approval-mode default), with the
# ui.statusLine install wrote: its session idle (SessionStart); a prompt
# whose command Qwen asks to run: working → waiting → (allowed once)
# working → idle, the command run only once allowed; the model its status
# line sends in that session and llm-bridge's line in its footer; gone
# once its terminal closes.
#
# Usage (as root): tests/e2e/qwen.sh [BIN_DIR]   (default: target/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
QWEN_VERSION=0.24.4
QWEN_CACHE=${LLM_BRIDGE_E2E_CACHE:-/var/tmp/llm-bridge-e2e}/qwen-code-$QWEN_VERSION
E2E_NAME=qwen
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
trap e2e_cleanup EXIT
STARTED_AT=$(now_ns)
e2e_setup python3:python3 node:nodejs npm:npm ip:iproute2 tmux:tmux
need_node_and_netns "Qwen Code"

# --- the pinned client, cached between runs ------------------------------------
npm_client @qwen-code/qwen-code "$QWEN_VERSION" "$QWEN_CACHE"
QWEN=$QWEN_CACHE/node_modules/@qwen-code/qwen-code/cli-entry.js
# npm leaves the client's own ripgrep without its execute bit.
chmod a+x "$QWEN_CACHE"/node_modules/@qwen-code/qwen-code/vendor/ripgrep/*/rg 2>/dev/null || true
version=$("${RUN[@]}" node "$QWEN" --version 2>&1) || fail "qwen --version failed: $version"
[[ $version == "$QWEN_VERSION" ]] || fail "unexpected client version: $version"

# --- the user's settings, then the hooks merged in by the installer ---------------
mkdir -p "$D/home/.qwen" "$D/alpha" "$D/tmp"
cat >"$D/home/.qwen/settings.json" <<'JSON'
{
  // the user's own settings, kept by llm-bridge install
  "privacy": { "usageStatisticsEnabled": false },
  "general": { "disableAutoUpdate": true }
}
JSON
echo "the secret word is pelican" >"$D/alpha/notes.txt"
cp "$ROOT/tests/e2e/fake_openai.py" "$D/"
chown -R "$E2E_USER:" "$D"
"${RUN[@]}" llm-bridge install --agent qwen --write >"$D/install.log" 2>&1 || fail "llm-bridge install failed: $(cat "$D/install.log")"
grep -q '^Qwen Code: updated' "$D/install.log" || fail "the installer did not update Qwen's settings: $(cat "$D/install.log")"
grep -qF '// the user' "$D/home/.qwen/settings.json" || fail "the installer dropped the user's comment"
hooks_merged qwen "$D/home/.qwen/settings.json" SessionStart UserPromptSubmit PreToolUse PostToolUse Stop SessionEnd
python3 -c 'import json, re, sys; s = json.loads(re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M)); sys.exit(s["privacy"]["usageStatisticsEnabled"] is not False)' \
    "$D/home/.qwen/settings.json" || fail "the installer dropped the user's privacy key"
python3 - "$D/home/.qwen/settings.json" "$D/bin/llm-bridge-statusline" <<'PY' || fail "install did not set Qwen's ui.statusLine"
import json, re, sys
s = json.loads(re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M))
assert s["ui"]["statusLine"] == {"type": "command", "command": sys.argv[2] + " qwen"}, s.get("ui")
PY
say "install: the hooks and ui.statusLine merged into ~/.qwen/settings.json, the user's keys and comment kept"

# --- the daemon, every change its own update, and a subscriber ---------------------
start_daemon_and_subscriber

# --- A: qwen -p with one shell tool call, held open while the tool runs ----------------
mkfifo "$D/gate"
chown "$E2E_USER:" "$D/gate"
# qwen NAME: `qwen -p` in alpha, in its own network namespace (the loopback
# up, the model server on it, then the client as the user), its model
# calling the shell tool to read the FIFO first; sets QWEN_PID.
qwen() {
    start_bg "$1" env D="$D" QWEN="$QWEN" NAME="$1" unshare -n sh -c '
        ip link set lo up || exit 90
        "$@" python3 "$D/fake_openai.py" 18080 "$D/$NAME.ready" "$D/$NAME.model" "head -n 1 $D/gate && cat notes.txt" >"$D/$NAME.fake" 2>&1 &
        i=0; while [ ! -s "$D/$NAME.ready" ]; do i=$((i + 1)); [ $i -lt 500 ] || exit 91; sleep 0.02; done
        exec "$@" TMPDIR="$D/tmp" QWEN_CODE_SUPPRESS_YOLO_WARNING=1 nice -n 10 timeout 60 env -C "$D/alpha" \
            node "$QWEN" -p "what is the secret word in notes.txt?" --yolo --auth-type openai \
            --openai-base-url http://127.0.0.1:18080/v1 --openai-api-key e2e-dummy-key -m fake' \
        sh "${RUN[@]}"
    QWEN_PID=$BG_PID
}
qwen qwen
exited_ok() {
    local rc=0
    wait "$QWEN_PID" || rc=$?
    ((rc == 0)) || fail "qwen exited $rc"
    grep -q "The secret word is pelican." "$D/qwen.out" || fail "qwen did not print the model's answer"
    # (The client's own warnings name its files, under this cache's path.)
    ! grep -v "^Ripgrep not available" "$D/qwen.out" | grep -i "llm-bridge\|hook" || fail "qwen printed the lines above"
}
tool_running() {
    text_is "working: run_shell_command" && return
    alive "$QWEN_PID" || { exited_ok; fail "qwen exited before its tool ran"; }
    return 1
}
wait_for "working: run_shell_command (PreToolUse)" 60 tool_running
status=$(status_line)
[[ $status == "1 1 qwen:alpha:working:run_shell_command:1:1" ]] ||
    fail "status while the tool runs is '$status', not one working qwen session (1 prompt, 1 tool use) whose client is watched"
say "while the tool runs: '$(module_text)', tooltip '$(tooltip)', status '$status'"
timeout 10 sh -c 'echo go >"$1"' _ "$D/gate" || fail "the tool never read its FIFO"
exited_ok
wait_for "none once qwen has ended" 10 text_is none
follow_saw "idle|working|working: run_shell_command|working|idle|none" || fail "the subscriber saw $(follow_texts)"
say "the subscriber saw: $(follow_texts)"
python3 - "$HISTORY" <<'PY' || fail "the history has no qwen session with its prompt and tool use: $(tail -n 1 "$HISTORY" 2>&1)"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
# `qwen -p` fires no SessionEnd: the daemon saw its process exit. Qwen's
# second UserPromptSubmit (an empty prompt, the tool's result going back
# to the model) is not a prompt.
assert (last["agent"], last["project"], last["prompts"], last["tool_uses"], last["reason"]) == (
    "qwen", "alpha", 1, 1, "exited"), last
PY
say "history: $(tail -n 1 "$HISTORY")"
alive "$DAEMON_PID" || fail "the daemon died"

# --- B: the client killed (-9) while its tool runs ---------------------------------------
qwen killed
wait_for "B: working: run_shell_command" 60 tool_running
# The client: Qwen Code starts node twice more (cli-entry.js, then cli.js,
# then cli.js again, with more heap); the one that runs the tool is the
# hook's parent, the process the daemon watches, and the one killed.
client=$(gate_client "$(dirname "$QWEN")/cli.js -p")
[[ -n $client ]] || fail "B: no qwen node process"
kill_client qwen "$client" "$QWEN_PID"
say "B: kill -9 of qwen's node process while its tool ran -> its session gone in $GONE_MS ms"
alive "$DAEMON_PID" || fail "the daemon died"

# --- C: the interactive client: a permission asked and given, its status line ----------
# Qwen Code in a tmux pane with --approval-mode default (its own network
# namespace, the model server on its loopback, the model calling the shell
# tool to create a file): its SessionStart hook makes the session; the
# prompt works; Qwen asks before the command runs (PermissionRequest:
# waiting); allowed once, the command runs and the turn ends. The status
# line it runs (ui.statusLine, as install wrote it) prints llm-bridge's line
# in its footer and sends the model to the daemon for that session.
env D="$D" QWEN="$QWEN" unshare -n sh -c '
    ip link set lo up || exit 90
    "$@" python3 "$D/fake_openai.py" 18080 "$D/c.ready" "$D/c.model" "touch made-by-tool" >"$D/c.fake" 2>&1 &
    i=0; while [ ! -s "$D/c.ready" ]; do i=$((i + 1)); [ $i -lt 500 ] || exit 91; sleep 0.02; done
    exec "$@" TMPDIR="$D/tmp" tmux -S "$D/tmux-c.sock" new-session -d -s c -x 160 -y 40 -c "$D/alpha" \
        "node $QWEN --approval-mode default --auth-type openai --openai-base-url http://127.0.0.1:18080/v1 --openai-api-key e2e-dummy-key -m fake"' \
    sh "${RUN[@]}" || fail "C: could not start qwen in tmux"
pane() { "${RUN[@]}" tmux -S "$D/tmux-c.sock" capture-pane -p -t c 2>/dev/null; }
wait_for "C: an idle qwen session (its SessionStart)" 60 text_is idle
ask_and_allow Qwen "alpha: waiting (run_shell_command) since" # PermissionRequest's tool_name: Qwen asks before PreToolUse
session_model() {
    "${RUN[@]}" llm-bridge status --json | python3 -c '
import json, sys
print(*(x["agent"] + ":" + str(x.get("model")) for x in json.load(sys.stdin)["sessions"]))'
}
# Qwen runs its status line at start (perhaps before the SessionStart hook
# has made the session) and after each change of its own state.
model_is_fake() { [[ $(session_model) == "qwen:fake" ]]; }
wait_for "C: the qwen session's model from its status line" 30 model_is_fake
# llm-bridge's line for this session: model, project, context (Qwen shows
# it without its colours).
pane_shows_ours() { pane | grep -qF "fake alpha ctx "; }
wait_for "C: llm-bridge's status line in Qwen's footer" 30 pane_shows_ours
say "C: $(session_model); Qwen's footer: $(pane | grep -F "fake alpha" | sed 's/^ *//')"
"${RUN[@]}" tmux -S "$D/tmux-c.sock" kill-server
wait_for "C: none once its terminal closed" 5 text_is none
alive "$DAEMON_PID" || fail "the daemon died"
say "PASS in $((($(now_ns) - STARTED_AT) / 1000000)) ms"
