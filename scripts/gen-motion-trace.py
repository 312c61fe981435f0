#!/usr/bin/env python3
"""Writes workloads/traces/motion-day.txt: a generated one-day motion-sensor trace.

The SPRIGHT paper replays a real motion-sensor trace (MERL, first day) that cannot be
redistributed. This generates a stand-in with the properties that matter for scale to zero:
a diurnal profile (quiet nights, busy mornings and evenings, 0 to ~300 events an hour), bursts
(someone walking past several sensors: 10-20 events within 10 s), and long idle gaps (more than
30% of gaps exceed Knative's 30 s scale-to-zero grace period). Events are a non-homogeneous
Poisson process of "visits" at the hourly rates below; a visit is one event, or with probability
BURST_P a burst. Times are seconds from 07:00, three decimals. Same seed, same file.

  scripts/gen-motion-trace.py            # rewrite the file
  scripts/gen-motion-trace.py --check    # exit 1 if the committed file differs
"""
import argparse
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "workloads" / "traces" / "motion-day.txt"
SEED = 20221
# Visits per hour for each hour of the day (index = hour, 0 = midnight).
VISITS_PER_HOUR = [1, 0, 0, 1, 0, 2, 8, 60, 180, 60, 25, 20, 30, 25, 15, 15, 20, 35, 90, 60, 30, 15, 6, 3]
BURST_P = 0.06
BURST_EVENTS = (10, 20)
BURST_SPAN_S = 10.0
START_HOUR = 7


def generate(seed):
    rng = random.Random(seed)
    events = []
    for h in range(24):
        rate = VISITS_PER_HOUR[(START_HOUR + h) % 24]
        t = h * 3600.0
        while rate > 0:
            t += rng.expovariate(rate / 3600.0)
            if t >= (h + 1) * 3600.0:
                break
            if rng.random() < BURST_P:
                n = rng.randint(*BURST_EVENTS)
                events += [t + rng.uniform(0, BURST_SPAN_S) for _ in range(n)]
            else:
                events.append(t)
    return sorted(events)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    events = generate(SEED)
    head = [
        "# Generated one-day motion-sensor trace (scripts/gen-motion-trace.py; not the paper's MERL trace).",
        f"# seed {SEED}; seconds from 07:00; visits per hour by hour of day {VISITS_PER_HOUR};",
        f"# a visit is a burst of {BURST_EVENTS[0]}-{BURST_EVENTS[1]} events within {BURST_SPAN_S} s with probability {BURST_P}.",
    ]
    text = "\n".join(head + [f"{t:.3f}" for t in events]) + "\n"
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} differs", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    gaps = [b - a for a, b in zip(events, events[1:])]
    per_hour = [sum(1 for t in events if h * 3600 <= t < (h + 1) * 3600) for h in range(24)]
    print(f"{len(events)} events; max {max(per_hour)}/h, min {min(per_hour)}/h; "
          f"{sum(g > 30 for g in gaps) / len(gaps):.0%} of gaps > 30 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
