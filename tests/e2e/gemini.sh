#!/usr/bin/env bash
# End-to-end with the real Gemini CLI client: the pinned client from npm,
# with no network at all (a network namespace of its own) and its model
# replaced by its hidden `--fake-responses-non-strict` replay, fires its real
# hooks, which `llm-bridge install --agent gemini --write` merged into the
# user's ~/.gemini/settings.json. The release daemon runs beside it; no
# Waybar: the daemon's module (waybar.json and a `waybar --follow`
# subscriber), `status` and the history are read back.
#
# Scenarios:
#   A. `gemini -p` with one shell tool call, held open while the tool runs:
#      status shows one working session in run_shell_command (1 prompt, 1
#      tool use, the client's process watched); beside a Claude Code session
#      the tooltip names it gemini. The subscriber saw SessionStart idle ->
#      BeforeAgent working -> BeforeTool working: run_shell_command ->
#      AfterTool working -> AfterAgent idle -> SessionEnd none; the history
#      holds a gemini session ended by SessionEnd (reason "exit"); Gemini's
#      telemetry shows each hook call succeeded with nothing on stdout or
#      stderr; gemini exits 0 with the model's answer.
#   B. the same, and the client (its node process, the hook's parent) killed
#      with -9 while the tool runs: its session gone (the time reported), ended
#      "exited" (no SessionEnd).
#   C. interactive (tmux): a prompt whose command Gemini asks to run:
#      working → waiting (its ToolPermission notification, the command not
#      yet run) → allowed once: working → idle; none once its terminal closes.
#   D. the same as A with the daemon stopped: each hook answers `{}` on stdout
#      (what Gemini needs before a warning on stderr; it parses it as JSON),
#      gemini exits 0 with no message from the hook, and the fallback
#      (llm-bridge-apply) records the ended session in the history.
#
# Usage (as root): tests/e2e/gemini.sh [BIN_DIR]   (default: target/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
GEMINI_VERSION=0.61.0
GEMINI_CACHE=${LLM_BRIDGE_E2E_CACHE:-/var/tmp/llm-bridge-e2e}/gemini-cli-$GEMINI_VERSION
E2E_NAME=gemini
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
trap e2e_cleanup EXIT
STARTED_AT=$(now_ns)
e2e_setup python3:python3 node:nodejs npm:npm tmux:tmux
need_node_and_netns "Gemini CLI"

# --- the pinned client, cached between runs ------------------------------------
npm_client @google/gemini-cli "$GEMINI_VERSION" "$GEMINI_CACHE"
GEMINI=$GEMINI_CACHE/node_modules/@google/gemini-cli/bundle/gemini.js
version=$("${RUN[@]}" node "$GEMINI" --version 2>&1) || fail "gemini --version failed: $version"
[[ $version == "$GEMINI_VERSION" ]] || fail "unexpected client version: $version"

# --- the user's settings, then the hooks merged in by the installer ---------------
# The user's own keys (API-key auth, no usage statistics or update checks)
# and a comment: the installer must keep all of them.
mkdir -p "$D/home/.gemini" "$D/alpha" "$D/tmp"
cat >"$D/home/.gemini/settings.json" <<'EOF'
{
  // the user's own settings, kept by llm-bridge install
  "security": { "auth": { "selectedType": "gemini-api-key" } },
  "privacy": { "usageStatisticsEnabled": false },
  "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false }
}
EOF
echo "the secret word is pelican" >"$D/alpha/notes.txt"
chown -R "$E2E_USER:" "$D"
"${RUN[@]}" llm-bridge install --agent gemini --write >"$D/install.log" 2>&1 || fail "llm-bridge install failed: $(cat "$D/install.log")"
grep -q '^Gemini CLI: updated' "$D/install.log" || fail "the installer did not update Gemini's settings: $(cat "$D/install.log")"
grep -qF '// the user' "$D/home/.gemini/settings.json" || fail "the installer dropped the user's comment"
hooks_merged gemini "$D/home/.gemini/settings.json" SessionStart BeforeAgent BeforeTool AfterTool Notification \
    AfterAgent PreCompress SessionEnd
python3 - "$D/home/.gemini/settings.json" <<'EOF' || fail "the installer dropped the user's keys (above)"
import json, re, sys
s = json.loads(re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M))
assert s["security"]["auth"]["selectedType"] == "gemini-api-key", "the auth key is gone"
assert s["privacy"]["usageStatisticsEnabled"] is False, "the privacy key is gone"
EOF
say "install: the hooks merged into ~/.gemini/settings.json, the user's keys and comment kept"

# --- helpers --------------------------------------------------------------------
# gemini NAME RESPONSES PROMPT: starts `gemini -p` in alpha with no network
# (unshare -n: not even a loopback that is up), its telemetry (each hook
# call with its stdin, stdout and stderr) in $D/NAME.telemetry; sets
# GEMINI_PID.
gemini() {
    : >"$D/$1.telemetry"
    chown "$E2E_USER:" "$D/$1.telemetry"
    start_bg "$1" unshare -n "${RUN[@]}" TMPDIR="$D/tmp" GEMINI_API_KEY=e2e-dummy-key GEMINI_CLI_TRUST_WORKSPACE=true \
        GEMINI_TELEMETRY_ENABLED=true GEMINI_TELEMETRY_TARGET=local GEMINI_TELEMETRY_OUTFILE="$D/$1.telemetry" \
        GEMINI_TELEMETRY_LOG_PROMPTS=true \
        nice -n 10 timeout 40 env -C "$D/alpha" node "$GEMINI" -p "$3" --yolo --fake-responses-non-strict "$2"
    GEMINI_PID=$BG_PID
}
# exited_ok NAME: waits for that client (bounded by its timeout); exit 0,
# the model's answer printed, nothing of llm-bridge's shown.
exited_ok() {
    local rc=0
    wait "$GEMINI_PID" || rc=$?
    ((rc == 0)) || fail "$1: gemini exited $rc"
    grep -q "The secret word is pelican." "$D/$1.out" || fail "$1: gemini did not print the model's answer"
    ! grep -i "llm-bridge\|hook" "$D/$1.out" || fail "$1: gemini printed the lines above"
}
# The model: the routing classifier's answer (a generateContent call before
# the first turn), then streamed turns, in order.
responses() {
    echo '{"method":"generateContent","response":{"candidates":[{"content":{"role":"model","parts":[{"text":"{\"complexity_reasoning\":\"simple\",\"complexity_score\":10}"}]},"finishReason":"STOP","index":0}]}}'
    local parts
    for parts in "$@"; do
        printf '{"method":"generateContentStream","response":[{"candidates":[{"content":{"role":"model","parts":%s},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}]}\n' "$parts"
    done
}
ANSWER='[{"text":"The secret word is pelican."}]'
# calls NAME PYTHON_EXPR: PYTHON_EXPR holds for `calls`, the hook calls in
# Gemini's telemetry (a sequence of JSON records) in order, each a dict:
# event, success, exit_code, stdout, stderr, output (what Gemini parsed of
# the hook's output), input (the hook's stdin). Prints the events.
calls() {
    python3 -c '
import json, sys
text, dec, i, calls = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    record, i = dec.raw_decode(text, i)
    a = record.get("attributes", {})
    if a.get("event.name") == "gemini_cli.hook_call":
        calls.append({"event": a["hook_event_name"], "success": a["success"], "exit_code": a["exit_code"],
                      "stdout": a.get("stdout"), "stderr": a.get("stderr"),
                      "output": json.loads(a.get("hook_output") or "null"), "input": json.loads(a["hook_input"])})
print(" ".join(c["event"] for c in calls))
sys.exit(not eval(sys.argv[2]))' "$D/$1.telemetry" "$2"
}
# session_id NAME: the session's id, from its first hook call.
session_id() { calls "$1" 'print(calls[0]["input"]["session_id"]) or True' | tail -n 1; }

# --- the daemon, every change its own update, and a subscriber ---------------------
# (The default debounce may fold AfterAgent's idle into SessionEnd's none,
# which `gemini -p` sends ~25 ms apart: the daemon here takes 1 ms.)
start_daemon_and_subscriber

# --- A: gemini -p with one shell tool call --------------------------------------------
# The tool reads a line from a FIFO: it runs until the test writes one.
mkfifo "$D/gate"
chown "$E2E_USER:" "$D/gate"
responses '[{"functionCall":{"name":"run_shell_command","args":{"command":"head -n 1 '"$D"'/gate && cat notes.txt"}}}]' \
    "$ANSWER" >"$D/a.responses"
gemini a "$D/a.responses" "what is the secret word in notes.txt?"
# tool_running: the module shows the tool; fails the run if the client exited.
tool_running() {
    text_is "working: run_shell_command" && return
    alive "$GEMINI_PID" || { exited_ok a; fail "A: gemini exited before its tool ran"; }
    return 1
}
wait_for "A: working: run_shell_command (BeforeTool)" 30 tool_running
status=$(status_line)
[[ $status == "1 1 gemini:alpha:working:run_shell_command:1:1" ]] ||
    fail "A: status while the tool runs is '$status', not one working session (1 prompt, 1 tool use) whose client is watched"
# Beside a Claude Code session (its recorded hook), each line names its agent.
hook SessionStart
wait_for "A: a Claude Code session beside it" 10 tooltip_has "waybar-llm: idle"
[[ $(tooltip) =~ alpha:\ working\ \(run_shell_command\)\ since\ [0-9:]+\ ·\ gemini ]] ||
    fail "A: the tooltip does not name Gemini: $(tooltip)"
say "A: while the tool runs: '$(module_text)', tooltip '$(tooltip)'"
hook SessionEnd
wait_for "A: alpha alone again" 10 text_is "working: run_shell_command"
timeout 10 sh -c 'echo go >"$1"' _ "$D/gate" || fail "A: the tool never read its FIFO"
exited_ok a
wait_for "A: none after SessionEnd" 10 text_is none
follow_saw "idle|working|working: run_shell_command|working|idle|none" ||
    fail "A: the subscriber saw $(follow_texts)"
say "A: SessionStart idle -> BeforeAgent working -> BeforeTool working: run_shell_command -> AfterTool working -> AfterAgent idle -> SessionEnd none"
events=$(calls a 'all(c["success"] and c["exit_code"] == 0 and c["stdout"] == "" and c["stderr"] == "" for c in calls)') ||
    fail "A: a hook call failed or printed something: $(calls a 'print(calls) or True')"
[[ $events == "SessionStart BeforeAgent PreCompress BeforeTool AfterTool PreCompress AfterAgent SessionEnd" ]] ||
    fail "A: Gemini's hook calls were: $events"
calls a '[(c["input"]["tool_name"], "pelican" in c["input"]["tool_response"]["returnDisplay"])
    for c in calls if c["event"] == "AfterTool"] == [("run_shell_command", True)]' >/dev/null ||
    fail "A: AfterTool's payload lacks the tool's output"
sid=$(session_id a)
history_has "$sid" '{"agent": "gemini", "project": "alpha", "prompts": 1, "tool_uses": 1, "reason": "exit"}' ||
    fail "A: the history has no gemini session $sid ended by SessionEnd: $(tail -n 1 "$HISTORY" 2>&1)"
say "A: Gemini's hook calls: $events, each exit 0 with empty stdout and stderr; history: $(tail -n 1 "$HISTORY")"
alive "$DAEMON_PID" || fail "the daemon died"

# --- B: the client killed (-9) while its tool runs ------------------------------------
responses '[{"functionCall":{"name":"run_shell_command","args":{"command":"head -n 1 '"$D"'/gate && cat notes.txt"}}}]' \
    "$ANSWER" >"$D/b.responses"
gemini b "$D/b.responses" "what is the secret word in notes.txt?"
killed_tool_running() {
    text_is "working: run_shell_command" && return
    alive "$GEMINI_PID" || fail "B: gemini exited before its tool ran: $(tail -n 5 "$D/b.out")"
    return 1
}
wait_for "B: working: run_shell_command" 30 killed_tool_running
# The client: the node process running Gemini CLI (it may start itself
# again with more heap) that runs the tool: the hook's parent, the process
# the daemon watches.
client=$(gate_client "node.* $GEMINI")
[[ -n $client ]] || fail "B: no gemini node process"
kill_client gemini "$client" "$GEMINI_PID"
say "B: kill -9 of gemini's node process while its tool ran -> its session gone in $GONE_MS ms (reason exited)"
alive "$DAEMON_PID" || fail "the daemon died"

# --- C: interactive: a permission asked and given ------------------------------------
# Gemini CLI in a tmux pane (no network, the same replayed model, asking to
# create a file): the prompt works; Gemini asks before the command runs (its
# ToolPermission notification: waiting); allowed once, the command runs
# and the turn ends; closing its terminal ends the session.
responses '[{"functionCall":{"name":"run_shell_command","args":{"command":"touch made-by-tool"}}}]' \
    '[{"text":"Made it."}]' >"$D/c.responses"
unshare -n "${RUN[@]}" TMPDIR="$D/tmp" GEMINI_API_KEY=e2e-dummy-key GEMINI_CLI_TRUST_WORKSPACE=true \
    tmux -S "$D/tmux-c.sock" new-session -d -s c -x 160 -y 40 -c "$D/alpha" \
    "node $GEMINI --fake-responses-non-strict $D/c.responses" ||
    fail "C: could not start gemini in tmux"
wait_for "C: an idle gemini session (its SessionStart)" 60 text_is idle
ask_and_allow Gemini
"${RUN[@]}" tmux -S "$D/tmux-c.sock" kill-server
wait_for "C: none once its terminal closed" 5 text_is none
alive "$DAEMON_PID" || fail "the daemon died"

# --- D: the daemon stopped: the hook's `{}` ------------------------------------------
"${RUN[@]}" llm-bridge stop >/dev/null || fail "D: llm-bridge stop failed"
! "${RUN[@]}" llm-bridge status >/dev/null 2>&1 || fail "D: the daemon still answers after llm-bridge stop"
responses "$ANSWER" >"$D/d.responses"
gemini d "$D/d.responses" "say the secret word"
exited_ok d
events=$(calls d 'all(c["success"] and c["exit_code"] == 0 and c["stdout"].strip() == "{}" and c["output"] == {} for c in calls)') ||
    fail "D: a hook call did not answer {}: $(calls d 'print([(c["event"], c["stdout"], c["stderr"], c["output"]) for c in calls]) or True')"
[[ $events == "SessionStart BeforeAgent PreCompress AfterAgent SessionEnd" ]] || fail "D: Gemini's hook calls were: $events"
sid=$(session_id d)
history_has "$sid" '{"agent": "gemini", "project": "alpha", "prompts": 1, "tool_uses": 0, "reason": "exit"}' ||
    fail "D: the fallback did not record gemini session $sid: $(tail -n 1 "$HISTORY" 2>&1)"
say "D: no daemon: each hook answered {} (parsed by Gemini as JSON), the fallback recorded the session; gemini exited 0"

say "PASS in $((($(now_ns) - STARTED_AT) / 1000000)) ms"
