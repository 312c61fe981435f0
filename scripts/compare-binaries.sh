#!/usr/bin/env bash
# Compares two spright-bench binaries (say, before and after a change on a measured path) side by
# side: the same reproduce sweep with each, alternating, ROUNDS times, then the median new/old
# ratios per backend of the highest unsaturated throughput and of p50 at RATE req/s.
#
#   scripts/compare-binaries.sh OLD_BINARY NEW_BINARY [ROUNDS] [CHAINS] [BACKENDS] [REPRODUCE ARGS...]
#   (defaults: 3 rounds, chains synthetic-2,call-tree, backends grpc,s-spright,d-spright,knative;
#   arguments after BACKENDS go to both sweeps, e.g. --backend-opt d-spright:poll=backoff)
#
# Each binary runs its own components (`<exe> component ...`), so both can be any build; the
# sweep is shortened (2 s measured per point after 0.5 s warm-up) to fit several rounds.
# Results: results/runs/compare-<time>/{old,new}-<round>/sweep/ and ratios.md there. Both binaries
# must know `reproduce --experiments` (the sweep alone; without it `reproduce` runs the whole
# evaluation).
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); rounds=${3:-3}
chains=${4:-synthetic-2,call-tree}; backends=${5:-grpc,s-spright,d-spright,knative}
shift $(($# < 5 ? $# : 5)); extra=("$@")
RATE=${RATE:-1000}
cd "$(dirname "$0")/.."
out=results/runs/compare-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    echo "round $r/$rounds: $which ($bin)" >&2
    "$bin" reproduce --experiments sweep --out "$out/$which-$r" --chains "$chains" --backends "$backends" \
      --duration 2 --warmup 0.5 "${extra[@]}" 2> "$out/$which-$r.log" >/dev/null
  done
done
python3 - "$out" "$rounds" "$RATE" <<'PY'
import csv, statistics, sys
out, rounds, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def rows(d):
    return list(csv.DictReader(open(f"{out}/{d}/sweep/comparison.csv")))
def saturated(r):
    total = max(int(r["ok"]) + int(r["errors"]), 1)
    return (float(r["achieved_rps"]) < 0.9 * float(r["offered_rps"]) or int(r["errors"]) / total > 0.01
            or float(r["p99_us"]) > 500_000)
def best(rs, chain, backend):
    return max([float(r["achieved_rps"]) for r in rs if r["chain"] == chain and r["backend"] == backend and not saturated(r)] or [0.0])
def p50(rs, chain, backend):
    for r in rs:
        if r["chain"] == chain and r["backend"] == backend and float(r["offered_rps"]) == rate and not saturated(r):
            return float(r["p50_us"])
    return None
old = [rows(f"old-{i}") for i in range(1, rounds + 1)]
new = [rows(f"new-{i}") for i in range(1, rounds + 1)]
keys = sorted({(r["chain"], r["backend"]) for r in old[0]})
lines = [f"| chain | backend | throughput new/old per round | median | p50 at {rate:.0f} req/s new/old per round | median |",
         "|---|---|---|---:|---|---:|"]
for chain, backend in keys:
    t = [best(n, chain, backend) / best(o, chain, backend) for o, n in zip(old, new) if best(o, chain, backend) > 0]
    p = [p50(n, chain, backend) / p50(o, chain, backend) for o, n in zip(old, new)
         if p50(o, chain, backend) and p50(n, chain, backend)]
    f = lambda xs: ", ".join(f"{x:.2f}" for x in xs) or "-"
    m = lambda xs: f"{statistics.median(xs):.2f}" if xs else "-"
    lines.append(f"| {chain} | {backend} | {f(t)} | {m(t)} | {f(p)} | {m(p)} |")
text = "\n".join(lines) + "\n"
open(f"{out}/ratios.md", "w").write(text)
print(text)
PY
echo "results: $out" >&2
