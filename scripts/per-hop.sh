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
# Beside each placement's rows, the SK_MSG floor measured the same way (`sk-msg-floor`: bare
# relay processes passing 16 bytes through the real SK_MSG program at the same rate, placement
# and duration: `harness/benches/hop_floor.rs`), so a hop's cost is read against the cost of
# the load pattern itself (cold wake-ups between paced requests) rather than a back-to-back floor.
#
# With SCHED=batch, S-SPRIGHT's function workers and the floor's relays run under SCHED_BATCH
# (`--backend-opt sched=batch`; default normal).
#
#   [PLACEMENTS="..."] [SCHED=normal|batch] scripts/per-hop.sh [RATE] [SECONDS] [BACKENDS...]   (default: 500 10 s-spright grpc)
set -euo pipefail
rate=${1:-500}; secs=${2:-10}; shift 2 2>/dev/null || shift $#
backends=("$@"); [ ${#backends[@]} -gt 0 ] || backends=(s-spright grpc)
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cargo build --release -q -p spright-bench
cargo bench -q -p spright-bench --bench hop_floor --no-run
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/spright-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
p50() { python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["p50_us"])' "$1/summary.csv"; }
row() { python3 -c "import sys; o,f=float(sys.argv[3]),float(sys.argv[4]); print(f'{sys.argv[1]} {sys.argv[2]} {o:.1f} {f:.1f} {(f-o)/4:.1f} {f/6:.1f}')" "$@"; }
printf "backend placement p50_synthetic1_us p50_synthetic5_us marginal_us_per_hop naive_us_per_hop\n"
for p in ${PLACEMENTS:-none}; do
  for b in "${backends[@]}"; do
    for c in synthetic-1 synthetic-5; do
      opt=(); [ "$b" != s-spright ] || opt=(--backend-opt "sched=${SCHED:-normal}")
      "$bin" run --backend "$b" "${opt[@]}" --chain "workloads/chains/$c.toml" --rate "$rate" --arrival constant \
        --duration "$secs" --warmup 1 --placement "$p" --quiet --out "$out/$b-$c-$p" >/dev/null 2>&1
    done
    one=$(p50 "$out/$b-synthetic-1-$p"); five=$(p50 "$out/$b-synthetic-5-$p")
    row "$b" "$p" "$one" "$five"
  done
  read -r _ _ one five _ < <(cargo bench -q -p spright-bench --bench hop_floor -- --rates "$rate" \
    --placements "$p" --sched "${SCHED:-normal}" --seconds "$secs" | tail -1)
  row sk-msg-floor "$p" "$one" "$five"
done
