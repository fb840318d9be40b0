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

. benches/wide-setup.sh wide

# shellcheck source=benches/timing.sh
. benches/timing.sh

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
