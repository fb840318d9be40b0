# What scripts/test and scripts/prebuild share (sourced from the repository's root).

# The wheels the tests build components with (tests/native, the examples,
# the book's tutorials).
test_wheels=(numpy==2.3.5 pandas==2.3.3 nanoarrow==0.9.0 scipy==1.18.1 scikit-learn==1.9.1)

# The guest crates build for wasm32-wasip2 in workspaces of their own.
guest_workspaces=(guest-sdks/rust examples tests/guests)

# cargo for the host's workspace, whose own crates clippy's driver compiles:
# one build both lints them (as `cargo clippy --all-targets -- -D warnings`
# does, which passes its arguments to the driver in CLIPPY_ARGS) and
# compiles the tests. `cargo clippy` only checks, and its check of every
# dependency is a second build of them (wasmtime twice, kube, object_store)
# that a test build cannot reuse. The wrapper is set by `--config`, not by
# the environment: cargo passes its environment on to the tests, and the
# cargo a test runs for a Rust flow would then lint the flow.
host_cargo() {
    cargo --config 'build.rustc-workspace-wrapper="clippy-driver"' \
        --config 'env.CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"' "$@"
}

# The host's lints and the build of everything `cargo test --workspace` runs.
host_build() {
    host_cargo test --workspace --all-targets --no-run
}

# The guests' lints, for their target.
guest_lints() {
    local ws
    for ws in "${guest_workspaces[@]}"; do
        (cd "$ws" && cargo clippy --target wasm32-wasip2 --all-targets --all-features -- -D warnings)
    done
}

# The servers the tests must use (CI requires them): built once, cached.
build_servers() {
    if [ "${MFW_REQUIRE_MINIO:-}" = 1 ]; then scripts/minio install || return 1; fi
    if [ "${MFW_REQUIRE_K8S:-}" = 1 ]; then scripts/k8s-build || return 1; fi
}
