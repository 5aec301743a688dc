#!/usr/bin/env python3
"""A stand-in of the Anthropic Messages API on loopback, for running the real Claude Code CLI
offline in the tests (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).

It answers POST /v1/messages, streamed (server-sent events) or plain, from a script:

    {"prompts": {"<text the user typed>": [{"tool": "Bash", "input": {"command": "pwd"}},
                                            {"tool": "Read", "input": {"file_path": "{cwd}/README.md"}},
                                            {"text": "done"}]}}

A request whose last user turn holds one of the prompts gets that prompt's first step; a
request whose last user turn returns the result of step k's tool call (the latest, when it
returns several) gets step k + 1. Any
other request (Claude Code's titles and summaries) gets a short text. Every request body is
appended to the log file as one JSON line, so tests can check what reached the model.

    anthropic.py --script script.json --log requests.jsonl     # prints "listening on PORT"
"""
import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def texts(content):
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]


def tool_results(content):
    if isinstance(content, str):
        return []
    return [b.get("tool_use_id", "") for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


class Script:
    def __init__(self, path):
        with open(path) as f:
            self.prompts = list(json.load(f)["prompts"].items())

    def step(self, body):
        """The blocks to answer with: a list of ("text", str) or ("tool_use", id, name, input).
        "{cwd}" in a tool's input becomes the working directory Claude Code reports."""
        found = re.search(r"Primary working directory: (\S+)", json.dumps(body))
        self.cwd = found.group(1).replace("\\\\", "\\") if found else ""
        return self.blocks(body)

    def blocks(self, body):
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        if not users or not body.get("tools"):
            return [("text", "Stand-in session")]
        last = users[-1]["content"]
        # Claude Code may send the results of several earlier steps in one turn: go on after
        # the latest.
        answered = [tuple(int(x) for x in t[len("toolu_standin_"):].split("_")[:2])
                    for t in tool_results(last) if t.startswith("toolu_standin_")]
        if answered:
            p, k = max(answered)
            return self.render(p, k + 1)
        joined = "\n".join(texts(last))
        for p, (prompt, _) in enumerate(self.prompts):
            if prompt in joined:
                return self.render(p, 0)
        return [("text", "I have nothing scripted for that.")]

    def render(self, p, k):
        steps = self.prompts[p][1]
        if k >= len(steps):
            return [("text", "Done.")]
        step = steps[k]
        if "tool" in step:
            tool_input = json.loads(json.dumps(step["input"]).replace("{cwd}", self.cwd))
            return [("text", step.get("say", "Let me check.")),
                    ("tool_use", f"toolu_standin_{p}_{k}_{len(steps)}", step["tool"], tool_input)]
        return [("text", step["text"])]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "stand-in"}})

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        with LOCK:
            with open(self.server.log, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            return self.send_json(200, {"input_tokens": 100})
        if not path.endswith("/v1/messages"):
            return self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
        blocks = self.server.script.step(body)
        content = []
        for b in blocks:
            if b[0] == "text":
                content.append({"type": "text", "text": b[1]})
            else:
                content.append({"type": "tool_use", "id": b[1], "name": b[2], "input": b[3]})
        stop = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
        message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": body.get("model", "stand-in"),
                   "content": content, "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        if not body.get("stream"):
            return self.send_json(200, message)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()

        def event(name, data):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        start = dict(message, content=[], stop_reason=None)
        event("message_start", {"type": "message_start", "message": start})
        for i, c in enumerate(content):
            if c["type"] == "text":
                event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
                event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": c["text"]}})
            else:
                event("content_block_start", {"type": "content_block_start", "index": i,
                                              "content_block": {"type": "tool_use", "id": c["id"], "name": c["name"], "input": {}}})
                event("content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "input_json_delta", "partial_json": json.dumps(c["input"])}})
            event("content_block_stop", {"type": "content_block_stop", "index": i})
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                "usage": {"output_tokens": 20}})
        event("message_stop", {"type": "message_stop"})
        self.wfile.flush()
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.script = Script(args.script)
    server.log = args.log
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
