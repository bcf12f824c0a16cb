#!/usr/bin/env bash
# Storage drivers side by side: container rootfs creation time on images of 1k, 10k and 50k
# files, and the apply throughput of a ~100 MB layer against `tar -x` of the same file.
# Usage: bench/storage.sh   (as root; needs btrfs-progs)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v mkfs.btrfs >/dev/null || { echo "bench: mkfs.btrfs is missing (apt-get install btrfs-progs)" >&2; exit 1; }
cargo build --release --quiet -p berth-storage --example storage_bench --manifest-path "$repo/Cargo.toml"

work=$(mktemp -d /var/tmp/berth-bench-XXXXXX)
img="$work/berth-bench-btrfs.img"
mnt="$work/btrfs"
cleanup() {
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
truncate -s 2G "$img"
mkfs.btrfs -q "$img"
mkdir -p "$mnt" "$work/plain"
mount -o loop "$img" "$mnt"

echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "overlay and vfs on $(stat -fc %T "$work/plain") ($work), btrfs on a loop-mounted image"
"$repo/target/release/examples/storage_bench" "$work/plain" "$mnt"
