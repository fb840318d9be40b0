#!/usr/bin/env bash
# Times the same wide foreach flow under Metaflow (local runtime) and mfw.
#
#   benches/compare-metaflow/run.sh [N ...]      # default: 10 100 1000
#
# Environment:
#   MFW                     the mfw binary (default: target/release/mfw, else
#                           target/debug/mfw with a warning)
#   COMPARE_REPEAT          timed runs per N and tool; the median is reported (default 1)
#   COMPARE_SKIP_METAFLOW   1 to time mfw only (Metaflow at n=1000 takes minutes)
#   COMPARE_METAFLOW        the Metaflow version to install (default 2.19.39;
#                           the newest is used if that one cannot be installed)
#   COMPARE_WORKERS         workers for both tools (default 2)
#   COMPARE_FLOW            what mfw runs: the flow's directory (default
#                           examples/wide/rust, built by the warm-up if its
#                           sources changed) or an already built .wasm
#   COMPARE_PY_FLOW         the Python flow mfw also runs (default examples/wide/python;
#                           "none" to skip it)
#   TMPDIR                  where both tools' temporary datastores go (default /tmp)
#   PYTHON                  the Python that makes the venv (default python3)
#
# Metaflow goes into a throwaway venv under ${XDG_CACHE_HOME:-$HOME/.cache}/mfw/bench,
# never into the repository. See README.md beside this file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
flow="${COMPARE_FLOW:-$repo/examples/wide/rust}"
py_flow="${COMPARE_PY_FLOW:-$repo/examples/wide/python}"

if [ "$#" -gt 0 ]; then
    sizes=("$@")
else
    sizes=(10 100 1000)
fi
repeat=${COMPARE_REPEAT:-1}
skip_metaflow=${COMPARE_SKIP_METAFLOW:-0}
metaflow_pin=${COMPARE_METAFLOW:-2.19.39}
workers=${COMPARE_WORKERS:-2}
python=${PYTHON:-python3}

is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
for n in "${sizes[@]}"; do
    is_count "$n" || { echo "run.sh: N must be a positive integer, got '$n'" >&2; exit 2; }
done
is_count "$repeat" || { echo "run.sh: COMPARE_REPEAT must be a positive integer, got '$repeat'" >&2; exit 2; }
is_count "$workers" || { echo "run.sh: COMPARE_WORKERS must be a positive integer, got '$workers'" >&2; exit 2; }

say() { echo "run.sh: $*" >&2; }

# --- the mfw binary --------------------------------------------------------
if [ -z "${MFW:-}" ]; then
    if [ -x "$repo/target/release/mfw" ]; then
        MFW="$repo/target/release/mfw"
    elif [ -x "$repo/target/debug/mfw" ]; then
        MFW="$repo/target/debug/mfw"
        say "WARNING: $repo/target/release/mfw is missing; using the DEBUG build, whose times are not representative"
        say "         (build it with: cargo build --release -p mfw-cli)"
    else
        say "no mfw binary: build one with 'cargo build --release -p mfw-cli' or set MFW"
        exit 1
    fi
fi
[ -x "$MFW" ] || { say "MFW=$MFW is not an executable"; exit 1; }
mfw_version=$("$MFW" --version)
case "$MFW" in
    */release/*) mfw_build="release build" ;;
    */debug/*) mfw_build="DEBUG build" ;;
    *) mfw_build="custom binary" ;;
esac

# Both tools' datastores go here, on the same disk: set TMPDIR to choose it.
work=$(mktemp -d "${TMPDIR:-/tmp}/mfw-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- Metaflow in a throwaway venv ------------------------------------------
metaflow_version="skipped"
if [ "$skip_metaflow" != 1 ]; then
    # shellcheck source=benches/metaflow-venv.sh
    . "$here/../metaflow-venv.sh"
    PYTHON="$python" metaflow_venv metaflow-venv "$metaflow_pin"
    metaflow_version=$("$venv/bin/python" -c 'import metaflow; print(metaflow.__version__)')
    [ "$metaflow_version" = "$metaflow_pin" ] || say "NOTE: using Metaflow $metaflow_version, not $metaflow_pin"
    python_version=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
fi

# --- timing helpers ----------------------------------------------------------
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
fail() { # log message
    say "$2; its output:"
    tail -n 40 "$1" >&2
    exit 1
}

# Runs WideFlow under Metaflow in a fresh directory (so .metaflow lands there)
# and prints its wall time; checks that the total is right.
time_metaflow() {
    local n=$1 dir splits start end
    dir=$(mktemp -d "$work/metaflow.XXXXXX")
    cp "$here/wideflow.py" "$dir/"
    splits=$(( n > 100 ? n : 100 )) # Metaflow refuses more than 100 splits by default
    sync # the previous run's writes and deletions are not this run's cost
    start=$(now)
    # METAFLOW_HOME: no user config (which might point at S3) applies;
    # METAFLOW_DATASTORE_SYSROOT_LOCAL: .metaflow goes in $dir, not in a parent.
    (cd "$dir" && USERNAME="${USERNAME:-mfw-bench}" METAFLOW_HOME="$dir" \
        METAFLOW_DATASTORE_SYSROOT_LOCAL="$dir" \
        "$venv/bin/python" wideflow.py --no-pylint run \
        --n "$n" --max-workers "$workers" --max-num-splits "$splits") >"$dir/log" 2>&1 \
        || fail "$dir/log" "Metaflow failed at n=$n"
    end=$(now)
    grep -q "total = $(( n * (n - 1) ))\$" "$dir/log" \
        || fail "$dir/log" "Metaflow printed no 'total = $(( n * (n - 1) ))' at n=$n"
    rm -rf "$dir"
    seconds "$start" "$end"
}

# Runs the flow under mfw with a fresh datastore and prints its wall time;
# checks that the run succeeded with the right total.
time_mfw() {
    local n=$1 which=${2:-$flow} store start end run
    store=$(mktemp -d "$work/mfw.XXXXXX")
    sync
    start=$(now)
    "$MFW" --datastore "$store" run --no-cache "$which" --n "$n" -q --max-workers "$workers" >"$store.log" 2>&1 \
        || fail "$store.log" "mfw failed at n=$n"
    end=$(now)
    run=$(sed -n 's/.*WideFlow\/\([0-9A-Za-z_-]*\) succeeded.*/\1/p' "$store.log" | head -n 1)
    [ -n "$run" ] || fail "$store.log" "mfw did not report a succeeded run at n=$n"
    "$MFW" --datastore "$store" dump "WideFlow/$run/join" >"$store.dump" 2>&1 \
        || fail "$store.dump" "mfw dump failed at n=$n"
    grep -q "total = $(( n * (n - 1) ))\$" "$store.dump" \
        || fail "$store.dump" "mfw's join has no 'total = $(( n * (n - 1) ))' at n=$n"
    rm -rf "$store" "$store.log" "$store.dump"
    seconds "$start" "$end"
}

# --- the machine ------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
ram=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
cores=$(nproc)
when=$(date -u +"%Y-%m-%d %H:%M UTC")
echo "date:      $when"
echo "machine:   $cores cores, ${cpu:-unknown CPU}, ${ram:-unknown} RAM, $(uname -sr)"
disk=$(df -PT "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }')
echo "disk:      ${disk:-unknown} for $work"
echo "metaflow:  $metaflow_version${python_version:+ (Python $python_version)}"
echo "mfw:       $mfw_version ($mfw_build: $MFW)"
echo "mfw flow:  $flow"
echo "flow:      WideFlow, n tasks in one foreach (n + 3 tasks); $workers workers each; median of $repeat run(s)"
echo

# --- warm-up: build the component and cache its compiled form ---------------
say "warm-up: mfw (builds the flow if its sources changed, caches the compiled component)"
time_mfw 2 >/dev/null
[ "$py_flow" = none ] || time_mfw 2 "$py_flow" >/dev/null
if [ "$skip_metaflow" != 1 ]; then
    say "warm-up: metaflow"
    time_metaflow 2 >/dev/null
fi

# --- the measurements -------------------------------------------------------
declare -A mf_time mfw_time py_time
for n in "${sizes[@]}"; do
    mf_runs=()
    mfw_runs=()
    py_runs=()
    for ((r = 1; r <= repeat; r++)); do
        if [ "$skip_metaflow" != 1 ]; then
            t=$(time_metaflow "$n")
            say "n=$n run $r/$repeat: metaflow ${t} s"
            mf_runs+=("$t")
        fi
        t=$(time_mfw "$n")
        say "n=$n run $r/$repeat: mfw ${t} s"
        mfw_runs+=("$t")
        if [ "$py_flow" != none ]; then
            t=$(time_mfw "$n" "$py_flow")
            say "n=$n run $r/$repeat: mfw (Python steps) ${t} s"
            py_runs+=("$t")
        fi
    done
    mfw_time[$n]=$(median "${mfw_runs[@]}")
    py_time[$n]=$([ "$py_flow" = none ] && echo "-" || median "${py_runs[@]}")
    if [ "$skip_metaflow" != 1 ]; then
        mf_time[$n]=$(median "${mf_runs[@]}")
    else
        mf_time[$n]=""
    fi
done

ratio() { # metaflow mfw
    if [ -z "$1" ]; then
        echo "-"
    else
        awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else if (a / b >= 10) printf "%.0fx", a / b; else printf "%.1fx", a / b }'
    fi
}

echo
printf '%8s  %14s  %10s  %16s  %14s  %16s\n' "N" "metaflow (s)" "mfw (s)" "metaflow / mfw" "mfw py (s)" "metaflow / py"
for n in "${sizes[@]}"; do
    printf '%8s  %14s  %10s  %16s  %14s  %16s\n' "$n" "${mf_time[$n]:-skipped}" "${mfw_time[$n]}" \
        "$(ratio "${mf_time[$n]}" "${mfw_time[$n]}")" "${py_time[$n]}" "$(ratio "${mf_time[$n]}" "${py_time[$n]}")"
done

echo
echo "Markdown for docs/benchmarks.md:"
echo
echo "Wide foreach (\`examples/wide/rust\` and its Metaflow twin \`benches/compare-metaflow/wideflow.py\`),"
echo "wall time of one whole run with $workers workers, median of $repeat run(s); $when;"
echo "$cores cores (${cpu:-unknown CPU}), ${ram:-unknown} RAM, datastores on ${disk:-an unknown disk};"
if [ "$skip_metaflow" != 1 ]; then
    echo "Metaflow $metaflow_version on Python $python_version (local runtime), $mfw_version ($mfw_build)."
else
    echo "Metaflow not run; $mfw_version ($mfw_build)."
fi
echo
echo "| foreach tasks (n) | Metaflow (s) | mfw, Rust steps (s) | Metaflow / mfw | mfw, Python steps (s) | Metaflow / mfw |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
    echo "| $n | ${mf_time[$n]:-skipped} | ${mfw_time[$n]} | $(ratio "${mf_time[$n]}" "${mfw_time[$n]}") | ${py_time[$n]} | $(ratio "${mf_time[$n]}" "${py_time[$n]}") |"
done
