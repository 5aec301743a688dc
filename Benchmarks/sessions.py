#!/usr/bin/env python3
"""`convosync save` / `convosync resume` in the real product flow, side by side with restic, in one run.

Usage (from the project root, after `swift build -c release --product convosync`):
    python3 Benchmarks/sessions.py [--reps 5] [--git-reps 3] [--bin PATH]

Setup: a bare git remote; device A's checkout (one commit, `git push -u origin main`); device B's
and device C's clones at other paths; one HOME per device. A's Claude Code transcript (generator
seed 1, first 800 lines, cwd = A's checkout) lies at $HOME_A/.claude/projects/<folder>/<id>.jsonl.
`convosync init` (default scrypt N=32768: no CONVOSYNC_SCRYPT_N anywhere), A saves the 800
messages, B resumes them. restic backs up the same 800-line file into its own repository with
A's environment (so its cache, like convosync's, is in $HOME_A/.cache; each device gets
XDG_CACHE_HOME=$HOME/.cache because convosync's cache directory does not follow $HOME). That
state is copied aside.

Each repetition restores that state to the same paths, appends lines 801-850 to A's transcript
and one line to a source file (so the save commits and pushes), then times:
  save on A (commit + push + the 50 new messages), restic backup of the same file,
  resume on B (it resumed the 800 before: warm cache, transcript updated in place),
  resume on C (first resume on a new device: no cache, no transcript), and
  restic restore latest (with its cache, and with --no-cache).
So every timed save stores exactly the same 50 new messages. Further repetitions run with a
`git` shim first on PATH that logs how long each git process runs, to state what the
convosync commands cost without git (the push and fetch go to a bare repository on local disk).
Prints one Markdown table; times are medians of wall time, process start to exit.
"""
import argparse, gzip, json, os, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, GEN, PW, du  # noqa: E402

GIT = shutil.which("git") or "/usr/bin/git"
rows = []

SHIM = """#!/bin/bash
s=$EPOCHREALTIME
"%s" "$@"
rc=$?
e=$EPOCHREALTIME
printf '%%s %%s %%s\\n' "$s" "$e" "$1" >> "$GIT_SHIM_LOG"
exit $rc
"""



def folder(path):
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in path)


def med(xs):
    return statistics.median(xs)


def fmt_s(xs):
    return f"{med(xs):.3f} s" + (f" ({min(xs):.3f}–{max(xs):.3f})" if len(xs) > 1 else "")


class World:
    """Paths of the bare remote, the three checkouts, the homes and both repositories."""

    def __init__(self, base):
        self.base = base
        self.live = os.path.join(base, "w")
        self.snap = os.path.join(base, "snapshot")
        p = lambda *a: os.path.join(self.live, *a)
        self.remote = p("remote.git")
        self.repo = p("convosync-repo")
        self.restic = p("restic-repo")
        self.a, self.b, self.c = p("laptop", "work", "project"), p("phone", "src", "project"), p("desktop", "code", "project")
        self.home = {"laptop": p("home-laptop"), "phone": p("home-phone"), "desktop": p("home-desktop")}
        self.shim_dir = os.path.join(base, "shim")
        self.shim_log = os.path.join(base, "git-times.log")

    def env(self, device, shim=False):
        e = dict(os.environ, HOME=self.home[device], CONVOSYNC_REPOSITORY=self.repo, CONVOSYNC_PASSWORD=PW,
                 CONVOSYNC_DEVICE=device, XDG_CACHE_HOME=os.path.join(self.home[device], ".cache"),
                 RESTIC_PASSWORD=PW, RESTIC_REPOSITORY=self.restic,
                 GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
                 GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
        # XDG_CACHE_HOME: convosync's cache directory ignores $HOME (it asks the user database),
        # so without it all three devices would share /root/.cache/convosync.
        for k in ["CONVOSYNC_SCRYPT_N", "CONVOSYNC_STATE_DIR", "XDG_STATE_HOME", "CLAUDE_CONFIG_DIR",
                  "CODEX_HOME", "CONVOSYNC_PASSWORD_FILE", "RESTIC_CACHE_DIR"]:
            e.pop(k, None)
        if shim:
            e["PATH"] = self.shim_dir + ":" + e["PATH"]
            e["GIT_SHIM_LOG"] = self.shim_log
        return e

    def transcript(self, sid):
        return os.path.join(self.home["laptop"], ".claude", "projects", folder(self.a), sid + ".jsonl")

    def save_state(self):
        shutil.rmtree(self.snap, ignore_errors=True)
        shutil.copytree(self.live, self.snap, symlinks=True)

    def restore_state(self):
        shutil.rmtree(self.live)
        shutil.copytree(self.snap, self.live, symlinks=True)
        for d in (self.a, self.b, self.c):  # the copies have new inodes: refresh git's index, untimed
            subprocess.run([GIT, "update-index", "-q", "--refresh"], cwd=d, env=self.env("laptop"), stdout=subprocess.DEVNULL)


def run(cmd, env, cwd=None, json_out=False):
    """Runs a command; returns (wall seconds, parsed JSON or None). Fails loudly with the command."""
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"FAILED (exit {p.returncode}) in {cwd}: {' '.join(cmd)}\n{p.stderr.decode()}{p.stdout.decode()}")
    return wall, (json.loads(p.stdout) if json_out else None)


def git(args, cwd, env):
    subprocess.run([GIT, *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def setup(w, lines, sid):
    os.makedirs(w.live)
    for h in w.home.values():
        os.makedirs(h)
    env = w.env("laptop")
    git(["init", "-q", "--bare", "-b", "main", w.remote], w.live, env)
    os.makedirs(w.a)
    git(["init", "-q", "-b", "main"], w.a, env)
    # A small project: three source files (about 60 KB) and a README.
    os.makedirs(os.path.join(w.a, "src"))
    stdlib = os.path.dirname(os.__file__)
    for name in ["textwrap.py", "shlex.py", "fnmatch.py"]:
        shutil.copy(os.path.join(stdlib, name), os.path.join(w.a, "src", name))
    with open(os.path.join(w.a, "README.md"), "w") as f:
        f.write("# project\n")
    git(["add", "-A"], w.a, env)
    git(["commit", "-q", "-m", "initial"], w.a, env)
    git(["remote", "add", "origin", w.remote], w.a, env)
    git(["push", "-q", "-u", "origin", "main"], w.a, env)
    for d in (w.b, w.c):
        os.makedirs(os.path.dirname(d))
        git(["clone", "-q", w.remote, d], os.path.dirname(d), env)

    t = w.transcript(sid)
    os.makedirs(os.path.dirname(t))
    with open(t, "wb") as f:
        f.write(b"".join(lines[:800]))
    run([BIN, "init", "--json"], env, cwd=w.a)
    r0 = du(w.repo)
    first, j = run([BIN, "save", "first 800 messages", "--json"], env, cwd=w.a, json_out=True)
    assert j["messages"] == 800, j
    first_size = du(w.repo) - r0
    rb, jb = run([BIN, "resume", "--json"], w.env("phone"), cwd=w.b, json_out=True)
    assert jb["messages"] == 800, jb

    run(["restic", "init"], env)
    r0 = du(w.restic)
    rfirst, _ = run(["restic", "backup", t, "-q"], env)
    rfirst_size = du(w.restic) - r0

    # Pre-create the shim for the git attribution runs.
    os.makedirs(w.shim_dir, exist_ok=True)
    with open(os.path.join(w.shim_dir, "git"), "w") as f:
        f.write(SHIM % GIT)
    os.chmod(os.path.join(w.shim_dir, "git"), 0o755)
    return first, first_size, rb, rfirst, rfirst_size


def git_times(w):
    """Per git subcommand: total seconds from the shim log; then clears it."""
    out, spans = {}, []
    if os.path.exists(w.shim_log):
        for line in open(w.shim_log):
            parts = line.split()
            s, e, sub = float(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else "?"
            out[sub] = out.get(sub, 0.0) + e - s
            spans.append((s, e))
        os.remove(w.shim_log)
    # Union of the intervals (git processes do not overlap here, but be safe).
    total, end = 0.0, None
    for s, e in sorted(spans):
        if end is None or s > end:
            total += e - s; end = e
        elif e > end:
            total += e - end; end = e
    return total, out, len(spans)


def repetition(w, lines, sid, n, shim=False):
    """One +50 step from the saved state. Returns a dict of measurements."""
    w.restore_state()
    t = w.transcript(sid)
    with open(t, "ab") as f:
        f.write(b"".join(lines[800:850]))
    with open(os.path.join(w.a, "src", "textwrap.py"), "a") as f:
        f.write(f"\n# edited during the session (step {n})\n")
    m = {}
    ea, eb, ec = w.env("laptop", shim), w.env("phone", shim), w.env("desktop", shim)

    before = du(w.repo)
    m["save"], j = run([BIN, "save", f"step {n}", "--json"], ea, cwd=w.a, json_out=True)
    m["save_growth"] = du(w.repo) - before
    m["save_json"] = j
    if shim:
        m["save_git"], m["save_git_by"], m["save_git_n"] = git_times(w)
    assert j["messages"] == 850 and j["added"] == [800, 850] and j["pushed"] and j["committed"], j

    if not shim:
        before = du(w.restic)
        m["restic_backup"], _ = run(["restic", "backup", t, "-q"], ea)
        m["restic_growth"] = du(w.restic) - before

    m["resume_b"], jb = run([BIN, "resume", "--json"], eb, cwd=w.b, json_out=True)
    if shim:
        m["resume_b_git"], m["resume_b_git_by"], m["resume_b_git_n"] = git_times(w)
    assert jb["messages"] == 850 and jb["transcriptAction"].startswith("updated"), jb
    m["resume_c"], jc = run([BIN, "resume", "--json"], ec, cwd=w.c, json_out=True)
    if shim:
        m["resume_c_git"], m["resume_c_git_by"], m["resume_c_git_n"] = git_times(w)
    assert jc["messages"] == 850 and jc["transcriptAction"] == "written", jc
    # Check the rebuilt transcripts: A's file with C's checkout path (and B's) in place of A's.
    want = b"".join(lines[:850])
    for dev, d, jj in (("phone", w.b, jb), ("desktop", w.c, jc)):
        got = open(jj["transcript"], "rb").read()
        assert got == want.replace(w.a.encode(), d.encode()), f"transcript on {dev} differs"

    if not shim:
        target = os.path.join(w.base, f"restic-restore-{n}")
        m["restic_restore"], _ = run(["restic", "restore", "latest", "--target", target, "-q"], ea)
        shutil.rmtree(target)
        m["restic_restore_nocache"], _ = run(["restic", "restore", "latest", "--target", target, "-q", "--no-cache"], ea)
        assert open(target + t, "rb").read() == want
        shutil.rmtree(target)
        # Opening alone: process start, key derivation (scrypt), decrypting the config.
        m["open"], _ = run([BIN, "cat", "config"], ea)
        m["restic_open"], _ = run(["restic", "cat", "config"], ea)
    return m


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (median reported)")
    ap.add_argument("--git-reps", type=int, default=3, help="repetitions with the git timing shim")
    ap.add_argument("--bin", default=BIN, help="convosync binary (default: .build/release/convosync)")
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    if not os.path.exists(BIN):
        sys.exit("build first: swift build -c release --product convosync")
    if not shutil.which("restic"):
        sys.exit("restic is missing: apt-get install restic")

    load_before = os.getloadavg()
    base = tempfile.mkdtemp(prefix="convosync-sessions-")
    try:
        w = World(base)
        data = subprocess.run([sys.executable, GEN, "--messages", "850", "--seed", "1", "--cwd", w.a],
                              check=True, stdout=subprocess.PIPE).stdout
        lines = data.splitlines(keepends=True)
        assert len(lines) == 850
        sid = json.loads(lines[0])["sessionId"]
        new = b"".join(lines[800:850])
        new_gz = len(gzip.compress(new, compresslevel=9))
        whole_gz = len(gzip.compress(b"".join(lines[:800]), compresslevel=9))
        target = 1.10 * new_gz + 4096

        first, first_size, rb0, rfirst, rfirst_size = setup(w, lines, sid)
        keyfile = os.path.join(w.restic, "keys", os.listdir(os.path.join(w.restic, "keys"))[0])
        rk = json.load(open(keyfile))
        restic_kdf = f"N={rk['N']}, r={rk['r']}, p={rk['p']}"
        w.save_state()

        reps = [repetition(w, lines, sid, i) for i in range(args.reps)]
        greps = [repetition(w, lines, sid, 100 + i, shim=True) for i in range(args.git_reps)]
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    col = lambda k, rs=reps: [r[k] for r in rs]
    gmed = lambda k, sub=None: med([r[k] if sub is None else r[k + "_by"].get(sub, 0.0) for r in greps])
    added = sorted({r["save_json"]["bytesAdded"] for r in reps + greps})  # differs by the length of "step N"
    growth, rgrowth = col("save_growth"), col("restic_growth")
    save, rbak = med(col("save")), med(col("restic_backup"))
    rb, rc = med(col("resume_b")), med(col("resume_c"))
    rres, rres_nc = med(col("restic_restore")), med(col("restic_restore_nocache"))
    o, ro = med(col("open")), med(col("restic_open"))
    # Git's share: medians over the shim repetitions, taken off the medians of the timed ones.
    g_save, g_b, g_c = gmed("save_git"), gmed("resume_b_git"), gmed("resume_c_git")

    rows.append(("800-message session (lines 1-800), gzip -9", "gzip -9", f"{whole_gz/1000:.1f} KB", ""))
    rows.append(("50 new lines (801-850) alone, gzip -9", "gzip -9", f"{new_gz/1000:.1f} KB", ""))
    rows.append(("first save, 800 messages (one run)", "convosync save", f"{first_size/1000:.1f} KB", f"{first:.3f} s"))
    rows.append(("first resume on B, 800 messages (one run)", "convosync resume", "", f"{rb0:.3f} s"))
    rows.append(("first backup, 800 messages (one run)", "restic backup", f"{rfirst_size/1000:.1f} KB", f"{rfirst:.3f} s"))
    rows.append(("+50 messages: `bytesAdded` (save --json)", "convosync save", f"{added[-1]/1000:.1f} KB (target ≤ {target/1000:.1f})", ""))
    rows.append(("+50 messages: repository growth on disk", "convosync save", f"{med(growth)/1000:.1f} KB (target ≤ {target/1000:.1f})", ""))
    rows.append(("+50 messages: repository growth on disk", "restic backup", f"{med(rgrowth)/1000:.1f} KB", ""))
    rows.append(("open only: start, scrypt, decrypt config (`cat config`)", "convosync", "", fmt_s(col("open"))))
    rows.append(("open only: start, scrypt, decrypt config (`cat config`)", "restic", "", fmt_s(col("restic_open"))))
    rows.append(("+50 messages + commit + push", "convosync save", "", fmt_s(col("save"))))
    rows.append(("+50 messages (the 850-line file)", "restic backup", "", fmt_s(col("restic_backup"))))
    rows.append(("resume on B (had resumed the 800: warm cache, transcript updated)", "convosync resume", "", fmt_s(col("resume_b"))))
    rows.append(("resume on C (first resume: no cache, no transcript)", "convosync resume", "", fmt_s(col("resume_c"))))
    rows.append(("restore latest (the 850-line file), with cache", "restic restore", "", fmt_s(col("restic_restore"))))
    rows.append(("restore latest (the 850-line file), --no-cache", "restic restore", "", fmt_s(col("restic_restore_nocache"))))
    rows.append((f"git inside save ({greps[0]['save_git_n']} git processes)", "git", "",
                 f"{g_save:.3f} s (push {gmed('save_git', 'push'):.3f}, commit {gmed('save_git', 'commit'):.3f})"))
    rows.append((f"git inside resume on B ({greps[0]['resume_b_git_n']} git processes)", "git", "",
                 f"{g_b:.3f} s (fetch {gmed('resume_b_git', 'fetch'):.3f})"))
    rows.append((f"git inside resume on C ({greps[0]['resume_c_git_n']} git processes)", "git", "",
                 f"{g_c:.3f} s (fetch {gmed('resume_c_git', 'fetch'):.3f})"))
    rows.append(("save without git", "convosync save", "", f"{save - g_save:.3f} s"))
    rows.append(("resume on B / on C without git", "convosync resume", "", f"{rb - g_b:.3f} s / {rc - g_c:.3f} s"))

    print(f"convosync {BIN}; restic {subprocess.run(['restic', 'version'], capture_output=True, text=True).stdout.split()[1]} "
          f"(key: scrypt {restic_kdf}, derived on every command; convosync: scrypt N=32768, r=8, p=1, likewise); "
          f"{os.cpu_count()} cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{args.reps} timed repetitions (median, range in brackets), {args.git_reps} more with the git shim\n")
    print("| work | tool | size | time |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    ok = lambda b: "met" if b else "MISSED"
    print(f"\nbytes: bytesAdded {added}, on-disk growth {sorted(set(growth))}, target {target:.0f} "
          f"(1.10 × {new_gz} + 4096); restic growth {sorted(set(rgrowth))}")
    print(f"target bytes: bytesAdded {ok(added[-1] <= target)}, on disk {ok(med(growth) <= target)}")
    print(f"target save ≤ 0.5 × restic backup: {save:.3f} / {rbak:.3f} s = {save/rbak:.2f}× {ok(save <= 0.5*rbak)}; "
          f"without git {(save - g_save)/rbak:.2f}×")
    for name, x, g in (("B", rb, g_b), ("C", rc, g_c)):
        print(f"target resume on {name} ≤ 0.5 × restic restore: {x:.3f} / {rres:.3f} s = {x/rres:.2f}× {ok(x <= 0.5*rres)}; "
              f"against --no-cache {x/rres_nc:.2f}×; without git {(x - g)/rres:.2f}×")
    print(f"beyond opening (median − median of `cat config`): save {save - o:.3f} s, restic backup {rbak - ro:.3f} s; "
          f"resume B {rb - o:.3f} s, C {rc - o:.3f} s, restic restore {rres - ro:.3f} s")
    for k in ("save_git", "resume_c_git"):
        print(f"git by subcommand, {k} (median s): " + json.dumps({c: round(gmed(k, c), 4) for c in greps[0][k + "_by"]}))

if __name__ == "__main__":
    main()
