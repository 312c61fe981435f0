#!/usr/bin/env python3
"""Fails when code is written twice where it must exist once (run by `make lint` and CI).

Checked: no block of MIN_LINES or more lines that are alike but for names (identifiers, string,
char and number literals) stands in two of
  - the SPRIGHT crates (the shared core and every transport: a transport must not copy the
    protocol, the gateway, the function runtime or the deployment from the core or another one);
  - the test files (shared test helpers live in one place: harness/tests/common/).
Blank lines, comments, `use` lines, attributes and lines of lone punctuation are passed over, and
white space is folded, so formatting alone neither makes nor hides a duplicate. A block of fewer
than three different line shapes (a list of strings, a table of numbers) is data, not code, and
does not count.

  scripts/check-duplicates.py [--min-lines N]
"""
import argparse
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPRIGHT_CRATES = ["dataplanes/spright", "dataplanes/ebpf-sk-msg", "dataplanes/dpdk-poll", "dataplanes/unix-dgram"]
KEYWORDS = set(
    """as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod
    move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err""".split()
)
TOKEN = re.compile(
    r"""(?P<str>b?r?"(?:\\.|[^"\\])*")|(?P<chr>b?'(?:\\.|[^'\\])')|(?P<num>\b\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?[a-z0-9]*\b)|(?P<id>\b[A-Za-z_][A-Za-z0-9_]*\b)|(?P<ws>\s+)|(?P<other>.)"""
)


def shape(line: str):
    """The line with its names and literals abstracted, or None when it does not count."""
    s = line.strip()
    if not s or s.startswith("//") or s.startswith("use ") or s.startswith("pub use ") or s.startswith("#["):
        return None
    if all(c in "{}()[];,." for c in s):
        return None
    out = []
    for m in TOKEN.finditer(s):
        kind, text = m.lastgroup, m.group()
        if kind in ("str", "chr"):
            out.append("S")
        elif kind == "num":
            out.append("N")
        elif kind == "id":
            out.append(text if text in KEYWORDS else "I")
        elif kind == "other":
            out.append(text)
    return " ".join(out)


def lines_of(path: Path):
    """(original line number, shape) of every line that counts."""
    out = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        sh = shape(line)
        if sh is not None:
            out.append((n, sh))
    return out


def shared_runs(a, b, min_lines):
    """Maximal runs of at least `min_lines` equal shapes: (a first, a last, b first, b last) lines."""
    index = {}
    for i in range(len(a) - min_lines + 1):
        index.setdefault(tuple(s for _, s in a[i : i + min_lines]), []).append(i)
    matched = set()
    for j in range(len(b) - min_lines + 1):
        for i in index.get(tuple(s for _, s in b[j : j + min_lines]), []):
            matched.add((i, j))
    runs = []
    for i, j in sorted(matched):
        if (i - 1, j - 1) in matched:
            continue  # inside the run that starts further up the same diagonal
        k = min_lines
        while i + k < len(a) and j + k < len(b) and a[i + k][1] == b[j + k][1]:
            k += 1
        if len({s for _, s in a[i : i + k]}) >= 3:
            runs.append((a[i][0], a[i + k - 1][0], b[j][0], b[j + k - 1][0]))
    return runs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--min-lines", type=int, default=6)
    args = p.parse_args()
    crates = {c: sorted((ROOT / c / "src").rglob("*.rs")) for c in SPRIGHT_CRATES}
    pairs = []
    for c1, c2 in combinations(SPRIGHT_CRATES, 2):
        pairs += [(f1, f2) for f1 in crates[c1] for f2 in crates[c2]]
    # The repository's test files, tracked or new, not ignored ones (a build's target/, the
    # device bundle's copy of workloads/).
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    tests = sorted(ROOT / f for f in listed if "tests" in Path(f).parts)
    pairs += list(combinations(tests, 2))
    cache = {}
    found = 0
    for f1, f2 in pairs:
        for f in (f1, f2):
            if f not in cache:
                cache[f] = lines_of(f)
        for a1, a2, b1, b2 in shared_runs(cache[f1], cache[f2], args.min_lines):
            found += 1
            print(f"{f1.relative_to(ROOT)}:{a1}-{a2} ~ {f2.relative_to(ROOT)}:{b1}-{b2}")
    if found:
        print(f"check-duplicates: {found} block(s) of {args.min_lines}+ lines written twice (alike but for names); "
              "make one piece of code serve both", file=sys.stderr)
        return 1
    print(f"check-duplicates: none in {len(cache)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
