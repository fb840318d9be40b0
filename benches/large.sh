#!/usr/bin/env bash
# Large artifacts: the `big` test guest (Rust) sets a value of N MiB in
# `start` and reads it back in `end`, whole, then a piece at a time
# (`--streamed`); then benches/large/flow.py does the same in Python, and
# once without setting the value (what generating it costs). Prints each
# one's wall time and the peak RSS of the whole `mfw` process (host and
# guest memory together), best of REPEAT, each run on a new store. Then
# the same Python file under Metaflow's local runtime (METAFLOW=0 skips
# it), whose peak is that of its largest process (each task is one).
#
#   benches/large.sh               # 100 MiB and 1024 MiB, 3 repeats
#   REPEAT=5 benches/large.sh 256
#   STORE_DIR=/dev/shm benches/large.sh 100   # without the disk
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${REPEAT:-3}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1024)

. benches/guest-setup.sh large big
cp benches/large/flow.py "$scratch/large.py"
# Warm-up: builds and compiles both components once.
(cd "$scratch" && "$mfw" run big.wasm --mib 1 >/dev/null 2>&1)
(cd "$scratch" && "$mfw" run large.py --mib 1 >/dev/null 2>&1)

best() { sort -n | head -1; }

# Prints "<label> <wall> <peak>" for `mfw args...`, best of REPEAT.
measure() { measure_with "$mfw" "$@"; }
# The same for `command label args...`.
measure_with() {
    local command=$1 label=$2 walls=() peaks=()
    shift 2
    for _ in $(seq "$repeat"); do
        rm -rf "$scratch/.mfw"
        (cd "$scratch" && /usr/bin/time -o "$scratch/time" -f '%e %M' \
            "$command" "$@" >/dev/null 2>"$scratch/err") || {
            cat "$scratch/err" >&2
            exit 1
        }
        walls+=("$(awk '{print $1}' "$scratch/time")")
        peaks+=("$(awk '{print $2}' "$scratch/time")")
    done
    printf '%-24s %9s s %10d MB\n' "$label" \
        "$(printf '%s\n' "${walls[@]}" | best)" $(($(printf '%s\n' "${peaks[@]}" | best) / 1024))
}

printf 'large artifacts (%s), best of %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$repeat"
printf '%-24s %11s %13s\n' "" wall "peak RSS"
for mib in "${sizes[@]}"; do
    memory=$((mib * 4 + 256))
    # A value set whole is limited to 1 GiB and held by the guest.
    if [ "$mib" -lt 1024 ]; then
        measure "$mib MiB, Rust, whole" run big.wasm --mib "$mib" --memory "$memory"
        measure "$mib MiB, Python" run large.py --mib "$mib" --memory "$memory"
        measure "$mib MiB, Python, no set" run large.py --mib "$mib" --store False --memory "$memory"
    fi
    measure "$mib MiB, Rust, streamed" run big.wasm --mib "$mib" --streamed --memory "$memory"
done

[ "${METAFLOW:-1}" = 1 ] || exit 0
# shellcheck source=benches/metaflow-venv.sh
. benches/metaflow-venv.sh
metaflow_venv metaflow-venv 2.19.39
sed 's/^from mfw import/from metaflow import/' benches/large/flow.py >"$scratch/largeflow.py"
# A command, so that time(1) measures it: each run on a new datastore.
cat >"$scratch/metaflow" <<EOF
#!/usr/bin/env bash
cd "$scratch" && rm -rf .metaflow
USERNAME=bench METAFLOW_HOME="$scratch" METAFLOW_DATASTORE_SYSROOT_LOCAL="$scratch" \\
    exec "$venv/bin/python" largeflow.py --no-pylint "\$@"
EOF
chmod +x "$scratch/metaflow"
printf 'Metaflow %s\n' "$("$venv/bin/python" -c 'import metaflow; print(metaflow.__version__)')"
for mib in "${sizes[@]}"; do
    [ "$mib" -lt 1024 ] || continue
    measure_with "$scratch/metaflow" "$mib MiB, Python" run --mib "$mib"
    measure_with "$scratch/metaflow" "$mib MiB, Python, no set" run --mib "$mib" --store False
done
