#!/usr/bin/env bash
# Checks the Nix files offline: every .nix file parses, and the Home
# Manager module, evaluated against a stub lib, resolves to the intended
# systemd units and refuses unknown options and mistyped values.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
say() { printf 'nix: %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }
if ! command -v nix-instantiate >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
fi
export NIX_CONFIG=$'build-users-group =\nexperimental-features = nix-command flakes\nflake-registry = \nsandbox = false'

files=$(git ls-files '*.nix')
[[ -n $files ]] || fail "no tracked .nix files found"
for f in $files; do
    nix-instantiate --parse "$f" >/dev/null 2>"$f.err" || { cat "$f.err"; rm -f "$f.err"; fail "$f does not parse"; }
    rm -f "$f.err"
done

EVAL=tests/packaging/nix/eval.nix
eval_cfg() { nix-instantiate --eval --strict --json "$EVAL" --arg cfg "$1" 2>&1; }

out=$(eval_cfg '{ enable = true; settings = { signal = 9; module.waiting = "W"; }; }') || fail "evaluation failed: $out"
python3 - "$out" <<'PY' || fail "the resolved units are not as intended: $out"
import json, sys
v = json.loads(sys.argv[1])
svc = v["systemd"]["user"]["services"]["llm-bridge"]
sock = v["systemd"]["user"]["sockets"]["llm-bridge"]
assert svc["Service"]["ExecStart"].endswith("/bin/llm-bridge daemon"), svc
assert svc["Service"]["Restart"] == "on-failure" and svc["Service"]["RestartSec"] == 1, svc
assert svc["Service"]["CacheDirectory"] == "llm-bridge" and svc["Service"]["CacheDirectoryMode"] == "0700", svc
assert "graphical-session.target" in svc["Unit"]["After"] and svc["Unit"]["PartOf"] == ["graphical-session.target"], svc
assert svc["Install"]["WantedBy"] == ["graphical-session.target"], svc
assert sock["Socket"] == {"ListenDatagram": "%t/llm-bridge.sock", "SocketMode": "0600", "PassCredentials": True, "RemoveOnStop": True}, sock
assert '"signal":9' in v["xdg"]["configFile"]["llm-bridge/config.toml"]["source"], v["xdg"]
assert v["home"]["packages"], v
assert v["systemd"]["user"]["tmpfiles"]["rules"] == ["d %h/.local/share/llm-bridge/voices 0700 - - -"], v["systemd"]["user"]
# The same service lines as the unit in contrib/systemd (the sandbox above
# all), value for value; only ExecStart and ExecReload name other paths.
unit = {}
section = None
for line in open("contrib/systemd/llm-bridge.service"):
    line = line.strip()
    if line.startswith("["):
        section = line
    elif section == "[Service]" and line and not line.startswith("#"):
        key, value = line.split("=", 1)
        unit.setdefault(key, []).append(value)
def words(value):
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, list):
        return [" ".join(str(x) for x in value)]
    return [str(value)]
module = {k: words(val) for k, val in svc["Service"].items()}
for key in ("ExecStart", "ExecReload"):
    unit.pop(key), module.pop(key)
unit = {k: [" ".join(vals)] for k, vals in unit.items()}
assert unit == module, {"only in the unit": {k: v for k, v in unit.items() if module.get(k) != v}, "only in the module": {k: v for k, v in module.items() if unit.get(k) != v}}
PY

out=$(eval_cfg '{ enable = true; }') || fail "evaluation without settings failed: $out"
[[ $out != *llm-bridge/config.toml* ]] || fail "no settings must write no config.toml: $out"
out=$(eval_cfg '{ }') || fail "evaluation of a disabled module failed: $out"
[[ $out == '{"enabled":false}' ]] || fail "a disabled module must configure nothing: $out"
if out=$(eval_cfg '{ enable = true; bogus = 1; }'); then fail "an unknown option was accepted"; fi
[[ $out == *"unknown option(s): services.llm-bridge.bogus"* ]] || fail "unexpected error: $out"
if out=$(eval_cfg '{ enable = "yes"; }'); then fail "a string for enable was accepted"; fi
[[ $out == *"services.llm-bridge.enable: not a bool"* ]] || fail "unexpected error: $out"

# The flake's outputs evaluate (packages, apps, devShells, the module),
# against a stand-in nixpkgs whose derivations are never built.
store=$(mktemp -d /tmp/llm-bridge-nix-store.XXXXXX)
trap 'chmod -R u+w "$store" 2>/dev/null; rm -rf "$store"' EXIT
out=$(nix flake check --no-build --no-write-lock-file \
    --override-input nixpkgs "path:$ROOT/tests/packaging/nix/stub-nixpkgs" \
    --store "local?root=$store" "$ROOT" 2>&1) || fail "nix flake check: $(grep -m1 '^error' <<<"$out")"

say "PASS ($(echo $files | wc -w) files parse; nix flake check --no-build; the Home Manager module resolves and refuses bad options)"
