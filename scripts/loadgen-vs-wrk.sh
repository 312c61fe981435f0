#!/usr/bin/env bash
# Is the load generator fast enough not to be the bottleneck? Drives one nginx (one worker,
# pinned to the last CPU) from one pinned core with wrk and with `spright-bench load` (open loop
# at a rate far above capacity, so it sends as fast as it can), alternating, and prints each
# generator's throughput and their ratio. Target: spright-bench >= 0.8 x wrk.
#
#   scripts/loadgen-vs-wrk.sh [SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
secs=${1:-10}; conns=${2:-32}; rounds=${3:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
SETUP_BENCH=1 "$top/scripts/setup.sh"
cd "$top"
cargo build --release -q -p spright-bench
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/spright-bench

last=$(( $(nproc) - 1 )); gen_cpu=0
port=18089
dir=$(mktemp -d)
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $(printf '1%0*d' "$last" 0);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location / { return 200 "hello from nginx\n"; } }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" &
ngx=$!
trap 'kill $ngx 2>/dev/null; wait $ngx 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
url=http://127.0.0.1:$port/

echo "nginx worker on CPU $last; generators pinned to CPU $gen_cpu; $conns connections, $secs s per run, $rounds rounds" >&2
sb() { taskset -c $gen_cpu "$bin" load --url "$url" --connections "$conns" --duration "$secs" --warmup 1 --timeout-ms 2000 "$@" 2>/dev/null; }
printf "round wrk_rps spright_bench_rps ratio\n"
sum_w=0; sum_s=0
for r in $(seq "$rounds"); do
  w=$(taskset -c $gen_cpu wrk -t1 -c"$conns" -d"${secs}s" "$url" | awk '/Requests\/sec/ {print $2}')
  # Open loop far above capacity: the generator sends as fast as one core lets it.
  s=$(sb --rate 100000000 --arrival constant | awk '/^delivered:/ {print $2}')
  printf "%s %s %s %.3f\n" "$r" "$w" "$s" "$(echo "$s / $w" | bc -l)"
  sum_w=$(echo "$sum_w + $w" | bc -l); sum_s=$(echo "$sum_s + $s" | bc -l)
done
mean_w=$(echo "$sum_w / $rounds" | bc -l)
printf "mean %.0f %.0f %.3f\n" "$mean_w" "$(echo "$sum_s / $rounds" | bc -l)" "$(echo "$sum_s / $sum_w" | bc -l)"
# And the open-loop schedule itself: offered at 0.8 x wrk's rate, is every request sent on time?
rate=$(printf "%.0f" "$(echo "0.8 * $mean_w" | bc -l)")
echo "open loop at 0.8 x wrk = $rate req/s (constant arrivals):"
sb --rate "$rate" --arrival constant
