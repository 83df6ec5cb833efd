#!/usr/bin/env bash
# Usage: tests/engines/install-deps.sh [EXTRA_PACKAGE...]
#
# Installs, as root through apt, the Debian packages that the engine tests and
# the demo need (Docker, containerd, runc, protoc, busybox-static, valgrind, a C
# toolchain, ...), plus any EXTRA_PACKAGE given. Idempotent: each package is
# checked with `dpkg -s`; when nothing is missing it does nothing (no
# `apt-get update`) and returns at once. Non-interactive.
set -euo pipefail

PACKAGES=(
  docker.io containerd runc protobuf-compiler busybox-static valgrind
  gcc g++ make cmake pkg-config libc6-dev binutils golang-go
  ca-certificates iproute2 procps psmisc
)
PACKAGES+=("$@")

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

is_installed() {
  # `dpkg -s` also succeeds for a removed package whose config files are left:
  # only "install ok installed" counts.
  dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages already installed"
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
