#!/usr/bin/env bash
# Metaflow's train flow (examples/train/python: a RandomForestRegressor per
# size in a foreach) under mfw, its steps in a sandboxed component with
# scikit-learn built for wasm32, and under Metaflow's local runtime with
# native scikit-learn; then what a task costs in a component holding numpy,
# pandas and scikit-learn.
#
#   benches/train.sh            # REPEAT=3 by default
#
# Metaflow runs the same file with `from metaflow import` and without its
# @kubernetes and @conda_base lines: Metaflow refuses @kubernetes steps
# without a cloud datastore (mfw runs them locally and says so), and
# @conda_base without --environment=conda, which needs conda; its venv has
# scikit-learn installed instead. Both use 2 workers. Metaflow, scikit-learn 1.9.1 and numpy
# 2.3.5 go into a venv under ~/.cache/mfw/bench, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
repeat=${REPEAT:-3}
cargo build --release -q -p mfw-cli
mfw="${CARGO_TARGET_DIR:-$repo/target}/release/mfw"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mfw-bench-train.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# An empty component cache, so builds are measured from cached wheels
# (MFW_WHEEL_CACHE, else the usual cache's) to a compiled component.
export MFW_WHEEL_CACHE="${MFW_WHEEL_CACHE:-${MFW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mfw}/wheels}"
export MFW_CACHE_DIR="$scratch/cache"
# shellcheck source=benches/timing.sh
. benches/timing.sh
say() { echo "train.sh: $*" >&2; }

# --- Metaflow with native scikit-learn, in a venv of its own --------------
# shellcheck source=benches/metaflow-venv.sh
. benches/metaflow-venv.sh
metaflow_venv metaflow-sklearn 2.19.39 scikit-learn==1.9.1 numpy==2.3.5
metaflow_dir="$scratch/metaflow"
mkdir -p "$metaflow_dir"
cp examples/train/python/data.py "$metaflow_dir/"
sed -e 's/^from mfw import/from metaflow import/' -e '/@kubernetes(/d' -e '/@conda_base(/d' \
    -e 's/, kubernetes//' -e 's/, conda_base//' examples/train/python/train.py >"$metaflow_dir/train.py"
metaflow_run() {
    (cd "$metaflow_dir" && rm -rf .metaflow && USERNAME=bench METAFLOW_HOME="$metaflow_dir" \
        METAFLOW_DATASTORE_SYSROOT_LOCAL="$metaflow_dir" \
        "$venv/bin/python" train.py --no-pylint run --max-workers 2)
}

# --- mfw: build once (the component and its Cranelift compile are cached) --
mfw_dir="$scratch/mfw"
mkdir -p "$mfw_dir"
flow="$repo/examples/train/python/train.py"
build_s=$(cd "$mfw_dir" && wall "$mfw" build "$flow")
# --no-cache: every run computes its tasks, as Metaflow's does.
mfw_run() { (cd "$mfw_dir" && "$mfw" run --no-cache "$flow" -q --max-workers 2); }
first_s=$(wall mfw_run)

metaflow_out=$(metaflow_run 2>&1) || { echo "$metaflow_out" | tail -20 >&2; exit 1; }
mfw_out=$(cd "$mfw_dir" && "$mfw" run "$flow" --max-workers 2 2>&1)
mf_best=$(echo "$metaflow_out" | sed -n 's/.*best rmse: \([0-9.]*\).*/\1/p' | tail -1)
mfw_best=$(echo "$mfw_out" | sed -n 's/.*best rmse: \([0-9.]*\).*/\1/p' | tail -1)

mf_times=()
mfw_times=()
for _ in $(seq "$repeat"); do
    mf_times+=("$(wall metaflow_run)")
    mfw_times+=("$(wall mfw_run)")
done

# --- a task's cost with numpy, pandas and scikit-learn in the snapshot -----
# One worker, a foreach of 1 and of 41 tasks that each import the three:
# 40 more tasks, one at a time, divide the difference.
imports="$scratch/imports"
mkdir -p "$imports"
cat >"$imports/flow.py" <<'EOF'
from mfw import FlowSpec, Parameter, pypi_base, step


@pypi_base(packages={"scikit-learn": "1.9.1", "pandas": "2.3.3"})
class ImportsFlow(FlowSpec):
    n = Parameter("n", default=1)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.use, foreach="items")

    @step
    def use(self):
        import numpy, pandas, sklearn.ensemble  # noqa: F401, E401

        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
EOF
imports_build_s=$(cd "$imports" && wall "$mfw" build flow.py)
size_mb=$(cd "$imports" && "$mfw" build flow.py 2>&1 | sed -n 's/.*(\([0-9]*\) bytes.*/\1/p' | tail -1 \
    | awk '{printf "%.0f", $1 / 1048576}')
imports_run() { (cd "$imports" && "$mfw" run --no-cache flow.py -q --max-workers 1 --n "$1"); }
wall imports_run 1 >/dev/null
one=()
many=()
for _ in $(seq 5); do
    one+=("$(wall imports_run 1)")
    many+=("$(wall imports_run 41)")
done
one_s=$(printf '%s\n' "${one[@]}" | median)
many_s=$(printf '%s\n' "${many[@]}" | median)
per_task_ms=$(awk -v a="$one_s" -v b="$many_s" 'BEGIN { printf "%.1f", (b - a) * 1000 / 40 }')

echo "date: $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo "train flow (3 forests, 16/32/64 trees; 6 tasks), 2 workers, median of $repeat:"
echo "  mfw:      $(printf '%s\n' "${mfw_times[@]}" | median) s (${mfw_times[*]}); best rmse $mfw_best"
echo "  Metaflow: $(printf '%s\n' "${mf_times[@]}" | median) s (${mf_times[*]}); best rmse $mf_best"
echo "  mfw build of the flow (wheels cached): ${build_s} s; first run (Cranelift): ${first_s} s"
echo "a task importing numpy, pandas, scikit-learn (component ${size_mb:-?} MB), one worker, median of 5:"
echo "  mfw run with 1 such task: ${one_s} s (${one[*]}); with 41: ${many_s} s (${many[*]})"
echo "  per task: ${per_task_ms} ms"
echo "  build (wheels cached, componentize and Cranelift): ${imports_build_s} s"
