#!/usr/bin/env bash
# Usage: tests/engines/containerd.sh start DIR [NAMESPACE...]
#        tests/engines/containerd.sh stop|kill|restart|status DIR
#
# A private containerd whose everything lives under DIR: config DIR/config.toml
# (version 2, root DIR/root, state DIR/state, grpc DIR/containerd.sock, ttrpc
# DIR/containerd.sock.ttrpc, no debug socket), log DIR/containerd.log, pid
# DIR/containerd.pid. Several instances (distinct DIRs) run side by side.
#
#   start    starts it (setsid, background) unless already running, waits
#            (START_TIMEOUT, 60 s) until `ctr -a SOCK version` answers, imports
#            docker.io/library/busybox:local into each NAMESPACE given, and
#            prints the socket path as the last stdout line.
#   stop     SIGKILLs and deletes every task (all namespaces), SIGTERMs
#            containerd, waits (STOP_TIMEOUT, 30 s), then SIGKILL; then kills
#            leftover shims and their containers and unmounts what is left
#            mounted under DIR. Leaves no process behind; safe to call twice.
#            Containers' metadata, images and snapshots are kept.
#   kill     SIGKILLs containerd only (crash test): shims and containers live
#            on, and a later `start` reconnects to them.
#   restart  stop, then start (data kept).
#   status   exit 0 and print the socket if containerd runs for DIR.
#
# Environment: CONTAINERD_BIN_DIR runs containerd, ctr and the shim from
# that directory instead of PATH (e.g. containerd 1.7 as unpacked by
# install-deps.sh); CONTAINERD_CRI=1 configures the CRI plugin for use
# without kubelet: the busybox image as sandbox image (import it into
# namespace k8s.io), no CNI (host-network pods only), runc from /usr/sbin,
# no AppArmor, no streaming over TCP, NRI off. Without it the CRI plugin
# is disabled.
#
# CONTAINERD_NS_SOCKET_DIR=/run/SOMETHING starts containerd in a mount
# namespace of its own (unshare -m) where that directory is a private tmpfs
# holding its sockets: invisible from outside but through /proc/PID/root.
# The socket printed (and used by ctr) is then /proc/PID/root/.../containerd.sock.
#
# Gotcha: runc state (/run/containerd/runc/NS/ID) and cgroups (/NS/ID) are
# machine-wide: two instances must not run the same NAMESPACE+container ID.
#
# This file is also sourced by dockerd.sh for its ww_* helpers.
set -euo pipefail

ww_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
ww_die() { ww_log "error: $*"; exit 1; }

# ww_check_dir DIR: absolute path, no whitespace, short enough for unix sockets
# (sun_path is 108 bytes); prints the absolute path.
ww_check_dir() {
  local dir=$1 longest=${2:-}
  [[ -n $dir ]] || ww_die "empty DIR"
  [[ $dir != *[[:space:]]* ]] || ww_die "DIR must not contain whitespace: '$dir'"
  dir=$(realpath -m -- "$dir")
  if ((${#dir} + ${#longest} > 107)); then
    ww_die "DIR too long for unix sockets ($dir$longest > 107 bytes): use a shorter DIR"
  fi
  mkdir -p "$dir"
  printf '%s\n' "$dir"
}

# ww_alive PID: PID exists and is not a zombie (an exited daemon may stay a
# zombie for a while when its new parent does not reap at once).
ww_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# ww_pids_with_arg ARG: PIDs of live processes with ARG as one exact argv
# element (never a substring: this script's own argv does not match).
ww_pids_with_arg() {
  local want=$1 p arg
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p != "$$" && $p != "${BASHPID:-}" ]] || continue
    while IFS= read -r -d '' arg; do
      if [[ $arg == "$want" ]]; then
        if ww_alive "$p"; then printf '%s\n' "$p"; fi
        break
      fi
    done 2>/dev/null <"/proc/$p/cmdline" || true
  done
}

# ww_wait_gone TIMEOUT PID...: 0 once all PIDs are gone, 1 after TIMEOUT s.
ww_wait_gone() {
  local timeout=$1 p left
  shift
  local deadline=$((SECONDS + timeout))
  while :; do
    left=0
    for p in "$@"; do
      if ww_alive "$p"; then left=1; fi
    done
    ((left)) || return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# ww_stop_pids TIMEOUT PID...: SIGTERM, wait TIMEOUT s, then SIGKILL and wait.
ww_stop_pids() {
  local timeout=$1
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  if ww_wait_gone "$timeout" "$@"; then return 0; fi
  ww_log "still running after ${timeout}s, sending SIGKILL to $*"
  kill -KILL "$@" 2>/dev/null || true
  if ! ww_wait_gone 10 "$@"; then ww_log "warning: still running: $*"; fi
}

# ww_descendants PID...: all descendants of the PIDs, one per line.
ww_descendants() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do {
        changed = 0
        for (p in parent)
          if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1; print p }
      } while (changed)
    }'
}

# ww_thaw PID: thaw the PID's cgroup (a frozen, i.e. paused, process does not
# die of SIGKILL until thawed). cgroup v1 freezer or cgroup v2.
ww_thaw() {
  local line path
  [[ -r /proc/$1/cgroup ]] || return 0
  while IFS= read -r line; do
    case $line in
      *:freezer:/?*)
        path=/sys/fs/cgroup/freezer${line#*:freezer:}
        if [[ -w $path/freezer.state ]]; then echo THAWED >"$path/freezer.state" 2>/dev/null || true; fi
        ;;
      0::/?*)
        path=/sys/fs/cgroup${line#0::}
        if [[ -w $path/cgroup.freeze ]]; then echo 0 >"$path/cgroup.freeze" 2>/dev/null || true; fi
        ;;
    esac
  done <"/proc/$1/cgroup" 2>/dev/null || true
}

# ww_reap_shims ADDRESS: SIGKILL the containers of every shim serving the
# containerd at ADDRESS (its grpc socket path), then the shims themselves, and
# remove what they leave: their socket /run/containerd/s/sha256(ADDRESS/NS/ID)
# and the runc state and cgroups (`runc delete --force`), so that the same
# NS/ID can be used again by another instance.
ww_reap_shims() {
  local addr=$1 p comm arg prev ns id bundle root
  local shims=() kids=() sockets=() runcs=()
  for p in $(ww_pids_with_arg "$addr"); do
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    [[ $comm == containerd-shim* ]] || continue
    shims+=("$p")
    ns='' id='' prev=''
    while IFS= read -r -d '' arg; do
      case $prev in
        -namespace) ns=$arg ;;
        -id) id=$arg ;;
      esac
      prev=$arg
    done 2>/dev/null <"/proc/$p/cmdline" || true
    [[ -n $ns && -n $id ]] || continue
    sockets+=("/run/containerd/s/$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -d' ' -f1)")
    # The shim runs in the bundle; options.json holds a non-default runc root.
    bundle=$(readlink "/proc/$p/cwd" 2>/dev/null) || bundle=''
    root=$(grep -o '"root":"[^"]*"' "$bundle/options.json" 2>/dev/null | cut -d'"' -f4) || root=''
    runcs+=("${root:-/run/containerd/runc}/$ns" "$id")
  done
  ((${#shims[@]})) || return 0
  mapfile -t kids < <(ww_descendants "${shims[@]}")
  ww_log "killing ${#shims[@]} leftover shim(s) of $addr and ${#kids[@]} container process(es)"
  if ((${#kids[@]})); then
    kill -KILL "${kids[@]}" 2>/dev/null || true
    for p in "${kids[@]}"; do ww_thaw "$p"; done
    ww_wait_gone 10 "${kids[@]}" || ww_log "warning: container processes still running: ${kids[*]}"
  fi
  kill -KILL "${shims[@]}" 2>/dev/null || true
  ww_wait_gone 10 "${shims[@]}" || ww_log "warning: shims still running: ${shims[*]}"
  if ((${#sockets[@]})); then rm -f "${sockets[@]}"; fi
  local i
  for ((i = 0; i < ${#runcs[@]}; i += 2)); do
    runc --root "${runcs[i]}" delete --force "${runcs[i + 1]}" >/dev/null 2>&1 || true
  done
}

# ww_umount_under DIR: unmount everything mounted at or below DIR, deepest
# first (left behind by killed daemons; keeps `rm -rf DIR` working).
ww_umount_under() {
  local dir=$1 m
  local mounts=()
  mapfile -t mounts < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r -u)
  for m in "${mounts[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || ww_log "warning: cannot unmount $m"
  done
}

# ww_wait_ready TIMEOUT PID LOG CMD...: poll CMD until it succeeds; fail early
# when PID dies, or after TIMEOUT s.
ww_wait_ready() {
  local timeout=$1 pid=$2 logfile=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! ww_alive "$pid"; then
      ww_log "error: daemon (pid $pid) exited during start; end of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      ww_log "error: not ready after ${timeout}s; end of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------
ctrd_paths() {
  DIR=$(ww_check_dir "$1" /containerd.sock.ttrpc)
  SOCK=$DIR/containerd.sock
  CONFIG=$DIR/config.toml
  LOG=$DIR/containerd.log
  PIDFILE=$DIR/containerd.pid
  if [[ -n ${CONTAINERD_BIN_DIR:-} ]]; then
    # The shim is found through PATH: the matching one first.
    export PATH=$CONTAINERD_BIN_DIR:$PATH
  fi
  # The address containerd is configured with (and its shims are given).
  ADDR=$SOCK
  if [[ -n ${CONTAINERD_NS_SOCKET_DIR:-} ]]; then
    ADDR=$CONTAINERD_NS_SOCKET_DIR/containerd.sock
    local pid
    pid=$(ww_pids_with_arg "$CONFIG" | head -n 1)
    [[ -z $pid ]] || SOCK=/proc/$pid/root$ADDR
  fi
  CTR=(ctr -a "$SOCK")
}

# The CRI plugin's part of the config: top-level keys, then tables.
ctrd_cri_top() {
  if [[ ${CONTAINERD_CRI:-0} == 1 ]]; then
    printf 'disabled_plugins = ["io.containerd.nri.v1.nri"]\n'
  else
    printf 'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
  fi
}

ctrd_cri_tables() {
  [[ ${CONTAINERD_CRI:-0} == 1 ]] || return 0
  mkdir -p "$DIR/cni/bin" "$DIR/cni/conf"
  cat <<EOF

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/busybox:local"
  enable_cdi = false
  disable_apparmor = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$DIR/cni/bin"
    conf_dir = "$DIR/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
EOF
}

# PIDs of this DIR's containerd, found by its exact --config argument.
ctrd_pids() { ww_pids_with_arg "$CONFIG"; }

ctrd_write_config() {
  cat >"$CONFIG.tmp" <<EOF
# Written by tests/engines/containerd.sh: a private containerd under $DIR.
version = 2
root = "$DIR/root"
state = "$DIR/state"
$(ctrd_cri_top)

[grpc]
  address = "$ADDR"

[ttrpc]
  address = "$ADDR.ttrpc"

[debug]
  address = ""
  level = "${CONTAINERD_LOG_LEVEL:-info}"

[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/opt"
$(ctrd_cri_tables)
EOF
  mv -f "$CONFIG.tmp" "$CONFIG"
}

ctrd_start() {
  local pid ns here
  command -v containerd >/dev/null 2>&1 || ww_die "containerd not found: run tests/engines/install-deps.sh"
  ww_log "$(containerd --version) for $DIR"
  mkdir -p "$DIR/root" "$DIR/state"
  pid=$(ctrd_pids | head -n 1)
  if [[ -n $pid ]]; then
    ww_log "containerd already running for $DIR (pid $pid)"
  else
    ctrd_write_config
    rm -f "$SOCK" "$SOCK.ttrpc"
    if [[ -n ${CONTAINERD_NS_SOCKET_DIR:-} ]]; then
      local d=$CONTAINERD_NS_SOCKET_DIR
      (cd / && exec setsid unshare -m --propagation private sh -c \
        "mkdir -p '$d' && mount -t tmpfs tmpfs '$d' && exec containerd --config '$CONFIG'" \
        </dev/null >>"$LOG" 2>&1) &
      pid=$!
      SOCK=/proc/$pid/root$ADDR
      CTR=(ctr -a "$SOCK")
    else
      (cd / && exec setsid containerd --config "$CONFIG" </dev/null >>"$LOG" 2>&1) &
      pid=$!
    fi
    echo "$pid" >"$PIDFILE"
  fi
  ww_wait_ready "${START_TIMEOUT:-60}" "$pid" "$LOG" "${CTR[@]}" version || exit 1
  here=$(dirname "${BASH_SOURCE[0]}")
  for ns in "$@"; do
    "$here/busybox-image-containerd.sh" "$SOCK" "$ns" >&2
  done
  printf '%s\n' "$SOCK"
}

# Kill and delete every task through the API (bounded), so that shims exit
# and unmount their rootfs.
ctrd_kill_tasks() {
  local ns id
  local t=(timeout 10)
  "${t[@]}" "${CTR[@]}" version >/dev/null 2>&1 || return 0
  for ns in $("${t[@]}" "${CTR[@]}" namespaces ls -q 2>/dev/null || true); do
    for id in $("${t[@]}" "${CTR[@]}" -n "$ns" tasks ls -q 2>/dev/null || true); do
      "${t[@]}" "${CTR[@]}" -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
      "${t[@]}" "${CTR[@]}" -n "$ns" tasks resume "$id" >/dev/null 2>&1 || true
      "${t[@]}" "${CTR[@]}" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  done
}

ctrd_stop() {
  local pids=()
  mapfile -t pids < <(ctrd_pids)
  if ((${#pids[@]})); then
    ctrd_kill_tasks
    ww_stop_pids "${STOP_TIMEOUT:-30}" "${pids[@]}"
  fi
  ww_reap_shims "$ADDR"
  ww_umount_under "$DIR"
  rm -f "$PIDFILE"
  if [[ -z ${CONTAINERD_NS_SOCKET_DIR:-} ]]; then rm -f "$SOCK" "$SOCK.ttrpc"; fi
  ww_log "containerd for $DIR stopped"
}

ctrd_kill() {
  local pids=()
  mapfile -t pids < <(ctrd_pids)
  if ((${#pids[@]} == 0)); then
    ww_log "containerd for $DIR is not running"
    return 0
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
  ww_wait_gone 10 "${pids[@]}" || ww_die "containerd ${pids[*]} still running after SIGKILL"
  ww_log "containerd for $DIR killed (pid ${pids[*]})"
}

ctrd_main() {
  (($# >= 2)) || ww_die "usage: ${0##*/} start DIR [NAMESPACE...] | stop|kill|restart|status DIR"
  local cmd=$1
  ctrd_paths "$2"
  shift 2
  case $cmd in
    start) ctrd_start "$@" ;;
    stop) ctrd_stop ;;
    kill) ctrd_kill ;;
    restart) ctrd_stop && ctrd_start "$@" ;;
    status)
      if [[ -n $(ctrd_pids) ]]; then printf '%s\n' "$SOCK"; else exit 1; fi
      ;;
    *) ww_die "unknown command '$cmd'" ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  ctrd_main "$@"
fi
