#!/usr/bin/env python3
"""Writes the golden replies of the shipped synthetic chains: an oracle independent of the Rust code.

The Rust oracle (`workloads::reference::execute`) runs the same handlers and step machine as the
backends, so it catches transport bugs only. This script shares no code with the project: it
reimplements the reply format and the digest from their documentation (README, "Clients and the
gateway protocol"), reads only the chain specs' data (handler parameters), and walks the visit
sequence of every route as derived by hand below. Its output is committed test data
(`workloads/tests/golden/<chain>/<route>-<case>.reply`), compared byte for byte with the
reference execution (workloads/tests/golden.rs) and with every backend's HTTP replies
(harness/tests/backends.rs).

  scripts/golden-replies.py            # rewrite the files
  scripts/golden-replies.py --check    # exit 1 if a committed file differs
"""
import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "workloads" / "tests" / "golden"
M64 = (1 << 64) - 1

# Visit sequences, derived by hand from each route (function name, event): a pipeline visits its
# functions in order; a call tree visits a caller on entry and again after each callee returns
# ("return from X"), depth first, callees in order.
ROUTES = {
    "synthetic-1": {"pipe": [("f1", None)]},
    "synthetic-2": {"pipe": [("first", None), ("second", None)]},
    "synthetic-5": {"pipe": [("f1", None), ("f2", None), ("f3", None), ("f4", None), ("f5", None)]},
    "cold-start": {"pipe": [("first", None), ("second", None)]},
    "call-tree": {
        # front calls lookup, then order; order calls pay, then notify.
        "checkout": [
            ("front", None),
            ("lookup", None),
            ("front", "lookup"),
            ("order", None),
            ("pay", None),
            ("order", "pay"),
            ("notify", None),
            ("order", "notify"),
            ("front", "order"),
        ],
        "browse": [("front", None), ("lookup", None)],
    },
    # The paper's parking and motion chains: pipelines of sleeping functions.
    "parking": {
        "a": [("detection", None), ("search", None), ("index", None), ("persist", None), ("charging", None)],
        "b": [("detection", None), ("search", None), ("charging", None)],
    },
    "motion": {"motion": [("sensor", None), ("actuator", None)]},
}

# Request bodies of every case (the same as the backend tests send).
CASES = {"empty": b"", "hello": b"hello", "sevens": bytes([7]) * 3000}


def fnv1a(h, data):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def splitmix_bytes(seed, n):
    """n bytes of SplitMix64 output from `seed`, each 64-bit output little-endian."""
    out, state = bytearray(), seed
    while len(out) < n:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out += (z ^ (z >> 31)).to_bytes(8, "little")
    return bytes(out[:n])


def le(x, n):
    return x.to_bytes(n, "little")


def reply(spec, route_id, visits, body):
    """The reply a gateway sends for a request on the route with these visits and this body."""
    funcs = {f["name"]: f for f in spec["functions"]}
    digest = fnv1a(0xCBF29CE484222325, le(route_id, 2))
    count = 0
    for name, returned_from in visits:
        f = funcs[name]
        if returned_from is None:
            event = 0
            payload = f.get("params", {}).get("payload_bytes", 0)
            if payload:
                body = splitmix_bytes(digest ^ f["id"], payload)
        else:
            event = 1 ^ (funcs[returned_from]["id"] << 1)
        h = fnv1a(digest, le(f["id"], 2))
        h = fnv1a(h, le(event, 2))
        h = fnv1a(h, le(len(body), 8))
        h = fnv1a(h, body[:64])
        digest = fnv1a(h, body[max(len(body) - 64, 0):])
        count += 1
    return f"digest={digest:016x} visits={count} route={route_id}\n".encode() + body


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    differ = 0
    for chain, routes in ROUTES.items():
        spec = tomllib.loads((ROOT / "workloads" / "chains" / f"{chain}.toml").read_text())
        ids = {r["name"]: i + 1 for i, r in enumerate(spec["routes"])}
        assert set(ids) == set(routes), f"{chain}: routes {sorted(ids)} have no hand-derived visits here"
        for route, visits in routes.items():
            for case, body in CASES.items():
                path = OUT / chain / f"{route}-{case}.reply"
                want = reply(spec, ids[route], visits, body)
                if args.check:
                    if not path.is_file() or path.read_bytes() != want:
                        print(f"{path.relative_to(ROOT)} differs", file=sys.stderr)
                        differ += 1
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(want)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
