#!/usr/bin/env bash
# End to end: `mfw run examples/wide/rust --n N` with a warm compile cache.
# Prints the median wall time over REPEAT runs for each N, and the peak
# memory of the largest. Uses the release binary (built if missing).
#
#   benches/wide.sh            # N = 1000 and 10000, 5 repeats
#   REPEAT=3 benches/wide.sh 100 1000
#   FLOW=examples/wide/go benches/wide.sh 1000     # the Go (or Python) twin
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${REPEAT:-5}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)

cargo build --release -q -p mfw-cli
mfw="$PWD/target/release/mfw"
flow="${FLOW:-$PWD/examples/wide/rust}"
# Keep the datastores on the repository's file system (often faster than
# /tmp), and delete them only at the end: ext4 creates files slowly for a
# while after many deletions, which would charge one run for the last.
# STORE_DIR=/dev/shm measures mfw without the disk.
store_dir=${STORE_DIR:-$PWD/target}
mkdir -p "$store_dir"
scratch=$(mktemp -d -p "$store_dir" bench-wide.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# Warm-up: builds the component and caches its compiled form.
(cd "$scratch" && "$mfw" run "$flow" --n 10 -q >/dev/null 2>&1)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-8s %-12s %-14s %s\n' "n" "median (s)" "peak RSS (MB)" "runs"
for n in "${sizes[@]}"; do
    times=()
    rss=0
    for _ in $(seq "$repeat"); do
        store=$(mktemp -d -p "$scratch")
        # /usr/bin/time reports "seconds peak-KB" as the last line of stderr.
        if ! (cd "$scratch" && /usr/bin/time -f '%e %M' "$mfw" --datastore "$store" \
            run --no-cache "$flow" --n "$n" -q >/dev/null 2>"$scratch/err"); then
            cat "$scratch/err" >&2
            exit 1
        fi
        read -r secs kb < <(tail -1 "$scratch/err")
        times+=("$secs")
        [ "$kb" -gt "$rss" ] && rss=$kb
    done
    printf '%-8s %-12s %-14s %s\n' "$n" "$(printf '%s\n' "${times[@]}" | median)" "$((rss / 1024))" "${times[*]}"
done
