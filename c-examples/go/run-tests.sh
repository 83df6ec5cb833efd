#!/usr/bin/env bash
# Builds libwhalewatcher into a temporary stage, starts a private dockerd,
# containerd and podman service (../../tests/engines, needs root) with a
# podman container running, and runs `make test` here against them; stops
# the engines and removes everything after. The discovery and Auto tests
# see these engines (and whatever else runs on the host).
#
# The CRI test (TestCRIPod) needs a pod made through CRI, and there is no
# CRI client here: it skips. `cargo test --test consumers go` runs it, with
# a pod of its own on containerd's CRI plugin.
#
#   c-examples/go/run-tests.sh
#
# Environment: STAGE (default: a temporary directory, removed after),
# WW_GO_ENGINES_DIR (default: a temporary directory under /tmp, short
# enough for unix socket paths).
# Runs the C example c-examples/watch.c too (built here with cc) to compare
# its output, listing and --follow, with the Go example's.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES=$HERE/../../tests/engines

TMP=$(mktemp -d /tmp/wwgo.XXXXXX)
STAGE=${STAGE:-$TMP/stage}
DIR=${WW_GO_ENGINES_DIR:-$TMP}
cleanup() {
  # The podman container goes through the service, which cleans up after
  # it, before the service stops.
  if [[ -n ${podman_id:-} ]]; then
    podman --url "unix://$podman_sock" rm -f -t 0 "$podman_id" >/dev/null 2>&1 || true
  fi
  "$ENGINES/dockerd.sh" stop "$DIR/d" >/dev/null 2>&1 || true
  "$ENGINES/containerd.sh" stop "$DIR/c" >/dev/null 2>&1 || true
  "$ENGINES/podman.sh" stop "$DIR/p" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

make -C "$HERE/../.." install PREFIX="$STAGE" >/dev/null
# The C example, for TestWatchDocker and TestFollowDocker to compare its
# output with the Go one's.
# shellcheck disable=SC2046
${CC:-cc} -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -o "$TMP/c-watch" "$HERE/../watch.c" \
  $(PKG_CONFIG_PATH=$STAGE/lib/pkgconfig pkg-config --cflags --libs whalewatcher) -Wl,-rpath,"$STAGE/lib"
export WW_TEST_C_WATCH=$TMP/c-watch
docker_sock=$("$ENGINES/dockerd.sh" start "$DIR/d" | tail -n 1)
containerd_sock=$("$ENGINES/containerd.sh" start "$DIR/c" default wwtest | tail -n 1)
podman_sock=$("$ENGINES/podman.sh" start "$DIR/p" | tail -n 1)
podman=(podman --url "unix://$podman_sock")
podman_id=$("${podman[@]}" run -d --name wwgo-fixture localhost/busybox:local /bin/sleep 100000)

export WW_TEST_DOCKER_ENDPOINT=unix://$docker_sock
export WW_TEST_CONTAINERD_ENDPOINT=$containerd_sock
export WW_TEST_CONTAINERD_NAMESPACE=wwtest
export WW_TEST_PODMAN_ENDPOINT=unix://$podman_sock
export WW_TEST_PODMAN_ID=$podman_id
WW_TEST_PODMAN_PID=$("${podman[@]}" inspect -f '{{.State.Pid}}' "$podman_id")
export WW_TEST_PODMAN_PID
make -C "$HERE" STAGE="$STAGE" test
