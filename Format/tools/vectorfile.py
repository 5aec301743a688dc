"""Writes a vector file of Format/vectors in the Wycheproof shape (Format/SPEC.md §27)."""
import json


def write(name: str, algorithm: str, header: list, notes: str, tests: list) -> None:
    out = {"algorithm": algorithm, "specVersion": 1, "numberOfTests": len(tests), "header": header,
           "notes": notes, "testGroups": [{"tests": tests}]}
    with open(f"Format/vectors/{name}", "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote Format/vectors/{name} ({len(tests)} vectors)")
