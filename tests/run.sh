#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what a fresh Debian machine
# lacks (Docker, containerd, protoc, valgrind, ...), builds, and runs every
# test. The tests start their own private engines (tests/engines/) and stop
# them again; the host's own engines are never touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" = 0 ]; then
  tests/engines/install-deps.sh
fi
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --all-targets
# The C boundary's own tests under Miri (undefined behaviour in the raw
# pointers handed to C), where a nightly toolchain with Miri is at hand.
if cargo +nightly miri --version >/dev/null 2>&1; then
  MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test --locked --lib ffi::
else
  echo "run.sh: no nightly toolchain with Miri here: the ffi tests under Miri are skipped" >&2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
