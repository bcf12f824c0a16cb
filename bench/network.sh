#!/usr/bin/env bash
# berthd against dockerd (Debian's docker.io) with bridge networking, side by side, driven by the
# same docker CLI, each against host <-> host over loopback:
#   1. TCP throughput (iperf3, SECS s): client in a container -> iperf3 server on the host at the
#      bridge's gateway address;
#   2. the same, server in a container published with -p 127.0.0.1:P:5201 and -p HOSTIP:Q:5201,
#      client on the host -> 127.0.0.1:P and -> HOSTIP:Q (the port-publishing path);
#   3. TCP request/response latency over the same three paths: bench/rr.c, RR_N 1-byte round trips,
#      mean and p99 in µs;
#   4. the extra `run --rm IMG true` latency of the default bridge network over --network none
#      (hyperfine medians; target for berth <= 20 ms).
# Prints each number, its ratio to host loopback, berth's beside docker's.
# Usage: bench/network.sh [SECS] [RR_N] [RUNS]
#   (root; needs docker.io, iperf3, hyperfine, gcc, busybox-static, python3, iproute2, iptables, nftables)
#   ENGINES="docker" runs only the docker half (and the loopback baseline), ENGINES="berth" only berth's.
set -euo pipefail
secs=${1:-5}
rr_n=${2:-20000}
runs=${3:-30}
engines=${ENGINES:-berth docker}
repo=$(cd "$(dirname "$0")/.." && pwd)
docker=/usr/local/bin/docker
for tool in iperf3 hyperfine dockerd containerd docker-proxy busybox python3 gcc ip iptables nft ldd; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool is missing (apt-get install docker.io iperf3 hyperfine gcc libc6-dev busybox-static python3 iproute2 iptables nftables)" >&2
    exit 1
  }
done

# Host objects this bench makes, all named for it so they never meet a real docker0 or berth0.
d_bridge=berthbench-d0 # created here; dockerd's --bridge must already exist, and -b excludes --bip
d_cidr=172.31.250.1/24
d_gw=${d_cidr%/*}
b_bridge=berth-bench0
b_cidr=10.230.0.1/24
b_gw=${b_cidr%/*}
for link in "$d_bridge" "$b_bridge"; do
  if ip link show "$link" >/dev/null 2>&1; then
    echo "bench: link $link already exists (an earlier run left it?): ip link del $link" >&2
    exit 1
  fi
done
# dockerd's iptables rules live in shared chains (DOCKER, DOCKER-USER, ...); with another
# dockerd's rules present, cleanup could not tell them apart.
# (grep without -q: under pipefail an early grep exit could fail iptables with SIGPIPE.)
if { iptables -t nat -S; iptables -t filter -S; } 2>/dev/null | grep DOCKER >/dev/null; then
  echo "bench: iptables already holds DOCKER chains (another dockerd with --iptables is running); stop it first" >&2
  exit 1
fi
# The host's own address: the source of its default route, else its first global IPv4 address.
hostip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$hostip" ] || hostip=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
[ -n "$hostip" ] || { echo "bench: the host has no global IPv4 address to publish on" >&2; exit 1; }

if [[ " $engines " == *" berth "* ]]; then
  cargo build --release --quiet -p berth-daemon -p berth-runtime --manifest-path "$repo/Cargo.toml"
  "$repo/target/release/berthd" --help 2>&1 | grep -- '--bridge' >/dev/null || {
    echo "bench: this berthd has no --bridge flag (no bridge networking yet); run with ENGINES=docker" >&2
    exit 1
  }
fi

work=$(mktemp -d /tmp/berth-bench-net-XXXXXX)
berth_sock=$work/berth.sock
docker_sock=$work/docker.sock
sysctls="net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"
declare -A sysctl_before
for s in $sysctls; do sysctl_before[$s]=$(sysctl -n "$s" 2>/dev/null || echo absent); done
nft_tables_before=$(nft list tables)
host_pids=()

# Deletes every iptables rule and chain dockerd added (in the filter and nat tables, through the
# iptables front end it used), then the nft tables iptables-nft created for them if they were not
# there before and are now empty.
clean_docker_iptables() {
  local t line chain
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep '^-A ' | grep -E "DOCKER|$d_bridge|$(sed 's/[.]/[.]/g' <<<"${d_gw%.*}.")" | while read -r line; do
      # The line is iptables' own rendering of the rule, so its quoting is shell-safe.
      eval "iptables -t $t -D ${line#-A }" 2>/dev/null || true
    done
    iptables -t "$t" -S 2>/dev/null | sed -n 's/^-N \(DOCKER[A-Za-z0-9_-]*\)$/\1/p' | while read -r chain; do
      iptables -t "$t" -F "$chain" && iptables -t "$t" -X "$chain"
    done
    if ! grep -qx "table ip $t" <<<"$nft_tables_before" && nft list table ip "$t" >/dev/null 2>&1 &&
      [ "$(iptables -t "$t" -S | grep -c -E '^-(A|N) ')" = 0 ]; then
      nft delete table ip "$t"
    fi
  done
}

# berthd is meant to remove its own bridge and nft rules; whatever it left (a table new since the
# start that names our bridge or subnet, or such rules in an older table) is reported and removed.
clean_berth_leftovers() {
  local family name handle marker
  marker="$b_bridge|$(sed 's/[.]/[.]/g' <<<"${b_gw%.*}.")"
  if ip link show "$b_bridge" >/dev/null 2>&1; then
    echo "bench: berthd left link $b_bridge behind; deleting it" >&2
    ip link del "$b_bridge"
  fi
  nft list tables | while read -r _ family name; do
    nft list table "$family" "$name" | grep -E "$marker" >/dev/null || continue
    if ! grep -qx "table $family $name" <<<"$nft_tables_before"; then
      echo "bench: berthd left nft table $family $name behind; deleting it" >&2
      nft delete table "$family" "$name"
      continue
    fi
    nft -a list table "$family" "$name" | awk -v m="$marker" '
      /^\tchain / {chain=$2} $0 ~ m && /# handle / {print chain, $NF}' | while read -r chain handle; do
      echo "bench: berthd left a rule for $b_bridge in nft $family $name $chain; deleting it" >&2
      nft delete rule "$family" "$name" "$chain" handle "$handle"
    done
  done
}

cleanup() {
  set +e
  for pid in "${host_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  for sock in "$berth_sock" "$docker_sock"; do
    [ -S "$sock" ] && DOCKER_HOST=unix://$sock $docker ps -aq | xargs -r -n 200 env DOCKER_HOST=unix://$sock $docker rm -f >/dev/null 2>&1
  done
  [ -n "${berthd_pid:-}" ] && kill "$berthd_pid" && wait "$berthd_pid"
  [ -n "${dockerd_pid:-}" ] && kill "$dockerd_pid" && wait "$dockerd_pid"
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
  # dockerd (cgroupfs driver, v1) makes its parent below its own cgroup, not at the top.
  find /sys/fs/cgroup -maxdepth 5 -type d \( -name berth-benchnet -o -name berth-benchnet-d \) 2>/dev/null |
    while read -r h; do find "$h" -depth -type d -exec rmdir {} \; ; done
  ip link del "$d_bridge" 2>/dev/null
  clean_docker_iptables
  clean_berth_leftovers
  for s in $sysctls; do
    [ "${sysctl_before[$s]}" = absent ] || [ "$(sysctl -n "$s" 2>/dev/null)" = "${sysctl_before[$s]}" ] ||
      sysctl -qw "$s=${sysctl_before[$s]}"
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The container image: busybox plus iperf3 with the shared libraries ldd lists (same paths), plus
# the static rr; imported into both engines.
gcc -static -O2 -o "$work/rr" "$repo/bench/rr.c"
image_with() { # OUT.tar BINARY... : busybox rootfs + each binary and its libraries at their host paths
  local out=$1 root=$work/rootfs bin lib
  shift
  mkdir -p "$root"
  "$repo/scripts/busybox-rootfs.sh" | tar -C "$root" -xf -
  for bin in "$@"; do
    cp -L --parents "$bin" "$root"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do cp -L --parents "$lib" "$root"; done
  done
  tar --numeric-owner -C "$root" -cf "$out" .
  rm -rf "$root"
}
image_with "$work/net.tar" "$(command -v iperf3)"
mkdir -p "$work/rrroot/usr/local/bin" && cp "$work/rr" "$work/rrroot/usr/local/bin/rr"
tar -C "$work/rrroot" -rf "$work/net.tar" ./usr/local/bin/rr

if [[ " $engines " == *" berth "* ]]; then
  "$repo/target/release/berthd" -H "unix://$berth_sock" --data-root "$work/berth" --exec-root "$work/berth-exec" \
    --cgroup-parent berth-benchnet --bridge "$b_bridge" --bip "$b_cidr" >"$work/berthd.log" 2>&1 &
  berthd_pid=$!
fi
if [[ " $engines " == *" docker "* ]]; then
  ip link add "$d_bridge" type bridge
  ip addr add "$d_cidr" dev "$d_bridge"
  ip link set "$d_bridge" up
  dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$docker_sock" \
    --pidfile "$work/docker.pid" --bridge "$d_bridge" --iptables=true --ip6tables=false \
    --cgroup-parent berth-benchnet-d \
    --containerd-namespace berth-benchnet --containerd-plugins-namespace berth-benchnet-plugins \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
fi
declare -A sock_of=([berth]=$berth_sock [docker]=$docker_sock) gw_of=([berth]=$b_gw [docker]=$d_gw)
declare -A log_of=([berth]=$work/berthd.log [docker]=$work/dockerd.log)
for e in $engines; do
  up=
  for _ in $(seq 300); do DOCKER_HOST=unix://${sock_of[$e]} $docker version >/dev/null 2>&1 && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "bench: the $e daemon did not come up in 30 s; the end of its log:" >&2; tail -20 "${log_of[$e]}" >&2; exit 1; }
  DOCKER_HOST=unix://${sock_of[$e]} $docker import "$work/net.tar" bench-net >/dev/null
done

echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "docker CLI $($docker version -f '{{.Client.Version}}' 2>/dev/null); dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) (userland proxy on, its default); $(iperf3 --version | head -1 | cut -d' ' -f1,2)"
echo "host address: $hostip; berth bridge $b_bridge $b_cidr, docker bridge $d_bridge $d_cidr"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])'; }
gbits() { # iperf3 -J output on stdin -> Gbit/s received, or iperf3's own error
  python3 -c '
import json, sys
r = json.load(sys.stdin)
if r.get("error"):
    sys.exit("bench: iperf3: " + r["error"])
print("%.2f" % (r["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
wait_log() { # ENGINE CONTAINER TEXT: until the container's output holds TEXT (its server is up)
  for _ in $(seq 100); do
    DOCKER_HOST=unix://${sock_of[$1]} $docker logs "$2" 2>&1 | grep "$3" >/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $2 on $1 never printed '$3'" >&2
  exit 1
}
host_server() { # ADDR PORT KIND: an iperf3 or rr server on the host, in the background
  if [ "$3" = iperf3 ]; then iperf3 -s -1 -B "$1" -p "$2" >/dev/null & else "$work/rr" server "$2" "$1" >/dev/null & fi
  host_pids+=($!)
  sleep 0.3
}
stop_host_servers() {
  # iperf3 -s -1 has exited by now already, so kill may find nothing.
  for pid in "${host_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  host_pids=()
}
declare -A tput rr
# Host loopback, the baseline.
p=$(free_port)
host_server 127.0.0.1 "$p" iperf3
tput[loop]=$(iperf3 -c 127.0.0.1 -p "$p" -t "$secs" -J | gbits)
p=$(free_port)
host_server 127.0.0.1 "$p" rr
rr[loop]=$("$work/rr" client 127.0.0.1 "$p" "$rr_n")
stop_host_servers

for e in $engines; do
  dh="env DOCKER_HOST=unix://${sock_of[$e]} $docker"
  gw=${gw_of[$e]}
  # 1 and 3, container -> host over the bridge, to the gateway address. The servers listen on
  # every address: berthd makes its bridge (and so the gateway address) only at a first start.
  p=$(free_port)
  host_server 0.0.0.0 "$p" iperf3
  tput[$e-bridge]=$($dh run --rm bench-net /usr/bin/iperf3 -c "$gw" -p "$p" -t "$secs" -J | gbits)
  p=$(free_port)
  host_server 0.0.0.0 "$p" rr
  rr[$e-bridge]=$($dh run --rm bench-net /usr/local/bin/rr client "$gw" "$p" "$rr_n")
  stop_host_servers
  # 2 and 3, host -> published port, on 127.0.0.1 and on the host's own address.
  p1=$(free_port) p2=$(free_port)
  $dh run -d --name bench-iperf -p "127.0.0.1:$p1:5201" -p "$hostip:$p2:5201" bench-net /usr/bin/iperf3 -s --forceflush >/dev/null
  wait_log "$e" bench-iperf "listening"
  tput[$e-lo]=$(iperf3 -c 127.0.0.1 -p "$p1" -t "$secs" -J | gbits)
  tput[$e-addr]=$(iperf3 -c "$hostip" -p "$p2" -t "$secs" -J | gbits)
  p1=$(free_port) p2=$(free_port)
  $dh run -d --name bench-rr -p "127.0.0.1:$p1:7000" -p "$hostip:$p2:7000" bench-net /usr/local/bin/rr server 7000 >/dev/null
  wait_log "$e" bench-rr "listening"
  rr[$e-lo]=$("$work/rr" client 127.0.0.1 "$p1" "$rr_n")
  rr[$e-addr]=$("$work/rr" client "$hostip" "$p2" "$rr_n")
  $dh rm -f bench-iperf bench-rr >/dev/null
done

echo
echo "TCP throughput, Gbit/s over $secs s (ratio = path / host loopback); host loopback: ${tput[loop]}"
row() { # LABEL KEY: berth's and docker's numbers for one path, with their ratios
  local line e
  line=$(printf '  %-34s' "$1")
  for e in $engines; do
    line+=$(python3 -c 'import sys; v,l=float(sys.argv[2]),float(sys.argv[3]); print(f"  {sys.argv[1]:>6} {v:7.2f} ({v/l:.2f})")' "$e" "${tput[$e-$2]}" "${tput[loop]}")
  done
  echo "$line"
}
row "container -> host, bridge" bridge
row "host -> 127.0.0.1:P, published" lo
row "host -> $hostip:P, published" addr

echo "TCP request/response, 1-byte round trips x $rr_n, mean / p99 µs (ratio = mean / loopback mean); host loopback: ${rr[loop]/ / / }"
rrrow() {
  local line e
  line=$(printf '  %-34s' "$1")
  for e in $engines; do
    line+=$(python3 -c 'import sys; m,p=map(float,sys.argv[2].split()); l=float(sys.argv[3].split()[0]); print(f"  {sys.argv[1]:>6} {m:6.1f} / {p:6.1f} ({m/l:.2f})")' "$e" "${rr[$e-$2]}" "${rr[loop]}")
  done
  echo "$line"
}
rrrow "container -> host, bridge" bridge
rrrow "host -> 127.0.0.1:P, published" lo
rrrow "host -> $hostip:P, published" addr

# 4. run latency, bridge over none.
echo "run --rm bench-net true, median ms over $runs runs: bridge, none, extra of bridge"
for e in $engines; do
  dh="env DOCKER_HOST=unix://${sock_of[$e]} $docker"
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run-$e.json" \
    -n bridge "$dh run --rm bench-net true" -n none "$dh run --rm --network none bench-net true" >/dev/null
  python3 - "$work/run-$e.json" "$e" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
target = " (target <= 20 ms)" if sys.argv[2] == "berth" else ""
print(f"  {sys.argv[2]:>6}  {r['bridge']:.1f}  {r['none']:.1f}  extra {r['bridge'] - r['none']:.1f}{target}")
PY
done
