#!/usr/bin/env bash
# What the cache costs and saves: `mfw run examples/wide/rust --n N` on a
# new, empty datastore with `--no-cache`, then with the cache on (its first
# run: every task looked up and remembered), then that run again (every
# task cached). Alternates the three REPEAT times and prints each one's run
# time (as mfw reports it) and wall time, best and median.
#
#   benches/cache.sh           # N = 1000, 5 repeats
#   REPEAT=3 benches/cache.sh 200
#   FLOW=examples/wide/python benches/cache.sh 300
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${REPEAT:-5}
n=${1:-1000}

. benches/wide-setup.sh cache

# One run on `store`: prints "<run seconds> <wall seconds>".
timed() {
    local store=$1
    shift
    local started ended
    started=$(date +%s.%N)
    if ! (cd "$scratch" && "$mfw" --datastore "$store" run "$@" "$flow" --n "$n" 2>"$scratch/err" >/dev/null); then
        cat "$scratch/err" >&2
        exit 1
    fi
    ended=$(date +%s.%N)
    # "mfw: Flow/123 succeeded: 1003 tasks (cached 1003, ran 0) in 0.05 s"
    local run
    run=$(grep -o 'in [0-9.]* s$' "$scratch/err" | tail -1 | awk '{print $2}')
    echo "$run $(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.3f", b - a}')"
}

stats() { sort -n | awk '{a[NR]=$1} END {printf "best %.3f median %.3f", a[1], (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A run_times wall_times
for _ in $(seq "$repeat"); do
    for kind in no-cache first cached; do
        case $kind in
            no-cache) store=$(mktemp -d -p "$scratch"); read -r r w < <(timed "$store" --no-cache) ;;
            first) store=$(mktemp -d -p "$scratch"); cached_store=$store; read -r r w < <(timed "$store") ;;
            cached) read -r r w < <(timed "$cached_store") ;;
        esac
        run_times[$kind]+="$r "
        wall_times[$kind]+="$w "
    done
done
printf 'wide --n %s, %s runs each (%s)\n' "$n" "$repeat" "$(date -u '+%Y-%m-%d %H:%M UTC')"
for kind in no-cache first cached; do
    printf '%-9s run time: %s s   wall: %s s\n' "$kind" \
        "$(tr ' ' '\n' <<<"${run_times[$kind]}" | grep . | stats)" \
        "$(tr ' ' '\n' <<<"${wall_times[$kind]}" | grep . | stats)"
done
