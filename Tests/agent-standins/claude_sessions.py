"""Claude Code's session listing, as its Agent SDK reads it (an independent reader of the
files a resume writes): prints, as JSON, what `list_sessions(directory)` finds and the uuids
of `get_session_messages(ID, directory)`.

    python3 claude_sessions.py DIRECTORY ID

HOME (or CLAUDE_CONFIG_DIR) is the caller's.
"""
import json
import sys

import claude_agent_sdk


def main():
    directory, session = sys.argv[1], sys.argv[2]
    listed = claude_agent_sdk.list_sessions(directory=directory)
    messages = claude_agent_sdk.get_session_messages(session, directory=directory)
    json.dump({
        "sessions": [{"id": s.session_id, "cwd": s.cwd, "firstPrompt": s.first_prompt} for s in listed],
        "messages": [{"uuid": m.uuid, "type": m.type} for m in messages],
    }, sys.stdout)


if __name__ == "__main__":
    main()
