#!/usr/bin/env bash
# Soak test (not part of `make test`): a chain under moderate load for a long time, looking for
# what short runs cannot show: errors that come late, memory or descriptors that grow, slots
# that leak.
#
#   scripts/soak.sh BACKEND MINUTES [RATE] [CHAIN]     (defaults: 200 req/s, synthetic-2)
#
# Runs `spright-bench run` for MINUTES; 30 s in and 15 s before the end it reads the RSS
# (VmRSS) and the open file descriptors of every component process; at the end it reports the
# run's errors and, for the shared-memory backends, the pool's free slots against its size.
# Writes results/runs/soak-<backend>-<time>/ (the run) and soak.md there.
set -euo pipefail
backend=${1:?usage: scripts/soak.sh BACKEND MINUTES [RATE] [CHAIN]}
minutes=${2:?usage: scripts/soak.sh BACKEND MINUTES [RATE] [CHAIN]}
rate=${3:-200}; chain=${4:-synthetic-2}
cd "$(dirname "$0")/.."
bin=$(scripts/release-binary.sh)
secs=$((minutes * 60))
out=results/runs/soak-$backend-$(date -u +%Y%m%dT%H%M%S)
"$bin" run --backend "$backend" --chain "workloads/chains/$chain.toml" --rate "$rate" \
  --duration "$secs" --warmup 5 --quiet --out "$out" > "$out.stdout" 2> "$out.stderr" &
driver=$!

# name pid rss_kib fds, for every process of the run: the driver's children (its components,
# those a scaling backend started since included).
snapshot() {
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$driver" ] || continue
    name=$(cat "$p/comm" 2>/dev/null)
    rss=$(awk '/^VmRSS/ {print $2}' "$p/status" 2>/dev/null)
    fds=$(ls "$p/fd" 2>/dev/null | wc -l)
    echo "$name $pid ${rss:-0} $fds"
  done | sort
}
sleep 30; start=$(snapshot)
sleep $((secs + 5 - 30 - 15)); end=$(snapshot)
wait "$driver" || true
python3 - "$out" "$backend" "$minutes" "$rate" "$chain" "$start" "$end" <<'PY'
import csv, sys
out, backend, minutes, rate, chain, start, end = sys.argv[1:8]
def parse(text):
    return {l.split()[1]: l.split() for l in text.strip().splitlines()}
s, e = parse(start), parse(end)
row = next(csv.DictReader(open(f"{out}/summary.csv")))
counters = {(r["component"], r["counter"]): int(r["value"]) for r in csv.DictReader(open(f"{out}/counters.csv"))}
lines = [f"# Soak: {backend}, {chain} at {rate} req/s for {minutes} min", "",
         f"Command: `scripts/soak.sh {backend} {minutes} {rate} {chain}`; run directory `{out}`.", "",
         f"Requests: {row['ok']} ok, {row['errors']} errors; p50 {float(row['p50_us']):.0f} us, p99 {float(row['p99_us']):.0f} us.", ""]
if ("pool", "slots") in counters:
    lines += [f"Pool: {counters[('pool', 'free_slots')]} of {counters[('pool', 'slots')]} slots free at the end; "
              f"{counters[('pool', 'bad_descriptors')]} bad descriptors.", ""]
lines += ["| process | RSS at 30 s (KiB) | RSS at the end (KiB) | fds at 30 s | fds at the end |", "|---|---:|---:|---:|---:|"]
for pid, (name, _, rss, fds) in sorted(s.items(), key=lambda kv: kv[1][0]):
    er, ef = (e[pid][2], e[pid][3]) if pid in e else ("gone", "gone")
    lines.append(f"| {name} ({pid}) | {rss} | {er} | {fds} | {ef} |")
for pid, (name, _, rss, fds) in e.items():
    if pid not in s:
        lines.append(f"| {name} ({pid}), started later | - | {rss} | - | {fds} |")
text = "\n".join(lines) + "\n"
open(f"{out}/soak.md", "w").write(text)
print(text)
PY
