"""A stand-in for the OpenAI Responses API, for the real Codex CLI client in
tests/e2e/codex.sh: the first request of a session calls Codex's shell
tool (`exec_command`, Codex 0.171) with the command given on the command
line; once the tool's output comes back, it answers in text. Replies are
streamed (SSE) as Codex reads them: `response.created`, one
`response.output_item.done`, `response.completed`. Writes each request's
input items (type and role) to the log, and writes the ready file once it listens.

With `escalate` after the command, the call asks to run outside Codex's
sandbox (`sandbox_permissions: require_escalated`), which needs approval;
Codex's automatic reviewer (`approvals_reviewer = "auto_review"`) asks the
same model, in a request with a JSON schema, and is told to allow it.

Usage: fake_responses.py PORT READY_FILE LOG_FILE SHELL_COMMAND [escalate]
"""
import http.server
import json
import sys

PORT, READY, LOG, COMMAND = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ESCALATE = sys.argv[5:] == ["escalate"]
ANSWER = "The secret word is pelican."
CALL_ID = "call_e2e_1"


def event(kind, payload):
    return ("event: %s\ndata: %s\n\n" % (kind, json.dumps(dict(payload, type=kind)))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        items = [i for i in request.get("input") or [] if isinstance(i, dict)]
        with open(LOG, "a") as log:
            log.write(json.dumps([[i.get("type"), i.get("role")] for i in items]) + "\n")
        if not self.path.rstrip("/").endswith("/responses"):
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        tools = [t.get("name") for t in request.get("tools") or []]
        answered = any(i.get("type") == "function_call_output" and i.get("call_id") == CALL_ID for i in items)
        schema = ((request.get("text") or {}).get("format") or {}).get("schema")
        if schema and "outcome" in json.dumps(schema):
            verdict = {"risk_level": "low", "user_authorization": "high", "outcome": "allow",
                       "rationale": "the e2e test allows it"}
            item = {"type": "message", "role": "assistant", "id": "msg_review",
                    "content": [{"type": "output_text", "text": json.dumps(verdict)}]}
        elif not answered and "exec_command" in tools:
            arguments = {"cmd": COMMAND, "yield_time_ms": 30000}
            if ESCALATE:
                arguments.update(sandbox_permissions="require_escalated",
                                 justification="read the notes outside the sandbox")
            item = {"type": "function_call", "name": "exec_command", "call_id": CALL_ID,
                    "arguments": json.dumps(arguments)}
        else:
            item = {"type": "message", "role": "assistant", "id": "msg_1",
                    "content": [{"type": "output_text", "text": ANSWER}]}
        usage = {"input_tokens": 10, "input_tokens_details": None, "output_tokens": 5,
                 "output_tokens_details": None, "total_tokens": 15}
        body = b"".join([
            event("response.created", {"response": {"id": "resp_1"}}),
            event("response.output_item.done", {"output_index": 0, "item": item}),
            event("response.completed", {"response": {"id": "resp_1", "usage": usage}}),
        ])
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
with open(READY, "w") as ready:
    ready.write("ready\n")
server.serve_forever()
