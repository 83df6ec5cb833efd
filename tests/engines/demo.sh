#!/usr/bin/env bash
# Usage: tests/engines/demo.sh [clean]
#
# Sets up a Docker engine with a few demo containers to watch:
#   - the engine at $DOCKER_HOST, else at /var/run/docker.sock, when one
#     answers; otherwise a private dockerd under /tmp/whalewatcher-demo
#     (dockerd.sh; installs the Debian packages first when dockerd is missing);
#   - busybox:local (busybox-image.sh), then, after removing every container
#     labelled whalewatcher.demo=1, runs with --network none:
#       ww-demo-web   compose project "demo", service "web"
#       ww-demo-db    compose project "demo", service "db", paused
#       ww-demo-solo  no compose project
#     each `busybox:local /bin/sleep 100000` labelled whalewatcher.demo=1.
# Prints `export DOCKER_HOST=unix://...` as its last stdout line, e.g.:
#   eval "$(tests/engines/demo.sh | tail -n 1)"
#
# `demo.sh clean` removes the demo containers and stops the private dockerd
# (if it is the one in use).
# Environment: DOCKER_CLI (default docker), DEMO_DIR (default /tmp/whalewatcher-demo).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/whalewatcher-demo}
LABEL=whalewatcher.demo=1
read -r -a DOCKER_CMD <<<"${DOCKER_CLI:-docker}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 0)) || [[ $# == 1 && $1 == clean ]] || die "usage: ${0##*/} [clean]"
ACTION=${1:-up}

answers() { timeout 10 "${DOCKER_CMD[@]}" -H "$1" version >/dev/null 2>&1; }
have() { command -v "$1" >/dev/null 2>&1; }

if ! have "${DOCKER_CMD[0]}"; then
  log "${DOCKER_CMD[0]} not found: installing the Debian packages"
  "$HERE/install-deps.sh"
fi

HOST=
PRIVATE=0
if [[ -n ${DOCKER_HOST:-} ]] && answers "$DOCKER_HOST"; then
  HOST=$DOCKER_HOST
elif [[ -S /var/run/docker.sock ]] && answers unix:///var/run/docker.sock; then
  HOST=unix:///var/run/docker.sock
elif [[ $ACTION == clean ]]; then
  PRIVATE=1
  if "$HERE/dockerd.sh" status "$DEMO_DIR" >/dev/null 2>&1; then HOST=unix://$DEMO_DIR/docker.sock; fi
else
  [[ -z ${DOCKER_HOST:-} ]] || log "no engine answers at DOCKER_HOST=$DOCKER_HOST"
  if ! have dockerd; then
    log "dockerd not found: installing the Debian packages"
    "$HERE/install-deps.sh"
  fi
  log "starting a private dockerd under $DEMO_DIR"
  HOST=unix://$("$HERE/dockerd.sh" start "$DEMO_DIR" | tail -n 1)
  PRIVATE=1
fi
if [[ $HOST == "unix://$DEMO_DIR/docker.sock" ]]; then PRIVATE=1; fi
DOCKER=("${DOCKER_CMD[@]}" -H "$HOST")

remove_demo_containers() {
  local ids=()
  mapfile -t ids < <("${DOCKER[@]}" ps -aq --filter "label=$LABEL")
  if ((${#ids[@]})); then
    log "removing ${#ids[@]} old demo container(s)"
    "${DOCKER[@]}" rm -f "${ids[@]}" >/dev/null
  fi
}

if [[ $ACTION == clean ]]; then
  if [[ -n $HOST ]]; then remove_demo_containers; fi
  if ((PRIVATE)); then "$HERE/dockerd.sh" stop "$DEMO_DIR"; fi
  exit 0
fi

"$HERE/busybox-image.sh" "$HOST" >&2
remove_demo_containers

run() {
  local name=$1
  shift
  "${DOCKER[@]}" run -d --name "$name" --network none --label "$LABEL" "$@" \
    busybox:local /bin/sleep 100000 >/dev/null
}
run ww-demo-web --label com.docker.compose.project=demo --label com.docker.compose.service=web
run ww-demo-db --label com.docker.compose.project=demo --label com.docker.compose.service=db
run ww-demo-solo
"${DOCKER[@]}" pause ww-demo-db >/dev/null

"${DOCKER[@]}" ps --filter "label=$LABEL" \
  --format 'table {{.Names}}\t{{.Status}}\t{{.Label "com.docker.compose.project"}}' >&2
if ((PRIVATE)); then
  log "private dockerd: stop it with: $HERE/dockerd.sh stop $DEMO_DIR  (or: $HERE/demo.sh clean)"
fi
printf 'export DOCKER_HOST=%s\n' "$HOST"
