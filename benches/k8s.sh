#!/usr/bin/env bash
# The worker pool on a real control plane (scripts/k8s-cluster, with the
# mfw-node agent running pods as local processes) and MinIO: a 1,000-split
# foreach on 4 pods, against the same flow run locally with 4 workers on
# the same store. Reports the whole run's wall time, the fan-out's span
# once its pods run (first task start to last task end, from the task
# records), and the per-task cost (span x parallelism / tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
n=${N:-1000}
pods=${PODS:-4}
rounds=${ROUNDS:-3}
cargo build --release -q -p mfw-cli -p mfw-kubernetes
work=$(mktemp -d -p "$PWD/target" bench-k8s.XXXXXX)
minio_pid=
agent=
cleanup() {
    [ -n "$agent" ] && kill "$agent" 2>/dev/null
    # The benchmark runs in $work: name the script by its full path.
    "$repo/scripts/k8s-cluster" stop "$work/k8s" 2>/dev/null || true
    cd "$repo"
    [ -n "$minio_pid" ] && { kill "$minio_pid" 2>/dev/null; wait "$minio_pid" 2>/dev/null; }
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
}
trap cleanup EXIT
# shellcheck source=benches/minio-server.sh
. benches/minio-server.sh
minio_start "$work/minio" bench
export KUBECONFIG
KUBECONFIG=$(scripts/k8s-cluster start "$work/k8s" 2>/dev/null | tail -1)
server_url=$(sed -n 's/^ *server: //p' "$KUBECONFIG")
token=$(sed -n 's/^ *token: //p' "$KUBECONFIG" | head -1)
curl -fsk -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$server_url/api/v1/namespaces/default/secrets" -o /dev/null -d @- <<JSON
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mfw-datastore"},
 "stringData": {"AWS_ENDPOINT_URL": "$AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID": "$AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY": "$AWS_SECRET_ACCESS_KEY", "AWS_REGION": "$AWS_REGION"}}
JSON
export MFW_CACHE_DIR="$work/cache" MFW_CONFIG="$work/none.toml"
mfw="${CARGO_TARGET_DIR:-$PWD/target}/release/mfw"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "${CARGO_TARGET_DIR:-target}/release/mfw-node" --name bench-node \
    --mfw "$mfw" --work-dir "$work/pods" >"$work/agent.log" 2>&1 &
agent=$!
flow="$PWD/examples/wide/rust"
kube=(--with kubernetes --kubernetes-pods "$pods" --kubernetes-threads 1
      --kubernetes-image mfw-worker@sha256:0000000000000000000000000000000000000000000000000000000000000000
      --kubernetes-secret mfw-datastore)
cd "$work"
# Warm up: build, and compile the component into the shared cache.
"$mfw" --datastore s3://bench/k8s run --no-cache "$flow" --n 10 -q "${kube[@]}" >/dev/null 2>&1

# Prints "<wall s> <span s>" for one run of the flow with extra options.
measure() {
    local start end log run
    log=$(mktemp -p "$work")
    start=$(date +%s.%N)
    "$mfw" --datastore s3://bench/k8s run --no-cache "$flow" --n "$n" -q "$@" >"$log" 2>&1
    end=$(date +%s.%N)
    run=$(sed -n 's/^mfw: WideFlow run \([0-9]*\) started$/\1/p' "$log")
    "$mfw" --datastore s3://bench/k8s dump --json "WideFlow/$run/double" | python3 -c '
import json, sys
tasks = json.load(sys.stdin)["tasks"]
span = (max(t["finished_at"] for t in tasks) - min(t["started_at"] for t in tasks)) / 1000
print("%.3f %.3f" % (float(sys.argv[2]) - float(sys.argv[1]), span))' "$start" "$end"
}

report() {
    python3 -c '
import sys
label, n, par = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [tuple(map(float, line.split())) for line in sys.argv[4:]]
wall = sorted(r[0] for r in rows)[len(rows) // 2]
span = sorted(r[1] for r in rows)[len(rows) // 2]
print("%-28s wall %6.2f s   fan-out span %6.2f s   per task %5.2f ms" % (label, wall, span, span * par / n * 1000))' "$@"
}

local_rows=(); k8s_rows=()
for _ in $(seq "$rounds"); do
    local_rows+=("$(measure --max-workers "$pods")")
    k8s_rows+=("$(measure "${kube[@]}")")
done
echo "wide flow, n = $n, datastore on MinIO, median of $rounds:"
report "local, $pods workers" "$n" "$pods" "${local_rows[@]}"
report "kubernetes, $pods pods" "$n" "$pods" "${k8s_rows[@]}"
