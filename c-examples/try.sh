#!/usr/bin/env bash
# Builds the library and whalewatch (c-examples/whalewatch), then shows the
# alive containers of every container engine on this machine.
#
#   c-examples/try.sh            install what is missing (as root), build, run
#                                whalewatch: one row per alive container of
#                                every engine found (Docker, podman,
#                                containerd, CRI)
#   c-examples/try.sh --follow   the same, then print every change as it
#                                happens (pause, kill or run containers from
#                                another shell; Ctrl-C ends it)
#   c-examples/try.sh ARGS...    any other whalewatch arguments: --json,
#                                --engine KIND, engines, --help, ...
#   c-examples/try.sh clean      stop the private demo engine try.sh started
#                                (after removing its demo containers)
#
# When no engine answers on this machine, it starts a private dockerd under
# /tmp/whalewatcher-demo (DEMO_DIR) with a few labelled demo containers
# (tests/engines/dockerd.sh, tests/engines/demo.sh), and records that in
# target/try-demo.state: `clean` stops exactly that dockerd, also when other
# engines (a system dockerd, say) came up meanwhile, and never touches them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STATE=target/try-demo.state
WHALEWATCH=c-examples/whalewatch/whalewatch
LABEL=whalewatcher.demo=1

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# The demo dockerd's directory and PID as recorded (DEMO_DIR, DEMO_PID);
# without a record, the default directory and no PID.
read_state() {
  DEMO_DIR=${DEMO_DIR:-/tmp/whalewatcher-demo}
  DEMO_PID=
  [[ -f $STATE ]] || return 0
  local key value
  while IFS='=' read -r key value; do
    case $key in
      DEMO_DIR) DEMO_DIR=$value ;;
      DEMO_PID) DEMO_PID=$value ;;
    esac
  done <"$STATE"
}

write_state() {
  mkdir -p "$(dirname "$STATE")"
  printf 'DEMO_DIR=%s\nDEMO_PID=%s\n' "$DEMO_DIR" "$DEMO_PID" >"$STATE"
}

# Whether PID is a dockerd of DEMO_DIR (a PID may have been reused since).
is_demo_dockerd() {
  [[ -n $1 && -r /proc/$1/cmdline ]] &&
    tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qxF -- "--pidfile=$DEMO_DIR/docker.pid"
}

clean() {
  read_state
  if [[ -d $DEMO_DIR ]]; then
    local sock ids=()
    if sock=$(tests/engines/dockerd.sh status "$DEMO_DIR" 2>/dev/null); then
      mapfile -t ids < <(docker -H "unix://$sock" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
      if ((${#ids[@]})); then
        log "removing ${#ids[@]} demo container(s)"
        docker -H "unix://$sock" rm -f "${ids[@]}" >/dev/null || true
      fi
    fi
    # Stops the dockerd started with this directory (found by its own
    # arguments), its containerd and what is left of its containers; the
    # data (images) stays for the next run.
    tests/engines/dockerd.sh stop "$DEMO_DIR"
  fi
  if is_demo_dockerd "$DEMO_PID"; then
    log "error: the demo dockerd (PID $DEMO_PID) still runs"
    exit 1
  fi
  rm -f "$STATE"
}

if [[ ${1:-} == clean ]]; then
  (($# == 1)) || { log "usage: ${0##*/} clean"; exit 2; }
  clean
  exit 0
fi

if [[ $(id -u) == 0 ]]; then
  tests/engines/install-deps.sh
fi
cargo build --release --locked
make -s -C c-examples/whalewatch LIB_DIR="$PWD/target/release"

# `whalewatch engines` exits with 1 when discovery finds no engine.
if ! "$WHALEWATCH" engines >/dev/null; then
  read_state
  log "no container engine answers: starting a private dockerd under $DEMO_DIR with demo containers"
  log "(stop it with: c-examples/try.sh clean)"
  # Recorded before it starts, so that `clean` stops it even when the start
  # fails halfway.
  DEMO_PID=
  write_state
  sock=$(tests/engines/dockerd.sh start "$DEMO_DIR" | tail -n 1)
  DEMO_PID=$(cat "$DEMO_DIR/docker.pid")
  write_state
  # The demo containers (demo.sh uses the engine at DOCKER_HOST); what it
  # says is shown only when it fails.
  if ! out=$(DOCKER_HOST=unix://$sock DEMO_DIR=$DEMO_DIR tests/engines/demo.sh 2>&1 >/dev/null); then
    printf '%s\n' "$out" >&2
    exit 1
  fi
fi
exec "$WHALEWATCH" "$@"
