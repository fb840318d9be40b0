#!/usr/bin/env bash
# Datastore throughput through MinIO on loopback: builds MinIO if needed
# (scripts/minio), starts it on a temporary directory, runs the
# s3_throughput bench, then a wide flow with n = 1,000 against it.
#
# MinIO keeps its data on the repository's disk; MINIO_DIR=/dev/shm keeps
# it in memory, which measures mfw's side without the disk's write speed
# (every object MinIO stores is synced).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d -p "${MINIO_DIR:-$PWD/target}" bench-minio.XXXXXX)
minio_pid=
trap '[ -n "$minio_pid" ] && { kill $minio_pid 2>/dev/null; wait $minio_pid 2>/dev/null; }; rm -rf "$data"' EXIT
# shellcheck source=benches/minio-server.sh
. benches/minio-server.sh
minio_start "$data" bench
MFW_BENCH_DATASTORE=s3://bench/throughput cargo bench -q -p mfw-store --bench s3_throughput 2>/dev/null
cargo build --release -q -p mfw-cli
scratch=$(mktemp -d -p "$PWD/target" bench-s3-wide.XXXXXX)
repo=$PWD
mfw="${CARGO_TARGET_DIR:-$repo/target}/release/mfw"
(cd "$scratch" && "$mfw" run "$repo/examples/wide/rust" --n 10 -q >/dev/null 2>&1 || true)
start=$(date +%s.%N)
(cd "$scratch" && MFW_BLOB_CACHE= "$mfw" --datastore s3://bench/wide run "$repo/examples/wide/rust" --n 1000 -q >/dev/null 2>&1)
end=$(date +%s.%N)
rm -rf "$scratch"
echo "wide flow, n = 1,000, datastore on MinIO: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s"
