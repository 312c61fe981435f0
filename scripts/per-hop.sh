#!/usr/bin/env bash
# Per-hop cost of each backend, measured side by side in one invocation: synthetic-5 (five
# no-op functions, 6 hops for a message-passing dataplane) against synthetic-1 (one no-op
# function, 2 hops) at the same constant open-loop rate. The difference of the medians divided
# by the 4 extra function-to-function hops is the marginal cost of a hop, free of the gateway's
# HTTP cost; the naive figure (synthetic-5 median / 6 hops) is printed too.
#
# Under each placement of $PLACEMENTS (default "none"; e.g. PLACEMENTS="none paper one-core"):
# with `paper` on 2 CPUs every function shares CPU 1, so function-to-function hops are
# same-core, as they are with `one-core`.
#
# Two floors beside each placement's rows:
# - for every SPRIGHT backend (s-spright, d-spright, u-spright), the same runs with bare relays
#   in the functions' places (runtime `relay`: `--backend-opt function-runtime=relay`): the
#   backend's own transport, gateway, processes, load and placement, without SPRIGHT's function
#   runtime, so spright/relay is what the runtime adds to a hop, measured the same way;
# - `sk-msg-floor`: bare relays forked by a benchmark, passing 16 bytes through the real SK_MSG
#   program at the same rate, placement and duration, driven by a bare client instead of the
#   gateway and load generator (`harness/benches/hop_floor.rs`).
#
# ROUNDS=N (default 1) repeats everything N times, alternating, and ends with a summary per
# backend and placement: the median and range over the rounds of each marginal cost, and of the
# ratios spright/relay and spright/sk-msg-floor taken within each round.
#
# With SCHED=batch, S-SPRIGHT's function workers (and its relays) and the benchmark's relays run
# under SCHED_BATCH (`--backend-opt sched=batch`; default normal).
#
#   [PLACEMENTS="..."] [SCHED=normal|batch] [ROUNDS=N] scripts/per-hop.sh [RATE] [SECONDS] [BACKENDS...]
#   (default: 500 10 s-spright grpc)
set -euo pipefail
rate=${1:-500}; secs=${2:-10}; shift 2 2>/dev/null || shift $#
backends=("$@"); [ ${#backends[@]} -gt 0 ] || backends=(s-spright grpc)
rounds=${ROUNDS:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=$(scripts/release-binary.sh)
cargo bench -q -p spright-bench --bench hop_floor --no-run
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
p50() { python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["p50_us"])' "$1/summary.csv"; }
# row BACKEND RUNTIME PLACEMENT ROUND P50_1 P50_5: one line of the table, also kept for the summary
row() {
  python3 -c "import sys; b,r,p,n=sys.argv[1:5]; o,f=float(sys.argv[5]),float(sys.argv[6]); print(f'{b} {r} {p} {n} {o:.1f} {f:.1f} {(f-o)/4:.2f} {f/6:.1f}')" \
    "$@" | tee -a "$out/rows"
}
printf "backend runtime placement round p50_synthetic1_us p50_synthetic5_us marginal_us_per_hop naive_us_per_hop\n"
for n in $(seq "$rounds"); do
  for p in ${PLACEMENTS:-none}; do
    for b in "${backends[@]}"; do
      runtimes=(-); case $b in s-spright|d-spright|u-spright) runtimes=(spright relay) ;; esac
      for r in "${runtimes[@]}"; do
        opt=()
        [ "$b" != s-spright ] || opt+=(--backend-opt "sched=${SCHED:-normal}")
        [ "$r" != relay ] || opt+=(--backend-opt function-runtime=relay)
        for c in synthetic-1 synthetic-5; do
          "$bin" run --backend "$b" "${opt[@]}" --chain "workloads/chains/$c.toml" --rate "$rate" --arrival constant \
            --duration "$secs" --warmup 1 --placement "$p" --quiet --out "$out/$b-$r-$c-$p-$n" >/dev/null 2>&1
        done
        row "$b" "$r" "$p" "$n" "$(p50 "$out/$b-$r-synthetic-1-$p-$n")" "$(p50 "$out/$b-$r-synthetic-5-$p-$n")"
      done
    done
    read -r _ _ one five _ < <(cargo bench -q -p spright-bench --bench hop_floor -- --rates "$rate" \
      --placements "$p" --sched "${SCHED:-normal}" --seconds "$secs" | tail -1)
    row sk-msg-floor - "$p" "$n" "$one" "$five"
  done
done
[ "$rounds" -gt 1 ] || exit 0
echo
echo "summary over $rounds rounds: median [min-max]"
python3 - "$out/rows" <<'PY'
import statistics, sys
from collections import defaultdict
cost = {}  # (backend, runtime, placement, round) -> marginal us per hop
for line in open(sys.argv[1]):
    b, r, p, n, _, _, m, _ = line.split()
    cost[(b, r, p, n)] = float(m)
def spread(xs):
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"
groups = defaultdict(list)
for (b, r, p, n), m in cost.items():
    groups[(b, r, p)].append(m)
for (b, r, p), xs in sorted(groups.items()):
    print(f"{b} {r} {p}: {spread(xs)} us per hop")
for (b, r, p), xs in sorted(groups.items()):
    if r != "spright":
        continue
    rounds = sorted({n for (bb, rr, pp, n) in cost if (bb, rr, pp) == (b, r, p)})
    for base, name in [((b, "relay", p), "relay"), (("sk-msg-floor", "-", p), "sk-msg-floor")]:
        ratios = [cost[(b, r, p, n)] / cost[base + (n,)] for n in rounds if cost.get(base + (n,), 0) > 0]
        if ratios:
            print(f"{b} {p}: spright/{name} {spread(ratios)}")
PY
