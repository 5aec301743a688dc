"""Reads Codex's own resume picker: runs `codex resume` on a pseudo-terminal in a directory
and prints the picker's rows as the screen shows them (terminal codes stripped), until a row
containing EXPECT shows or the deadline passes. Exit status 0 when it showed, 1 when not.

    python3 codex_picker.py CODEX_BINARY DIRECTORY EXPECT [--timeout SECONDS] [-- CODEX_OPTION...]

The options after `--` go to `codex resume` (the model provider, so that Codex does not ask
to log in first).

HOME and the rest of the environment are the caller's. The picker is only read, never
answered, and killed at the end.
"""
import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

# Terminal queries the picker waits on, and the answers a terminal would give.
ANSWERS = {
    b"\x1b[6n": b"\x1b[1;1R",  # cursor position
    b"\x1b]11;?": b"\x1b]11;rgb:0000/0000/0000\x1b\\",  # background colour
    b"\x1b[c": b"\x1b[?62;c",  # device attributes
}
CODES = re.compile(rb"\x1b\[[0-9;?<>=]*[a-zA-Z~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("codex")
    parser.add_argument("directory")
    parser.add_argument("expect")
    parser.add_argument("--timeout", type=float, default=30)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.options = argv[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(args.directory)
        os.environ["TERM"] = "xterm-256color"
        os.execv(args.codex, [args.codex, "resume", "--include-non-interactive"] + args.options)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    screen = b""
    found = False
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and not found:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if fd not in ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            screen += data
            for query, answer in ANSWERS.items():
                if query in data:
                    os.write(fd, answer)
            text = CODES.sub(b" ", screen).decode("utf-8", "replace")
            found = args.expect in text.split("Resume a previous session", 1)[-1]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    text = re.sub(r"\s+", " ", CODES.sub(b" ", screen).decode("utf-8", "replace"))
    print(text[-4000:])
    sys.exit(0 if found else 1)


if __name__ == "__main__":
    main()
