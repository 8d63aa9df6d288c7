#!/bin/bash
# The daemon's own time to first audio for five words, N times in a row
# (BENCHMARKS.md, issue 21): starts BIN (a release `llm-bridge`) as a daemon
# with [speech] enabled and VOICE, its audio on a null ALSA device, says "The
# build is done now." with `say --wait` N times GAP seconds apart, and prints
# each `speech_first_audio_ms` (request → first samples handed to the
# device), their median, and the daemon's VmRSS/VmHWM after them.
# Usage: benches/first-audio.sh BIN VOICE.onnx [N] [GAP]
set -eu
BIN=$1 VOICE=$2 N=${3:-10} GAP=${4:-0.3}
D=$(mktemp -d /dev/shm/llmb-first-XXXXXX)
trap 'kill "$P" 2>/dev/null; wait "$P" 2>/dev/null; rm -rf "$D"' EXIT
chmod 700 "$D"
printf '[speech]\nenabled = true\nvoice = "%s"\n' "$VOICE" > "$D/config.toml"
printf 'pcm.!default {\n type null\n}\n' > "$D/alsa.conf"
export XDG_RUNTIME_DIR=$D XDG_CACHE_HOME=$D/cache XDG_STATE_HOME=$D/state \
    LLM_BRIDGE_CONFIG=$D/config.toml ALSA_CONFIG_PATH=$D/alsa.conf
"$BIN" daemon 2> "$D/log" &
P=$!
for _ in $(seq 1 400); do
    grep -q 'speech: ready' "$D/log" && break
    sleep 0.05
done
grep -q 'speech: ready' "$D/log" || { cat "$D/log"; exit 1; }
all=()
for _ in $(seq 1 "$N"); do
    "$BIN" say --wait "The build is done now." > /dev/null
    all+=("$("$BIN" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["speech_first_audio_ms"])')")
    sleep "$GAP"
done
echo "first audio (ms): ${all[*]}"
printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print "median", m, "min", v[1], "max", v[NR]}'
echo "$(grep -E 'VmRSS|VmHWM' "/proc/$P/status" | tr -s ' \t\n' ' ')"
