#!/usr/bin/env bash
# Builds libwhalewatcher into a temporary stage, starts a private dockerd
# and containerd (../../tests/engines, needs root), and runs `make
# test` here against them; stops the engines and removes everything after.
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
  "$ENGINES/dockerd.sh" stop "$DIR/d" >/dev/null 2>&1 || true
  "$ENGINES/containerd.sh" stop "$DIR/c" >/dev/null 2>&1 || true
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

export WW_TEST_DOCKER_ENDPOINT=unix://$docker_sock
export WW_TEST_CONTAINERD_ENDPOINT=$containerd_sock
export WW_TEST_CONTAINERD_NAMESPACE=wwtest
make -C "$HERE" STAGE="$STAGE" test
