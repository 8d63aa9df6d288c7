"""Asks the real Codex CLI which hooks it has and whether each is trusted,
through its own app server (`codex app-server`, JSON-RPC over stdio:
`initialize`, then `hooks/list`), for tests/e2e/codex.sh.

  codex_hooks.py CODEX_JS CWD status
      prints one line per hook: its key and trust status ("untrusted", "trusted"...)
  codex_hooks.py CODEX_JS CWD trust CONFIG_TOML
      trusts every hook that is not, as the user does in Codex's /hooks
      screen: appends `[hooks.state."KEY"] trusted_hash = CURRENT_HASH`
      (Codex's own hash of the hook) to CONFIG_TOML.
"""
import json
import subprocess
import sys

codex, cwd, action = sys.argv[1], sys.argv[2], sys.argv[3]
server = subprocess.Popen(["node", codex, "app-server"], cwd=cwd, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def call(request_id, method, params):
    server.stdin.write(json.dumps({"id": request_id, "method": method, "params": params}) + "\n")
    server.stdin.flush()
    for line in server.stdout:
        message = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                sys.exit(f"{method}: {message['error']}")
            return message["result"]
    sys.exit(f"{method}: the app server closed its output")


try:
    call(1, "initialize", {"clientInfo": {"name": "llm-bridge-e2e", "version": "0"}})
    server.stdin.write(json.dumps({"method": "initialized"}) + "\n")
    hooks = [h for entry in call(2, "hooks/list", {"cwds": [cwd]})["data"] for h in entry["hooks"]]
finally:
    server.stdin.close()
    server.terminate()
    server.wait()

if action == "status":
    for hook in hooks:
        print(hook["key"], hook["trustStatus"])
elif action == "trust":
    with open(sys.argv[4], "a") as config:
        for hook in hooks:
            if hook["trustStatus"] != "trusted":
                config.write(f'\n[hooks.state.{json.dumps(hook["key"])}]\ntrusted_hash = "{hook["currentHash"]}"\n')
else:
    sys.exit(f"unknown action {action}")
