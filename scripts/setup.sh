#!/usr/bin/env bash
# Idempotent machine set-up for spright-bench, called by `make test`, `make reproduce` and
# `make bench`. Installs the Debian packages the workspace needs, mounts bpffs and hugetlbfs
# when missing, and reserves hugepages. Every change it makes is printed; nothing is changed
# twice. Fails with a clear message where it cannot do its job.
#
#   scripts/setup.sh            packages + kernel file systems + hugepages
#   SETUP_BENCH=1 scripts/setup.sh   also the benchmark peers (nginx, wrk)
#   HUGEPAGES=N                 2 MiB hugepages to reserve (default 512 = 1 GiB)
set -euo pipefail

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, mounts bpffs/hugetlbfs, reserves hugepages)"
[ -r /etc/debian_version ] || die "expects Debian (apt-get); install by hand: clang llvm libbpf-dev bpftool libdpdk-dev pkg-config protobuf-compiler"

# --- packages --------------------------------------------------------------------------------
# clang/llvm/libbpf-dev/bpftool: eBPF C programs (S-SPRIGHT). libdpdk-dev: D-SPRIGHT.
# protobuf-compiler: the gRPC baseline's .proto. (Figures need no font package: one is built in.)
pkgs=(clang llvm libbpf-dev bpftool libdpdk-dev pkg-config protobuf-compiler procps iproute2)
if [ "${SETUP_BENCH:-0}" = 1 ]; then pkgs+=(nginx-light wrk); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed (is a Debian mirror reachable?)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# --- kernel features -------------------------------------------------------------------------
[ -e /sys/kernel/btf/vmlinux ] || say "warning: no /sys/kernel/btf/vmlinux (kernel without BTF)"
if ! grep -qw bpf /proc/filesystems; then die "kernel has no bpf file system (CONFIG_BPF_SYSCALL)"; fi
if ! mountpoint -q /sys/fs/bpf; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs on /sys/fs/bpf"
  say "mounted bpffs on /sys/fs/bpf"
fi

# backend u-spright (unix datagram sockets): a receiving socket must queue every descriptor a
# chain can have in flight (its pool_slots), or functions can deadlock on each other's queues.
qlen=$(cat /proc/sys/net/unix/max_dgram_qlen)
if [ "$qlen" -lt 1024 ]; then
  echo 1024 > /proc/sys/net/unix/max_dgram_qlen || die "cannot raise net.unix.max_dgram_qlen"
  say "raised net.unix.max_dgram_qlen: $qlen -> 1024 (backend u-spright)"
fi

# --- hugepages -------------------------------------------------------------------------------
want=${HUGEPAGES:-512}
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$want" ]; then
  echo "$want" > /proc/sys/vm/nr_hugepages || die "cannot reserve hugepages via /proc/sys/vm/nr_hugepages"
  now=$(cat /proc/sys/vm/nr_hugepages)
  say "reserved 2 MiB hugepages: $have -> $now"
  [ "$now" -ge "$want" ] || say "warning: asked for $want hugepages, kernel gave $now (memory fragmented?)"
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs -o mode=1770 nodev /dev/hugepages || die "cannot mount hugetlbfs on /dev/hugepages"
  say "mounted hugetlbfs on /dev/hugepages"
fi

# --- Rust ------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install a stable Rust toolchain (rustup)"
say "ok"
