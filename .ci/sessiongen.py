#!/usr/bin/env python3
"""A deterministic Claude Code-style session transcript (JSONL), for the demo and benchmarks.

Each line is one entry as Claude Code writes them under
~/.claude/projects/<folder>/<session id>.jsonl: a user prompt, the assistant's reply (text and a
tool call), the tool's result, and so on, chained by uuid/parentUuid. Tool results carry the
text of this project's own Swift sources, so sizes and compression behave like real work.

Messages N of one --seed are always the first N lines of any longer output of that seed, so
"--messages 1000" then "--messages 1050" is a conversation that grew by 50 messages.

    python3 .ci/sessiongen.py --messages 1000 --root /home/me/proj > s.jsonl
"""
import argparse
import hashlib
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "Sources")
PROMPTS = [
    "Why does {f} fail when the repository is empty?",
    "Add a test for the error path in {f}.",
    "Explain what {f} does, briefly.",
    "Rename the helper in {f} so it says what it returns.",
    "The build warns in {f}; fix it.",
    "Make {f} stream instead of reading everything into memory.",
]
REPLIES = [
    "Let me read {f} first.",
    "I'll look at how {f} is used before changing it.",
    "Running the tests that cover {f}.",
    "Checking the file layout under {d}.",
]


def corpus_files():
    files = []
    for d, _, names in os.walk(SOURCES):
        files += [os.path.join(d, n) for n in names if n.endswith(".swift")]
    return sorted(files)


def stable_uuid(seed, n):
    h = hashlib.sha256(f"{seed}/{n}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def entries(seed, root, session):
    rng = random.Random(seed)
    files = corpus_files() or [__file__]
    start = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    parent = None
    n = 0
    while True:
        path = rng.choice(files)
        rel = os.path.relpath(path, os.path.dirname(SOURCES))
        target = f"{root}/{rel}"
        tool_id = "toolu_" + hashlib.sha256(f"{seed}/tool/{n}".encode()).hexdigest()[:24]
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        lo = rng.randrange(0, max(1, len(text) - 4000))
        excerpt = text[lo:lo + rng.randrange(400, 4000)]
        turn = [
            ("user", {"role": "user", "content": rng.choice(PROMPTS).format(f=rel)}),
            ("assistant", {"role": "assistant", "model": "claude-sonnet-4-5", "content": [
                {"type": "text", "text": rng.choice(REPLIES).format(f=rel, d=os.path.dirname(target))},
                {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": target}}]}),
            ("user", {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": excerpt}]}),
        ]
        for kind, message in turn:
            uid = stable_uuid(seed, n)
            yield {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": root,
                   "sessionId": session, "version": "2.1.30", "gitBranch": "main", "type": kind,
                   "message": message, "uuid": uid,
                   "timestamp": (start + timedelta(seconds=17 * n)).isoformat().replace("+00:00", "Z")}
            parent = uid
            n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root", default="/home/USER/projects/demo", help="the project root the session was recorded in")
    ap.add_argument("--session", default="4d5611e5-241a-462a-8d15-5122611a9569")
    args = ap.parse_args()
    out = sys.stdout
    for i, entry in zip(range(args.messages), entries(args.seed, args.root, args.session)):
        out.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
