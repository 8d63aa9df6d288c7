#!/usr/bin/env bash
# End-to-end with the real Codex CLI client: the pinned client from npm (a
# native binary behind a node launcher), in a network namespace of its own
# whose only network is a loopback with a stand-in Responses API server
# (tests/e2e/fake_responses.py) as its model provider, fires its real
# hooks, which `llm-bridge install --agent codex --write` wrote to the
# user's ~/.codex/hooks.json. Codex runs a hook only once the user trusted
# it in its /hooks screen, which records Codex's hash of it in config.toml:
# `llm-bridge doctor` says all 12 are not trusted; the test then trusts
# them as that screen does (the hashes Codex's own app server lists,
# tests/e2e/codex_hooks.py), and doctor, computing them itself, agrees
# with Codex that all are. The release daemon runs beside it; no Waybar:
# the daemon's module (waybar.json and a `waybar --follow` subscriber),
# `status` and the history are read back.
#
#   A. `codex exec` whose model calls the shell tool once, held open while
#      the tool runs: status shows one working Codex session in Bash (1
#      prompt, 1 tool use, the client's process watched); the subscriber
#      saw idle (SessionStart) → working → working: Bash → working → idle
#      (Stop) → none (SessionEnd); the history holds the codex session
#      with the reason its SessionEnd gave ("other");
#      every hook call completed, the model was sent what it is sent
#      without hooks (a first run, before install, is the baseline), and
#      codex printed the model's answer and nothing of llm-bridge's.
#   B. the same, and the client killed (-9) while the tool runs: its
#      session is gone, the time reported (the pidfd of the hook's parent, Codex's
#      native binary), with no SessionEnd.
#   C. a command that asks to run outside Codex's sandbox: PreToolUse
#      (working: Bash), PermissionRequest (waiting, with the tool in the
#      tooltip); Codex's automatic reviewer (the stand-in model) allows it,
#      the command runs, PostToolUse (working), Stop, SessionEnd.
#   D. the daemon stopped: each hook runs the fallback, prints nothing
#      (Codex would give a SessionStart's or a prompt's stdout to the model),
#      and the fallback records the ended session in the history.
#
# Usage (as root): tests/e2e/codex.sh [BIN_DIR]   (default: target/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
CODEX_VERSION=0.171.0
CODEX_CACHE=${LLM_BRIDGE_E2E_CACHE:-/var/tmp/llm-bridge-e2e}/codex-$CODEX_VERSION
E2E_NAME=codex
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
trap e2e_cleanup EXIT
STARTED_AT=$(now_ns)
e2e_setup python3:python3 node:nodejs npm:npm ip:iproute2
need_node_and_netns "Codex CLI"

# --- the pinned client, cached between runs ------------------------------------
npm_client @openai/codex "$CODEX_VERSION" "$CODEX_CACHE"
CODEX=$CODEX_CACHE/node_modules/@openai/codex/bin/codex.js
# (Codex warns on stderr that it makes no helper links under /tmp, where $D is.)
version=$("${RUN[@]}" node "$CODEX" --version 2>/dev/null) || fail "codex --version failed: $version"
[[ $version == "codex-cli $CODEX_VERSION" ]] || fail "unexpected client version: $version"

# --- the user's config, then the hooks written by the installer -------------------
# The model provider is the stand-in; no login, no update check, no
# analytics or plugin lookups (each would try the network, and the
# analytics one delays the exit by seconds).
mkdir -p "$D/home/.codex" "$D/alpha" "$D/tmp"
cat >"$D/home/.codex/config.toml" <<'TOML'
# the user's own config, which llm-bridge install does not touch
model = "fake-model"
model_provider = "fake"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false

[model_providers.fake]
name = "stand-in"
base_url = "http://127.0.0.1:18080/v1"
wire_api = "responses"
env_key = "FAKE_API_KEY"
requires_openai_auth = false
stream_max_retries = 0
request_max_retries = 0
TOML
cp "$D/home/.codex/config.toml" "$D/config.before"
echo "the secret word is pelican" >"$D/alpha/notes.txt"
cp "$ROOT/tests/e2e/fake_responses.py" "$ROOT/tests/e2e/codex_hooks.py" "$D/"
chown -R "$E2E_USER:" "$D"
# codex NAME COMMAND [escalate]: starts `codex exec` in alpha, in its own
# network namespace with the stand-in model on its loopback calling the
# shell tool with COMMAND (asking to run it outside the sandbox, which
# Codex's automatic reviewer must approve, with `escalate`); sets CODEX_PID
# (the namespace's shell, which execs the runuser that runs the client).
codex() {
    local name=$1 command=$2 escalate=${3:-}
    local flags=()
    [[ -z $escalate ]] || flags=(-s workspace-write -c approval_policy=on-request -c approvals_reviewer=auto_review)
    start_bg "$name" env D="$D" CODEX="$CODEX" NAME="$name" COMMAND="$command" ESCALATE="$escalate" FLAGS="${flags[*]}" \
        unshare -n sh -c '
        ip link set lo up || exit 90
        "$@" python3 "$D/fake_responses.py" 18080 "$D/$NAME.ready" "$D/$NAME.model" "$COMMAND" $ESCALATE >"$D/$NAME.fake" 2>&1 &
        i=0; while [ ! -s "$D/$NAME.ready" ]; do i=$((i + 1)); [ $i -lt 500 ] || exit 91; sleep 0.02; done
        exec "$@" TMPDIR="$D/tmp" FAKE_API_KEY=e2e-dummy-key nice -n 10 timeout 60 env -C "$D/alpha" \
            node "$CODEX" exec --skip-git-repo-check $FLAGS \
            "what is the secret word in notes.txt?" </dev/null 2>"$D/$NAME.err"' \
        sh "${RUN[@]}"
    CODEX_PID=$BG_PID
}
# exited_ok NAME: the client exited 0 with the model's answer on stdout and
# every hook call completed (Codex logs each on stderr).
exited_ok() {
    local rc=0
    wait "$CODEX_PID" || rc=$?
    ((rc == 0)) || fail "$1: codex exited $rc: $(tail -n 5 "$D/$1.err")"
    grep -q "The secret word is pelican." "$D/$1.out" || fail "$1: codex did not print the model's answer"
    ! grep -i "llm-bridge" "$D/$1.out" || fail "$1: codex printed the lines above"
    ! grep "^hook: .* \(Failed\|Blocked\)" "$D/$1.err" || fail "$1: a hook call failed (above)"
    HOOK_CALLS=$(sed -n 's/^hook: \([A-Za-z]*\) Completed$/\1/p' "$D/$1.err" | paste -sd ' ')
    # A hook's stdout on SessionStart or UserPromptSubmit would go to the
    # model as one more message: the first request's items are the
    # baseline's.
    [[ -z ${BASE_ITEMS:-} || $(head -n 1 "$D/$1.model") == "$BASE_ITEMS" ]] ||
        fail "$1: the model was sent $(head -n 1 "$D/$1.model"), not $BASE_ITEMS as without hooks"
}
# A run before the hooks exist: what Codex sends its model by itself.
codex base "cat notes.txt"
exited_ok base
BASE_ITEMS=$(head -n 1 "$D/base.model")

"${RUN[@]}" llm-bridge install --agent codex --write >"$D/install.log" 2>&1 || fail "llm-bridge install failed: $(cat "$D/install.log")"
grep -q '^Codex CLI: ' "$D/install.log" || fail "the installer did not write Codex's hooks: $(cat "$D/install.log")"
grep -q '/hooks' "$D/install.log" || fail "the installer did not tell the user to trust the hooks in /hooks: $(cat "$D/install.log")"
hooks_merged codex "$D/home/.codex/hooks.json" SessionStart UserPromptSubmit PreToolUse PermissionRequest PostToolUse \
    Stop Interrupt SessionEnd
cmp -s "$D/config.before" "$D/home/.codex/config.toml" || fail "the installer changed the user's config.toml"
say "install: the hooks written to ~/.codex/hooks.json, config.toml untouched, the /hooks review named"

# --- the hooks trusted, as in Codex's /hooks screen ---------------------------------
codex_hooks() { unshare -n "${RUN[@]}" python3 "$D/codex_hooks.py" "$CODEX" "$D/alpha" "$@"; }
# doctor_says LINE: doctor printed LINE (it fails for what this machine
# lacks, a Waybar among them: only its Codex lines matter here).
doctor_says() { { "${RUN[@]}" llm-bridge doctor 2>&1 || true; } | grep -qF "$1"; }
[[ $(codex_hooks status | grep -c ' untrusted$') == 12 ]] || fail "Codex does not list 12 untrusted hooks: $(codex_hooks status)"
doctor_says "✗ Codex CLI skips 12 of llm-bridge's 12 hooks (not trusted yet: SessionStart, UserPromptSubmit" ||
    fail "doctor did not say that Codex skips the untrusted hooks: $("${RUN[@]}" llm-bridge doctor 2>&1 | grep Codex || true)"
codex_hooks trust "$D/home/.codex/config.toml" || fail "trusting the hooks failed"
[[ $(codex_hooks status | grep -c ' trusted$') == 12 ]] || fail "Codex does not list 12 trusted hooks: $(codex_hooks status)"
doctor_says "✓ Codex CLI runs them: all 12 trusted in its /hooks" ||
    fail "doctor does not agree with Codex that the hooks are trusted: $("${RUN[@]}" llm-bridge doctor 2>&1 | grep Codex || true)"
say "trust: doctor said 12 hooks not trusted; trusted with Codex's own hashes, Codex and doctor agree: all 12 trusted"

start_daemon_and_subscriber

# tool_running NAME: the module shows the tool; fails the run if the client exited.
tool_running() {
    text_is "working: Bash" && return
    alive "$CODEX_PID" || { exited_ok "$1"; fail "$1: codex exited before its tool ran"; }
    return 1
}

# --- A: codex exec with one shell tool call -------------------------------------------
mkfifo "$D/gate"
chown "$E2E_USER:" "$D/gate"
codex a "head -n 1 $D/gate && cat notes.txt"
wait_for "A: working: Bash (PreToolUse)" 60 tool_running a
status=$(status_line)
[[ $status == "1 1 codex:alpha:working:Bash:1:1" ]] ||
    fail "A: status while the tool runs is '$status', not one working codex session (1 prompt, 1 tool use) whose client is watched"
say "A: while the tool runs: '$(module_text)', tooltip '$(tooltip)', status '$status'"
timeout 10 sh -c 'echo go >"$1"' _ "$D/gate" || fail "A: the tool never read its FIFO"
exited_ok a
wait_for "A: none after SessionEnd" 10 text_is none
follow_saw "idle|working|working: Bash|working|idle|none" || fail "A: the subscriber saw $(follow_texts)"
say "A: the subscriber saw: $(follow_texts)"
[[ $HOOK_CALLS == "SessionStart UserPromptSubmit PreToolUse PostToolUse Stop" ]] ||
    fail "A: Codex's completed hook calls were: $HOOK_CALLS"
python3 - "$HISTORY" <<'PY' || fail "A: the history has no codex session ended by SessionEnd: $(tail -n 1 "$HISTORY" 2>&1)"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert (last["agent"], last["project"], last["prompts"], last["tool_uses"], last["reason"]) == (
    "codex", "alpha", 1, 1, "other"), last
PY
say "A: Codex's hook calls: $HOOK_CALLS each completed; history: $(tail -n 1 "$HISTORY")"

# --- B: the client killed while its tool runs ----------------------------------------
codex b "head -n 1 $D/gate && cat notes.txt"
wait_for "B: working: Bash" 60 tool_running b
# The hook's parent: the native binary (comm "codex") under the node launcher.
native=$(pgrep -u "$E2E_USER" -x codex | head -n 1)
[[ -n $native ]] || fail "B: no native codex process"
kill_client codex "$native" "$CODEX_PID"
say "B: kill -9 of codex's native process -> its session gone in $GONE_MS ms (reason exited)"
alive "$DAEMON_PID" || fail "the daemon died"

# --- C: a command that needs approval ----------------------------------------------
# Run outside the sandbox only once approved: Codex fires PreToolUse, then
# PermissionRequest (the bar waits); its automatic reviewer allows it and
# the command runs. No hook says so: the bar waits until PostToolUse
# (docs/agents.md says so).
codex c "head -n 1 $D/gate && cat notes.txt" escalate
waiting() {
    text_is waiting && return
    alive "$CODEX_PID" || { exited_ok c; fail "C: codex exited before it asked"; }
    return 1
}
wait_for "C: waiting (PermissionRequest)" 60 waiting
tooltip_has "alpha: waiting (Bash)" || fail "C: the tooltip does not name the tool: $(tooltip)"
timeout 10 sh -c 'echo go >"$1"' _ "$D/gate" || fail "C: the approved command never ran"
exited_ok c
[[ $HOOK_CALLS == "SessionStart UserPromptSubmit PreToolUse PermissionRequest PostToolUse Stop" ]] ||
    fail "C: Codex's completed hook calls were: $HOOK_CALLS"
wait_for "C: none after SessionEnd" 10 text_is none
follow_saw "idle|working|working: Bash|waiting|working|idle|none" || fail "C: the subscriber saw $(follow_texts)"
say "C: PreToolUse working: Bash -> PermissionRequest waiting -> (approved, ran) PostToolUse working -> idle -> none"

# --- D: the daemon stopped: the fallback, and nothing on the hook's stdout --------------
"${RUN[@]}" llm-bridge stop >/dev/null || fail "D: llm-bridge stop failed"
! "${RUN[@]}" llm-bridge status >/dev/null 2>&1 || fail "D: the daemon still answers after llm-bridge stop"
lines_before=$(wc -l <"$HISTORY")
codex d "cat notes.txt"
exited_ok d
python3 - "$HISTORY" "$lines_before" <<'PY' || fail "D: the fallback did not record the codex session: $(tail -n 1 "$HISTORY" 2>&1)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
assert [(l["agent"], l["prompts"], l["tool_uses"], l["reason"]) for l in lines] == [("codex", 1, 1, "other")], lines
PY
say "D: no daemon: the hooks ran the fallback ($HOOK_CALLS completed), which recorded the session"

say "PASS in $((($(now_ns) - STARTED_AT) / 1000000)) ms"
