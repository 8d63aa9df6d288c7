#!/usr/bin/env bash
# Checks contrib/systemd with systemd-analyze verify, on copies whose
# ExecStart points at the built binary (verify fails when the binary is
# missing). Unknown keys only warn, so any output is a failure.
# Usage: tests/packaging/systemd.sh [BIN_DIR]   (default: target/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
say() { printf 'systemd units: %s\n' "$*"; }
[[ -x $BIN_DIR/llm-bridge ]] || { say "FAIL: $BIN_DIR/llm-bridge is missing"; exit 1; }
if ! command -v systemd-analyze >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/units" "$D/xdg"
chmod 700 "$D/xdg"
cp "$ROOT"/contrib/systemd/llm-bridge.{socket,service} "$D/units/"
sed -i "s|^ExecStart=%h/.local/bin/llm-bridge |ExecStart=$BIN_DIR/llm-bridge |" "$D/units/llm-bridge.service"
grep -q "^ExecStart=$BIN_DIR/llm-bridge daemon$" "$D/units/llm-bridge.service" || { say "FAIL: ExecStart not rewritten"; exit 1; }
grep -q '^SocketMode=0600$' "$D/units/llm-bridge.socket" || { say "FAIL: the socket must be 0600"; exit 1; }
out=$(cd "$D/units" && XDG_RUNTIME_DIR=$D/xdg systemd-analyze --user verify llm-bridge.socket llm-bridge.service 2>&1) || {
    say "FAIL: systemd-analyze verify exited non-zero:"
    printf '%s\n' "$out"
    exit 1
}
if [[ -n $out ]]; then
    say "FAIL: systemd-analyze verify printed:"
    printf '%s\n' "$out"
    exit 1
fi
# The sandbox: the exposure README states, 2.5 at most.
exposure=$(cd "$D/units" && XDG_RUNTIME_DIR=$D/xdg systemd-analyze security --offline=yes --user \
    llm-bridge.service 2>&1 | sed -n 's/^.*Overall exposure level for llm-bridge.service: \([0-9.]*\).*$/\1/p')
[[ -n $exposure ]] || { say "FAIL: systemd-analyze security printed no exposure level"; exit 1; }
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' || { say "FAIL: exposure $exposure is above 2.5"; exit 1; }
say "PASS (systemd-analyze $(systemd-analyze --version | head -n 1 | cut -d' ' -f2); exposure $exposure)"
