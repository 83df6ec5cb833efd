#!/usr/bin/env bash
# Usage: tests/engines/install-deps.sh [EXTRA_PACKAGE...]
#
# Installs, as root through apt, the Debian packages that the engine tests and
# the demo need (Docker, containerd, podman, runc, protoc, busybox-static,
# valgrind, a C toolchain, ...), plus any EXTRA_PACKAGE given; and unpacks
# containerd 1.7 from Debian trixie into /opt/whalewatcher-tests/containerd-1.7
# (beside the system's containerd, not installed over it: the CRI tests run
# it as a private instance). Idempotent: each package is checked with
# `dpkg -s`; when nothing is missing it does nothing (no `apt-get update`)
# and returns at once. Non-interactive.
set -euo pipefail

PACKAGES=(
  docker.io containerd podman runc protobuf-compiler busybox-static valgrind
  gcc g++ make cmake pkg-config libc6-dev binutils golang-go
  ca-certificates iproute2 procps psmisc
)
PACKAGES+=("$@")

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

is_installed() {
  # A removed package whose config files are left is known to dpkg too: only
  # "install ok installed" counts. (dpkg-query prints just that field: a
  # pipe into `grep -q` would end early on a long `dpkg -s` and fail under
  # pipefail.)
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == 'install ok installed' ]]
}

# containerd 1.7 from trixie, unpacked (its binaries need only libc).
C17_DIR=/opt/whalewatcher-tests/containerd-1.7

fetch_containerd17() {
  [[ -x $C17_DIR/usr/bin/containerd ]] && return 0
  local sudo=() work deb
  ((EUID == 0)) || sudo=(sudo -n)
  if ! grep -rqs 'trixie' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Pinned low: nothing is installed or upgraded from it unless asked for.
    echo 'deb http://deb.debian.org/debian trixie main' | "${sudo[@]}" tee /etc/apt/sources.list.d/whalewatcher-trixie.list >/dev/null
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' |
      "${sudo[@]}" tee /etc/apt/preferences.d/whalewatcher-trixie >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 update >&2
  fi
  work=$(mktemp -d)
  (cd "$work" && chmod 777 . && "${sudo[@]}" apt-get -q download containerd/trixie >&2)
  deb=$(ls "$work"/containerd_*.deb)
  "${sudo[@]}" mkdir -p "$C17_DIR"
  "${sudo[@]}" dpkg -x "$deb" "$C17_DIR"
  rm -rf "$work"
  "$C17_DIR/usr/bin/containerd" --version >&2 || { log "error: containerd 1.7 from trixie does not run here"; exit 1; }
  log "unpacked containerd 1.7 into $C17_DIR"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages already installed"
  fetch_containerd17
  exit 0
fi

log "missing: ${missing[*]}"

SUDO=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    log "error: not root and no sudo: cannot install ${missing[*]}"
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(
  -q -y
  -o DPkg::Lock::Timeout=300
  -o Dpkg::Options::=--force-confdef
  -o Dpkg::Options::=--force-confold
)

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${APT_OPTS[@]}" update >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${APT_OPTS[@]}" install --no-install-recommends "${missing[@]}" >&2

still=()
for pkg in "${missing[@]}"; do
  if ! is_installed "$pkg"; then
    still+=("$pkg")
  fi
done
if ((${#still[@]} > 0)); then
  log "error: still not installed: ${still[*]}"
  exit 1
fi
log "installed: ${missing[*]}"
fetch_containerd17
