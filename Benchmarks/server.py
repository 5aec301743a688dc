#!/usr/bin/env python3
"""convosync-server on loopback: requests and bytes on the wire, pack GET throughput, and load (issue 4).

Usage (from the project root, with release binaries of convosync and convosync-server):
    apt-get install -y restic rclone wrk          # once
    python3 Benchmarks/server.py [--bin-dir DIR] [--clients 100] [--racers 10] [--load-messages 200]
                                 [--wrk-duration 10] [--parts wire,wrk,load] [--keep]

Everything runs in one temporary directory under /tmp, every server on 127.0.0.1 with a port the
kernel picks, and every process the script starts is stopped at the end (also on errors). Key
derivation is made cheap: `convosync-server user add` and `convosync init` run with
CONVOSYNC_SCRYPT_N=1024 (the server's password hashes and the repository key file use N=2^10,
r=8, p=1 instead of N=2^15), so scrypt does not dominate the figures.

1. Wire (`--parts wire`). A small asyncio TCP proxy in this script sits between client and server.
   It forwards bytes unchanged and counts the TCP payload bytes each way (HTTP headers and bodies;
   not TCP/IP overhead) and frames the HTTP/1.1 messages on both directions (Content-Length and
   chunked bodies), so it counts requests by request line, with their method, path and status.
   - convosync: a bare git remote, device A's checkout and device B's clone, one HOME each.
     A logs in (`convosync login` to the proxy's URL), `convosync init`, saves the first 800
     lines of the generator's seed 1; then lines 801-850 are appended and A saves again: only
     that second save is measured. B (a new HOME and a new clone) logs in, not measured, then
     `convosync resume` is measured: a fresh-device resume of the 850-message session, its
     transcript checked byte for byte.
   - restic against `rclone serve restic` through the same proxy code: `restic init`, `restic
     backup` of the 800-line file, then of the 850-line file (measured), then `restic restore
     latest --no-cache` into an empty directory (measured; the file is checked).
2. Throughput (`--parts wrk`). One file of 4 MiB and one of 4 KiB (random bytes, named by their
   SHA-256) are uploaded to a repository on convosync-server (`POST /USER/REPO/?create=true`, then
   `POST /USER/REPO/data/<sha256>`, basic auth) and to rclone serve restic (`POST /?create=true`,
   `POST /data/<sha256>`). Then `wrk -t2 -c16 -d10s --latency` GETs each file from each server
   directly (no proxy; convosync-server with an `Authorization: Basic` header), and from a second
   convosync-server started with `--cache-size 0`, which reads from disk on every GET. Reported:
   requests/s, payload MB/s (requests/s x file size, decimal MB), wrk's p50 and p99 latency.
3. Load (`--parts load`). A fresh convosync-server (`--max-devices 0`), one user, one repository.
   a. N devices (default 100): N clones of one bare remote, N HOMEs, each logged in as its own
      device (token), each with its own transcript (generator seeds 1000..1000+N-1, 200 messages).
      All N run `convosync save --no-push --json` at the same moment (the commit is already on
      the remote; 100 concurrent pushes to one branch would only measure git's rejections).
   b. K devices (default 10) race on one conversation: an origin device saves seed 5000 (200
      messages); K new devices log in and `convosync resume` it; each appends 20 different lines
      (the generator's --fork-at 200 --fork-seed 6000+i: same session id, a different
      continuation) and all K save (`--no-push --json`) at the same moment.
   Accepted exit codes: 0 (saved) and, in b only, 21 (another device moved the conversation on:
   saved as a fork after a 409). Anything else is an error. Nothing lost: every save's `session`
   (from its --json output) must be the content of some ref version file under the server's
   DATA/repos/USER/REPO/refs/. Server memory: VmHWM (peak RSS) from /proc/PID/status after each
   phase (the server was started for this part alone), and VmRSS sampled every 20 ms.
Prints Markdown tables and the targets met or missed.
"""
import argparse, asyncio, base64, collections, concurrent.futures, hashlib, json, os, re, shutil, signal, socket, statistics
import subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "gen_session.py")
REPO_PW = "benchmark-password"      # the repositories' password (convosync and restic)
ACCOUNT_PW = "benchmark-account-pw"  # the server accounts' password
GIT = shutil.which("git") or "/usr/bin/git"
PROCS = []                           # every long-running process this script started


# ---------------------------------------------------------------- helpers

def base_env():
    """The caller's environment without anything that would point a tool elsewhere."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("CONVOSYNC_", "RESTIC_", "XDG_", "RCLONE_")) and k not in ("CLAUDE_CONFIG_DIR", "CODEX_HOME")}
    e.update(GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
             GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
    return e


def run(cmd, env, cwd=None, ok=(0,), stdin=None):
    """Runs a command to completion; fails loudly (with its output) on an exit code not in `ok`."""
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin)
    if p.returncode not in ok:
        raise RuntimeError(f"exit {p.returncode} in {cwd}: {' '.join(cmd)}\n{p.stderr.decode()[-3000:]}{p.stdout.decode()[-2000:]}")
    return p


def git(args, cwd, env):
    run([GIT, *args], env, cwd=cwd)


def folder(path):
    """Claude Code's project folder name for a working directory."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in path)


def generate(messages, seed, cwd, fork_at=None, fork_seed=None):
    cmd = [sys.executable, GEN, "--messages", str(messages), "--seed", str(seed), "--cwd", cwd]
    if fork_at is not None:
        cmd += ["--fork-at", str(fork_at), "--fork-seed", str(fork_seed)]
    lines = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout.splitlines(keepends=True)
    assert len(lines) == messages
    return lines


def same(x, y, *paths):
    """Byte-equal once every checkout path in `paths` is replaced by one placeholder (resume rewrites
    the structured path fields to its own checkout, but leaves paths inside tool output alone)."""
    for p in paths:
        x, y = x.replace(p.encode(), b"@CHECKOUT@"), y.replace(p.encode(), b"@CHECKOUT@")
    return x == y


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def stop_all():
    for p in list(PROCS):
        stop(p)


def kb(n):
    return f"{n:,} B"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


# ---------------------------------------------------------------- servers

class ConvoSyncServer:
    """convosync-server serve on 127.0.0.1:0 with its own data directory and accounts."""

    def __init__(self, bindir, data, users, env, extra=()):
        self.bin, self.data = os.path.join(bindir, "convosync-server"), data
        for u in users:
            run([self.bin, "user", "add", u, "--data-dir", data], dict(env, CONVOSYNC_SERVER_PASSWORD=ACCOUNT_PW,
                                                                      CONVOSYNC_SCRYPT_N="1024"), stdin=subprocess.DEVNULL)
        self.out, self.err = data + ".stdout", data + ".stderr"
        self.proc = spawn([self.bin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--max-devices", "0", *extra],
                          env=env, stdout=open(self.out, "wb"), stderr=open(self.err, "wb"))
        end = time.time() + 20
        while True:
            m = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", open(self.out).read())
            if m:
                self.url, self.port = m.group(1), int(m.group(2))
                break
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError("convosync-server did not start:\n" + open(self.err).read())
            time.sleep(0.05)

    def status(self, key):
        """A /proc/PID/status field in kB (VmHWM: peak RSS; VmRSS: current)."""
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def log_lines(self):
        return sum(1 for _ in open(self.err, errors="replace"))

    def statuses(self, since=0):
        """Counter of (method, status) over the request log lines after line `since`."""
        c = collections.Counter()
        with open(self.err, errors="replace") as f:
            for i, line in enumerate(f):
                m = re.search(r"\] ([A-Z]+) (\S+) (\d{3})$", line.rstrip())
                if i >= since and m:
                    c[(m.group(1), m.group(3))] += 1
        return c

    def stop(self):
        stop(self.proc)


class Rclone:
    """rclone serve restic on a free loopback port, storing into `path`."""

    def __init__(self, path, log, env):
        os.makedirs(path, exist_ok=True)
        self.port = free_port()
        self.proc = spawn(["rclone", "serve", "restic", "--addr", f"127.0.0.1:{self.port}", path],
                          env=dict(env, RCLONE_CONFIG=os.path.join(os.path.dirname(log), "rclone.conf")),
                          stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
        wait_port(self.port, self.proc, "rclone serve restic")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        stop(self.proc)


# ---------------------------------------------------------------- the counting proxy

class HTTPFramer:
    """Frames HTTP/1.x messages in one direction of one connection (it only needs their lengths).

    Requests are appended to `stats.requests` as dicts {method, path, status}; the matching
    response (in order, per connection) fills in the status."""

    def __init__(self, pending, is_request, stats):
        self.pending, self.is_request, self.stats = pending, is_request, stats
        self.buf, self.state, self.remaining = bytearray(), "head", 0
        self.key, self.cur = ("up" if is_request else "down"), {}  # the message the bytes belong to

    def feed(self, data):
        if self.state in ("raw", "eof"):
            return
        self.buf += data
        pos, buf = 0, self.buf
        while pos < len(buf):
            if self.state == "head":
                i = buf.find(b"\r\n\r\n", pos)
                if i < 0:
                    break
                self.on_head(bytes(buf[pos:i]).decode("latin-1"))
                self.count(i + 4 - pos)
                pos = i + 4
            elif self.state in ("body", "chunk-data"):
                n = min(self.remaining, len(buf) - pos)
                self.count(n)
                pos += n
                self.remaining -= n
                if self.remaining:
                    break
                self.state = "head" if self.state == "body" else "chunk-size"
            elif self.state in ("chunk-size", "trailer"):
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    break
                line = bytes(buf[pos:i])
                self.count(i + 2 - pos)
                pos = i + 2
                if self.state == "chunk-size":
                    size = int(line.split(b";")[0].strip(), 16)
                    self.state, self.remaining = ("trailer", 0) if size == 0 else ("chunk-data", size + 2)
                elif not line:
                    self.state = "head"
            else:  # raw (upgraded) or eof (body until close)
                self.count(len(buf) - pos)
                pos = len(buf)
                break
        del buf[:pos]

    def count(self, n):
        self.cur[self.key] = self.cur.get(self.key, 0) + n

    def on_head(self, head):
        lines = head.split("\r\n")
        headers = {}
        for h in lines[1:]:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = int(headers.get("content-length", "0") or 0)
        if self.is_request:
            method, path = (lines[0].split(" ") + ["", ""])[:2]
            rec = {"method": method, "path": path, "status": None, "up": 0, "down": 0}
            self.stats.requests.append(rec)
            self.pending.append(rec)
            self.cur = rec
        else:
            status = int(lines[0].split(" ")[1])
            if 100 <= status < 200 and status != 101:
                if self.pending:
                    self.cur = self.pending[0]
                return  # interim response: the real one follows
            rec = self.pending.popleft() if self.pending else {"method": "?"}
            rec["status"] = status
            self.cur = rec
            if status == 101:
                self.state = "raw"
                return
            if rec["method"] == "HEAD" or status in (204, 304):
                return
            if not chunked and "content-length" not in headers:
                self.state = "eof"
                return
        if chunked:
            self.state = "chunk-size"
        elif length:
            self.state, self.remaining = "body", length


class Proxy:
    """Listens on a free loopback port and forwards every connection to `upstream_port`, counting."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.up = self.down = self.connections = self.active = self.parse_errors = 0
        self.requests = []

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def handle(self, cr, cw):
        self.active += 1
        self.connections += 1
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            cw.close()
            self.active -= 1
            return
        pending = collections.deque()
        framers = (HTTPFramer(pending, True, self), HTTPFramer(pending, False, self))

        async def pump(reader, writer, framer, attr):
            try:
                while True:
                    data = await reader.read(1 << 16)
                    if not data:
                        break
                    setattr(self, attr, getattr(self, attr) + len(data))
                    try:
                        framer.feed(data)
                    except Exception:  # never let counting break forwarding
                        self.parse_errors += 1
                        framer.state = "raw"
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError):
                uw.close()  # one side failed: end the other direction too
                cw.close()

        try:
            await asyncio.gather(pump(cr, uw, framers[0], "up"), pump(ur, cw, framers[1], "down"))
        finally:
            uw.close()
            cw.close()
            self.active -= 1

    def snapshot(self):
        return (self.up, self.down, len(self.requests), self.connections)

    def measure(self, fn):
        """Runs fn(); waits until every proxied connection has closed; returns (fn's result, counts)."""
        s0 = self.snapshot()
        result = fn()
        end = time.time() + 10
        while self.active and time.time() < end:
            time.sleep(0.02)
        time.sleep(0.05)
        s1 = self.snapshot()
        reqs = self.requests[s0[2]:s1[2]]
        return result, {"up": s1[0] - s0[0], "down": s1[1] - s0[1], "requests": reqs, "connections": s1[3] - s0[3]}


class ProxyLoop:
    """One asyncio loop in a background thread that hosts the proxies."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def proxy(self, upstream_port):
        p = Proxy(upstream_port)
        asyncio.run_coroutine_threadsafe(p.start(), self.loop).result(10)
        return p

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---------------------------------------------------------------- devices

class Device:
    """One pretend machine: a HOME (with XDG dirs inside it) and a checkout of the project."""

    def __init__(self, base, name, checkout):
        self.name, self.home, self.checkout = name, os.path.join(base, "home-" + name), checkout
        os.makedirs(self.home, exist_ok=True)

    def env(self, env, **extra):
        h = self.home
        return dict(env, HOME=h, XDG_CACHE_HOME=os.path.join(h, ".cache"), XDG_CONFIG_HOME=os.path.join(h, ".config"),
                    XDG_STATE_HOME=os.path.join(h, ".local", "state"), CONVOSYNC_DEVICE=self.name,
                    CONVOSYNC_PASSWORD=REPO_PW, **extra)

    def transcript(self, sid):
        return os.path.join(self.home, ".claude", "projects", folder(self.checkout), sid + ".jsonl")

    def write_transcript(self, sid, lines, mode="wb"):
        t = self.transcript(sid)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        with open(t, mode) as f:
            f.write(b"".join(lines))
        return t


def make_remote(base, env):
    """A bare remote with one commit (a small project), pushed from a seed checkout."""
    remote, seed = os.path.join(base, "remote.git"), os.path.join(base, "seed-checkout")
    git(["init", "-q", "--bare", "-b", "main", remote], base, env)
    os.makedirs(os.path.join(seed, "src"))
    git(["init", "-q", "-b", "main"], seed, env)
    stdlib = os.path.dirname(os.__file__)
    for name in ["textwrap.py", "shlex.py", "fnmatch.py"]:
        shutil.copy(os.path.join(stdlib, name), os.path.join(seed, "src", name))
    with open(os.path.join(seed, "README.md"), "w") as f:
        f.write("# project\n")
    git(["add", "-A"], seed, env)
    git(["commit", "-q", "-m", "initial"], seed, env)
    git(["remote", "add", "origin", remote], seed, env)
    git(["push", "-q", "-u", "origin", "main"], seed, env)
    return remote


def clone(remote, path, env):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    git(["clone", "-q", remote, path], os.path.dirname(path), env)
    return path


def cs(bindir, *args):
    return [os.path.join(bindir, "convosync"), *args]


def login(bindir, dev, url, user, env):
    run(cs(bindir, "login", url, "--user", user, "--device", dev.name, "-q"),
        dev.env(env, CONVOSYNC_SERVER_PASSWORD=ACCOUNT_PW), stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- 1. wire

def by_method(reqs):
    c = collections.Counter(r["method"] for r in reqs)
    return c


def short_path(p):
    return re.sub(r"[0-9a-f]{64}(-\d{10})?", lambda m: m.group(0)[:8] + "…" + (m.group(1) or ""), p)


def part_wire(args, base, env, ploop):
    out = {}
    base = os.path.join(base, "wire")
    os.makedirs(base)
    srv = ConvoSyncServer(args.bin_dir, os.path.join(base, "server-data"), ["bench"], env)
    proxy = ploop.proxy(srv.port)
    repo_url = f"{proxy.url}/bench/sessions/"
    try:
        remote = make_remote(base, env)
        a = Device(base, "laptop", clone(remote, os.path.join(base, "laptop", "work", "project"), env))
        b = Device(base, "phone", os.path.join(base, "phone", "src", "project"))
        lines = generate(850, 1, a.checkout)
        sid = json.loads(lines[0])["sessionId"]

        login(args.bin_dir, a, proxy.url, "bench", env)
        run(cs(args.bin_dir, "init", "-r", repo_url, "-q"), a.env(env, CONVOSYNC_SCRYPT_N="1024"))
        a.write_transcript(sid, lines[:800])
        run(cs(args.bin_dir, "save", "first 800 messages", "-r", repo_url, "--json"), a.env(env), cwd=a.checkout)
        a.write_transcript(sid, lines[800:850], mode="ab")
        p, save = proxy.measure(lambda: run(cs(args.bin_dir, "save", "50 more", "-r", repo_url, "--json"),
                                            a.env(env), cwd=a.checkout))
        j = json.loads(p.stdout)
        assert j["messages"] == 850 and j["added"] == [800, 850], j
        out["save"], out["save_bytes_added"] = save, j["bytesAdded"]

        clone(remote, b.checkout, env)  # a new clone and a new HOME: a fresh device
        login(args.bin_dir, b, proxy.url, "bench", env)
        p, resume = proxy.measure(lambda: run(cs(args.bin_dir, "resume", "-r", repo_url, "--json"), b.env(env), cwd=b.checkout))
        jb = json.loads(p.stdout)
        assert jb["messages"] == 850, jb
        assert same(open(jb["transcript"], "rb").read(), b"".join(lines), a.checkout, b.checkout), "the resumed transcript differs"
        out["resume"] = resume
        out["server_hwm"] = srv.status("VmHWM")
    finally:
        srv.stop()

    rcl = Rclone(os.path.join(base, "rclone-data"), os.path.join(base, "rclone.log"), env)
    rproxy = ploop.proxy(rcl.port)
    try:
        renv = dict(env, RESTIC_PASSWORD=REPO_PW, RESTIC_REPOSITORY=f"rest:{rproxy.url}/",
                    RESTIC_CACHE_DIR=os.path.join(base, "restic-cache"), HOME=os.path.join(base, "restic-home"))
        src = os.path.join(base, "restic-src", "session.jsonl")
        os.makedirs(os.path.dirname(src))
        run(["restic", "init"], renv)
        with open(src, "wb") as f:
            f.write(b"".join(lines[:800]))
        run(["restic", "backup", "-q", src], renv)
        with open(src, "wb") as f:
            f.write(b"".join(lines))
        _, out["restic_backup"] = rproxy.measure(lambda: run(["restic", "backup", "-q", src], renv))
        target = os.path.join(base, "restic-restore")
        os.makedirs(target)
        _, out["restic_restore"] = rproxy.measure(
            lambda: run(["restic", "restore", "latest", "--target", target, "--no-cache", "-q"], renv))
        assert open(target + src, "rb").read() == b"".join(lines), "the restored file differs"
    finally:
        rcl.stop()
    out["parse_errors"] = proxy.parse_errors + rproxy.parse_errors
    return out


def report_wire(w):
    print("### 1. Requests and bytes on the wire (counted by the proxy)\n")
    print("| work | tool | requests | GET / HEAD | POST | DELETE | connections | bytes up | bytes down |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, work, tool in (("save", "+50 messages (800 saved before)", "convosync save"),
                            ("restic_backup", "+50 messages (850-line file; 800 backed up before)", "restic backup"),
                            ("resume", "fresh device: 850-message session", "convosync resume"),
                            ("restic_restore", "fresh device: restore latest --no-cache", "restic restore")):
        m = w[key]
        c = by_method(m["requests"])
        other = sum(v for k, v in c.items() if k not in ("GET", "HEAD", "POST", "DELETE"))
        print(f"| {work} | {tool} | {len(m['requests'])}{f' (+{other} other)' if other else ''} | "
              f"{c['GET']} / {c['HEAD']} | {c['POST']} | {c['DELETE']} | {m['connections']} | {kb(m['up'])} | {kb(m['down'])} |")
    print(f"\n(convosync save's bytesAdded: {w['save_bytes_added']:,} B; proxy framing errors: {w['parse_errors']}; "
          f"wire server's VmHWM {w['server_hwm'] / 1024:.1f} MB)\n")
    for key in ("save", "resume", "restic_backup", "restic_restore"):
        seq = ", ".join(f"{r['method']} {short_path(r['path'])} {r['status']} (↑{r['up']:,} ↓{r['down']:,})"
                        for r in w[key]["requests"])
        print(f"- {key}: {seq}")
    print()


# ---------------------------------------------------------------- 2. wrk

def parse_wrk(text):
    def dur(s):
        m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
        v, u = float(m.group(1)), m.group(2)
        return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u]
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
         "p50": dur(re.search(r"\s50%\s+(\S+)", text).group(1)),
         "p99": dur(re.search(r"\s99%\s+(\S+)", text).group(1)),
         "requests": int(re.search(r"(\d+) requests in", text).group(1))}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    r["socket_errors"] = m.group(1).strip() if m else ""
    return r


def part_wrk(args, base, env):
    base = os.path.join(base, "wrk")
    os.makedirs(base)
    srv = ConvoSyncServer(args.bin_dir, os.path.join(base, "server-data"), ["bench"], env)
    # The same server without its read cache: every GET reads the file from disk.
    cold = ConvoSyncServer(args.bin_dir, os.path.join(base, "server-cold"), ["bench"], env, extra=["--cache-size", "0"])
    rcl = Rclone(os.path.join(base, "rclone-data"), os.path.join(base, "rclone.log"), env)
    auth = basic("bench", ACCOUNT_PW)
    results = []
    try:
        http("POST", f"{srv.url}/bench/wrk/?create=true", headers={"Authorization": auth})
        http("POST", f"{cold.url}/bench/wrk/?create=true", headers={"Authorization": auth})
        http("POST", f"{rcl.url}/?create=true")
        for label, size in (("4 MiB", 4 << 20), ("4 KiB", 4 << 10)):
            data = os.urandom(size)
            name = hashlib.sha256(data).hexdigest()
            ours, theirs = f"{srv.url}/bench/wrk/data/{name}", f"{rcl.url}/data/{name}"
            uncached = f"{cold.url}/bench/wrk/data/{name}"
            http("POST", ours, data, {"Authorization": auth})
            http("POST", uncached, data, {"Authorization": auth})
            http("POST", theirs, data)
            assert http("GET", ours, headers={"Authorization": auth})[1] == data
            assert http("GET", theirs)[1] == data
            for server, url, hdr in (("convosync-server", ours, ["-H", f"Authorization: {auth}"]),
                                     ("convosync-server --cache-size 0", uncached, ["-H", f"Authorization: {auth}"]),
                                     ("rclone serve restic", theirs, [])):
                cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.wrk_connections}", f"-d{args.wrk_duration}s",
                       "--latency", *hdr, url]
                text = run(cmd, env).stdout.decode()
                r = parse_wrk(text)
                r.update(label=label, size=size, server=server)
                results.append(r)
        hwm = srv.status("VmHWM")
    finally:
        srv.stop()
        cold.stop()
        rcl.stop()
    return {"results": results, "server_hwm": hwm}


def report_wrk(args, w):
    print(f"### 2. Pack GETs with wrk (-t{args.wrk_threads} -c{args.wrk_connections} -d{args.wrk_duration}s --latency, no proxy)\n")
    print("| file | server | requests/s | MB/s (payload) | p50 | p99 | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in w["results"]:
        err = f"{r['non2xx']} non-2xx" + (f"; {r['socket_errors']}" if r["socket_errors"] else "")
        print(f"| {r['label']} | {r['server']} | {r['rps']:,.0f} | {r['rps'] * r['size'] / 1e6:,.1f} | "
              f"{r['p50']:.2f} ms | {r['p99']:.2f} ms | {err} |")
    print(f"\n(convosync-server's VmHWM after both wrk runs: {w['server_hwm'] / 1024:.1f} MB, its read cache holding the two files. wrk asks for one"
          f" file again and again, so the first row measures the cache; the second, the same server reading from disk each time.)\n")


# ---------------------------------------------------------------- 3. load

class RSSSampler(threading.Thread):
    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.peak, self.done = srv, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.srv.status("VmRSS"))
            except OSError:
                return
            time.sleep(0.02)


def concurrently(jobs):
    """jobs: list of (cmd, env, cwd). Starts all at one moment (one thread each); returns
    [(exit code, seconds, stdout, stderr)] in order, and the wall time of the whole batch."""
    go, results = threading.Event(), [None] * len(jobs)

    def work(i, cmd, env, cwd):
        go.wait()
        t = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        PROCS.append(p)
        o, e = p.communicate()
        results[i] = (p.returncode, time.perf_counter() - t, o, e)
        PROCS.remove(p)

    threads = [threading.Thread(target=work, args=(i, *j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def ref_targets(srv, user, repo):
    d = os.path.join(srv.data, "repos", user, repo, "refs")
    out = {}
    for n in os.listdir(d):
        if not n.startswith("."):
            out[n] = open(os.path.join(d, n)).read().strip()
    return out


def summarize(results, accepted, messages):
    """Exit codes, times, the sessions saved, and every error: an exit code not accepted, no JSON,
    or a save that did not store the whole transcript (`messages` in its JSON)."""
    codes = collections.Counter(r[0] for r in results)
    times = [r[1] for r in results]
    sessions, errors = [], []
    for code, _, o, e in results:
        if code not in accepted:
            errors.append(f"exit {code}: {e.decode(errors='replace').strip()[-400:]}")
            continue
        try:
            j = json.loads(o)
            sessions.append(j["session"])
        except (ValueError, KeyError):
            errors.append(f"exit {code} without a session in its JSON: {o.decode(errors='replace')[:300]}")
            continue
        if j.get("messages") != messages:
            errors.append(f"exit {code}: {j.get('messages')} messages saved, not {messages}")
    return codes, times, sessions, errors


def part_load(args, base, env):
    base = os.path.join(base, "load")
    os.makedirs(base)
    srv = ConvoSyncServer(args.bin_dir, os.path.join(base, "server-data"), ["load"], env)
    url, repo_url = srv.url, f"{srv.url}/load/sessions/"
    out = {}
    sampler = RSSSampler(srv)
    try:
        remote = make_remote(base, env)
        origin = Device(base, "origin", clone(remote, os.path.join(base, "origin", "project"), env))
        login(args.bin_dir, origin, url, "load", env)
        run(cs(args.bin_dir, "init", "-r", repo_url, "-q"), origin.env(env, CONVOSYNC_SCRYPT_N="1024"))

        # a. N devices, N conversations, one repository.
        def prepare(i):  # a clone, a HOME, a login, a transcript (not measured)
            d = Device(base, f"dev{i:03d}", clone(remote, os.path.join(base, f"dev{i:03d}", "project"), env))
            login(args.bin_dir, d, url, "load", env)
            lines = generate(args.load_messages, 1000 + i, d.checkout)
            d.write_transcript(json.loads(lines[0])["sessionId"], lines)
            return d
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            devs = list(pool.map(prepare, range(args.clients)))
        hwm0 = srv.status("VmHWM")
        sampler.start()
        log0 = srv.log_lines()
        jobs = [(cs(args.bin_dir, "save", f"device {d.name}", "-r", repo_url, "--no-push", "--json"), d.env(env), d.checkout)
                for d in devs]
        res, wall = concurrently(jobs)
        out["a"] = {"results": res, "wall": wall, "hwm": srv.status("VmHWM"), "rss_peak": sampler.peak,
                    "hwm_before": hwm0, "statuses": srv.statuses(log0), "n": len(devs)}

        # b. K devices race on one conversation.
        M = args.load_messages
        lines = generate(M, 5000, origin.checkout)
        sid = json.loads(lines[0])["sessionId"]
        origin.write_transcript(sid, lines)
        p = run(cs(args.bin_dir, "save", "the raced conversation", "-r", repo_url, "--json"), origin.env(env), cwd=origin.checkout)
        origin_session = json.loads(p.stdout)["session"]
        racers = []
        for i in range(args.racers):
            d = Device(base, f"racer{i:02d}", clone(remote, os.path.join(base, f"racer{i:02d}", "project"), env))
            login(args.bin_dir, d, url, "load", env)
            jr = json.loads(run(cs(args.bin_dir, "resume", "-r", repo_url, "--json"), d.env(env), cwd=d.checkout).stdout)
            assert jr["messages"] == M, jr
            more = generate(M + 20, 5000, d.checkout, fork_at=M, fork_seed=6000 + i)
            assert same(open(jr["transcript"], "rb").read(), b"".join(more[:M]), origin.checkout, d.checkout), \
                f"{d.name}: resumed transcript differs"
            with open(jr["transcript"], "ab") as f:
                f.write(b"".join(more[M:]))
            racers.append(d)
        log0 = srv.log_lines()
        jobs = [(cs(args.bin_dir, "save", f"race {d.name}", "-r", repo_url, "--no-push", "--json"), d.env(env), d.checkout)
                for d in racers]
        res, wall = concurrently(jobs)
        sampler.done.set()
        out["b"] = {"results": res, "wall": wall, "hwm": srv.status("VmHWM"), "rss_peak": sampler.peak,
                    "statuses": srv.statuses(log0), "n": len(racers), "origin": origin_session}
        out["refs"] = ref_targets(srv, "load", "sessions")
        out["server_alive"] = srv.proc.poll() is None
    finally:
        sampler.done.set()
        srv.stop()
    return out


def report_load(args, L):
    print(f"### 3. Load: one convosync-server, one user, one repository, devices logged in with their own tokens\n")
    targets = set(L["refs"].values())
    rows, all_errors, verdict = [], [], {}
    for key, what, accepted in (("a", f"{L['a']['n']} devices save {args.load_messages}-message conversations at once", (0,)),
                                ("b", f"{L['b']['n']} devices race on one conversation (+20 different lines each)", (0, 21))):
        P = L[key]
        codes, times, sessions, errors = summarize(P["results"], accepted, args.load_messages + (20 if key == "b" else 0))
        if key == "b":
            sessions_all = sessions + [P["origin"]]
        else:
            sessions_all = sessions
        lost = [s for s in sessions_all if s not in targets]
        all_errors += errors
        st = P["statuses"]
        bad = {f"{m} {s}": n for (m, s), n in sorted(st.items()) if not s.startswith("2") and not (s == "409" and key == "b")}
        n409 = sum(n for (m, s), n in st.items() if s == "409")
        verdict[key] = (errors, lost, P)
        rows.append((what, ", ".join(f"{n}× exit {c}" for c, n in sorted(codes.items())),
                     f"{P['wall']:.2f} s", f"{statistics.median(times):.2f} / {pct(times, 99):.2f} / {max(times):.2f} s",
                     f"{sum(st.values())} ({n409}× 409)" + (f"; other non-2xx: {bad}" if bad else ""),
                     f"{len(sessions_all) - len(lost)} of {len(sessions_all)}",
                     f"{P['hwm'] / 1024:.1f} MB (sampled {P['rss_peak'] / 1024:.1f})"))
    print("| phase | exit codes | wall (all) | per save p50 / p99 / max | server requests | sessions found as ref targets | server VmHWM |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\n(server VmHWM before phase a, after {L['a']['n']} logins and the setup: {L['a']['hwm_before'] / 1024:.1f} MB; "
          f"ref version files on disk: {len(L['refs'])}; server alive at the end: {L['server_alive']})")
    for key in ("a", "b"):
        st = L[key]["statuses"]
        print(f"- server log, phase {key}: " + ", ".join(f"{m} {c} ×{n}" for (m, c), n in sorted(st.items())) +
              f" ({sum(st.values()) / L[key]['n']:.1f} requests a save)")
    for e in all_errors[:10]:
        print(f"- ERROR {e}")
    return verdict


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"),
                    help="directory with convosync and convosync-server (default: .build/release)")
    ap.add_argument("--parts", default="wire,wrk,load")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--racers", type=int, default=10)
    ap.add_argument("--load-messages", type=int, default=200)
    ap.add_argument("--wrk-duration", type=int, default=10)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--wrk-connections", type=int, default=16)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    args.bin_dir = os.path.abspath(args.bin_dir)
    parts = set(args.parts.split(","))
    for b in ("convosync", "convosync-server"):
        if not os.access(os.path.join(args.bin_dir, b), os.X_OK):
            sys.exit(f"missing {b} in {args.bin_dir}: swift build -c release --product {b}")
    for tool, part in (("restic", "wire"), ("rclone", "wire"), ("rclone", "wrk"), ("wrk", "wrk")):
        if part in parts and not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y restic rclone wrk")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    env = base_env()
    base = tempfile.mkdtemp(prefix="convosync-server-bench-", dir="/tmp")
    load_before, t0 = os.getloadavg(), time.time()
    ploop = ProxyLoop()
    results = {}
    try:
        if "wire" in parts:
            results["wire"] = part_wire(args, base, env, ploop)
        if "wrk" in parts:
            results["wrk"] = part_wrk(args, base, env)
        if "load" in parts:
            results["load"] = part_load(args, base, env)
    finally:
        stop_all()
        ploop.stop()
        if args.keep:
            print(f"(kept {base})")
        else:
            shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()

    ver = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.split("\n")[0].strip()
    print(f"{time.strftime('%Y-%m-%d')}; binaries in {args.bin_dir}; {ver(['restic', 'version'])}; {ver(['rclone', 'version'])}; "
          f"{ver(['wrk', '--version']) or 'wrk'}; {os.cpu_count()} cores; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {time.time() - t0:.0f} s; CONVOSYNC_SCRYPT_N=1024 for user add and init\n")

    if "wire" in results:
        report_wire(results["wire"])
    if "wrk" in results:
        report_wrk(args, results["wrk"])
    verdict = report_load(args, results["load"]) if "load" in results else None

    print("\n### Targets\n")
    ok = lambda b: "met" if b else "MISSED"
    if "wire" in results:
        w = results["wire"]
        s, r = w["save"]["requests"], w["resume"]["requests"]
        writes = sum(1 for x in s if x["method"] in ("POST", "PUT", "DELETE"))
        print(f"- one write request per save: {writes} write(s) of {len(s)} requests ({len(s) - writes} reads): "
              f"{ok(writes == 1)} for writes; one request in all: {ok(len(s) == 1)}")
        print(f"- two requests per resume: {len(r)}: {ok(len(r) <= 2)}")
        print(f"- restic for the same work: backup {len(w['restic_backup']['requests'])}, restore {len(w['restic_restore']['requests'])} requests")
    if "wrk" in results:
        rs = results["wrk"]["results"]
        for label in ("4 MiB", "4 KiB"):
            o = next(x for x in rs if x["label"] == label and x["server"] == "convosync-server")
            c = next(x for x in rs if x["label"] == label and x["server"].endswith("--cache-size 0"))
            t = next(x for x in rs if x["label"] == label and x["server"].startswith("rclone"))
            print(f"- {label} GET requests/s ≥ rclone's: {o['rps']:,.0f} vs {t['rps']:,.0f} ({o['rps'] / t['rps']:.2f}×): "
                  f"{ok(o['rps'] >= t['rps'])}; without the cache {c['rps']:,.0f} ({c['rps'] / t['rps']:.2f}×)")
    if verdict:
        for key, name in (("a", "load"), ("b", "race")):
            errors, lost, P = verdict[key]
            print(f"- {name}: zero errors: {ok(not errors)} ({len(errors)}); nothing lost: {ok(not lost)} ({len(lost)} missing); "
                  f"server peak RSS ≤ 200 MB: {P['hwm'] / 1024:.1f} MB {ok(P['hwm'] <= 200 * 1024)}")


if __name__ == "__main__":
    main()
