#!/usr/bin/env bash
# Compares two spright-bench binaries on Online Boutique like for like, as `make reproduce` runs
# it (5,000 closed-loop users, 1-10 s think time), shortened to 30 s measured after 12 s: each
# backend with the old binary, then the new, ROUNDS times, then the new/old ratios of CPU per
# 1,000 requests and of p50 per round with their median. It tells a change of code from a change
# of machine when a reference run's light-load numbers move (scripts/compare-binaries.sh does the
# same for the sweep's throughput).
#
#   scripts/compare-boutique.sh OLD_BINARY NEW_BINARY [ROUNDS] [BACKENDS]
#   (defaults: 3 rounds, backends s-spright,grpc; about 50 s a run)
#
# Both binaries run their own components. Results: results/runs/compare-boutique-<time>/
# <backend>-{old,new}-<round>/ and ratios.md there.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); rounds=${3:-3}; backends=${4:-s-spright,grpc}
cd "$(dirname "$0")/.."
out=results/runs/compare-boutique-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for b in ${backends//,/ }; do
    for which in old new; do
      bin=$old; [ "$which" = new ] && bin=$new
      echo "round $r/$rounds: $b, $which ($bin)" >&2
      "$bin" run --backend "$b" --chain workloads/chains/online-boutique.toml --pattern closed --users 5000 \
        --spawn-rate 500 --warmup 12 --duration 30 --quiet --out "$out/$b-$which-$r" >/dev/null 2>"$out/$b-$which-$r.log"
    done
  done
done
python3 - "$out" "$rounds" "$backends" <<'PY'
import csv, statistics, sys
out, rounds, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
def row(b, which, r):
    return next(csv.DictReader(open(f"{out}/{b}-{which}-{r}/summary.csv")))
lines = ["| backend | round | req/s old / new | p50 us old / new | CPU-s per 1k old / new |",
         "|---|---:|---|---|---|"]
ratios = []
for b in backends:
    cpu, p50 = [], []
    for r in range(1, rounds + 1):
        o, n = row(b, "old", r), row(b, "new", r)
        f = lambda x, k: float(x[k])
        lines.append(f"| {b} | {r} | {f(o,'achieved_rps'):.0f} / {f(n,'achieved_rps'):.0f} | "
                     f"{f(o,'p50_us'):.0f} / {f(n,'p50_us'):.0f} | "
                     f"{f(o,'sut_cpu_s_per_1k'):.3f} / {f(n,'sut_cpu_s_per_1k'):.3f} |")
        cpu.append(f(n, "sut_cpu_s_per_1k") / f(o, "sut_cpu_s_per_1k"))
        p50.append(f(n, "p50_us") / f(o, "p50_us"))
    show = lambda xs: ", ".join(f"{x:.2f}" for x in xs) + f" (median {statistics.median(xs):.2f})"
    ratios.append(f"- {b}: CPU per 1k new/old {show(cpu)}; p50 new/old {show(p50)}")
text = "\n".join(lines + [""] + ratios) + "\n"
open(f"{out}/ratios.md", "w").write(text)
print(text, end="")
print(f"results: {out}", file=sys.stderr)
PY
