#!/usr/bin/env python3
"""Writes Format/vectors/remap.json: path remapping (Format/SPEC.md §22).

An implementation of §22 written from the spec's text alone, independent of the Swift code
(PathRemap.swift). Run from the project root: python3 Format/tools/remap_vectors.py
"""
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vectorfile import write  # noqa: E402

NAME = set(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-")
URI_ENCODED = set(b'"#%<>?`{}\\')


def name_byte(c):
    return c in NAME or c >= 0x80


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def slash(s):
    return s.replace("/", "\\/")


def uri(path):
    out = []
    for c in path.encode():
        out.append("%%%02X" % c if c <= 0x20 or c >= 0x7F or c in URI_ENCODED else chr(c))
    return "file://" + "".join(out)


def patterns(rules):
    out = []
    for frm, to in rules:
        if not frm or frm == to:
            continue
        for p, r in [(frm, esc(to)), (esc(frm), esc(to)), (slash(esc(frm)), slash(esc(to))),
                     (uri(frm), uri(to)), (slash(uri(frm)), slash(uri(to)))]:
            p, r = p.encode(), r.encode()
            if all(p != q for q, _ in out):
                out.append((p, r))
    # longest first; Python's sort is stable, so rule order breaks ties
    return sorted(out, key=lambda pr: -len(pr[0]))


def punct_or_space(ch):
    return ch is not None and unicodedata.category(ch)[0] in "PZ" and unicodedata.category(ch) not in ("Cc",)


def char_at(b, j):
    """The character whose UTF-8 bytes start at j, or None."""
    lead = b[j]
    n = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 0
    try:
        return b[j:j + n].decode() if n and j + n <= len(b) else None
    except UnicodeDecodeError:
        return None


def char_before(b, i):
    """The character whose UTF-8 bytes end just before i, or None."""
    for n in (2, 3, 4):
        if i - n >= 0:
            try:
                ch = b[i - n:i].decode()
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                return ch
    return None


def ends(b, j):
    if j == len(b):
        return True
    c = b[j]
    if c >= 0x80:
        return punct_or_space(char_at(b, j))
    if not name_byte(c):
        return True
    return c == ord(".") and (j + 1 == len(b) or not name_byte(b[j + 1]) or (b[j + 1] >= 0x80 and ends(b, j + 1)))


def starts(b, i):
    if i == 0:
        return True
    before = b[i - 1]
    if before >= 0x80:
        return punct_or_space(char_before(b, i))
    if not name_byte(before):
        return before != ord("/")
    if i >= 2 and b[i - 2] == ord("\\") and before in b"ntrbf":
        return True
    if before != ord("m"):
        return False
    k = i - 2
    while k >= 0 and (chr(b[k]).isdigit() or b[k] == ord(";")):
        k -= 1
    if k < 1 or b[k] != ord("["):
        return False
    return b[k - 1] == 0x1B or b[k - 6:k] in (b"\\u001b", b"\\u001B")


def remap(rules, text):
    b = text.encode()
    pats = patterns(rules)
    out, i = bytearray(), 0
    while i < len(b):
        for p, r in pats:
            if b[i:i + len(p)] == p and starts(b, i) and ends(b, i + len(p)):
                out += r
                i += len(p)
                break
        else:
            out.append(b[i])
            i += 1
    return out.decode()


A, B = "/home/a/proj", "/Users/b/p"
ONE = [(A, B)]
CLAUDE = [(A, B), ("/home/a/.claude", "/Users/b/.claude"),
          ("/home/a/.claude/projects/-home-a-proj", "/Users/b/.claude/projects/-Users-b-p")]
CASES = [
    ("the example of §22", ONE,
     r'{"cwd":"/home/a/proj","file":"/home/a/proj/src/x.swift","other":"/home/a/proj2","txt":"cd /home/a/proj\nls","esc":"\/home\/a\/proj\/y","dot":"/home/a/proj.old"}'),
    ("a root at the end of a sentence (Claude Code's note on a missing file)", ONE,
     '{"content":"File does not exist. Note: your current working directory is /home/a/proj."}'),
    ("a root followed by punctuation", ONE, '{"t":"(/home/a/proj), /home/a/proj: /home/a/proj; [/home/a/proj] {/home/a/proj}, /home/a/proj!"}'),
    ("a dot that continues a name is no full stop", ONE, '{"t":"/home/a/proj.old /home/a/proj.. /home/a/proj.d/x"}'),
    ("a longer name or a path that contains the root elsewhere is left alone", ONE,
     '{"a":"/home/a/proj2","b":"/home/a/proj-b/x","c":"/x/home/a/proj","d":"/home/a/proj_1"}'),
    ("right after JSON escapes \\n \\t \\r", ONE, r'{"t":"ls\n/home/a/proj/x\t/home/a/proj\r/home/a/proj"}'),
    ("after \\\\n and \\\\\\\\n: a newline escaped in JSON inside JSON", ONE, r'{"t":"a\\n/home/a/proj/x b\\\\n/home/a/proj/y"}'),
    ("after a terminal colour code, raw, escaped, and after a plain m", ONE,
     '{"t":"\x1b[90m/home/a/proj/x \\u001b[0;90m/home/a/proj/y \\u001B[1m/home/a/proj item/home/a/proj"}'),
    ("after and before typographic quotes and other non-ASCII punctuation", ONE,
     '{"t":"‘/home/a/proj/x’ «/home/a/proj» 「/home/a/proj」 /home/a/proj。 /home/a/proj\u00a0ok"}'),
    ("file:// URIs, plain and with escaped slashes", ONE,
     r'{"uri":"file:///home/a/proj/","b":"file:///home/a/proj/src/x.ts","c":"file:\/\/\/home\/a\/proj\/y","d":"file:///home/a/proj2/"}'),
    ("a target with a space: %20 in URIs, as is in paths", [(A, "/Users/b/my proj")],
     '{"cwd":"/home/a/proj","uri":"file:///home/a/proj/x.md"}'),
    ("a root with non-ASCII and a space, percent-encoded in URIs", [("/home/a/projé x", B)],
     '{"cwd":"/home/a/projé x","uri":"file:///home/a/proj%C3%A9%20x/y"}'),
    ("a target with a quote is written JSON-escaped", [(A, '/Users/b/"q"')], '{"cwd":"/home/a/proj"}'),
    ("a root with a quote, escaped as in JSON", [('/home/a/"q"', B)], r'{"cwd":"/home/a/\"q\"/x"}'),
    ("the agent's own folders: the longest root wins where roots nest", CLAUDE,
     '{"cwd":"/home/a/proj","memory":"/home/a/.claude/projects/-home-a-proj/memory/MEMORY.md","settings":"/home/a/.claude/settings.json"}'),
    ("a root inside the home that is also remapped", [("/home/a", "/Users/b"), ("/home/a/proj", "/Users/b/work/p")],
     '{"a":"/home/a/proj/x","b":"/home/a/notes.txt","c":"/home/a"}'),
    ("replaced text is not scanned again", [("/a", "/a/a")], '{"t":"/a /a/b"}'),
    ("no rule where from = to", [(A, A)], '{"cwd":"/home/a/proj"}'),
    ("non-UTF-8-looking neighbours: a multi-byte letter continues a name", ONE, '{"t":"/home/a/projé /home/a/proj"}'),
]


def main():
    tests = []
    for n, (comment, rules, text) in enumerate(CASES, 1):
        tests.append({"tcId": n, "comment": comment, "rules": [{"from": f, "to": t} for f, t in rules],
                      "input": text, "output": remap(rules, text), "result": "valid"})
    write("remap.json", "path remapping", ["Format/SPEC.md §22"],
          "generated by Format/tools/remap_vectors.py, an implementation of §22 independent of the Swift code", tests)


if __name__ == "__main__":
    main()
