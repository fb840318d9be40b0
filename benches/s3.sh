#!/usr/bin/env bash
# Datastore throughput through MinIO on loopback: builds MinIO if needed
# (scripts/minio), starts it on a temporary directory, runs the
# s3_throughput bench, then a wide flow with n = 1,000 against it.
set -euo pipefail
cd "$(dirname "$0")/.."
minio=$(scripts/minio install)
data=$(mktemp -d -p "$PWD/target" bench-minio.XXXXXX)
port=$((20000 + RANDOM % 20000))
export AWS_ACCESS_KEY_ID=mfwbench AWS_SECRET_ACCESS_KEY=mfwbench-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
    "$minio" server "$data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$((port + 1))" \
    >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
    curl -fs "$AWS_ENDPOINT_URL/minio/health/ready" && break
    sleep 0.1
done
curl -fs -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    "$AWS_ENDPOINT_URL/bench" >/dev/null
MFW_BENCH_DATASTORE=s3://bench/throughput cargo bench -q -p mfw-store --bench s3_throughput 2>/dev/null
cargo build --release -q -p mfw-cli
scratch=$(mktemp -d -p "$PWD/target" bench-s3-wide.XXXXXX)
(cd "$scratch" && ../release/mfw run ../../examples/wide/rust --n 10 -q >/dev/null 2>&1 || true)
start=$(date +%s.%N)
(cd "$scratch" && MFW_BLOB_CACHE= ../release/mfw --datastore s3://bench/wide run ../../examples/wide/rust --n 1000 -q >/dev/null 2>&1)
end=$(date +%s.%N)
rm -rf "$scratch"
echo "wide flow, n = 1,000, datastore on MinIO: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s"
