#!/usr/bin/env bash
# Usage: tests/engines/podman.sh start|stop|kill|restart|status DIR
#        tests/engines/podman.sh cli DIR PODMAN_ARGS...
#
# A private podman API service (`podman system service`) whose everything
# lives under DIR: socket DIR/podman.sock, storage DIR/root and DIR/runroot,
# its own containers.conf (DIR/containers.conf: cgroupfs, no network by
# default, file event log DIR/events.log, tmp_dir DIR/tmp, the ulimits runc
# needs here) and storage.conf, log DIR/service.log. Several instances
# (distinct DIRs) run side by side, and beside a system podman.
#
#   start    starts the service (setsid, background) unless running, waits
#            (START_TIMEOUT, 60 s) until it answers, loads busybox:local
#            (as localhost/busybox:local) and prints the socket path as the
#            last stdout line.
#   stop     SIGTERM to the service, then SIGKILL; then kills and removes
#            every container and pod of DIR's storage and unmounts what is
#            left under DIR. No process is left behind; safe to call twice.
#   kill     SIGKILL to the service only (crash test): containers live on
#            (their conmon keeps them), and a later start finds them.
#   restart  stop, then start.
#   status   exit 0 and print the socket if the service runs for DIR.
#   cli      runs `podman` against DIR's storage directly (as the service
#            would), e.g. `podman.sh cli DIR run -d ...`.
#
# Environment: PODMAN (default podman), PODMAN_EVENTS_LOGGER (default file;
# "none" makes a service that logs no events), START_TIMEOUT.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=containerd.sh
source "$HERE/containerd.sh"

podman_paths() {
  DIR=$(ww_check_dir "$1" /podman.sock)
  SOCK=$DIR/podman.sock
  LOG=$DIR/service.log
  read -r -a PODMAN_CMD <<<"${PODMAN:-podman}"
  export CONTAINERS_CONF=$DIR/containers.conf CONTAINERS_STORAGE_CONF=$DIR/storage.conf
  LOCAL=("${PODMAN_CMD[@]}")
  REMOTE=("${PODMAN_CMD[@]}" --url "unix://$SOCK")
}

podman_write_config() {
  mkdir -p "$DIR/root" "$DIR/runroot" "$DIR/tmp"
  cat >"$DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "${PODMAN_EVENTS_LOGGER:-file}"
events_logfile_path = "$DIR/events.log"
tmp_dir = "$DIR/tmp"
EOF
  cat >"$DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$DIR/runroot"
graphroot = "$DIR/root"
EOF
}

podman_service_pids() { ww_pids_with_arg "unix://$SOCK"; }

podman_start() {
  local pid
  command -v "${PODMAN_CMD[0]}" >/dev/null 2>&1 || ww_die "podman not found: run tests/engines/install-deps.sh"
  pid=$(podman_service_pids | head -n 1)
  if [[ -n $pid ]]; then
    ww_log "podman service already running for $DIR (pid $pid)"
  else
    podman_write_config
    rm -f "$SOCK"
    (cd / && exec setsid "${PODMAN_CMD[@]}" --log-level=warn system service --time=0 "unix://$SOCK" \
      </dev/null >>"$LOG" 2>&1) &
    pid=$!
  fi
  ww_wait_ready "${START_TIMEOUT:-60}" "$pid" "$LOG" "${REMOTE[@]}" version || exit 1
  if ! "${REMOTE[@]}" image exists localhost/busybox:local; then
    local work
    work=$(mktemp -d "${TMPDIR:-/tmp}/podman-image.XXXXXX")
    "$HERE/busybox-rootfs.sh" "$work/rootfs" "$work/busybox.tar" >&2
    "${REMOTE[@]}" load -q -i "$work/busybox.tar" >&2
    rm -rf "$work"
  fi
  printf '%s\n' "$SOCK"
}

podman_stop() {
  local pids=()
  mapfile -t pids < <(podman_service_pids)
  if ((${#pids[@]})); then
    ww_stop_pids 10 "${pids[@]}"
  fi
  if [[ -f $DIR/containers.conf ]]; then
    "${LOCAL[@]}" pod rm -a -f -t 0 >/dev/null 2>&1 || true
    "${LOCAL[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
  fi
  ww_umount_under "$DIR"
  ww_log "podman service for $DIR stopped"
}

podman_kill() {
  local pids=()
  mapfile -t pids < <(podman_service_pids)
  if ((${#pids[@]} == 0)); then
    ww_log "podman service for $DIR is not running"
    return 0
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
  ww_wait_gone 10 "${pids[@]}" || ww_die "podman service ${pids[*]} still running after SIGKILL"
  ww_log "podman service for $DIR killed (pid ${pids[*]})"
}

podman_main() {
  (($# >= 2)) || ww_die "usage: ${0##*/} start|stop|kill|restart|status|cli DIR [ARGS...]"
  podman_paths "$2"
  case $1 in
    start) podman_start ;;
    stop) podman_stop ;;
    kill) podman_kill ;;
    restart) podman_stop && podman_start ;;
    status)
      if [[ -n $(podman_service_pids) ]]; then printf '%s\n' "$SOCK"; else exit 1; fi
      ;;
    cli) shift 2; exec "${LOCAL[@]}" "$@" ;;
    *) ww_die "unknown command '$1'" ;;
  esac
}

podman_main "$@"
