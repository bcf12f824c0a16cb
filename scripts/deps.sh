#!/usr/bin/env bash
# Installs the Debian packages berth and its tests need, if any is missing. Run as root.
# docker.io is there for the interoperability tests (a berth-saved image must load into a real
# dockerd, which the tests start privately); on a systemd machine its package also enables docker.service.
# nftables gives `nft`, which berth-network drives through its JSON interface (NAT, published ports).
# tmux drives the interactive (-it) tests through a real terminal; procps gives `ps` for top.
set -euo pipefail
packages=(busybox-static tini tmux procps docker.io libseccomp-dev pkg-config gcc runc hyperfine iproute2 nftables python3 btrfs-progs xfsprogs skopeo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup)" >&2; exit 1; }
