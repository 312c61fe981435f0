#!/usr/bin/env bash
# Issue 13's many-core experiments in one command: where S-SPRIGHT's time goes against
# D-SPRIGHT's when there are cores to spare (README, "Many cores: where S-SPRIGHT's time went").
# Each step is a `reproduce --experiments sweep` (capacities bisected to within 10%, and the load
# generator's pool checked where a point saturates: 4x the connections, so a ceiling is the
# backend's, not the 64 connections'); the Online Boutique variants with more workers run from a
# copy of the chains directory made with `sed`.
#
#   scripts/many-cores.sh [OUT] [STEPS...]
#
# Steps (default: all, in this order; each is a directory under OUT):
#   gw1        both SPRIGHT backends, synthetic-5 and Online Boutique, gateway-threads=1
#   reference  the same with the defaults, under placements none and paper
#   baseline   the same with the defaults, unpinned only (S/D ratios from the same machine start)
#   fw4q fw8q  S-SPRIGHT Online Boutique, frontend with 4 / 8 workers, queues=per-worker
#   all4q      S-SPRIGHT Online Boutique, every function with 4 workers, queues=per-worker
#   all4q-lanes  all4q with a receive queue per gateway thread (gateway-queues=per-thread)
#   all4q-spin   all4q-lanes with workers that poll 50 us before they sleep (spin-us=50)
#   spin       S-SPRIGHT, synthetic-5 and Online Boutique as shipped, with spin-us=50
#   shards     S-SPRIGHT, synthetic-5 and Online Boutique, every function with a worker per
#              function CPU, queues=per-worker, worker-cpus=by-queue, gateway lanes: queue i of
#              every function on function CPU i, so a request's function hops share one core;
#              --placement loadgen=0-2,gateway=3-5,functions=6-(N-1) (N CPUs, 8 or more)
#   shards-inherit  the same, workers not pinned to their queue's CPU (the control)
#   shards-batch    shards with function workers under SCHED_BATCH (sched=batch)
#   cores      S-SPRIGHT, synthetic-5 and Online Boutique, a request on one core: gateway and
#              functions share CPUs 3-(N-1), the gateway with an event loop per lane pinned to
#              lane i's CPU (gateway-cpus=by-lane, N-3 lanes) and every function with N-3 workers
#              pinned by queue, so lane i and queue i of every function share CPU 3+i and every
#              hop of a request whose slot is on lane i stays there; --placement
#              loadgen=0-2,gateway=3-(N-1),functions=3-(N-1) (8 or more CPUs)
#   cores-batch     cores with function workers under SCHED_BATCH
#   gwbatch    S-SPRIGHT, synthetic-5 and Online Boutique as shipped, with the gateway sending
#              each lane's descriptors together (gateway-send=batch; against baseline's)
#   cores-gwbatch   cores-batch with gateway-send=batch
#   fw8        S-SPRIGHT Online Boutique, frontend with 8 workers sharing one socket
#   gw6        S-SPRIGHT synthetic-5 with gateway-threads=6
#
# SPRIGHT_BENCH names the binary (default: a release build of this checkout). On a machine
# without this project's packages, use the bundle of `../shared/tools/device-bundle.sh`; its
# run.sh mounts hugetlbfs and bpffs and reserves hugepages first. One device call (carry
# .device-bundle; tried on 2 cores at d427c70, where it returned a 0.1 MB tarball for 10 points):
#   bash .device-bundle/run.sh env >/dev/null && SPRIGHT_BENCH=.device-bundle/spright-bench \
#     LD_LIBRARY_PATH=.device-bundle/lib LIMIT=170 scripts/many-cores.sh "$OUT/mc" baseline cores cores-batch;
#   tar czf "$OUT/mc.tgz" --exclude=logs --exclude='*.partial' --exclude='points/*.png' \
#     --exclude='points/*.svg' --exclude='points/*/locust_*' --exclude='points/*.hlog' -C "$OUT" mc && rm -rf "$OUT/mc"
# (all steps: over 20 minutes on 16 cores, more than one 600 s device call allows, so name
# steps: `baseline cores cores-batch` take about 6; the tarball keeps every point's CSV files,
# manifest and summary, and each step's figures). LIMIT caps each step's seconds (default 300; an interrupted step keeps what it
# measured). CONNECTIONS=N starts every step's ramps on N load generator connections (the
# chains' own 64 otherwise). On 2 cores this runs, but D-SPRIGHT's pollers starve: it is
# meant for 16 or more.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-results/runs/many-cores-$(date -u +%Y%m%dT%H%M%S)}"); shift 2>/dev/null
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(gw1 reference fw4q fw8q all4q all4q-lanes all4q-spin spin shards shards-inherit shards-batch cores cores-batch gwbatch cores-gwbatch fw8 gw6)
limit=${LIMIT:-300}
cd "$top"
bin=${SPRIGHT_BENCH:-}
[ -n "$bin" ] || bin=$(scripts/release-binary.sh) || exit 1
bin=$(realpath "$bin")
mkdir -p "$out"
variants=$(mktemp -d); trap 'rm -rf "$variants"' EXIT
variant() { # NAME SED: a copy of the chains directory with Online Boutique edited
  mkdir -p "$variants/$1" && cp workloads/chains/*.toml "$variants/$1/" && sed -i "$2" "$variants/$1/online-boutique.toml"
}
variant fw4 's/^handler = "boutique-frontend"$/&\nworkers = 4/'
variant fw8 's/^handler = "boutique-frontend"$/&\nworkers = 8/'
variant all4 's/^handler = "boutique-.*"$/&\nworkers = 4/'
# shards: a worker per function CPU in every function of both chains
ncpu=$(nproc)
fcpus=$((ncpu > 6 ? ncpu - 6 : 1))
variant shards "s/^handler = \"boutique-.*\"$/&\nworkers = $fcpus/"
sed -i "s/^handler = \"synthetic\"$/&\nworkers = $fcpus/" "$variants/shards/synthetic-5.toml"
shard_map="loadgen=0-2,gateway=3-5,functions=6-$((ncpu - 1))"
# cores: a lane and a worker per CPU from 3 on, for gateway and functions alike
ccpus=$((ncpu > 3 ? ncpu - 3 : 1))
variant cores "s/^handler = \"boutique-.*\"$/&\nworkers = $ccpus/"
sed -i "s/^handler = \"synthetic\"$/&\nworkers = $ccpus/" "$variants/cores/synthetic-5.toml"
cores_map="loadgen=0-2,gateway=3-$((ncpu - 1)),functions=3-$((ncpu - 1))"
common=(--experiments sweep --duration 2 --warmup 0.5 --start-rate 4000 --loadgen-threads 3)
[ -n "${CONNECTIONS:-}" ] && common+=(--connections "$CONNECTIONS")
both=(--chains synthetic-5,online-boutique --backends s-spright,d-spright)
ob=(--chains online-boutique --backends s-spright)
lanes=(--backend-opt queues=per-worker --backend-opt gateway-queues=per-thread)
for step in "${steps[@]}"; do
  case $step in
    gw1) args=("${both[@]}" --backend-opt gateway-threads=1) ;;
    reference) args=("${both[@]}" --placement none --placement paper) ;;
    baseline) args=("${both[@]}") ;;
    fw4q) args=(--chains-dir "$variants/fw4" "${ob[@]}" --backend-opt queues=per-worker) ;;
    fw8q) args=(--chains-dir "$variants/fw8" "${ob[@]}" --backend-opt queues=per-worker) ;;
    all4q) args=(--chains-dir "$variants/all4" "${ob[@]}" --backend-opt queues=per-worker) ;;
    all4q-lanes) args=(--chains-dir "$variants/all4" "${ob[@]}" "${lanes[@]}") ;;
    all4q-spin) args=(--chains-dir "$variants/all4" "${ob[@]}" "${lanes[@]}" --backend-opt spin-us=50) ;;
    spin) args=(--chains synthetic-5,online-boutique --backends s-spright --backend-opt spin-us=50) ;;
    fw8) args=(--chains-dir "$variants/fw8" "${ob[@]}") ;;
    gw6) args=(--chains synthetic-5 --backends s-spright --backend-opt gateway-threads=6) ;;
    gwbatch) args=(--chains synthetic-5,online-boutique --backends s-spright --backend-opt gateway-send=batch) ;;
    shards|shards-inherit|shards-batch)
      [ "$ncpu" -ge 8 ] || { echo "step $step needs 8 or more CPUs (has $ncpu)" >&2; continue; }
      pin=by-queue; [ "$step" = shards-inherit ] && pin=inherit
      sched=normal; [ "$step" = shards-batch ] && sched=batch
      args=(--chains-dir "$variants/shards" --chains synthetic-5,online-boutique --backends s-spright "${lanes[@]}"
        --backend-opt worker-cpus=$pin --backend-opt sched=$sched --placement "$shard_map") ;;
    cores|cores-batch|cores-gwbatch)
      [ "$ncpu" -ge 8 ] || { echo "step $step needs 8 or more CPUs (has $ncpu)" >&2; continue; }
      sched=normal; [ "$step" != cores ] && sched=batch
      send=each; [ "$step" = cores-gwbatch ] && send=batch
      args=(--chains-dir "$variants/cores" --chains synthetic-5,online-boutique --backends s-spright "${lanes[@]}"
        --backend-opt worker-cpus=by-queue --backend-opt gateway-threads=$ccpus --backend-opt gateway-cpus=by-lane
        --backend-opt sched=$sched --backend-opt gateway-send=$send --placement "$cores_map") ;;
    *) echo "unknown step $step (see the header of $0)" >&2; exit 2 ;;
  esac
  echo "== $step: ${args[*]}"
  t0=$SECONDS
  timeout -s INT -k 10 "$limit" "$bin" reproduce "${common[@]}" --out "$out/$step" "${args[@]}" 2>&1 \
    | grep -v INFO | grep -E 'unsaturated|^\[|achieved'
  echo "== $step took $((SECONDS - t0)) s: $out/$step/sweep/summary.md"
  grep -h "pool check" "$out/$step/sweep/summary.md" 2>/dev/null | sed "s/^ *- /== $step: /"
  # With a free list per gateway lane: how many requests left their lane's slots (all points).
  cat "$out/$step"/sweep/points/*/counters.csv 2>/dev/null | awk -F, '
    $1 == "pool" && $2 ~ /^lane[0-9]+_borrowed_slots$/ { b += $3; lanes = 1 }
    $1 == "gateway" && $2 == "ebpf_messages" { n += $3 }
    END { if (lanes) printf "== %s: %d of %d requests took another lane'"'"'s slot\n", step, b, n }' step="$step"
done
echo "highest unsaturated rates:"
grep -H "unsaturated;" "$out"/*/sweep/summary.md | sed "s|$out/||"
