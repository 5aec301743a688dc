#!/usr/bin/env python3
"""What the failure paths of issue 10 cost, on release binaries, in one run.

Usage (from the project root):
    swift build -c release --product convosync --product convosync-server
    python3 Benchmarks/failures.py [--bin-dir .build/release] [--idle 3000]

1. Offline fallback. convosync-server on loopback, a repository, one save; then the server is
   stopped and its port taken by a listener that (a) accepts and never answers ("silent") or
   (b) has a full accept queue, so connections get no answer at all ("unreachable"). The
   next `convosync save` (default timeouts) falls back to the outbox: its wall time.
2. Planted keys. A local repository (N=2^15 default key) gets one more key file with the
   given scrypt parameters (a key that does not unlock: random data). `convosync snapshots`
   with the right password, and with a wrong one (every key is tried): wall time and peak
   memory (VmHWM of the process, via /usr/bin/time -f %M).
3. Idle connections. `--idle` TCP connections to convosync-server that send nothing; after
   the header timeout (10 s) plus 2 s, how many the server still holds open.
"""
import argparse, base64, hashlib, json, os, re, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "..", "shared", "corpus", "gen_session.py")


def run(cmd, env=None, cwd=None, check=True):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(bin_dir, data, env):
    port = free_port()
    proc = subprocess.Popen([f"{bin_dir}/convosync-server", "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def offline(bin_dir, tmp):
    env = dict(os.environ, CONVOSYNC_SERVER_PASSWORD="alice-password", CONVOSYNC_SCRYPT_N="1024", CONVOSYNC_PASSWORD="pw")
    results = {}
    for kind in ["silent", "unreachable"]:
        base = os.path.join(tmp, kind)
        os.makedirs(base)
        data, home, remote, work = (os.path.join(base, x) for x in ["data", "home", "remote.git", "work"])
        run([f"{bin_dir}/convosync-server", "user", "add", "alice", "--data-dir", data], env=env)
        proc, port = start_server(bin_dir, data, env)
        run(["git", "init", "-q", "--bare", remote])
        run(["git", "clone", "-q", remote, work])
        for k, v in [("user.email", "a@b"), ("user.name", "a")]:
            run(["git", "-C", work, "config", k, v])
        open(os.path.join(work, "README"), "w").write("x\n")
        run(["git", "-C", work, "add", "-A"]); run(["git", "-C", work, "commit", "-qm", "x"]); run(["git", "-C", work, "push", "-q", "origin", "HEAD"])
        denv = dict(env, HOME=home, XDG_CACHE_HOME=home + "/.cache", XDG_CONFIG_HOME=home + "/.config", XDG_STATE_HOME=home + "/.local/state")
        folder = os.path.join(home, ".claude", "projects", re.sub(r"[^A-Za-z0-9]", "-", work))
        os.makedirs(folder)
        sid = "4d5611e5-0000-4000-8000-000000000001"
        gen = lambda n: run([sys.executable, GEN, "--messages", str(n), "--seed", "1", "--cwd", work, "--session-id", sid]).stdout
        transcript = os.path.join(folder, sid + ".jsonl")
        open(transcript, "w").write(gen(200))
        repo = f"rest:http://alice:alice-password@127.0.0.1:{port}/alice/r/"
        run([f"{bin_dir}/convosync", "init", "-r", repo], env=denv, cwd=work)
        run([f"{bin_dir}/convosync", "save", "first", "-r", repo], env=denv, cwd=work)
        proc.terminate(); proc.wait()
        dead = socket.socket()
        dead.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        dead.bind(("127.0.0.1", port))
        dead.listen(0 if kind == "unreachable" else 64)
        filler = None
        if kind == "unreachable":
            filler = socket.create_connection(("127.0.0.1", port))
        open(transcript, "w").write(gen(210))
        t = time.time()
        r = run([f"{bin_dir}/convosync", "save", "offline", "-r", repo], env=denv, cwd=work, check=False)
        results[kind] = (time.time() - t, r.returncode, "Queued offline" in r.stdout)
        dead.close()
        if filler:
            filler.close()
    return results


def planted(bin_dir, tmp):
    out = []
    repo = os.path.join(tmp, "keys-repo")
    env = dict(os.environ, CONVOSYNC_PASSWORD="pw")
    env.pop("CONVOSYNC_SCRYPT_N", None)
    run([f"{bin_dir}/convosync", "init", "-r", repo], env=env)
    for n, r, p, label in [(None, None, None, "no planted key"), (1 << 16, 32, 1, "memory bound (256 MiB)"),
                           (1 << 13, 32, 16, "work bound (N*r*p = 2^22)"), (1 << 20, 32, 16, "top of the ranges (refused)")]:
        for name in os.listdir(os.path.join(repo, "keys")):
            if name.startswith("planted-"):
                os.remove(os.path.join(repo, "keys", name))
        planted_path = None
        if n:
            key = {"created": "2026-12-03T00:00:00.000Z", "data": base64.b64encode(os.urandom(60)).decode(), "host": "x", "kdf": "scrypt",
                   "n": n, "p": p, "r": r, "salt": base64.b64encode(os.urandom(32)).decode(), "username": "x", "version": 1}
            body = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
            planted_path = os.path.join(repo, "keys", hashlib.sha256(body).hexdigest())
            open(planted_path, "wb").write(body)
        row = [label]
        for password in ["pw", "wrong"]:
            t = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", f"{bin_dir}/convosync", "snapshots", "-r", repo, "--no-cache"],
                               env=dict(env, CONVOSYNC_PASSWORD=password), capture_output=True, text=True)
            kib = int(r.stderr.strip().splitlines()[-1])
            row.append((time.time() - t, kib // 1024, r.returncode))
        if planted_path:
            os.remove(planted_path)
        out.append(row)
    return out


def idle(bin_dir, tmp, count):
    env = dict(os.environ, CONVOSYNC_SERVER_PASSWORD="alice-password", CONVOSYNC_SCRYPT_N="1024")
    proc, port = start_server(bin_dir, os.path.join(tmp, "idle-data"), env)
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 100)), hard))
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        time.sleep(12)
        open_count = 0
        for c in conns:
            c.setblocking(False)
            try:
                open_count += 0 if c.recv(1) == b"" else 1
            except BlockingIOError:
                open_count += 1
            except OSError:
                pass
            c.close()
        return open_count
    finally:
        proc.terminate(); proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--idle", type=int, default=3000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="convosync-failures-")
    try:
        print("1. offline fallback of `convosync save` (default timeouts)")
        for kind, (seconds, status, queued) in offline(args.bin_dir, tmp).items():
            print(f"   {kind:12} {seconds:6.1f} s  exit {status}  queued offline: {queued}")
        print("2. `convosync snapshots` with one planted key file (right password | wrong password): s, peak MiB, exit")
        for label, right, wrong in planted(args.bin_dir, tmp):
            print(f"   {label:30} {right[0]:5.2f} s {right[1]:5} MiB {right[2]:3} | {wrong[0]:5.2f} s {wrong[1]:5} MiB {wrong[2]:3}")
        print(f"3. {args.idle} idle connections: still open after 12 s (header timeout 10 s): {idle(args.bin_dir, tmp, args.idle)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
