#!/usr/bin/env bash
# Usage: tests/engines/busybox-rootfs.sh DIR [ARCHIVE.tar]
#
# Builds a tiny root filesystem in DIR from the static busybox of Debian's
# busybox-static package: DIR/bin/busybox plus the applet symlinks sh, sleep,
# cat, echo, true, false, ls, kill (and empty dev, proc, sys, tmp, a minimal
# /etc/passwd and /etc/group). Idempotent.
#
# With ARCHIVE.tar, also writes that rootfs as a single-layer image in
# docker-archive format (the format of `docker save`, also accepted by
# `docker load` and `ctr images import`), built without Docker: a
# deterministic layer tar, an image config whose rootfs.diff_ids is the
# layer's sha256sum, and manifest.json tagging it busybox:local.
# Image config: Cmd ["/bin/sleep","3600"], Env PATH=/bin, StopSignal SIGKILL
# (busybox sleep as PID 1 ignores SIGTERM: with SIGKILL as stop signal,
# `docker stop` and dockerd's own shutdown/restore do not wait 10 s).
#
# Environment: BUSYBOX (default /bin/busybox), IMAGE_TAG (default busybox:local).
set -euo pipefail
umask 022

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 1 || $# == 2)) || die "usage: ${0##*/} DIR [ARCHIVE.tar]"
ROOT=$1
ARCHIVE=${2:-}
BUSYBOX=${BUSYBOX:-/bin/busybox}
IMAGE_TAG=${IMAGE_TAG:-busybox:local}
APPLETS=(sh sleep cat echo true false ls kill)

[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install busybox-static (tests/engines/install-deps.sh)"
# The rootfs has no libc: busybox must be the static one.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install busybox-static instead of busybox"
fi

mkdir -p "$ROOT/bin" "$ROOT/dev" "$ROOT/proc" "$ROOT/sys" "$ROOT/etc" "$ROOT/root" "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"
if ! cmp -s "$BUSYBOX" "$ROOT/bin/busybox"; then
  cp -f "$BUSYBOX" "$ROOT/bin/busybox.tmp"
  chmod 0755 "$ROOT/bin/busybox.tmp"
  mv -f "$ROOT/bin/busybox.tmp" "$ROOT/bin/busybox"
fi
for applet in "${APPLETS[@]}"; do
  ln -sfn busybox "$ROOT/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"

[[ -n $ARCHIVE ]] || exit 0

# ---- docker-archive, built by hand ----------------------------------------
case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
  amd64 | x86_64) ARCH=amd64 ;;
  arm64 | aarch64) ARCH=arm64 ;;
  i386 | i686) ARCH=386 ;;
  armhf | armv7l) ARCH=arm ;;
  ppc64el | ppc64le) ARCH=ppc64le ;;
  s390x) ARCH=s390x ;;
  riscv64) ARCH=riscv64 ;;
  *) die "unknown architecture $(uname -m)" ;;
esac

# Timestamps come from the busybox binary: same busybox, same image digest.
EPOCH=$(stat -c %Y "$BUSYBOX")
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/busybox-archive.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The layer: an uncompressed tar of the rootfs, entries sorted, owned by root.
tar -C "$ROOT" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$EPOCH" --format=gnu -cf "$WORK/layer.tar" .
LAYER_SHA=$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
mkdir -p "$WORK/$LAYER_SHA"
mv "$WORK/layer.tar" "$WORK/$LAYER_SHA/layer.tar"

# The image config (no trailing newline: its digest is its exact bytes).
printf '%s' \
  '{"architecture":"'"$ARCH"'","os":"linux","created":"'"$CREATED"'",' \
  '"config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","3600"],"StopSignal":"SIGKILL"},' \
  '"rootfs":{"type":"layers","diff_ids":["sha256:'"$LAYER_SHA"'"]},' \
  '"history":[{"created":"'"$CREATED"'","created_by":"tests/engines/busybox-rootfs.sh"}]}' \
  >"$WORK/config.json"
CONFIG_SHA=$(sha256sum "$WORK/config.json" | cut -d' ' -f1)
mv "$WORK/config.json" "$WORK/$CONFIG_SHA.json"

printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
  "$CONFIG_SHA" "$IMAGE_TAG" "$LAYER_SHA" >"$WORK/manifest.json"

mkdir -p "$(dirname "$ARCHIVE")"
tar -C "$WORK" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$EPOCH" --format=gnu \
  -cf "$ARCHIVE.tmp" manifest.json "$CONFIG_SHA.json" "$LAYER_SHA"
mv -f "$ARCHIVE.tmp" "$ARCHIVE"
log "wrote $ARCHIVE ($IMAGE_TAG, image id sha256:$CONFIG_SHA)"
