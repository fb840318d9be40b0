#!/usr/bin/env bash
# Editing a flow: what a data scientist waits for between saving a change
# to Metaflow's train flow (examples/train/python, scikit-learn in its
# component) and its run. The build snapshots the component again; the
# first run compiles it, reusing the functions earlier compiles made
# (compiled/functions), and once more with those removed, as before they
# were kept.
#
#   benches/edit.sh                 # REPEAT=2 edits by default
#   MFW=target/debug/mfw benches/edit.sh
#
# The wheels come from the usual cache (MFW_WHEEL_CACHE); everything else
# starts empty in a scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
repeat=${REPEAT:-2}
if [ -z "${MFW:-}" ]; then
    cargo build --release -q -p mfw-cli
    MFW="${CARGO_TARGET_DIR:-$repo/target}/release/mfw"
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mfw-bench-edit.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export MFW_WHEEL_CACHE="${MFW_WHEEL_CACHE:-${MFW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mfw}/wheels}"
export MFW_CACHE_DIR="$scratch/cache"
say() { echo "edit.sh: $*" >&2; }
# shellcheck source=benches/timing.sh
. benches/timing.sh
wall_digits=1
cp -r examples/train/python "$scratch/flow"
cd "$scratch/flow"
# --no-cache: the tasks run, as after an edit they would.
build() { wall "$MFW" build train.py; }
run() { wall "$MFW" run --no-cache train.py -q; }
functions_mb() { du -sm "$MFW_CACHE_DIR/compiled/functions" | cut -f1; }

echo "| | build | first run | compiled functions kept |"
echo "| --- | ---: | ---: | ---: |"
echo "| first build, nothing compiled before | $(build) s | $(run) s | $(functions_mb) MB |"
for edit in $(seq "$repeat"); do
    echo "# edit $edit" >>train.py
    echo "| edit $edit, functions reused | $(build) s | $(run) s | $(functions_mb) MB |"
done
rm -rf "$MFW_CACHE_DIR/compiled/functions"
echo "# edit without reuse" >>train.py
echo "| an edit, the functions removed first | $(build) s | $(run) s | $(functions_mb) MB |"
