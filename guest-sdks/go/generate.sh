#!/usr/bin/env bash
# Regenerates the Go bindings of the WIT contract (internal/wit) with
# wit-bindgen-cli, the version pinned here. `--check` only verifies that
# the committed bindings are up to date (CI runs that).
set -euo pipefail
cd "$(dirname "$0")"
version=0.61.1
tools="${XDG_CACHE_HOME:-$HOME/.cache}/mfw/tools"
bin="$tools/bin/wit-bindgen"
if ! "$bin" --version 2>/dev/null | grep -q "$version"; then
    echo "generate.sh: installing wit-bindgen-cli $version into $tools" >&2
    # Its own target directory: it never waits for, nor adds to, mfw's.
    CARGO_TARGET_DIR="$tools/wit-bindgen-$version-build" cargo install --quiet --locked \
        wit-bindgen-cli --version "$version" --root "$tools"
    rm -rf "$tools/wit-bindgen-$version-build"
fi
args=(go ../../wit --world flow-component --out-dir internal/wit
      --pkg-name mfw.dev/sdk/internal/wit --export-pkg-name mfw.dev/sdk/internal/export)
if [ "${1:-}" = "--check" ]; then
    "$bin" "${args[@]}" --check
else
    rm -rf internal/wit
    "$bin" "${args[@]}"
fi
