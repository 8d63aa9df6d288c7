#!/bin/bash
# How soon the daemon's voice is ready and what it holds (BENCHMARKS.md,
# issue 21): starts BIN (a release `llm-bridge`) as a daemon with [speech]
# enabled and VOICE, in a private temporary runtime directory, waits for its
# "speech: ready in N ms" log line, and prints VmRSS/VmHWM then; with
# --speak, also after a 5-word phrase and a 60-word sentence said through a
# null ALSA device (not paced: for memory, not time), VmHWM reset once the
# voice is ready so that it shows the peak while speaking. With
# --first-audio N, says "The build is done now." with `say --wait` N times
# 0.3 s apart instead and prints each `speech_first_audio_ms` (request →
# first samples handed to the device), their median, and the memory after.
# Usage: benches/voice-ready.sh BIN VOICE.onnx [--speak | --first-audio N]
set -eu
BIN=$1 VOICE=$2 SPEAK=${3:-} N=${4:-10}
D=$(mktemp -d /dev/shm/llmb-voice-XXXXXX)
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
mem() { echo "$1: $(grep -E 'VmRSS|VmHWM' "/proc/$P/status" | tr -s ' \t\n' ' ')"; }
grep 'speech: ready' "$D/log" || { cat "$D/log"; exit 1; }
mem ready
if [ "$SPEAK" = --speak ]; then
    # From here VmHWM is the peak while speaking, not the load's.
    echo 5 > "/proc/$P/clear_refs"
    "$BIN" say --wait "llm-bridge needs permission for Bash"
    mem "after a 5-word phrase"
    "$BIN" say --wait "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically, signalled the bar through its process file descriptor, and then went back to waiting on its socket, its timer and its signal pipe, with nothing periodic armed at all."
    mem "after a 60-word sentence"
    # The worker gives its freed heap and its code pages back once it
    # closes the device after 5 s of silence.
    sleep 1
    mem "1 s later"
    sleep 5
    mem "6 s later"
fi
if [ "$SPEAK" = --first-audio ]; then
    all=()
    for _ in $(seq 1 "$N"); do
        "$BIN" say --wait "The build is done now." > /dev/null
        all+=("$("$BIN" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["speech_first_audio_ms"])')")
        sleep 0.3
    done
    echo "first audio (ms): ${all[*]}"
    printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print "median", m, "min", v[1], "max", v[NR]}'
    mem "after them"
fi
