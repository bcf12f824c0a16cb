#!/usr/bin/env bash
# From a fresh Debian 12 machine (as root): install what is missing, build berth, import a
# busybox image made from Debian's busybox-static, and run it through berthd. Offline.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (namespaces, mounts, cgroups)" >&2; exit 1; }
"$repo/scripts/deps.sh"
cargo build --release --quiet -p berth-daemon -p berth-cli -p berth-runtime --manifest-path "$repo/Cargo.toml"
export PATH="$repo/target/release:$PATH"

# `berth` starts berthd in the background when none answers on /run/berth/berth.sock.
if [ -z "$(berth images -q busybox:latest)" ]; then
  "$repo/scripts/busybox-rootfs.sh" | berth import - busybox:latest
fi
berth run --rm busybox echo hello from berth
