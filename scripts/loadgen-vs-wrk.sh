#!/usr/bin/env bash
# Is the load generator fast enough not to be the bottleneck? For each thread count N, drives
# nginx (N workers, pinned to the last N CPUs) from the first N CPUs with `wrk -tN` and with
# `spright-bench load --loadgen-threads N` (open loop at a rate far above capacity, so it sends
# as fast as it can), alternating, and prints each generator's throughput, their ratio and its
# spread over the rounds. Target: spright-bench >= 0.8 x wrk. On a machine with fewer than 2N
# CPUs the generator's and nginx's CPUs overlap (said in the output); the script runs unchanged
# on more cores.
#
#   scripts/loadgen-vs-wrk.sh [SECONDS] [CONNECTIONS] [ROUNDS] [THREAD COUNTS, e.g. "1 2"]
set -euo pipefail
secs=${1:-10}; conns=${2:-32}; rounds=${3:-3}; counts=${4:-"1 2"}
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=nginx-conf.sh
. "$top/scripts/nginx-conf.sh"
SETUP_BENCH=1 "$top/scripts/setup.sh"
cd "$top"
bin=$(scripts/release-binary.sh)
ncpu=$(nproc)
port=18089
dir=$(mktemp -d)
ngx=
trap '[ -n "$ngx" ] && kill $ngx 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
url=http://127.0.0.1:$port/

printf "threads round wrk_rps spright_bench_rps ratio\n"
for n in $counts; do
  gen=$(seq -s, 0 $(( n - 1 )))
  first=$(( ncpu - n < 0 ? 0 : ncpu - n ))
  ngx_cpus=$(seq -s, "$first" $(( ncpu - 1 )))
  # shellcheck disable=SC2046
  nginx_conf "$dir" "$port" $(seq "$first" $(( ncpu - 1 )))
  nginx -c "$dir/nginx.conf" -p "$dir" &
  ngx=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  echo "N=$n: nginx workers on CPUs $ngx_cpus; generators on CPUs $gen; $conns connections, $secs s a run, $rounds rounds" >&2
  sb() { taskset -c "$gen" "$bin" load --url "$url" --connections "$conns" --duration "$secs" --warmup 1 \
           --timeout-ms 2000 --loadgen-threads "$n" "$@" 2>/dev/null; }
  ratios=()
  for r in $(seq "$rounds"); do
    w=$(taskset -c "$gen" wrk -t"$n" -c"$conns" -d"${secs}s" "$url" | awk '/Requests\/sec/ {print $2}')
    # Open loop far above capacity: the generator sends as fast as its cores let it.
    s=$(sb --rate 100000000 --arrival constant | awk '/^delivered:/ {print $2}')
    ratio=$(echo "$s / $w" | bc -l)
    ratios+=("$ratio")
    printf "%s %s %s %s %.3f\n" "$n" "$r" "$w" "$s" "$ratio"
  done
  sorted=$(printf "%s\n" "${ratios[@]}" | sort -g)
  printf "N=%s ratio median %.3f, min %.3f, max %.3f\n" "$n" "$(echo "$sorted" | sed -n "$(( (rounds + 1) / 2 ))p")" \
    "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)"
  kill $ngx; wait $ngx 2>/dev/null || true; ngx=
done
