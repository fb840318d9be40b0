# Sourced by the benchmarks that need an S3 store: `minio_start DIR BUCKET`
# builds MinIO if needed (scripts/minio), serves DIR on a random loopback
# port, exports the AWS_* variables that reach it, creates BUCKET and sets
# `minio_pid` (the caller stops it).
minio_start() {
    local data=$1 bucket=$2 binary port
    binary=$(scripts/minio install)
    port=$((20000 + RANDOM % 20000))
    export AWS_ACCESS_KEY_ID=mfwbench AWS_SECRET_ACCESS_KEY=mfwbench-secret AWS_REGION=us-east-1
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
        "$binary" server "$data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$((port + 1))" \
        >/dev/null 2>&1 &
    minio_pid=$!
    for _ in $(seq 100); do
        curl -fs "$AWS_ENDPOINT_URL/minio/health/ready" && break
        sleep 0.1
    done
    curl -fs -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        "$AWS_ENDPOINT_URL/$bucket" >/dev/null
}
