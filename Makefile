# Thin wrappers: the work is in cargo and scripts/. Every target sets up the machine first
# (packages, bpffs, hugetlbfs, hugepages; idempotent, needs root).
CARGO ?= cargo
ARGS ?=

.PHONY: setup test reproduce bench loadgen-vs-wrk lint clean

setup:
	scripts/setup.sh

## make test: every unit and integration test, privileged ones included (run as root); then
## scripts/leftovers.sh checks that they left no process, DPDK, hugepage or bpffs state and no
## scratch directory behind.
test: setup
	@before=$$(mktemp) && scripts/leftovers.sh > "$$before"; \
	$(CARGO) test --workspace --no-fail-fast; rc=$$?; \
	scripts/leftovers.sh --since "$$before" || rc=1; rm -f "$$before"; exit $$rc

## make reproduce: the experiment set (every backend x synthetic chains x rising rates) into
## results/runs/reproduce-<time>/ (pass options with ARGS="--duration 10 ...").
reproduce: setup
	$(CARGO) run --release -q -p spright-bench -- reproduce $(ARGS)

## make bench: criterion micro-benchmarks, then the load generator against wrk.
bench: setup
	$(CARGO) bench --workspace
	scripts/loadgen-vs-wrk.sh

loadgen-vs-wrk:
	scripts/loadgen-vs-wrk.sh

## make lint: formatting, clippy, no code written twice (scripts/check-duplicates.py), and the
## committed golden replies and generated trace equal what their scripts write.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/check-duplicates.py
	scripts/golden-replies.py --check
	scripts/golden-boutique.py --check
	scripts/gen-motion-trace.py --check

clean:
	$(CARGO) clean
	rm -rf results/runs
