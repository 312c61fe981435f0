#!/usr/bin/env bash
# What spright-bench leaves on the host, one line per thing: its processes, DPDK runtime
# directories, hugepage files, bpffs pins and test scratch directories. `make test` lists them
# before the tests and checks afterwards that the tests added none (every deployment tears down
# its processes and host state, every passing test removes its scratch), so a test or a teardown
# that leaks fails the suite instead of piling up on the machine.
#
#   scripts/leftovers.sh                  list what is there now
#   scripts/leftovers.sh --since FILE     list what is there now and was not in FILE (an
#                                         earlier list); exit 1 if anything is
set -uo pipefail

list() {
  # Processes: components and drivers (a binary named spright-bench, whatever its directory).
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case ${exe##*/} in
      spright-bench | "spright-bench (deleted)") echo "process ${p#/proc/}: $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" ;;
    esac
  done
  # Host state a deployment creates and its teardown removes.
  # (The pools' directory under /dev/hugepages stays; the kernel's own *.debug files in bpffs
  # are not ours.)
  {
    find /var/run/dpdk -mindepth 1 -maxdepth 1
    find /dev/hugepages -mindepth 1 -not -type d
    find /sys/fs/bpf -mindepth 1 -not -name '*.debug'
  } 2>/dev/null | sed 's/^/path /'
  # The tests' scratch directories (sb-*; kept only by a failed test).
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'sb-*' 2>/dev/null | sed 's/^/path /'
}

case ${1:-} in
  "") list ;;
  --since)
    [ -r "${2:-}" ] || { echo "leftovers: --since needs the file of an earlier list" >&2; exit 2; }
    new=$(list | grep -vxF -f "$2")
    [ -z "$new" ] && exit 0
    echo "leftovers: the tests left these behind (a teardown or a test that does not clean up):" >&2
    echo "$new" | sed 's/^/  /' >&2
    exit 1
    ;;
  *) echo "usage: $0 [--since FILE]" >&2; exit 2 ;;
esac
