#!/bin/sh
# Callgrind profile of one change at 10 000 containers (bench/profile/one_change.rs).
# Usage: bench/profile/run.sh [TREE [before]] — TREE is a checkout of the library
# (default: this one); "before" builds the driver for the code before issue 12
# (337d499). Builds the library (release profile) in TREE/target/profile, so
# the usual target/release is left alone, and writes the profile to
# TREE/target/profile/callgrind.one_change.out. CHANGES (default 100) sets
# the number of changes, CONTAINERS (default 10000) the number of containers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:-$here/../..}" && pwd)
cfg=; [ "${2:-}" = before ] && cfg="--cfg before"
changes=${CHANGES:-100}
containers=${CONTAINERS:-10000}
out=$tree/target/profile
(cd "$tree" && CARGO_TARGET_DIR=$out cargo build --release --lib --locked)
# The release profile's optimisation for the driver; debug info stripped so
# that callgrind keys costs by symbol only (inlined code counts for its caller).
rustc --edition 2021 -C opt-level=3 -C strip=debuginfo $cfg \
    --extern whalewatcher="$out/release/libwhalewatcher.rlib" \
    -L dependency="$out/release/deps" \
    -o "$out/one_change" "$here/one_change.rs"
valgrind --tool=callgrind --toggle-collect=ww_profile_changes \
    --callgrind-out-file="$out/callgrind.one_change.out" "$out/one_change" "$changes" "$containers"
callgrind_annotate --inclusive=yes "$out/callgrind.one_change.out" | head -60
