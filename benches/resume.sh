#!/usr/bin/env bash
# Resume after a failed join in a 100-split foreach: the resumed run clones
# start and the 100 foreach tasks (their records only; values are shared by
# hash) and runs the join onward again. Prints the resumed run's wall time,
# an upper bound on the cloning. Metaflow takes about 2.7 s for the same.
#
#   benches/resume.sh            # REPEAT=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${REPEAT:-5}
n=${N:-100}
. benches/guest-setup.sh resume resilient
cd "$scratch"
# shellcheck source=benches/timing.sh
. benches/timing.sh
times=()
for i in $(seq "$repeat"); do
    store="$scratch/store$i"
    MFW_TEST_FAIL_JOIN=1 "$mfw" --datastore "$store" run --allow-grants resilient.wasm --n "$n" -q >/dev/null 2>&1 || true
    start=$(date +%s.%N)
    "$mfw" --datastore "$store" resume --allow-grants resilient.wasm -q >"$scratch/log" 2>&1
    end=$(date +%s.%N)
    grep -q "(reused $((n + 1)), ran 4)" "$scratch/log" || { cat "$scratch/log"; exit 1; }
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
done
echo "resume after a failed join, $n splits ($((n + 1)) tasks cloned): median $(printf '%s\n' "${times[@]}" | median) s (${times[*]})"
