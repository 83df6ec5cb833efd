#!/bin/sh
# Callgrind profile of one change at 10 000 containers (bench/profile/one_change.rs).
# Usage: bench/profile/run.sh [TREE [before]] — TREE is a checkout of the library
# (default: this one); "before" builds the driver for the code before issue 12
# (337d499). Writes TREE/target/profile/callgrind.one_change.out and prints the
# top inclusive entries. CHANGES (default 100) sets the number of changes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:-$here/../..}" && pwd)
cfg=; [ "${2:-}" = before ] && cfg="--cfg before"
changes=${CHANGES:-100}
out=$tree/target/profile
mkdir -p "$out"
(cd "$tree" && cargo build --release --lib)
# The release profile's settings (opt-level 3, line tables) for the driver.
rustc --edition 2021 -C opt-level=3 -C debuginfo=1 $cfg \
    --extern whalewatcher="$tree/target/release/libwhalewatcher.rlib" \
    -L dependency="$tree/target/release/deps" \
    -o "$out/one_change" "$here/one_change.rs"
valgrind --tool=callgrind --toggle-collect=ww_profile_changes \
    --callgrind-out-file="$out/callgrind.one_change.out" "$out/one_change" "$changes"
callgrind_annotate --inclusive=yes --threshold=99 "$out/callgrind.one_change.out" | head -45
