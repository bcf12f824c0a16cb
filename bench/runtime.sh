#!/usr/bin/env bash
# berth-runtime against runc, side by side on one busybox bundle: `run` of /bin/true, end to end
# (create, start, wait, delete). Prints both medians and the ratio berth/runc.
# Usage: bench/runtime.sh [RUNS]   (as root; needs hyperfine, runc, busybox-static, python3)
set -euo pipefail
runs=${1:-60}
repo=$(cd "$(dirname "$0")/.." && pwd)
for tool in hyperfine runc busybox python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install hyperfine runc busybox-static python3)" >&2; exit 1; }
done

cargo build --release --quiet -p berth-runtime --manifest-path "$repo/Cargo.toml"
berth="$repo/target/release/berth-runtime"

work=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
json.dump(spec, open(path, "w"), indent=1)
PY

echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "cgroups: $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup; runc: $(runc --version | head -1)"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/result.json" \
  -n berth-runtime "$berth --root $work/berth-state run --bundle $bundle bench-berth" \
  -n runc "runc --root $work/runc-state run --bundle $bundle bench-runc"

python3 - "$work/result.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
berth, runc = results["berth-runtime"]["median"], results["runc"]["median"]
print(f"median: berth-runtime {berth*1000:.1f} ms, runc {runc*1000:.1f} ms")
print(f"ratio berth-runtime/runc: {berth/runc:.2f}x (target <= 0.50x)")
PY
