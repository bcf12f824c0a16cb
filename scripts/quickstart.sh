#!/usr/bin/env bash
# From a fresh Debian 12 machine (as root): install what is missing, build berth-runtime, and run
# a busybox container end to end, printing its output.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (namespaces, mounts, cgroups)" >&2; exit 1; }
"$repo/scripts/deps.sh"
cargo build --release --quiet -p berth-runtime --manifest-path "$repo/Cargo.toml"

bundle=$(mktemp -d /tmp/berth-quickstart-XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
echo "root:x:0:" > "$bundle/rootfs/etc/group"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c",
    'echo "hello from berth: hostname $(hostname), pid $$, user $(id -un)"; '
    'echo "network devices: $(ls /sys/class/net)"; echo "processes: $(echo /proc/[0-9]*)"']
spec["hostname"] = "berth-quickstart"
json.dump(spec, open(path, "w"), indent=1)
PY
exec "$repo/target/release/berth-runtime" --root "$bundle/state" run --bundle "$bundle" "quickstart-$$"
