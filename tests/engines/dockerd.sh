#!/usr/bin/env bash
# Usage: tests/engines/dockerd.sh start|stop|kill|restart|status DIR
#
# A private dockerd whose everything lives under DIR: socket DIR/docker.sock,
# data-root DIR/data, exec-root DIR/exec, pidfile DIR/docker.pid, log
# DIR/dockerd.log, config file DIR/daemon.json (so /etc/docker/daemon.json is
# not read). Started with --bridge=none --iptables=false --ip6tables=false
# (run containers with --network none). dockerd runs its own containerd
# (no --containerd flag): its config, socket (DIR/exec/containerd/
# containerd.sock, namespace "moby"), root and state are under DIR too, and it
# dies with dockerd. Several instances (distinct DIRs) run side by side.
#
#   start    starts dockerd (setsid, background) unless already running, waits
#            (START_TIMEOUT, 60 s) until `docker -H unix://DIR/docker.sock
#            version` answers, loads busybox:local (busybox-image.sh), and
#            prints the socket path as the last stdout line.
#   stop     SIGTERM to dockerd (it stops its containers, then its
#            containerd), waits (STOP_TIMEOUT, 30 s), then SIGKILL; then the
#            same for its containerd, kills leftover shims and containers and
#            unmounts what is left under DIR. No process is left behind; safe
#            to call twice. Data (images, containers) is kept.
#   kill     SIGKILL to dockerd only (crash test). Its containerd then dies
#            too (parent-death signal); shims and containers live on until
#            the next start (which, without live-restore, kills them) or stop.
#   restart  stop, then start (data kept).
#   status   exit 0 and print the socket if dockerd runs for DIR.
#
# Environment: DOCKER_CLI (default docker), DOCKERD_EXTRA_ARGS (extra dockerd
# flags, split on spaces, e.g. "--live-restore"), DOCKERD_ACTIVATED=1 (start
# it through socket activation, as systemd's docker.socket does: activate.py
# listens on the socket and hands it to dockerd, which serves `-H fd://`),
# START_TIMEOUT, STOP_TIMEOUT.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=containerd.sh
source "$HERE/containerd.sh"

dockerd_paths() {
  # Longest socket dockerd creates: its containerd's debug socket.
  DIR=$(ww_check_dir "$1" /exec/containerd/containerd-debug.sock)
  SOCK=$DIR/docker.sock
  PIDFILE=$DIR/docker.pid
  LOG=$DIR/dockerd.log
  CTRD_CONFIG=$DIR/exec/containerd/containerd.toml
  CTRD_SOCK=$DIR/exec/containerd/containerd.sock
  CTRD_PIDFILE=$DIR/exec/containerd/containerd.pid
  read -r -a DOCKER_CMD <<<"${DOCKER_CLI:-docker}"
  DOCKER=("${DOCKER_CMD[@]}" -H "unix://$SOCK")
}

# PIDs of this DIR's dockerd / containerd, found by an exact argument.
dockerd_pids() { ww_pids_with_arg "--pidfile=$PIDFILE"; }
dockerd_ctrd_pids() { ww_pids_with_arg "$CTRD_CONFIG"; }

dockerd_start() {
  local pid extra=()
  command -v dockerd >/dev/null 2>&1 || ww_die "dockerd not found: run tests/engines/install-deps.sh"
  command -v "${DOCKER_CMD[0]}" >/dev/null 2>&1 || ww_die "${DOCKER_CMD[0]} not found: run tests/engines/install-deps.sh"
  mkdir -p "$DIR/data" "$DIR/exec"
  pid=$(dockerd_pids | head -n 1)
  if [[ -n $pid ]]; then
    ww_log "dockerd already running for $DIR (pid $pid)"
  else
    # Stale pid files after a SIGKILL: a reused PID would make dockerd refuse
    # to start, or adopt an unrelated process as its containerd.
    rm -f "$PIDFILE"
    if [[ -z $(dockerd_ctrd_pids) ]]; then rm -f "$CTRD_PIDFILE"; fi
    [[ -f $DIR/daemon.json ]] || echo '{}' >"$DIR/daemon.json"
    read -r -a extra <<<"${DOCKERD_EXTRA_ARGS:-}"
    local host=("--host=unix://$SOCK") activator=()
    if [[ ${DOCKERD_ACTIVATED:-0} == 1 ]]; then
      host=(--host=fd://)
      activator=(python3 "$HERE/activate.py" "$SOCK")
    fi
    (cd / && exec setsid "${activator[@]}" dockerd \
      --config-file="$DIR/daemon.json" \
      --data-root="$DIR/data" \
      --exec-root="$DIR/exec" \
      --pidfile="$PIDFILE" \
      "${host[@]}" \
      --bridge=none --iptables=false --ip6tables=false \
      --shutdown-timeout=1 \
      "${extra[@]}" \
      </dev/null >>"$LOG" 2>&1) &
    pid=$!
  fi
  ww_wait_ready "${START_TIMEOUT:-60}" "$pid" "$LOG" "${DOCKER[@]}" version || exit 1
  "$HERE/busybox-image.sh" "$SOCK" >&2
  printf '%s\n' "$SOCK"
}

dockerd_stop() {
  local pids=() cpids=()
  mapfile -t pids < <(dockerd_pids)
  if ((${#pids[@]})); then
    ww_stop_pids "${STOP_TIMEOUT:-30}" "${pids[@]}"
  fi
  mapfile -t cpids < <(dockerd_ctrd_pids)
  if ((${#cpids[@]})); then
    ww_stop_pids 10 "${cpids[@]}"
  fi
  ww_reap_shims "$CTRD_SOCK"
  ww_umount_under "$DIR"
  rm -f "$PIDFILE" "$CTRD_PIDFILE"
  ww_log "dockerd for $DIR stopped"
}

dockerd_kill() {
  local pids=()
  mapfile -t pids < <(dockerd_pids)
  if ((${#pids[@]} == 0)); then
    ww_log "dockerd for $DIR is not running"
    return 0
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
  ww_wait_gone 10 "${pids[@]}" || ww_die "dockerd ${pids[*]} still running after SIGKILL"
  ww_log "dockerd for $DIR killed (pid ${pids[*]})"
}

dockerd_main() {
  (($# == 2)) || ww_die "usage: ${0##*/} start|stop|kill|restart|status DIR"
  dockerd_paths "$2"
  case $1 in
    start) dockerd_start ;;
    stop) dockerd_stop ;;
    kill) dockerd_kill ;;
    restart) dockerd_stop && dockerd_start ;;
    status)
      if [[ -n $(dockerd_pids) ]]; then printf '%s\n' "$SOCK"; else exit 1; fi
      ;;
    *) ww_die "unknown command '$1'" ;;
  esac
}

dockerd_main "$@"
