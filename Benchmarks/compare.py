#!/usr/bin/env python3
"""End-to-end comparison of convosync, restic, borg and gzip -9 on the same inputs, in one run.

Usage (from the project root, after `swift build -c release --product convosync`):
    python3 Benchmarks/compare.py [--skip-bulk]

Inputs come from ../shared/corpus (generator seed 1, the real recorded sessions, and the
40-session bulk corpus exactly as ../shared/corpus/README.md builds it). Prints one Markdown table.
"""
import argparse, gzip, os, resource, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, GEN, PW, SHARED, du  # noqa: E402

ENV = dict(os.environ, CONVOSYNC_PASSWORD=PW, RESTIC_PASSWORD=PW, BORG_PASSPHRASE=PW,
           BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")
rows = []

def run(cmd, **kw):
    """Runs a command; returns (wall seconds, peak RSS MB of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    wall = time.perf_counter() - t
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

def gen(path, *args):
    with open(path, "wb") as f:
        subprocess.run([sys.executable, GEN, *args], check=True, stdout=f)

def gz9(data):
    return len(gzip.compress(data, compresslevel=9))

class Tool:
    def __init__(self, name, repo):
        self.name, self.repo = name, repo
    def init(self):
        if self.name.startswith("convosync"):
            run([BIN, "init", "-r", self.repo, "-q"])
        elif self.name == "restic":
            run(["restic", "init", "-r", self.repo, "-q"])
        elif self.name == "borg":
            run(["borg", "init", "-e", "repokey", self.repo])
    def backup(self, path, n):
        if self.name == "convosync":
            return run([BIN, "backup", "-r", self.repo, path, "-q", "--no-cache"], cwd=os.path.dirname(path))
        if self.name == "convosync-zstd":
            return run([BIN, "backup", "-r", self.repo, path, "-q", "--no-cache", "--compression", "zstd:3"])
        if self.name == "restic":
            return run(["restic", "backup", "-r", self.repo, path, "-q"])
        if self.name == "borg":
            return run(["borg", "create", f"{self.repo}::s{n}", path])
    def restore(self, target):
        if self.name.startswith("convosync"):
            return run([BIN, "restore", "-r", self.repo, "latest", "--target", target, "-q"])
        if self.name == "restic":
            return run(["restic", "restore", "-r", self.repo, "latest", "--target", target, "-q"])
        if self.name == "borg":
            return None

def incremental(tmp):
    s800, s850 = os.path.join(tmp, "s800.jsonl"), os.path.join(tmp, "s850.jsonl")
    gen(s800, "--messages", "800"); gen(s850, "--messages", "850")
    a, b = open(s800, "rb").read(), open(s850, "rb").read()
    new_gz = gz9(b[len(a):])
    whole_gz = gz9(a)
    rows.append(("800-message session, gzip -9 whole file", "gzip -9", f"{whole_gz/1000:.1f} KB", ""))
    rows.append(("50 new lines alone, gzip -9", "gzip -9", f"{new_gz/1000:.1f} KB", ""))
    for name in ["convosync", "convosync-zstd", "restic", "borg"]:
        repo = os.path.join(tmp, "inc-" + name)
        t = Tool(name, repo); t.init()
        work = os.path.join(tmp, "work-" + name); os.makedirs(work)
        f = os.path.join(work, "session.jsonl")
        shutil.copy(s800, f)
        base = du(repo)
        w1, _ = t.backup(f, 1)
        first = du(repo) - base
        shutil.copy(s850, f)
        w2, _ = t.backup(f, 2)
        added = du(repo) - base - first
        rows.append(("first backup, 800 messages", name, f"{first/1000:.1f} KB ({first/whole_gz:.3f}x gzip)", f"{w1:.3f} s"))
        rows.append(("+50 messages appended: bytes added", name, f"{added/1000:.1f} KB (target ≤ {(1.10*new_gz+4096)/1000:.1f})", f"{w2:.3f} s"))
        r = t.restore(os.path.join(tmp, "restore-" + name))
        if r:
            rows.append(("restore of the 850-message session", name, "", f"{r[0]:.3f} s"))

def real(tmp):
    src = os.path.join(SHARED, "real")
    per_file = sum(gz9(open(os.path.join(src, f), "rb").read()) for f in os.listdir(src) if not f.endswith(".md"))
    raw = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
    rows.append(("real corpus: raw", "-", f"{raw/1e6:.2f} MB", ""))
    rows.append(("real corpus: gzip -9 per file", "gzip -9", f"{per_file/1e6:.2f} MB", ""))
    for name in ["convosync", "convosync-zstd", "restic", "borg"]:
        repo = os.path.join(tmp, "real-" + name)
        t = Tool(name, repo); t.init()
        base = du(repo)
        w, _ = t.backup(src, 1)
        size = du(repo) - base
        rows.append(("real corpus: repository size", name, f"{size/1e6:.2f} MB ({size/per_file:.3f}x gzip per file)", f"{w:.3f} s"))

def bulk(tmp):
    d = os.path.join(tmp, "bulk", "-home-dev-work-project"); os.makedirs(d)
    for s in range(1, 31):
        gen(os.path.join(d, f"base-{s}.jsonl"), "--messages", str(200 + (s * 397 % 1300)), "--seed", str(s))
    for f in range(1, 11):
        gen(os.path.join(d, f"fork-{f}.jsonl"), "--messages", str(900 + f * 50), "--seed", str(f),
            "--fork-at", str(150 + f * 20), "--fork-seed", str(100 + f))
    raw = du(d)
    rows.append(("bulk corpus (40 sessions, 10 forks): raw", "-", f"{raw/1e6:.1f} MB", ""))
    for name in ["convosync", "convosync-zstd", "restic", "borg"]:
        repo = os.path.join(tmp, "bulk-" + name)
        t = Tool(name, repo); t.init()
        base = du(repo)
        # Peak memory of the child, measured with GNU time.
        cmd = {"convosync": [BIN, "backup", "-r", repo, d, "-q", "--no-cache"],
               "convosync-zstd": [BIN, "backup", "-r", repo, d, "-q", "--no-cache", "--compression", "zstd:3"],
               "restic": ["restic", "backup", "-r", repo, d, "-q"],
               "borg": ["borg", "create", f"{repo}::s1", d]}[name]
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        w = time.perf_counter() - t0
        peak = int(p.stderr.decode().strip().splitlines()[-1]) / 1024
        size = du(repo) - base
        rows.append(("bulk corpus: repository size / time / peak RSS", name, f"{size/1e6:.2f} MB", f"{w:.2f} s, {peak:.0f} MB, {raw/1e6/w:.0f} MB/s"))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-bulk", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: swift build -c release --product convosync")
    for tool in ["restic", "borg"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install restic borgbackup")
    tmp = tempfile.mkdtemp(prefix="convosync-bench-")
    try:
        incremental(tmp)
        real(tmp)
        if not args.skip_bulk:
            bulk(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"restic {subprocess.run(['restic', 'version'], capture_output=True, text=True).stdout.split()[1]}, "
          f"{subprocess.run(['borg', '--version'], capture_output=True, text=True).stdout.strip()}, {os.cpu_count()} cores\n")
    print("| work | tool | size | time |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")

if __name__ == "__main__":
    main()
