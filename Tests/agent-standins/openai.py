#!/usr/bin/env python3
"""A stand-in of the OpenAI Responses API on loopback, for running the real Codex CLI offline
in the tests (-c model_providers.standin={base_url="http://127.0.0.1:PORT/v1",
wire_api="responses", env_key=...}).

It answers POST /v1/responses with server-sent events, from a script (see standin.py). A
request whose newest input is the user's prompt gets its first step; one whose newest
function_call_output answers step k gets step k + 1; anything else gets a short text. "{cwd}"
becomes the <cwd> Codex reports. Every request body goes to the log.

    openai.py --script script.json --log requests.jsonl     # prints "listening on PORT"
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402


class Handler(standin.Handler):
    def reply(self, body):
        found = re.findall(r"<cwd>([^<]+)</cwd>", json.dumps(body))
        cwd = found[-1] if found else ""
        for item in reversed(body.get("input", [])):
            if item.get("type") == "function_call_output":
                step = self.server.script.after([str(item.get("call_id", ""))], cwd)
                if step:
                    return step
            if item.get("type") == "message" and item.get("role") == "user":
                text = "\n".join(c.get("text", "") for c in item.get("content", []) if isinstance(c, dict))
                step = self.server.script.first(text, cwd)
                if step:
                    return step
        return ("text", "I have nothing scripted for that.")

    def answer(self, path, body):
        if not path.endswith("/responses"):
            return self.send_empty(404)
        step = self.reply(body)
        if step[0] == "text":
            item = {"type": "message", "role": "assistant", "id": "msg_standin", "content": [{"type": "output_text", "text": step[1]}]}
        else:
            item = {"type": "function_call", "id": "fc_standin", "call_id": step[1], "name": step[2], "arguments": json.dumps(step[3])}
        self.start_events()
        self.event("response.created", {"type": "response.created", "response": {"id": "resp_standin"}})
        self.event("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item})
        self.event("response.completed", {"type": "response.completed", "response": {"id": "resp_standin", "usage": {
            "input_tokens": 100, "input_tokens_details": None, "output_tokens": 20,
            "output_tokens_details": None, "total_tokens": 120}}})
        self.end_events()


if __name__ == "__main__":
    standin.serve(__doc__, Handler, "call_standin_")
