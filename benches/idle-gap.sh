#!/bin/bash
# How long the daemon's part of an event takes after the core slept for a
# while and after it did not (BENCHMARKS.md, issue 20): starts BIN (a release
# `llm-bridge`) with `[debounce] window_ms = 1`, so that events 2 ms apart
# are each shown at once, sends 400 events GAP seconds apart for each GAP,
# and prints `status`'s own p50s (wake-up, read → render, render, write).
# Usage: benches/idle-gap.sh BIN [GAP...]   (default: 0.025 0.005 0.002)
set -eu
BIN=$1
shift
[ $# -gt 0 ] || set -- 0.025 0.005 0.002
send() {
    python3 - "$1" "$2" <<'PY'
import os, socket, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
path = os.environ["XDG_RUNTIME_DIR"] + "/llm-bridge.sock"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(n):
    kind = b"submit" if i % 2 == 0 else b"stop"
    s.sendto(b"LLMB/1 EVENT:%s\nsid=gap-0\nts=%d\ncwd=/home/u/src/project-0"
             % (kind, time.time_ns()), path)
    time.sleep(gap)
PY
}
for gap in "$@"; do
    D=$(mktemp -d /dev/shm/llmb-gap-XXXXXX)
    chmod 700 "$D"
    export XDG_RUNTIME_DIR=$D XDG_CACHE_HOME=$D/cache XDG_STATE_HOME=$D/state \
        LLM_BRIDGE_CONFIG=$D/config.toml
    printf '[debounce]\nwindow_ms = 1\n' > "$D/config.toml"
    "$BIN" daemon 2> "$D/log" &
    P=$!
    for _ in $(seq 1 200); do [ -S "$D/llm-bridge.sock" ] && break; sleep 0.05; done
    send 20 0.01
    send 400 "$gap"
    echo "gap $gap s: $("$BIN" status | grep 'where it goes')"
    kill "$P"
    wait "$P" 2> /dev/null || true
    rm -rf "$D"
done
