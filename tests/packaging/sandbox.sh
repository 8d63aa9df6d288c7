#!/usr/bin/env bash
# The daemon in the file-system view contrib/systemd/llm-bridge.service
# gives it (issue 22), made with bubblewrap where no systemd --user runs:
# everything read-only (ProtectSystem=strict, ProtectHome=read-only) but the
# runtime directory (ReadWritePaths=%t) and the state and cache directories
# (StateDirectory=, CacheDirectory=, with their environment variables), and
# a private /tmp (PrivateTmp=yes). The rest of the unit's hardening (system
# call filter, capabilities, namespaces...) is checked by systemd-analyze
# alone (tests/packaging/systemd.sh).
#
# In that view the daemon must still:
#   - take hook events and show them (status),
#   - read a transcript under ~/.claude: an Esc appended there ends the turn,
#   - write its state and the history (a session that ends),
#   - speak with the test voice into a captured ALSA device (its file in
#     the runtime directory), through `llm-bridge say --wait`,
#   - watch the voices directory that scripts/install makes beforehand.
#
# Usage (as root, or a user bubblewrap may run for):
#   tests/packaging/sandbox.sh [BIN_DIR]   (default: target/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
say() { printf 'sandbox: %s\n' "$*"; }
fail() {
    say "FAIL: $*"
    [[ -f ${D:-}/daemon.log ]] && sed 's/^/  daemon: /' "$D/daemon.log" | tail -n 20
    exit 1
}
[[ -x $BIN_DIR/llm-bridge && -x $BIN_DIR/llm-bridge-hook ]] || fail "no binaries in $BIN_DIR"
if ! command -v bwrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
VOICE=$("$ROOT/scripts/fetch-test-voice" | tail -n 1)
[[ -f $VOICE ]] || fail "no test voice ($VOICE)"

# Not under /tmp, which the sandbox replaces with its own.
D=$(mktemp -d -p /var/tmp llmb-sandbox.XXXXXX)
DAEMON=
cleanup() {
    [[ -n $DAEMON ]] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    rm -rf "$D"
}
trap cleanup EXIT
H=$D/home X=$D/xdg
STATE=$H/.local/state/llm-bridge CACHE=$H/.cache/llm-bridge
(umask 077 && mkdir -p "$X" "$STATE" "$CACHE" "$H/.local/share/llm-bridge/voices" \
    "$H/.config/llm-bridge" "$H/.claude/projects/p")
printf '[speech]\nvoice = "%s"\n' "$VOICE" >"$H/.config/llm-bridge/config.toml"
TRANSCRIPT=$H/.claude/projects/p/session.jsonl
: >"$TRANSCRIPT"
CAPTURE=$X/captured.raw
cat >"$D/asound.conf" <<EOF
pcm.!default {
    type plug
    slave { pcm "llmb_capture" format S16_LE channels 1 rate 22050 }
}
pcm.llmb_capture {
    type file
    slave.pcm "null"
    file "$CAPTURE"
    format "raw"
}
EOF
export HOME=$H XDG_RUNTIME_DIR=$X XDG_CONFIG_HOME=$H/.config XDG_STATE_HOME=$H/.local/state \
    XDG_CACHE_HOME=$H/.cache XDG_DATA_HOME=$H/.local/share \
    ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:$D/asound.conf
unset LLM_BRIDGE_SOCKET LLM_BRIDGE_CONFIG LISTEN_FDS LISTEN_PID NOTIFY_SOCKET

bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
    --bind "$X" "$X" --bind "$STATE" "$STATE" --bind "$CACHE" "$CACHE" \
    --setenv STATE_DIRECTORY "$STATE" --setenv CACHE_DIRECTORY "$CACHE" \
    --die-with-parent "$BIN_DIR/llm-bridge" daemon 2>"$D/daemon.log" &
DAEMON=$!

# Bounded waits on a condition (no sleep as synchronisation).
wait_for() {
    local what=$1
    shift
    for _ in $(seq 1 500); do
        "$@" && return 0
        kill -0 "$DAEMON" 2>/dev/null || fail "the daemon exited while waiting for: $what"
        sleep 0.02
    done
    fail "not within 10 s: $what"
}
status() { "$BIN_DIR/llm-bridge" status --json 2>/dev/null; }
session_is() {
    status | python3 -c "import json,sys; s=json.load(sys.stdin)['sessions']; sys.exit(0 if s and s[0]['state']=='$1' else 1)"
}
hook() {
    printf '{"session_id":"sb","hook_event_name":"%s","cwd":"%s/projects/p","transcript_path":"%s","prompt":"go"}' \
        "$1" "$H" "$TRANSCRIPT" | "$BIN_DIR/llm-bridge-hook" "$1" >/dev/null
}
wait_for "the daemon serves" eval 'status >/dev/null'

# Events, and a transcript read through the read-only home.
hook SessionStart
hook UserPromptSubmit
wait_for "the session works" session_is working
# shellcheck disable=SC2016
printf '%s\n' '{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user]"}]}}' >>"$TRANSCRIPT"
wait_for "an Esc in the transcript ends the turn" session_is idle

# Speech: the voice read, rendered and played into the captured device.
out=$("$BIN_DIR/llm-bridge" say --wait "The sandbox speaks." 2>&1) || fail "say: $out"
# Blocks of 4096 samples with one louder than a whisper (the device also
# takes silence, unpaced, while it is open).
loud=$(python3 -c "
import array, sys
loud = 0
with open(sys.argv[1], 'rb') as f:
    while block := f.read(8192):
        a = array.array('h', block[: len(block) // 2 * 2])
        loud += bool(a) and (max(a) > 1000 or min(a) < -1000)
print(loud)" "$CAPTURE")
((loud >= 4)) || fail "the captured device got $loud blocks of speech"

# The voices directory is watched (made beforehand, as scripts/install does).
grep -q "cannot watch the voices directory" "$D/daemon.log" && fail "the voices directory is not watched"

# State and history in the state directory.
hook SessionEnd
wait_for "the session ends in the history" grep -q '"id":"sb"' "$STATE/sessions.jsonl"
"$BIN_DIR/llm-bridge" stop >/dev/null || fail "stop"
wait "$DAEMON" || true
DAEMON=
[[ -s $STATE/state.json || -s $X/llm-bridge/state.json ]] || fail "no state.json written"
say "PASS (transcript read, $loud blocks of speech captured, history written, in the unit's file-system view)"
