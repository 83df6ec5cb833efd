#!/usr/bin/env bash
# Usage: tests/engines/busybox-image.sh DOCKER_SOCKET
#
# Makes the image busybox:local (Cmd ["/bin/sleep","3600"], StopSignal
# SIGKILL) available in the Docker engine at DOCKER_SOCKET (a socket path, or
# a DOCKER_HOST such as unix:///path or tcp://host:port). Does nothing when the
# image already exists. The image is the rootfs of busybox-rootfs.sh, written
# as a docker-archive by hand and loaded with `docker load` (`docker import`
# would give the same image but cannot set STOPSIGNAL).
# Environment: DOCKER_CLI (default: docker).
set -euo pipefail

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 1)) || die "usage: ${0##*/} DOCKER_SOCKET"
case $1 in
  *://*) HOST=$1 ;;
  *) HOST=unix://$1 ;;
esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=busybox:local
read -r -a DOCKER_CMD <<<"${DOCKER_CLI:-docker}"
DOCKER=("${DOCKER_CMD[@]}" -H "$HOST")

command -v "${DOCKER_CMD[0]}" >/dev/null 2>&1 || die "${DOCKER_CMD[0]} not found: run tests/engines/install-deps.sh"

if "${DOCKER[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already present at $HOST"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/busybox-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$HERE/busybox-rootfs.sh" "$WORK/rootfs" "$WORK/busybox.tar"
"${DOCKER[@]}" load -q -i "$WORK/busybox.tar" >&2
"${DOCKER[@]}" image inspect "$IMAGE" >/dev/null || die "load did not create $IMAGE at $HOST"
log "loaded $IMAGE into $HOST"
