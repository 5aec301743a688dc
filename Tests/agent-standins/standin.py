"""What the model-API stand-ins share (anthropic.py, openai.py): the script, the request log,
and the server's start.

A script maps each prompt the user types to its steps:

    {"prompts": {"Look at the project": [{"tool": "Bash", "input": {"command": "pwd"}},
                                          {"tool": "Read", "input": {"file_path": "{cwd}/README.md"}},
                                          {"text": "The project has a README."}]}}

Step k of prompt p is a tool call whose id encodes (p, k), so the request that returns its
result is answered with step k + 1. "{cwd}" in a tool's input becomes the working directory the
agent reports.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Script:
    def __init__(self, path, id_prefix):
        with open(path) as f:
            self.prompts = list(json.load(f)["prompts"].items())
        self.id_prefix = id_prefix

    def first(self, text, cwd):
        """The first step of the prompt `text` holds, or None."""
        for p, (prompt, _) in enumerate(self.prompts):
            if prompt in text:
                return self.render(p, 0, cwd)
        return None

    def after(self, tool_ids, cwd):
        """The step after the latest answered tool call among `tool_ids`, or None."""
        answered = [tuple(int(x) for x in t[len(self.id_prefix):].split("_")[:2])
                    for t in tool_ids if t.startswith(self.id_prefix)]
        return self.render(*max(answered), cwd, offset=1) if answered else None

    def render(self, p, k, cwd, offset=0):
        """("text", text) or ("tool", id, name, input)."""
        steps = self.prompts[p][1]
        k += offset
        if k >= len(steps):
            return ("text", "Done.")
        step = steps[k]
        if "tool" not in step:
            return ("text", step["text"])
        return ("tool", f"{self.id_prefix}{p}_{k}", step["tool"], json.loads(json.dumps(step["input"]).replace("{cwd}", cwd)))


class Handler(BaseHTTPRequestHandler):
    """Logs every request body; `answer(path, body)` (of the subclass) writes the reply."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_empty(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_empty(404)

    def do_HEAD(self):
        self.send_empty(200)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        with LOCK:
            with open(self.server.log, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        self.answer(self.path.split("?")[0], body)

    def start_events(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()

    def event(self, name, data):
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def end_events(self):
        self.wfile.flush()
        self.close_connection = True


def serve(doc, handler, id_prefix):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.script = Script(args.script, id_prefix)
    server.log = args.log
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
