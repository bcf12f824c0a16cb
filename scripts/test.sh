#!/usr/bin/env bash
# Runs berth's whole test suite (as root), installing missing Debian packages first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "test: run as root (the runtime tests make namespaces, mounts, cgroups)" >&2; exit 1; }
"$repo/scripts/deps.sh"
cd "$repo"
cargo test --workspace --quiet
