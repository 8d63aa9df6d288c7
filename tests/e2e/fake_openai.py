"""A stand-in for an OpenAI-compatible chat-completions server, for the
real Qwen Code client in tests/e2e/qwen.sh: the first turn of a
conversation calls the shell tool with the command given on the command
line (none if it is empty), the turn after the tool's result answers in
text. Streams (SSE) or
not, as asked. Writes each request's roles to the log, and writes the
ready file once it listens.

Usage: fake_openai.py PORT READY_FILE LOG_FILE SHELL_COMMAND
"""
import http.server
import json
import sys
import time

PORT, READY, LOG, COMMAND = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ANSWER = "The secret word is pelican."


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode())

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        messages = request.get("messages", [])
        with open(LOG, "a") as log:
            log.write(json.dumps([m.get("role") for m in messages]) + "\n")
        if COMMAND and request.get("tools") and not any(m.get("role") == "tool" for m in messages):
            arguments = json.dumps({"command": COMMAND, "description": "read the notes"})
            delta = {"role": "assistant", "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function",
                 "function": {"name": "run_shell_command", "arguments": arguments}}]}
            finish = "tool_calls"
        else:
            delta = {"role": "assistant", "content": ANSWER}
            finish = "stop"
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        base = {"id": "c1", "created": int(time.time()), "model": "fake"}
        if not request.get("stream"):
            message = dict(delta, content=delta.get("content"))
            body = dict(base, object="chat.completion", usage=usage,
                        choices=[{"index": 0, "message": message, "finish_reason": finish}])
            self.reply(200, json.dumps(body).encode())
            return
        chunks = [
            dict(base, object="chat.completion.chunk",
                 choices=[{"index": 0, "delta": delta, "finish_reason": None}]),
            dict(base, object="chat.completion.chunk", usage=usage,
                 choices=[{"index": 0, "delta": {}, "finish_reason": finish}]),
        ]
        body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        self.reply(200, body, "text/event-stream")


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
with open(READY, "w") as ready:
    ready.write("ready\n")
server.serve_forever()
