#!/usr/bin/env python3
"""A stand-in agent for the focus e2e: a process that reports as a Claude Code
session through the real hook (llm-bridge-hook, each event's recorded sample on
stdin with this session's id and directory), then stays alive, as an agent
would in its terminal. The hook names this process (python3, not a shell) as
the session's client.

Usage: agent.py SAMPLES_DIR SESSION_ID CWD EVENT...   (EVENT: a sample's name)
"""
import json
import subprocess
import sys
import time

samples, session_id, cwd, events = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
for event in events:
    with open(f"{samples}/hook-{event}.json") as f:
        payload = json.load(f)
    payload["session_id"] = session_id
    payload["cwd"] = cwd
    subprocess.run(["llm-bridge-hook"], input=json.dumps(payload).encode(), check=True)
print(f"agent {session_id}: reported {' '.join(events)}", flush=True)
while True:
    time.sleep(3600)
