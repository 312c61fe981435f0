#!/usr/bin/env bash
# The SPRIGHT gateway plus one no-op function against nginx on the same core budget, with wrk,
# in one invocation: `spright-bench deploy` of synthetic-1 with its gateway and function pinned
# to the last CPU (`--placement gateway=L,fn1=L`), nginx with one worker on that CPU, wrk with
# one thread on CPU 0; alternating, ROUNDS rounds each. Prints each one's requests/s and the
# ratio (target: the SPRIGHT chain reaches at least half of nginx's).
#
# Extra `deploy` arguments go in DEPLOY_ARGS, e.g. DEPLOY_ARGS="--backend-opt sched=batch";
# SPRIGHT_BENCH names the binary (default: a release build of this checkout), so that two builds
# can be compared.
#
#   [DEPLOY_ARGS=...] scripts/gateway-vs-nginx.sh [BACKEND] [SECONDS] [CONNECTIONS] [ROUNDS]   (default: s-spright 5 32 3)
set -euo pipefail
backend=${1:-s-spright}; secs=${2:-5}; conns=${3:-32}; rounds=${4:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=nginx-conf.sh
. "$top/scripts/nginx-conf.sh"
SETUP_BENCH=1 "$top/scripts/setup.sh"
cd "$top"
bin=${SPRIGHT_BENCH:-}
[ -n "$bin" ] || bin=$(scripts/release-binary.sh)
last=$(( $(nproc) - 1 )); port=18090
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"' EXIT
nginx_conf "$dir" "$port" "$last"
nginx -c "$dir/nginx.conf" -p "$dir" & pids+=($!)
# shellcheck disable=SC2086
"$bin" deploy --backend "$backend" --chain workloads/chains/synthetic-1.toml --placement "gateway=$last,fn1=$last" \
  ${DEPLOY_ARGS:-} --log-dir "$dir/logs" > "$dir/deploy.out" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do grep -q "serving until" "$dir/deploy.out" 2>/dev/null && break; sleep 0.1; done
chain=$(awk '/^endpoint:/ {print $2}' "$dir/deploy.out")/pipe
printf 'wrk.method = "POST"\nwrk.body = "hello"\n' > "$dir/post.lua"
echo "$backend ${DEPLOY_ARGS:-} gateway + no-op function and nginx (1 worker) on CPU $last; wrk -t1 -c$conns on CPU 0, $secs s a run" >&2
printf "round nginx_rps chain_rps ratio\n"
for r in $(seq "$rounds"); do
  n=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
  c=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" -s "$dir/post.lua" "$chain" | awk '/Requests\/sec/ {print $2}')
  printf "%s %s %s %.3f\n" "$r" "$n" "$c" "$(echo "$c / $n" | bc -l)"
done
