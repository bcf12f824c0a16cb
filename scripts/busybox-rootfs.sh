#!/usr/bin/env bash
# Writes a busybox root filesystem as a tar to stdout (or to $1), built from Debian's
# busybox-static: /bin/busybox with every applet linked, /etc/passwd and /etc/group (root,
# nobody and a "berth" user 1000), and the usual empty directories.
set -euo pipefail
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "busybox-rootfs: $busybox is missing: apt-get install busybox-static" >&2; exit 1; }
root=$(mktemp -d /tmp/berth-rootfs-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,root,home/berth,var,usr/bin,dev,proc,sys}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
berth:x:1000:1000:berth:/home/berth:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
berth:x:1000:
users:x:100:berth
nogroup:x:65534:
G
chown 1000:1000 "$root/home/berth"
out=${1:--}
tar --numeric-owner -C "$root" -cf "$out" .
