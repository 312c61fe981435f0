#!/usr/bin/env bash
# Trim a `spright-bench reproduce` output directory to what a committed reference keeps
# (results/reference/README.md): everything `spright-bench summarize DIR` reads to redo the
# summaries, claims and top-level figures, and the files a user compares a run by.
#
#   scripts/trim-reference.sh DIR
#
# Removed: component logs (logs/), each run's and sweep point's own figures (*.png, *.svg), the
# .partial files of an interrupted write; in calibration runs and sweep points everything but
# summary.{csv,md}, manifest.json, latency.csv, errors.csv and timeseries.csv; cpu.csv of every
# repetition after the first (the figures draw r1, motion and parking). Prints the size before
# and after, then checks that `summarize` of a copy of the trimmed directory writes the same
# summary.md, claims.md and sweep/summary.md as the run did (SPRIGHT_BENCH=path picks the
# binary; default: the release build, built if out of date).
set -euo pipefail
dir=${1:?usage: scripts/trim-reference.sh DIR}
[[ -f $dir/runs.csv && -f $dir/summary.md ]] || { echo "$dir: not a reproduce directory (no runs.csv or summary.md)" >&2; exit 2; }
bench=$(realpath "${SPRIGHT_BENCH:-$("$(dirname "$0")/release-binary.sh")}")

echo "before: $(du -sh "$dir" | cut -f1)"
find "$dir" -mindepth 2 -type d -name logs -prune -exec rm -rf {} +
find "$dir" -mindepth 3 -type f \( -name '*.png' -o -name '*.svg' \) -delete
find "$dir" -type f -name '*.partial' -delete
keep='^(summary\.csv|summary\.md|manifest\.json|latency\.csv|errors\.csv|timeseries\.csv)$'
for point in "$dir"/boutique/calibration/* "$dir"/sweep/points/*; do
    [[ -d $point ]] || continue
    for f in "$point"/*; do
        [[ $(basename "$f") =~ $keep ]] || rm -rf "$f"
    done
done
find "$dir" -type f -name cpu.csv -path '*-r[0-9]*' ! -path '*-r1/*' -delete
echo "after: $(du -sh "$dir" | cut -f1)"

# The trimmed directory must still summarize to what the run wrote.
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
cp -r "$dir" "$check/run"
# From the repository's root, as the run was made: summarize looks a relative reference (the
# claims' 16-core sweep) up from the working directory first.
(cd "$(dirname "$0")/.." && "$bench" summarize "$check/run" >/dev/null)
for f in summary.md claims.md sweep/summary.md; do
    [[ -f $dir/$f ]] || continue
    if ! diff -q "$dir/$f" "$check/run/$f" >/dev/null; then
        echo "summarize of the trimmed directory writes a different $f:" >&2
        diff "$dir/$f" "$check/run/$f" >&2 || true
        exit 1
    fi
done
echo "summarize of the trimmed directory writes the same summary.md, claims.md and sweep/summary.md"
