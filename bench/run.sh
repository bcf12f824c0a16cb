#!/usr/bin/env bash
# berthd against dockerd (Debian's docker.io), side by side, driven by the same docker CLI:
#   1. `run --rm --network none IMG true`, median of hyperfine runs;
#   2. `run -d --network none IMG sleep 1000`, median per container over N starts;
#   3. idle host memory per running container: PSS of the container's shim plus the
#      daemon's (and containerd's) growth, averaged over those N containers;
#   4. `ps` with MANY (default 1000) running containers on berthd (and on dockerd with N).
# Prints each number and the ratio berth/docker. For 1 and 4 it adds context: the client floor
# (the same docker CLI command against bench/mockd.py, which answers at once with canned
# answers, for ps with the very list berthd returned) and berth's number minus that floor; and
# the same two commands through the berth CLI, against berthd and against the mock.
# Usage: bench/run.sh [N] [MANY]   (root; needs docker.io, hyperfine, busybox-static, python3, curl)
set -euo pipefail
n=${1:-30}
many=${2:-1000}
repo=$(cd "$(dirname "$0")/.." && pwd)
docker=/usr/local/bin/docker
for tool in hyperfine dockerd containerd busybox python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install docker.io hyperfine busybox-static python3 curl)" >&2; exit 1; }
done
cargo build --release --quiet -p berth-daemon -p berth-runtime -p berth-cli --manifest-path "$repo/Cargo.toml"
berth=$repo/target/release/berth

work=$(mktemp -d /tmp/berth-bench-run-XXXXXX)
berth_sock=$work/berth.sock
docker_sock=$work/docker.sock
mock_sock=$work/mock.sock
mock_ps_sock=$work/mock-ps.sock
cleanup() {
  set +e
  for pid in "${mock_pid:-}" "${mock_ps_pid:-}"; do [ -n "$pid" ] && kill "$pid" && wait "$pid"; done
  for sock in "$berth_sock" "$docker_sock"; do
    [ -S "$sock" ] && DOCKER_HOST=unix://$sock $docker ps -aq | xargs -r -n 200 env DOCKER_HOST=unix://$sock $docker rm -f >/dev/null 2>&1
  done
  [ -n "${berthd_pid:-}" ] && kill "$berthd_pid" && wait "$berthd_pid"
  [ -n "${dockerd_pid:-}" ] && kill "$dockerd_pid" && wait "$dockerd_pid"
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
  for h in /sys/fs/cgroup/*/berth-bench; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; ; done
  rm -rf "$work"
}
trap cleanup EXIT

"$repo/target/release/berthd" -H "unix://$berth_sock" --data-root "$work/berth" --exec-root "$work/berth-exec" \
  --cgroup-parent berth-bench >"$work/berthd.log" 2>&1 &
berthd_pid=$!
dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$docker_sock" \
  --pidfile "$work/docker.pid" --bridge none --iptables=false --ip6tables=false \
  --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins \
  >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
python3 "$repo/bench/mockd.py" "$mock_sock" 2>"$work/mockd.log" &
mock_pid=$!
for _ in $(seq 100); do [ -S "$mock_sock" ] && break; sleep 0.1; done
for sock in "$berth_sock" "$docker_sock"; do
  for _ in $(seq 200); do DOCKER_HOST=unix://$sock $docker version >/dev/null 2>&1 && break; sleep 0.1; done
done
"$repo/scripts/busybox-rootfs.sh" "$work/busybox.tar"
for sock in "$berth_sock" "$docker_sock"; do
  DOCKER_HOST=unix://$sock $docker import "$work/busybox.tar" bench-busybox >/dev/null
done

echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "docker CLI $($docker version -f '{{.Client.Version}}' 2>/dev/null); dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,)"
# Every start of every engine moves a process into a cgroup; how long that takes depends on the
# kernel's mode (see bench/cgroup_attach.py), so it is printed with the numbers.
echo "one cgroup move on this kernel, median ms: $(python3 "$repo/bench/cgroup_attach.py")"

ratio() { python3 -c "import sys; b,d=float(sys.argv[1]),float(sys.argv[2]); print(f'{b:.1f} vs {d:.1f} -> ratio {b/d:.3f}')" "$1" "$2"; }
minus() { python3 -c "import sys; b,f=float(sys.argv[1]),float(sys.argv[2]); print(f'{f:.1f}; berth minus floor {b-f:.1f}')" "$1" "$2"; }
# medians JSON NAME...: the median ms of each named hyperfine benchmark, on one line.
medians() {
  python3 -c "
import json,sys; r={x['command']:x['median']*1000 for x in json.load(open(sys.argv[1]))['results']}
print(*(r[n] for n in sys.argv[2:]))" "$@"
}

# 1. run --rm true
hyperfine -N --warmup 3 --runs "$n" --export-json "$work/rm.json" \
  -n berth "env DOCKER_HOST=unix://$berth_sock $docker run --rm --network none bench-busybox true" \
  -n docker "env DOCKER_HOST=unix://$docker_sock $docker run --rm --network none bench-busybox true" \
  -n floor "env DOCKER_HOST=unix://$mock_sock $docker run --rm --network none bench-busybox true" \
  -n berth-cli "$berth -H unix://$berth_sock run --rm --network none bench-busybox true" \
  -n berth-cli-floor "$berth -H unix://$mock_sock run --rm --network none bench-busybox true" >/dev/null
read -r b d f bc bf < <(medians "$work/rm.json" berth docker floor berth-cli berth-cli-floor)
echo "run --rm true, median ms (berth vs docker): $(ratio "$b" "$d")"
echo "run --rm true, client floor, median ms: docker CLI against bench/mockd.py $(minus "$b" "$f")"
echo "run --rm true through the berth CLI, median ms: against berthd $(printf %.1f "$bc"); against mockd $(printf %.1f "$bf")"

# 2. run -d sleep, and 3. memory per idle container
pss_of() { awk '/^Pss:/{s+=$2} END{print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
sum_pss() { local t=0; for p in "$@"; do t=$((t + $(pss_of "$p"))); done; echo $t; }
measure() { # name sock daemon-pids-command shim-pattern
  local name=$1 sock=$2 pids_cmd=$3 shim=$4
  local before; before=$(sum_pss $(eval "$pids_cmd"))
  local times=()
  for i in $(seq "$n"); do
    local t0; t0=$(date +%s%N)
    DOCKER_HOST=unix://$sock $docker run -d --network none bench-busybox sleep 1000 >/dev/null
    times+=($(( ($(date +%s%N) - t0) / 1000 )))
  done
  sleep 2
  local after; after=$(sum_pss $(eval "$pids_cmd"))
  local shims; shims=$(sum_pss $(pgrep -f "$shim" || true))
  local median; median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]/1000}')
  local per; per=$(( (after - before + shims) / n ))
  echo "$name $median $per"
}
read -r _ b_ms b_kb < <(measure berth "$berth_sock" "echo $berthd_pid" "berth-shim.*$work/berth")
read -r _ d_ms d_kb < <(measure docker "$docker_sock" "echo $dockerd_pid; pgrep -f 'containerd --config $work' || pgrep -x containerd | head -1" "containerd-shim-runc-v2.*berth-bench")
echo "run -d sleep, median ms per container (berth vs docker): $(ratio "$b_ms" "$d_ms")"
echo "idle memory per container, KiB PSS of shim + daemon growth (berth vs docker): $(ratio "$b_kb" "$d_kb")"

# 4. ps with many containers (berth only to MANY; docker keeps its N)
have=$n
while [ "$have" -lt "$many" ]; do
  DOCKER_HOST=unix://$berth_sock $docker run -d --network none bench-busybox sleep 1000 >/dev/null
  have=$((have + 1))
done
running=$(DOCKER_HOST=unix://$berth_sock $docker ps -q | wc -l)
# The floor's mock answers ps with the very list berthd gives now.
curl -sf --unix-socket "$berth_sock" -o "$work/ps-body.json" http://localhost/v1.43/containers/json
python3 "$repo/bench/mockd.py" "$mock_ps_sock" "$work/ps-body.json" 2>>"$work/mockd.log" &
mock_ps_pid=$!
for _ in $(seq 100); do [ -S "$mock_ps_sock" ] && break; sleep 0.1; done
hyperfine -N --warmup 3 --runs 20 --export-json "$work/ps.json" \
  -n berth "env DOCKER_HOST=unix://$berth_sock $docker ps" \
  -n docker "env DOCKER_HOST=unix://$docker_sock $docker ps" \
  -n floor "env DOCKER_HOST=unix://$mock_ps_sock $docker ps" \
  -n berth-cli "$berth -H unix://$berth_sock ps" \
  -n berth-cli-floor "$berth -H unix://$mock_ps_sock ps" >/dev/null
read -r b d f bc bf < <(medians "$work/ps.json" berth docker floor berth-cli berth-cli-floor)
echo "ps median ms: berth with $running running, docker with $n: $(ratio "$b" "$d")"
echo "ps client floor, median ms: docker CLI against mockd serving berthd's list of $running ($(( $(stat -c %s "$work/ps-body.json") / 1024 )) KiB) $(minus "$b" "$f")"
echo "ps through the berth CLI, median ms: against berthd $(printf %.1f "$bc") (with $running running); against mockd $(printf %.1f "$bf")"
# A floor only means something if the mock answered everything the clients asked.
if [ -s "$work/mockd.log" ]; then
  echo "bench: WARNING: mockd had no answer for some requests, the floors above are not comparable:" >&2
  sort "$work/mockd.log" | uniq -c >&2
fi
