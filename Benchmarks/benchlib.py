"""Helpers the benchmark scripts share (imported from the scripts' own folder)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
GEN = os.path.join(SHARED, "gen_session.py")
BIN = os.path.join(ROOT, ".build", "release", "convosync")
PW = "benchmark-password"


def du(path):
    """Bytes of every file under `path`, as stored (no block rounding)."""
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total
