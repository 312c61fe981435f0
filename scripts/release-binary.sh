#!/usr/bin/env bash
# Build spright-bench in release mode (quietly; nothing to do when it is up to date) and print
# the binary's path, wherever cargo's target directory is (CARGO_TARGET_DIR, a config file or
# ./target). The benchmark scripts take their default binary from here.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p spright-bench
dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "$dir/release/spright-bench"
