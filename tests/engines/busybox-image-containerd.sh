#!/usr/bin/env bash
# Usage: tests/engines/busybox-image-containerd.sh CONTAINERD_SOCKET [NAMESPACE]
#
# Makes docker.io/library/busybox:local available in NAMESPACE (default
# "default") of the containerd at CONTAINERD_SOCKET, without Docker: writes a
# docker-archive of the busybox rootfs by hand (busybox-rootfs.sh) and runs
# `ctr -a SOCK -n NS images import` on it (unpacked for the default
# snapshotter). Does nothing when the image is already there.
# Then e.g.: ctr -a SOCK -n NS run -d docker.io/library/busybox:local c1 /bin/sleep 1000
set -euo pipefail

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 1 || $# == 2)) || die "usage: ${0##*/} CONTAINERD_SOCKET [NAMESPACE]"
SOCK=${1#unix://}
NS=${2:-default}
REF=docker.io/library/busybox:local
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CTR=(ctr -a "$SOCK" -n "$NS")

command -v ctr >/dev/null 2>&1 || die "ctr not found: run tests/engines/install-deps.sh"
"${CTR[@]}" version >/dev/null 2>&1 || die "no containerd answers at $SOCK"

if [[ -n $("${CTR[@]}" images ls -q "name==$REF" 2>/dev/null) ]]; then
  log "$REF already in namespace $NS"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/busybox-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$HERE/busybox-rootfs.sh" "$WORK/rootfs" "$WORK/busybox.tar"
"${CTR[@]}" images import "$WORK/busybox.tar" >&2
[[ -n $("${CTR[@]}" images ls -q "name==$REF") ]] || die "import did not create $REF in namespace $NS"
log "imported $REF into namespace $NS of $SOCK"
