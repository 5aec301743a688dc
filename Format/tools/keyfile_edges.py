#!/usr/bin/env python3
"""Key-file vectors at the edges of SPEC §6's scrypt bounds, made with an implementation
independent of the project's (Python's hashlib.scrypt and the `cryptography` package's
AES-GCM), and appended to Format/vectors/keyfile.json. Checks tcId 1 first, so the two
implementations are known to agree.

    python3 Format/tools/keyfile_edges.py            # rewrites the edge vectors (tcId >= 7)
"""
import base64, hashlib, json, os, pathlib
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "keyfile.json"
AAD = b"convosync/1/key"
MASTER = bytes(range(255, 223, -1))
PASSWORD = "correct horse battery staple"


def kek(password, salt, n, r, p):
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * (n + p + 2) + (1 << 20), dklen=32)


def unlock(key_file, password):
    k = json.loads(key_file)
    sealed = base64.b64decode(k["data"])
    key = kek(password, base64.b64decode(k["salt"]), k["n"], k["r"], k["p"])
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], AAD)


def make(n, r, p, salt, nonce):
    sealed = nonce + AESGCM(kek(PASSWORD, salt, n, r, p)).encrypt(nonce, MASTER, AAD)
    return json.dumps({"created": "2025-11-24T16:00:00.000Z", "data": base64.b64encode(sealed).decode(), "host": "vector",
                       "kdf": "scrypt", "n": n, "p": p, "r": r, "salt": base64.b64encode(salt).decode(),
                       "username": "vector", "version": 1}, separators=(",", ":"), sort_keys=True)


def main():
    doc = json.loads(VECTORS.read_text())
    tests = doc["testGroups"][0]["tests"]
    assert unlock(tests[0]["keyFile"], tests[0]["password"]).hex() == tests[0]["masterKey"], "tcId 1 does not agree"
    tests[:] = [t for t in tests if t["tcId"] < 7]
    edges = [
        ("r = 32 with p = 1 (BoringSSL's default memory limit refused these)", 1 << 10, 32, 1, "valid"),
        ("r = 17 with p = 1", 1 << 12, 17, 1, "valid"),
        ("memory at the bound: 128*N*r = 256 MiB", 1 << 16, 32, 1, "valid"),
        ("work at the bound: N*r*p = 2^22", 1 << 13, 32, 16, "valid"),
        ("memory over the bound: 128*N*r = 512 MiB", 1 << 17, 32, 1, "invalid"),
        ("work over the bound: N*r*p = 2^23", 1 << 14, 32, 16, "invalid"),
        ("the top of every range: N = 2^20, r = 32, p = 16 (4 GiB, minutes)", 1 << 20, 32, 16, "invalid"),
    ]
    for i, (comment, n, r, p, result) in enumerate(edges):
        salt, nonce = hashlib.sha256(b"salt%d" % i).digest(), hashlib.sha256(b"nonce%d" % i).digest()[:12]
        if result == "valid":
            key_file = make(n, r, p, salt, nonce)
            assert unlock(key_file, PASSWORD) == MASTER
        else:
            # Sealed under a cheap key: a reader that ran scrypt with these parameters anyway
            # would fail (or take minutes); a reader MUST refuse them before running it.
            key_file = json.loads(make(1 << 10, 8, 1, salt, nonce))
            key_file.update(n=n, r=r, p=p)
            key_file = json.dumps(key_file, separators=(",", ":"), sort_keys=True)
        tests.append({"comment": comment, "keyFile": key_file, "masterKey": MASTER.hex() if result == "valid" else "",
                      "password": PASSWORD, "result": result, "tcId": 7 + i})
    doc["numberOfTests"] = len(tests)
    # Written as the Swift vector writer writes (JSONSerialization: "key" : value, "\\/").
    VECTORS.write_text(json.dumps(doc, indent=2, sort_keys=True, separators=(",", " : ")).replace("/", "\\/"))


if __name__ == "__main__":
    main()
