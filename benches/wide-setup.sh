# Sourced by the benchmarks of the wide example (wide.sh, cache.sh) with the
# benchmark's name: builds the release binary, makes a scratch directory
# removed on exit and warms the compile cache. Sets `mfw`, `flow` (FLOW,
# default the Rust wide example) and `scratch`.
cargo build --release -q -p mfw-cli
mfw="${CARGO_TARGET_DIR:-$PWD/target}/release/mfw"
flow="${FLOW:-$PWD/examples/wide/rust}"
# Keep the datastores on the repository's file system (often faster than
# /tmp), and delete them only at the end: ext4 creates files slowly for a
# while after many deletions, which would charge one run for the last.
# STORE_DIR=/dev/shm measures mfw without the disk.
store_dir=${STORE_DIR:-$PWD/target}
mkdir -p "$store_dir"
scratch=$(mktemp -d -p "$store_dir" "bench-$1.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Warm-up: builds the component and caches its compiled form.
(cd "$scratch" && "$mfw" run "$flow" --n 10 -q >/dev/null 2>&1)
