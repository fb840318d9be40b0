#!/usr/bin/env bash
# Python flows end to end: the first build of hello.py, a warm
# `mfw run hello.py`, and the Python wide flow with n = 1000.
#
#   benches/python.sh            # REPEAT=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${REPEAT:-5}
cargo build --release -q -p mfw-cli
mfw="${CARGO_TARGET_DIR:-$PWD/target}/release/mfw"
mkdir -p target
scratch=$(mktemp -d -p "$PWD/target" bench-python.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# shellcheck source=benches/timing.sh
. benches/timing.sh
wall() { /usr/bin/time -f '%e' "$@" 2>&1 >/dev/null | tail -1; }

hello="$PWD/examples/hello/python/hello.py"
wide="$PWD/examples/wide/python"

# Cold: an empty cache, so the whole build (graph, staging, componentize,
# Cranelift).
cold="$scratch/cold-cache"
cold_s=$(cd "$scratch" && MFW_CACHE_DIR="$cold" wall "$mfw" run --no-cache "$hello" -q)

# Warm: everything cached.
(cd "$scratch" && "$mfw" run "$hello" -q >/dev/null 2>&1)
(cd "$scratch" && "$mfw" run "$wide" --n 10 -q >/dev/null 2>&1)
warm=()
for _ in $(seq "$repeat"); do warm+=("$(cd "$scratch" && wall "$mfw" run --no-cache "$hello" -q)"); done
wide_times=()
for _ in $(seq "$repeat"); do
    store=$(mktemp -d -p "$scratch")
    wide_times+=("$(cd "$scratch" && wall "$mfw" --datastore "$store" run --no-cache "$wide" --n 1000 -q)")
done

echo "first build and run of hello.py (cold cache): ${cold_s} s"
echo "mfw run hello.py, warm: median $(printf '%s\n' "${warm[@]}" | median) s (${warm[*]})"
echo "Python wide flow, n = 1000: median $(printf '%s\n' "${wide_times[@]}" | median) s (${wide_times[*]})"
