# Sourced by the benchmarks (resume.sh, large.sh, dedup.sh) with the
# benchmark's name and, if it runs one, a test guest's: builds the release
# binary and the guest, makes a scratch directory removed on exit and
# copies the guest there. Sets `mfw` and `scratch`. STORE_DIR puts the scratch directory
# elsewhere (/dev/shm measures mfw without the disk).
cargo build --release -q -p mfw-cli
[ -z "${2:-}" ] || (cd tests/guests && cargo build --release -q --target wasm32-wasip2 -p "$2")
mfw="${CARGO_TARGET_DIR:-$PWD/target}/release/mfw"
store_dir=${STORE_DIR:-$PWD/target}
mkdir -p "$store_dir"
scratch=$(mktemp -d -p "$store_dir" "bench-$1.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
[ -z "${2:-}" ] || cp "tests/guests/target/wasm32-wasip2/release/$2.wasm" "$scratch/"
