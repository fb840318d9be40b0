#!/usr/bin/env bash
# numpy and pandas inside a component against the same code in this
# machine's CPython (PyPI's numpy 2.3.5 and pandas 2.3.3, which
# scripts/setup installs): the kernels of benches/native/kernels.py, best
# of 5 each; then the cost of a task whose component holds numpy and pandas,
# the component's size and its build and compile times.
#
#   benches/native.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# MFW=path/to/mfw times another build (a debug one runs the kernels' wasm
# the same: wasmtime and Cranelift are optimised in every profile).
if [ -z "${MFW:-}" ]; then
    cargo build --release -q -p mfw-cli
    MFW="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/mfw"
fi
mfw="$MFW"
mkdir -p "$PWD/target"
scratch=$(mktemp -d -p "$PWD/target" bench-native.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
wall() { /usr/bin/time -f '%e' "$@" 2>&1 >/dev/null | tail -1; }
export MFW_CACHE_DIR="$scratch/cache"

# The component: built (wheels cached), then compiled by Cranelift on its
# first run.
flow="$PWD/benches/native/flow.py"
build_s=$(cd "$scratch" && wall "$mfw" build "$flow")
component=$(ls -S "$MFW_CACHE_DIR"/python/builds/*.wasm | head -1)
size_mb=$(python3 -c "import os, sys; print(round(os.path.getsize(sys.argv[1]) / 1e6, 1))" "$component")
first_run_s=$(cd "$scratch" && wall "$mfw" run "$flow" -q)
(cd "$scratch" && "$mfw" run "$flow" -q >/dev/null)
run=$(cd "$scratch" && "$mfw" runs | awk '/^NativeKernelsBench/ {print $1 "/" $2; exit}')
inside=$(cd "$scratch" && "$mfw" dump --json "$run/start" | python3 -c '
import json, sys
def find(v):
    if isinstance(v, dict):
        return v.get("timings") or next((f for f in map(find, v.values()) if f), None)
    if isinstance(v, list):
        return next((f for f in map(find, v) if f), None)
print(json.dumps(find(json.load(sys.stdin))))')
# The machine's numpy at full speed: the OpenBLAS variables this machine
# sets for old OpenBLAS builds slow a current one.
native=$(cd benches/native && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 -c \
    'import json, kernels; print(json.dumps(kernels.timings()))')
python3 - "$inside" "$native" <<'PY'
import json, sys
inside, native = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'kernel':40} {'component':>12} {'native':>12} {'ratio':>8}")
for name, t in inside.items():
    if name == "csv_megabytes":
        continue
    print(f"{name:40} {t * 1e3:9.2f} ms {native[name] * 1e3:9.2f} ms {t / native[name]:7.1f}x")
print(f"(read_csv reads {inside['csv_megabytes']:.1f} MB)")
PY

# Per task: the wide example (a foreach of 200 tasks) as it is, and with
# numpy and pandas in its component (a requirements.txt beside it).
for packages in "" "pandas==2.3.3"; do
    dir="$scratch/wide${packages:+-pandas}"
    mkdir -p "$dir"
    cp examples/wide/python/wide.py "$dir/"
    [ -z "$packages" ] || echo "$packages" > "$dir/requirements.txt"
    (cd "$dir" && "$mfw" run --no-cache wide.py --n 200 -q >/dev/null)
    times=()
    for _ in 1 2 3; do times+=("$(cd "$dir" && wall "$mfw" run --no-cache wide.py --n 200 -q)"); done
    best=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
    echo "wide flow, 200 tasks, ${packages:-no packages}: best of 3 ${best} s (${times[*]})"
done

echo "component with numpy and pandas: ${size_mb} MB; build with wheels cached: ${build_s} s;" \
    "first run (Cranelift compile): ${first_run_s} s"
