#!/usr/bin/env python3
"""A stand-in of the OpenAI Responses API on loopback, for running the real Codex CLI offline
in the tests (-c model_providers.standin={base_url="http://127.0.0.1:PORT/v1",
wire_api="responses", env_key=...}).

It answers POST /v1/responses with server-sent events, from a script of the same shape as
anthropic.py's:

    {"prompts": {"<text the user typed>": [{"tool": "exec_command", "input": {"cmd": "pwd"}},
                                            {"text": "done"}]}}

A request whose newest input is the user's prompt gets its first step; one whose newest
function_call_output answers step k gets step k + 1; anything else gets a short text. "{cwd}"
in a tool's input becomes the <cwd> Codex reports. Every request body is appended to the log.

    openai.py --script script.json --log requests.jsonl     # prints "listening on PORT"
"""
import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Script:
    def __init__(self, path):
        with open(path) as f:
            self.prompts = list(json.load(f)["prompts"].items())

    def step(self, body):
        """A list of ("text", str) or ("call", call_id, name, arguments)."""
        found = re.findall(r"<cwd>([^<]+)</cwd>", json.dumps(body))
        self.cwd = found[-1] if found else ""
        items = body.get("input", [])
        for item in reversed(items):
            kind = item.get("type")
            if kind == "function_call_output" and str(item.get("call_id", "")).startswith("call_standin_"):
                p, k = (int(x) for x in item["call_id"][len("call_standin_"):].split("_")[:2])
                return self.render(p, k + 1)
            if kind == "message" and item.get("role") == "user":
                text = "\n".join(c.get("text", "") for c in item.get("content", []) if isinstance(c, dict))
                for p, (prompt, _) in enumerate(self.prompts):
                    if prompt in text:
                        return self.render(p, 0)
        return [("text", "I have nothing scripted for that.")]

    def render(self, p, k):
        steps = self.prompts[p][1]
        if k >= len(steps):
            return [("text", "Done.")]
        step = steps[k]
        if "tool" in step:
            arguments = json.dumps(step["input"]).replace("{cwd}", self.cwd)
            return [("call", f"call_standin_{p}_{k}", step["tool"], arguments)]
        return [("text", step["text"])]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        with LOCK:
            with open(self.server.log, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if not self.path.split("?")[0].endswith("/responses"):
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()

        def event(data):
            self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        event({"type": "response.created", "response": {"id": "resp_standin"}})
        for i, b in enumerate(self.server.script.step(body)):
            if b[0] == "text":
                item = {"type": "message", "role": "assistant", "id": f"msg_standin_{i}",
                        "content": [{"type": "output_text", "text": b[1]}]}
            else:
                item = {"type": "function_call", "id": f"fc_standin_{i}", "call_id": b[1], "name": b[2], "arguments": b[3]}
            event({"type": "response.output_item.done", "output_index": i, "item": item})
        event({"type": "response.completed", "response": {"id": "resp_standin", "usage": {
            "input_tokens": 100, "input_tokens_details": None, "output_tokens": 20,
            "output_tokens_details": None, "total_tokens": 120}}})
        self.wfile.flush()
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.script = Script(args.script)
    server.log = args.log
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
