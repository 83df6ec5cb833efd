#!/usr/bin/env bash
# Builds the library and runs the C example against a Docker engine.
#
#   c-examples/try.sh           install what is missing (as root), build, run
#   c-examples/try.sh --follow  the same, then print every change as it
#                               happens (pause, kill or run containers of
#                               that engine from another shell; Ctrl-C ends it)
#   c-examples/try.sh clean     remove the demo containers and private engine
#
# Uses the engine at DOCKER_HOST or /var/run/docker.sock; when none answers,
# starts a private dockerd under /tmp/whalewatcher-demo with a few labelled
# demo containers (tests/engines/demo.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = clean ]; then
  exec tests/engines/demo.sh clean
fi
if [ "$(id -u)" = 0 ]; then
  tests/engines/install-deps.sh
fi
cargo build --release --locked
eval "$(tests/engines/demo.sh | tail -n 1)"
make -C c-examples LIB_DIR="$PWD/target/release"
c-examples/watch "$@" "${DOCKER_HOST}"
