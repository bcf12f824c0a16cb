#!/usr/bin/env bash
# Image load and save, berth against Docker (docker.io from Debian), side by side: a ~200 MB
# three-layer image built from a debootstrap'd Debian rootfs, loaded from a docker-archive and
# saved back. Prints each throughput and the ratio berth/Docker (target >= 1.5x).
# Usage: bench/images.sh [RUNS]   (as root; needs docker.io and debootstrap, and the Debian mirror)
set -euo pipefail
runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
for tool in dockerd docker debootstrap python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install docker.io debootstrap)" >&2; exit 1; }
done
cargo build --release --quiet -p berth-image --example image_bench --manifest-path "$repo/Cargo.toml"
bench="$repo/target/release/examples/image_bench"

cache=/var/tmp/berth-bench-cache
if [ ! -d "$cache/rootfs/usr" ]; then
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >/dev/null
fi
work=$(mktemp -d /var/tmp/berth-bench-XXXXXX)
sock="$work/docker.sock"
dockerd_pid=
cleanup() {
  if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true; fi
  for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Three layers: /usr, /var, and the rest.
rootfs="$cache/rootfs"
tar --numeric-owner -C "$rootfs" -cf "$work/l1.tar" usr
tar --numeric-owner -C "$rootfs" -cf "$work/l2.tar" var
tar --numeric-owner -C "$rootfs" -cf "$work/l3.tar" --exclude=./usr --exclude=./var .
"$bench" build "$work/image.tar" "$work/l1.tar" "$work/l2.tar" "$work/l3.tar"
size=$(stat -c %s "$work/image.tar")
echo "machine: $(uname -r), $(nproc) cores; image archive $((size / 1000000)) MB, 3 layers"

dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$sock" --pidfile "$work/docker.pid" \
  --bridge=none --iptables=false --ip6tables=false --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 100); do docker -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
docker -H "unix://$sock" version --format 'docker: {{.Server.Version}}'

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/d-load"; : >"$work/d-save"; : >"$work/b-load"; : >"$work/b-save"
for run in $(seq "$runs"); do
  sync; echo 3 >/proc/sys/vm/drop_caches
  t=$(now); docker -H "unix://$sock" load -q -i "$work/image.tar" >/dev/null; echo "$(now) - $t" | bc >>"$work/d-load"
  t=$(now); docker -H "unix://$sock" save -o "$work/d-out.tar" berth-bench/debian:minbase; echo "$(now) - $t" | bc >>"$work/d-save"
  docker -H "unix://$sock" rmi -f berth-bench/debian:minbase >/dev/null
  rm -f "$work/d-out.tar"
  sync; echo 3 >/proc/sys/vm/drop_caches
  "$bench" load-save "$work/image.tar" "$work/berth-$run" "$work/b-out.tar" >"$work/b-times"
  awk '/^load/ {print $2}' "$work/b-times" >>"$work/b-load"
  awk '/^save/ {print $2}' "$work/b-times" >>"$work/b-save"
  rm -rf "$work/berth-$run" "$work/b-out.tar"
done
python3 - "$size" "$(median <"$work/d-load")" "$(median <"$work/d-save")" "$(median <"$work/b-load")" "$(median <"$work/b-save")" <<'PY'
import sys
size = int(sys.argv[1]) / 1e6
d_load, d_save, b_load, b_save = map(float, sys.argv[2:])
for op, d, b in (("load", d_load, b_load), ("save", d_save, b_save)):
    print(f"{op}: berth {size / b:.0f} MB/s ({b:.2f} s), docker {size / d:.0f} MB/s ({d:.2f} s), ratio {d / b:.2f}x (target >= 1.5x)")
PY
