#!/usr/bin/env python3
"""A stand-in of the Anthropic Messages API on loopback, for running the real Claude Code CLI
offline in the tests (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).

It answers POST /v1/messages, streamed (server-sent events) or plain, from a script (see
standin.py). A request whose last user turn holds a prompt gets its first step; one whose last
user turn returns tool results gets the step after the latest. Any other request (Claude
Code's titles and summaries) gets a short text. Every request body goes to the log.

    anthropic.py --script script.json --log requests.jsonl     # prints "listening on PORT"
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402


def blocks_of(content):
    return [content] if isinstance(content, str) else [b for b in content if isinstance(b, dict)]


class Handler(standin.Handler):
    def reply(self, body):
        """The step to answer with."""
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        if not users or not body.get("tools"):
            return ("text", "Stand-in session")
        found = re.search(r"Primary working directory: (\S+)", json.dumps(body))
        cwd = found.group(1) if found else ""
        last = blocks_of(users[-1]["content"])
        ids = [b.get("tool_use_id", "") for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
        text = "\n".join(b if isinstance(b, str) else b.get("text", "") for b in last if isinstance(b, str) or b.get("type") == "text")
        step = self.server.script.after(ids, cwd) or self.server.script.first(text, cwd)
        return step or ("text", "I have nothing scripted for that.")

    def answer(self, path, body):
        if path.endswith("/count_tokens"):
            return self.send_json({"input_tokens": 100})
        if not path.endswith("/v1/messages"):
            return self.send_empty(404)
        step = self.reply(body)
        content = [{"type": "text", "text": step[1] if step[0] == "text" else "Let me check."}]
        if step[0] == "tool":
            content.append({"type": "tool_use", "id": step[1], "name": step[2], "input": step[3]})
        stop = "tool_use" if step[0] == "tool" else "end_turn"
        message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": body.get("model", "stand-in"),
                   "content": content, "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        if not body.get("stream"):
            return self.send_json(message)
        self.start_events()
        self.event("message_start", {"type": "message_start", "message": dict(message, content=[], stop_reason=None)})
        for i, c in enumerate(content):
            if c["type"] == "text":
                start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": c["text"]}
            else:
                start = {"type": "tool_use", "id": c["id"], "name": c["name"], "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(c["input"])}
            self.event("content_block_start", {"type": "content_block_start", "index": i, "content_block": start})
            self.event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
            self.event("content_block_stop", {"type": "content_block_stop", "index": i})
        self.event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 20}})
        self.event("message_stop", {"type": "message_stop"})
        self.end_events()

    def send_json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    standin.serve(__doc__, Handler, "toolu_standin_")
