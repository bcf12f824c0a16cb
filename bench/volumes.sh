#!/usr/bin/env bash
# Write (and read-back) throughput of a container's storage paths against the host filesystem
# under them, berthd beside dockerd (Debian's docker.io), driven by the same docker CLI:
#   1. a named volume (-v NAME:/data, <data-root>/volumes/NAME/_data);
#   2. a bind mount (-v HOSTDIR:/data);
#   3. the container's writable layer (overlay upper directory);
# each against the same write done on the host directly, in a directory beside both data roots
# (one temp directory, so one filesystem: the output names it, from df -T).
# A pass is GNU dd if=/dev/zero bs=1M count=SIZE_MB conv=fsync (its time includes the fsync), then
# the page cache is dropped and the file is read back with dd to /dev/null. The same dd binary runs
# everywhere (the image carries the host's /usr/bin/dd and its libc). Each path runs RUNS passes,
# interleaved across paths in a shuffled order; medians are printed in MB/s with path/host ratios (target for berth's
# volume: >= 0.98).
# Usage: bench/volumes.sh [RUNS] [SIZE_MB]   (defaults 3 and 1024)
#   (root; needs docker.io, busybox-static, coreutils, python3, iproute2)
#   ENGINES="docker" runs only the docker half (and the host baseline), ENGINES="berth" only berth's.
#   BENCH_DIR=/some/dir puts the temp directory (data roots and host baseline) there; default /var/tmp.
set -euo pipefail
runs=${1:-3}
size_mb=${2:-1024}
engines=${ENGINES:-berth docker}
bench_dir=${BENCH_DIR:-/var/tmp}
repo=$(cd "$(dirname "$0")/.." && pwd)
docker=/usr/local/bin/docker
for tool in dockerd containerd busybox python3 ldd ip dd df; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool is missing (apt-get install docker.io busybox-static python3 iproute2 coreutils)" >&2
    exit 1
  }
done
dd_bin=$(command -v dd)
# Only GNU dd prints the elapsed time (Debian's busybox dd prints just the record counts).
"$dd_bin" --version 2>/dev/null | grep coreutils >/dev/null || {
  echo "bench: $dd_bin is not GNU dd (apt-get install coreutils)" >&2
  exit 1
}
[[ "$runs" =~ ^[1-9][0-9]*$ && "$size_mb" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: bench/volumes.sh [RUNS] [SIZE_MB]" >&2
  exit 2
}

# berthd gets its own bridge name and subnet so it never meets a running default berthd on berth0;
# every container here runs with --network none, so it should never even create the bridge.
b_bridge=berth-benchv0
b_cidr=10.229.0.1/24
b_gw=${b_cidr%/*}
if ip link show "$b_bridge" >/dev/null 2>&1; then
  echo "bench: link $b_bridge already exists (an earlier run left it?): ip link del $b_bridge" >&2
  exit 1
fi
if [[ " $engines " == *" berth "* ]]; then
  cargo build --release --quiet -p berth-daemon -p berth-runtime --manifest-path "$repo/Cargo.toml"
fi

work=$(mktemp -d "$bench_dir/berth-bench-vol-XXXXXX")
berth_sock=$work/berth.sock
docker_sock=$work/docker.sock
nft_tables_before=$(nft list tables 2>/dev/null || true)

# berthd is meant to remove whatever it made; a bridge or nft table naming our bridge or subnet
# that is still there is reported and removed.
clean_berth_leftovers() {
  local family name marker
  marker="$b_bridge|$(sed 's/[.]/[.]/g' <<<"${b_gw%.*}.")"
  if ip link show "$b_bridge" >/dev/null 2>&1; then
    echo "bench: berthd left link $b_bridge behind; deleting it" >&2
    ip link del "$b_bridge"
  fi
  command -v nft >/dev/null || return 0
  nft list tables | while read -r _ family name; do
    grep -qx "table $family $name" <<<"$nft_tables_before" && continue
    nft list table "$family" "$name" | grep -E "$marker" >/dev/null || continue
    echo "bench: berthd left nft table $family $name behind; deleting it" >&2
    nft delete table "$family" "$name"
  done
}

cleanup() {
  set +e
  for sock in "$berth_sock" "$docker_sock"; do
    [ -S "$sock" ] || continue
    DOCKER_HOST=unix://$sock $docker ps -aq | xargs -r env DOCKER_HOST=unix://$sock $docker rm -f >/dev/null 2>&1
    DOCKER_HOST=unix://$sock $docker volume ls -q | xargs -r env DOCKER_HOST=unix://$sock $docker volume rm -f >/dev/null 2>&1
  done
  [ -n "${berthd_pid:-}" ] && kill "$berthd_pid" && wait "$berthd_pid"
  [ -n "${dockerd_pid:-}" ] && kill "$dockerd_pid" && wait "$dockerd_pid"
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
  # dockerd (cgroupfs driver, v1) makes its parent below its own cgroup, not at the top.
  find /sys/fs/cgroup -maxdepth 5 -type d \( -name berth-benchvol -o -name berth-benchvol-d \) 2>/dev/null |
    while read -r h; do find "$h" -depth -type d -exec rmdir {} \; ; done
  clean_berth_leftovers
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap cleans up then too.
trap "exit 130" INT TERM

# The image: busybox plus the host's dd and the libraries ldd lists, at their host paths.
root=$work/rootfs
mkdir -p "$root"
"$repo/scripts/busybox-rootfs.sh" | tar -C "$root" -xf -
cp -L --parents "$dd_bin" "$root"
for lib in $(ldd "$dd_bin" | grep -o '/[^ ]*'); do cp -L --parents "$lib" "$root"; done
tar --numeric-owner -C "$root" -cf "$work/vol.tar" .
rm -rf "$root"

if [[ " $engines " == *" berth "* ]]; then
  "$repo/target/release/berthd" -H "unix://$berth_sock" --data-root "$work/berth" --exec-root "$work/berth-exec" \
    --cgroup-parent berth-benchvol --bridge "$b_bridge" --bip "$b_cidr" >"$work/berthd.log" 2>&1 &
  berthd_pid=$!
fi
if [[ " $engines " == *" docker "* ]]; then
  dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$docker_sock" \
    --pidfile "$work/docker.pid" --bridge none --iptables=false --ip6tables=false \
    --cgroup-parent berth-benchvol-d \
    --containerd-namespace berth-benchvol --containerd-plugins-namespace berth-benchvol-plugins \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
fi
declare -A sock_of=([berth]=$berth_sock [docker]=$docker_sock)
declare -A log_of=([berth]=$work/berthd.log [docker]=$work/dockerd.log)
for e in $engines; do
  up=
  for _ in $(seq 300); do DOCKER_HOST=unix://${sock_of[$e]} $docker version >/dev/null 2>&1 && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "bench: the $e daemon did not come up in 30 s; the end of its log:" >&2; tail -20 "${log_of[$e]}" >&2; exit 1; }
  DOCKER_HOST=unix://${sock_of[$e]} $docker import "$work/vol.tar" bench-vol >/dev/null
done

# The targets: host directly, and per engine a named volume, a bind mount and the rw layer, each
# served by one long-running container that every pass execs into.
# host2 is the same measurement as host in a second directory: its ratio to host is the noise floor,
# how far from 1.000 a ratio moves on this machine when nothing differs.
mkdir -p "$work/host" "$work/host2"
targets=(host host2)
declare -A dir_of=([host]=$work/host [host2]=$work/host2) ctr_of=()
declare -A label_of=([host]="host directly" [host2]="host directly, again (noise)")
for e in $engines; do
  dh="env DOCKER_HOST=unix://${sock_of[$e]} $docker"
  $dh volume create bench-vol >/dev/null
  mkdir -p "$work/bind-$e"
  $dh run -d --name bench-volume --network none -v bench-vol:/data bench-vol sleep 100000 >/dev/null
  $dh run -d --name bench-bind --network none -v "$work/bind-$e:/data" bench-vol sleep 100000 >/dev/null
  $dh run -d --name bench-rw --network none bench-vol sh -c 'mkdir -p /data && exec sleep 100000' >/dev/null
  for kind in volume bind rw; do
    targets+=("$e-$kind")
    ctr_of[$e-$kind]=bench-$kind
    dir_of[$e-$kind]=/data
  done
  # Where each file lands on the host, to check that the pass wrote where it claims to.
  dir_of[$e-volume-host]=$($dh volume inspect -f '{{.Mountpoint}}' bench-vol)
  dir_of[$e-bind-host]=$work/bind-$e
  label_of[$e-volume]="named volume (-v NAME:/data)"
  label_of[$e-bind]="bind mount (-v HOSTDIR:/data)"
  label_of[$e-rw]="rw layer"
done

echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM"
echo "docker CLI $($docker version -f '{{.Client.Version}}' 2>/dev/null); dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,); $("$dd_bin" --version | head -1)"
for e in $engines; do
  echo "$e storage driver: $(DOCKER_HOST=unix://${sock_of[$e]} $docker info -f '{{.Driver}}'), volume at ${dir_of[$e-volume-host]}"
done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "filesystem of $work (data roots and the host baseline):"
df -T "$work" | sed 's/^/  /'
# Every host-side directory must be on that one filesystem, or the ratios compare two disks.
dev=$(stat -c %d "$work")
for e in $engines; do
  for d in "${dir_of[$e-volume-host]}" "${dir_of[$e-bind-host]}"; do
    [ "$(stat -c %d "$d")" = "$dev" ] || { echo "bench: $d is not on the filesystem of $work" >&2; exit 1; }
  done
done

in_target() { # TARGET CMD...: run CMD on the host or in the target's container
  if [ "$1" = host ] || [ "$1" = host2 ]; then
    shift
    "$@"
  else
    local e=${1%%-*} c=${ctr_of[$1]}
    shift
    DOCKER_HOST=unix://${sock_of[$e]} $docker exec "$c" "$@"
  fi
}
mbs() { # dd's stderr on stdin -> MB/s (10^6 bytes/s), from its byte count and elapsed seconds
  python3 -c '
import re, sys
text = sys.stdin.read()
m = re.search(r"^(\d+) bytes .* copied, ([0-9.e-]+) s,", text, re.M)
if not m:
    sys.exit("bench: unexpected dd output: " + text.strip())
print("%.1f" % (int(m.group(1)) / float(m.group(2)) / 1e6))'
}
declare -A wr rd
for r in $(seq "$runs"); do
  # A fresh order each round, so no path always follows the same one (writeback, cache state).
  for t in $(printf '%s\n' "${targets[@]}" | shuf); do
    d=${dir_of[$t]}
    in_target "$t" rm -f "$d/f"
    sync
    w=$(in_target "$t" "$dd_bin" if=/dev/zero of="$d/f" bs=1M count="$size_mb" conv=fsync 2>&1 | mbs)
    # Cold read-back: the file's pages must come from the disk, not from the cache the write filled.
    sync
    echo 3 >/proc/sys/vm/drop_caches
    rb=$(in_target "$t" "$dd_bin" if="$d/f" of=/dev/null bs=1M 2>&1 | mbs)
    if [ "$r" = 1 ] && [ -n "${dir_of[$t-host]:-}" ]; then
      size=$(stat -c %s "${dir_of[$t-host]}/f" 2>/dev/null || echo none)
      [ "$size" = $((size_mb * 1048576)) ] || {
        echo "bench: $t wrote no $size_mb MiB file at ${dir_of[$t-host]}/f (found: $size)" >&2
        exit 1
      }
    fi
    in_target "$t" rm -f "$d/f"
    wr[$t]+="$w "
    rd[$t]+="$rb "
  done
done

echo
echo "$size_mb MiB, dd bs=1M, MB/s, median of $runs (min-max) (ratio = path / host directly)"
report() { # TITLE ARRAY-NAME [NOTE]: one row per path kind, berth's beside docker's; NOTE after the volume row
  local -n vals=$2
  local t rows=$work/rows.tsv
  echo "$1"
  : >"$rows"
  for t in "${targets[@]}"; do
    [ "$t" = host ] || [ "$t" = host2 ] || printf '%s\t%s\t%s\n' "$t" "${label_of[$t]}" "${vals[$t]}" >>"$rows"
  done
  python3 - "$engines" "${vals[host]}" "${label_of[host]}" "$rows" "${3:-}" "${vals[host2]}" "${label_of[host2]}" <<'PY'
import statistics, sys
engines, host, host_label = sys.argv[1].split(), [float(x) for x in sys.argv[2].split()], sys.argv[3]
host2, host2_label = [float(x) for x in sys.argv[6].split()], sys.argv[7]
h = statistics.median(host)
def cell(xs):
    return f"{statistics.median(xs):8.1f} ({min(xs):.0f}-{max(xs):.0f})"
print(f"  {host_label:<30}         {cell(host)}")
print(f"  {host2_label:<30}         {cell(host2)} ratio {statistics.median(host2) / h:.3f}")
rows = {}
for line in open(sys.argv[4]).read().splitlines():
    t, label, vals = line.split("\t")
    e, kind = t.split("-", 1)
    rows.setdefault(kind, {"label": label})[e] = [float(x) for x in vals.split()]
for kind, r in rows.items():
    line = f"  {r['label']:<30}"
    for e in engines:
        xs = r[e]
        line += f"  {e:>6} {cell(xs)} ratio {statistics.median(xs) / h:.3f}"
    if kind == "volume" and sys.argv[5]:
        line += "  " + sys.argv[5]
    print(line)
PY
}
note=
[[ " $engines " == *" berth "* ]] && note="(berth target >= 0.98)"
report "write, conv=fsync:" wr "$note"
report "cold read-back (page cache dropped):" rd
