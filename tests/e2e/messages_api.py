#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic Messages API, on loopback, for
driving the real Claude Code client offline in the end-to-end tests.

Usage: messages_api.py SCRIPT.json PORT_FILE [LOG]
  Listens on a free loopback port and writes its number to PORT_FILE.

SCRIPT.json is a list of turns, played in order, one per request that
offers the Bash tool (an agentic turn: each tool result comes back as the
next request):
  {"bash": "echo one"}           a tool_use block calling Bash
  {"text": "All done."}          a text reply that ends the turn
  {"slow": ["a", "b"], "delay": 0.5}
                                 a text reply streamed one delta per chunk,
                                 DELAY seconds apart (to press Esc mid-stream)
Requests without the Bash tool (title generation and the like) get a short
text reply and do not consume the script; so does every request once the
script is exhausted. Replies stream as server-sent events, like the real
API, and the connection is closed after each one.
"""

import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "claude-sonnet-4-5-20250929"
ids = itertools.count(1)
lock = threading.Lock()


def sse(events):
    out = []
    for data in events:
        out.append(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n")
    return "".join(out).encode()


def reply_events(turn):
    n = next(ids)
    usage = {
        "input_tokens": 1200,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    events = [
        {
            "type": "message_start",
            "message": {
                "id": f"msg_{n:04d}",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        }
    ]
    if "bash" in turn:
        events += [
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": f"toolu_e2e_{n:04d}", "name": "Bash", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {
                    "type": "input_json_delta",
                    "partial_json": json.dumps({"command": turn["bash"], "description": "e2e step"}),
                },
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        ]
    else:
        events += [
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": turn.get("text", "ok")}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 8},
            },
        ]
    events.append({"type": "message_stop"})
    return events


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if LOG:
            with open(LOG, "a") as f:
                f.write((fmt % args) + "\n")

    def send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def stream_slow(self, turn):
        import time
        n = next(ids)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def put(data):
            raw = f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        usage = {"input_tokens": 1200, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        try:
            put({"type": "message_start", "message": {"id": f"msg_{n:04d}", "type": "message", "role": "assistant",
                 "model": MODEL, "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})
            put({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            for chunk in turn["slow"]:
                put({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}})
                time.sleep(turn.get("delay", 0.5))
            put({"type": "content_block_stop", "index": 0})
            put({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 50}})
            put({"type": "message_stop"})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            if LOG:
                with open(LOG, "a") as f:
                    f.write("slow stream finished\n")
        except (BrokenPipeError, ConnectionResetError) as e:
            if LOG:
                with open(LOG, "a") as f:
                    f.write(f"slow stream aborted by client: {e!r}\n")

    def do_GET(self):
        self.send(200, b"{}")

    def do_HEAD(self):
        self.send(200, b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            return self.send(200, json.dumps({"input_tokens": 1200}).encode())
        if not path.endswith("/v1/messages"):
            return self.send(200, b"{}")
        tools = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
        turn = {"text": "ok"}
        if "Bash" in tools:
            with lock:
                if SCRIPT:
                    turn = SCRIPT.pop(0)
        if LOG:
            with open(LOG, "a") as f:
                f.write(f"request tools={len(tools)} -> {json.dumps(turn)}\n")
        events = reply_events(turn)
        if body.get("stream") and "slow" in turn:
            return self.stream_slow(turn)
        if body.get("stream"):
            return self.send(200, sse(events), "text/event-stream")
        message = events[0]["message"]
        message["content"] = [
            {"type": "text", "text": turn.get("text", "ok")}
            if "bash" not in turn
            else {"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": {"command": turn["bash"]}}
        ]
        message["stop_reason"] = "tool_use" if "bash" in turn else "end_turn"
        return self.send(200, json.dumps(message).encode())


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        SCRIPT = json.load(f)
    LOG = sys.argv[3] if len(sys.argv) > 3 else None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.rename(tmp, sys.argv[2])
    server.serve_forever()
