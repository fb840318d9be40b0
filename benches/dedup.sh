#!/usr/bin/env bash
# How much a new version of a large data frame costs the store: a pandas
# data frame of N MiB (10 float columns) set in `start`, then in `change`
# with 1% of its rows changed, in one block, scattered at random, or
# appended; prints the second version's bytes that no chunk of the first
# held. Local store (chunks of about 512 KiB), each case on a new store;
# S3=1 puts the stores on MinIO on loopback (the same chunks, whose new
# ones are uploaded packed; it also prints the new packs' bytes).
#
#   benches/dedup.sh          # 100 MiB
#   benches/dedup.sh 32
#   S3=1 benches/dedup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-100}

. benches/guest-setup.sh dedup
cp benches/dedup/flow.py "$scratch/dedup.py"
memory=$((mib * 6 + 512))

if [ -n "${S3:-}" ]; then
    . benches/minio-server.sh
    minio_start "$scratch/minio" bench
    trap 'kill "$minio_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
fi

printf 'data frame of %s MiB, 1%% of its rows changed, %s (%s)\n' "$mib" \
    "$([ -n "${S3:-}" ] && echo 'MinIO' || echo 'local store')" "$(date -u '+%Y-%m-%d %H:%M UTC')"
for how in block scattered appended; do
    rm -rf "$scratch/.mfw"
    store="$scratch/.mfw"
    [ -z "${S3:-}" ] || store="s3://bench/$how"
    (cd "$scratch" && "$mfw" --datastore "$store" run dedup.py --mib "$mib" --how "$how" --memory "$memory" >/dev/null 2>"$scratch/err") || {
        cat "$scratch/err" >&2
        exit 1
    }
    printf '%-10s ' "$how"
    python3 benches/dedup/shared.py "$store"
done
