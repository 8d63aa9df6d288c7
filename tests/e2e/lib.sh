# Shared by the end-to-end scripts (sourced, not run). Sets up an
# unprivileged user with a private directory $D and runtime dir $XDG, runs
# commands as that user (${RUN[@]}), starts headless sway and Waybar, reads
# the bar back with grim + tesseract, and kills exactly what it started.
#
# The caller sets E2E_NAME before sourcing, and BIN_DIR to the release binaries.

E2E_USER=lbe2e
STARTED_PIDS=()

say() { printf 'e2e %s: %s\n' "$E2E_NAME" "$*"; }
fail() {
    say "FAIL: $*"
    if [[ -n ${D:-} ]]; then
        local sock
        for sock in "$D"/tmux-*.sock; do
            [[ -S $sock ]] && { say "--- screen of ${sock##*/tmux-}"; runuser -u "$E2E_USER" -- tmux -S "$sock" capture-pane -p | grep -v '^ *$' | tail -n 15; }
        done
    fi
    local log
    for log in "${D:-/nonexistent}"/*.out; do
        [[ -f $log ]] && { say "--- ${log##*/}"; tail -n 15 "$log"; }
    done
    exit 1
}
now_ns() { date +%s%N; }

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds, or fails the run.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$(($(now_ns) + seconds * 1000000000))
    until "$@"; do
        (($(now_ns) < deadline)) || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.02
    done
}

# start_bg LOG CMD...: runs CMD in the background, output in $D/LOG.out.
start_bg() {
    local log=$1
    shift
    "$@" >"$D/$log.out" 2>&1 &
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
}

e2e_cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Processes the user's tmux server or runuser left behind, in our dir only.
    pkill -u "$E2E_USER" -f "${D:-/nonexistent}" 2>/dev/null || true
    [[ -n ${KEEP_BAR_PNG:-} && -f ${D:-}/bar.png ]] && cp "$D/bar.png" "$KEEP_BAR_PNG"
    if [[ -n ${KEEP_E2E_DIR:-} && -n ${D:-} ]]; then say "kept $D"; elif [[ -n ${D:-} ]]; then rm -rf "$D"; fi
}

# The five binaries README installs.
E2E_BINARIES=(llm-bridge llm-bridge-hook llm-bridge-statusline llm-bridge-waybar llm-bridge-apply)

# e2e_setup [bar] COMMAND:PACKAGE...: root check, packages, user, $D, $XDG,
# RUN. `bar` adds what a bar on headless sway needs (sway, Waybar, grim,
# tesseract, a font); the agent scripts read the daemon's module instead.
e2e_setup() {
    [[ $(id -u) == 0 ]] || fail "run as root: it creates a user and installs packages"
    local bin
    for bin in "${E2E_BINARIES[@]}"; do
        [[ -x $BIN_DIR/$bin ]] || fail "$BIN_DIR/$bin is missing: run scripts/build-release first"
    done
    local need=() cmd commands=("$@")
    if [[ ${1:-} == bar ]]; then
        commands=(waybar:waybar sway:sway grim:grim tesseract:tesseract-ocr "${@:2}")
        [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
        ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || need+=(tesseract-ocr-eng)
    fi
    for cmd in "${commands[@]}"; do
        command -v "${cmd%%:*}" >/dev/null || need+=("${cmd#*:}")
    done
    if ((${#need[@]})); then
        say "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    id "$E2E_USER" >/dev/null 2>&1 || useradd -m "$E2E_USER"

    # Everything the user needs lives in its own directory: root's 0700
    # directories are closed to it.
    D=$(mktemp -d "/tmp/lbe2e-$E2E_NAME.XXXXXX")
    chmod 755 "$D"
    mkdir -p "$D/bin" "$D/samples" "$D/xdg" "$D/home"
    for bin in "${E2E_BINARIES[@]}"; do cp "$BIN_DIR/$bin" "$D/bin/"; done
    cp "$ROOT"/tests/samples/*.json "$D/samples/"
    cp -r "$ROOT"/tests/samples/agents "$D/samples/"
    chmod 700 "$D/xdg"
    chown -R "$E2E_USER:" "$D"
    XDG=$D/xdg
    RUN=(runuser -u "$E2E_USER" -- env -i HOME="$D/home" XDG_RUNTIME_DIR="$XDG" PATH="$D/bin:/usr/bin:/bin"
        LLM_BRIDGE_CONFIG="$D/none.toml" LANG=C.UTF-8 TERM=xterm-256color)
    HISTORY=$D/home/.local/state/llm-bridge/sessions.jsonl
    FOLLOW_LOG=$D/follow.out
}

hook() { "${RUN[@]}" llm-bridge-hook <"$D/samples/hook-$1.json" || fail "hook $1 exited non-zero"; }
module_text() { sed -n 's/^{"text":"\([^"]*\)".*/\1/p' "$XDG/llm-bridge/waybar.json" 2>/dev/null; }
module_json() { cat "$XDG/llm-bridge/waybar.json" 2>/dev/null; }
text_is() { [[ $(module_text) == "$1" ]]; }
text_starts() { [[ $(module_text) == "$1"* ]]; }
alive() { kill -0 "$1" 2>/dev/null; }

start_sway() {
    cat >"$D/sway.conf" <<'EOF'
output HEADLESS-1 resolution 800x200
bar swaybar_command true
EOF
    start_bg sway "${RUN[@]}" WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman \
        sway -c "$D/sway.conf"
    wait_for "sway's wayland socket" 20 test -S "$XDG/wayland-1"
}

# write_waybar_config signal|follow: the README's module, with plain words
# (the text is already a word) and no icons, so OCR can read it.
write_waybar_config() {
    if [[ $1 == signal ]]; then
        cat >"$D/config.json" <<'EOF'
{"layer": "top", "height": 40, "modules-left": ["custom/llm"],
 "custom/llm": {"exec": "llm-bridge-waybar", "return-type": "json", "interval": "once", "signal": 8,
                "format": "{}", "tooltip": true}}
EOF
    else
        cat >"$D/config.json" <<'EOF'
{"layer": "top", "height": 40, "modules-left": ["custom/llm"],
 "custom/llm": {"exec": "llm-bridge waybar --follow", "return-type": "json", "format": "{}", "tooltip": true}}
EOF
    fi
    cat >"$D/style.css" <<'EOF'
* { font-family: "DejaVu Sans Mono", monospace; font-size: 24px; }
window#waybar { background: #ffffff; color: #000000; }
#custom-llm { padding: 0 8px; color: #000000; }
EOF
    chown "$E2E_USER:" "$D/config.json" "$D/style.css"
}

# start_waybar LOGNAME: Waybar with $D/config.json; every module line it
# runs is appended to $D/exec.log.
start_waybar() {
    start_bg "$1" "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 LLM_BRIDGE_EXEC_LOG="$D/exec.log" \
        waybar -c "$D/config.json" -s "$D/style.css"
}

# The waybar process (comm exactly "waybar") of the test user.
waybar_pid() { pgrep -u "$E2E_USER" -x waybar | head -n 1; }
waybar_running() { [[ -n $(waybar_pid) ]]; }

# bar_shows PREFIX: screenshot the bar, OCR it, match the start of the text.
bar_shows() {
    "${RUN[@]}" WAYLAND_DISPLAY=wayland-1 grim -g "0,0 800x40" "$D/bar.png" 2>/dev/null || return 1
    LAST_OCR=$(tesseract "$D/bar.png" - 2>/dev/null | tr -s ' \n' ' ' | sed 's/^ *//; s/ *$//')
    [[ $LAST_OCR == "$1"* ]]
}

# --- what the agent scripts share ------------------------------------------------

# npm_client PACKAGE VERSION CACHE: the pinned client from npm, installed
# once into CACHE (outside the clone, kept between runs) and readable by the
# test user. The caller checks the entry point and the version.
npm_client() {
    local package=$1 version=$2 cache=$3
    if [[ ! -d $cache/node_modules/$package ]]; then
        say "installing $package@$version from npm"
        mkdir -p "$cache"
        (cd "$cache" && nice -n 10 npm install --no-audit --no-fund --loglevel=error "$package@$version" >/dev/null) ||
            fail "npm install $package@$version failed"
    fi
    chmod -R a+rX "$cache"
    chmod a+x "$(dirname "$cache")"
}

# need_node_and_netns CLIENT: the client's node is recent enough, and a
# network namespace can be made (the clients run with no network).
need_node_and_netns() {
    unshare -n true 2>/dev/null || fail "unshare -n failed: cannot run $1 without a network"
    (($(node -p 'process.versions.node.split(".")[0]') >= 20)) || fail "$1 needs node >= 20, not $(node --version)"
}

# start_daemon_and_subscriber: the release daemon with a 1 ms debounce (so
# the subscriber's log shows every event it took: the clients send some
# events ~25 ms apart, which the default window would fold), and a
# `waybar --follow` subscriber logging to $FOLLOW_LOG. Sets DAEMON_PID.
start_daemon_and_subscriber() {
    printf '[debounce]\nwindow_ms = 1\ncap_ms = 1\n' >"$D/config.toml"
    chown "$E2E_USER:" "$D/config.toml"
    start_bg daemon "${RUN[@]}" LLM_BRIDGE_CONFIG="$D/config.toml" llm-bridge daemon
    DAEMON_PID=$BG_PID
    wait_for "the daemon's socket" 10 test -S "$XDG/llm-bridge.sock"
    start_bg follow "${RUN[@]}" llm-bridge waybar --follow
    wait_for "the subscriber's first line" 10 test -s "$FOLLOW_LOG"
}

# hooks_merged AGENT SETTINGS EVENT...: after `llm-bridge install --agent
# AGENT --write`, the settings file (JSON, // comments allowed) runs exactly
# `llm-bridge-hook AGENT EVENT` for each EVENT.
hooks_merged() {
    local agent=$1 settings=$2
    shift 2
    python3 - "$D" "$agent" "$settings" "$@" <<'PY' || fail "$settings after install is not what it should be (above)"
import json, re, sys
d, agent, path, events = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
s = json.loads(re.sub(r"^\s*//.*$", "", open(path).read(), flags=re.M))
for event in events:
    commands = [h["command"] for m in s["hooks"][event] for h in m["hooks"]]
    want = f"{d}/bin/llm-bridge-hook {agent} {event}"
    assert commands == [want], f"{event}: {commands}, not [{want!r}]"
PY
}

# follow_saw A|B|C: the subscriber printed modules with these texts, in this order.
follow_saw() {
    awk -v want="$*" 'BEGIN { n = split(want, w, "|") ; i = 1 }
        { if (i <= n && index($0, "{\"text\":\"" w[i] "\"")) i++ }
        END { exit !(i > n) }' "$FOLLOW_LOG" 2>/dev/null
}
follow_texts() { sed 's/^{"text":"\([^"]*\)".*/\1/' "$FOLLOW_LOG" | tr '\n' '|'; }
tooltip() { module_json | sed 's/.*"tooltip":"\([^"]*\)".*/\1/'; }
tooltip_has() { module_json | grep -qF "$1"; }

# status_line: session count, watched processes, then
# agent:project:state:tool:prompts:tool_uses for each session.
status_line() {
    "${RUN[@]}" llm-bridge status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["session_count"], s["watched_processes"],
      *(":".join(str(x[k]) for k in ("agent", "project", "state", "tool", "prompts", "tool_uses")) for x in s["sessions"]))'
}

# gate_client PATTERN: the process running the tool that waits on the FIFO
# $D/gate: the nearest ancestor of that `head` whose command line matches
# PATTERN (an extended regex). That process runs the hooks too: the hook's
# parent, which the daemon watches. Found from the tool rather than by the
# newest matching process, since a client may start helpers of its own.
GATE_CLIENT=
gate_found() {
    local pid
    GATE_CLIENT=
    pid=$(pgrep -u "$E2E_USER" -x -f "head -n 1 $D/gate" | head -n 1)
    while [[ -n $pid && $pid -gt 1 ]]; do
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE -- "$1"; then
            GATE_CLIENT=$pid
            return 0
        fi
        pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
    done
    return 1
}
gate_client() {
    wait_for "the client of the tool reading $D/gate" 10 gate_found "$1"
    echo "$GATE_CLIENT"
}

# kill_client AGENT PID JOB: each agent script's part B: kill -9 of PID (the
# client's process the hook named, which the daemon watches) while its tool
# runs, held open by the FIFO $D/gate: its session gone (GONE_MS says how
# soon: tens of ms on an idle machine; a time, not a bound, since a niced
# client's exit under a loaded machine has taken over a second), then JOB
# (the client's background job) waited for and the history's last line that
# agent's session ended "exited".
kill_client() {
    local agent=$1 pid=$2 job=$3 t0
    kill -9 "$pid"
    t0=$(now_ns)
    wait_for "B: none once the client was killed" 10 text_is none
    GONE_MS=$((($(now_ns) - t0) / 1000000))
    wait "$job" 2>/dev/null || true
    timeout 1 sh -c 'echo go >"$1"' _ "$D/gate" 2>/dev/null || true
    python3 - "$HISTORY" "$agent" <<'PY' || fail "B: the history has no $agent session ended as exited: $(tail -n 1 "$HISTORY" 2>&1)"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert (last["agent"], last["reason"]) == (sys.argv[2], "exited"), last
PY
}

# ask_and_allow CLIENT [TOOLTIP]: part C of the agent scripts, in the
# interactive client in tmux ($D/tmux-c.sock, session c) whose model asks to
# run `touch made-by-tool` in alpha: a prompt typed; waiting while CLIENT
# asks ("Allow execution of"), the file not yet made (and the tooltip
# holding TOOLTIP, if given); allowed once (Enter): the file made, idle, and
# the subscriber saw working → waiting → working → idle since the prompt.
client_asks() {
    text_is waiting && "${RUN[@]}" tmux -S "$D/tmux-c.sock" capture-pane -p -t c | grep -qF "Allow execution of"
}
ask_and_allow() {
    local client=$1 want=${2:-} from sock=$D/tmux-c.sock
    from=$(wc -l <"$FOLLOW_LOG")
    "${RUN[@]}" tmux -S "$sock" send-keys -t c "make the file"
    wait_for "C: the prompt typed" 10 sh -c 'tmux -S "$1" capture-pane -p -t c | grep -qF "make the file"' _ "$sock"
    "${RUN[@]}" tmux -S "$sock" send-keys -t c Enter
    wait_for "C: waiting while $client asks to run the command" 30 client_asks
    [[ ! -e $D/alpha/made-by-tool ]] || fail "C: the command ran before it was allowed"
    [[ -z $want ]] || tooltip_has "$want" || fail "C: the waiting tooltip line is not '$want': $(tooltip)"
    say "C: $client asks: '$(module_text)', tooltip '$(tooltip)'"
    "${RUN[@]}" tmux -S "$sock" send-keys -t c Enter # 1. allow once
    wait_for "C: the command run once allowed" 30 test -e "$D/alpha/made-by-tool"
    wait_for "C: idle once the turn ended" 30 text_is idle
    tail -n +"$((from + 1))" "$FOLLOW_LOG" >"$D/c.follow"
    FOLLOW_LOG=$D/c.follow follow_saw "working|waiting|working|idle" ||
        fail "C: the subscriber saw $(FOLLOW_LOG=$D/c.follow follow_texts)"
    say "C: the subscriber saw: $(FOLLOW_LOG=$D/c.follow follow_texts)"
}

# history_has SID JSON: the history's last line for SID has these keys.
history_has() {
    python3 -c '
import json, sys
try:
    lines = [json.loads(l) for l in open(sys.argv[1])]
except FileNotFoundError:
    sys.exit(1)
found = [l for l in lines if l["id"] == sys.argv[2]]
sys.exit(not (found and all(found[-1].get(k) == v for k, v in json.loads(sys.argv[3]).items())))' "$HISTORY" "$1" "$2"
}
