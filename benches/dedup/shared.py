"""benches/dedup.sh: reads a datastore's only DedupFlow run and prints how
many bytes of `change`'s data frame the store wrote anew: the chunks its
manifest lists that `start`'s does not, and, on an object store (whose
new chunks are uploaded packed), the bytes of the packs it names that
`start`'s does not. The datastore is a local directory,
or `s3://bucket/prefix` on the S3 endpoint that AWS_ENDPOINT_URL and the
AWS_* credentials name (read with curl, as benches/minio-server.sh does)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote


class Local:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        return [str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()]

    def size(self, key: str) -> int:
        return (self.root / key).stat().st_size


class S3:
    def __init__(self, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket, self.prefix = bucket, f"{prefix}/" if prefix else ""

    def _get(self, path: str) -> bytes:
        user = f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}"
        region = os.environ.get("AWS_REGION", "us-east-1")
        url = f"{os.environ['AWS_ENDPOINT_URL']}/{self.bucket}{path}"
        sign = ["--aws-sigv4", f"aws:amz:{region}:s3", "--user", user]
        return subprocess.run(["curl", "-fsS", *sign, url], check=True, capture_output=True).stdout

    def read(self, key: str) -> bytes:
        return self._get(f"/{self.prefix}{key}")

    def list(self, prefix: str) -> list[str]:
        keys, token = [], ""
        while True:
            # Encoded as the signature's canonical query wants it.
            query = f"?{token}list-type=2&prefix={quote(self.prefix + prefix, safe='')}"
            page = self._get(query).decode()
            keys += [k.removeprefix(self.prefix) for k in re.findall(r"<Key>([^<]*)</Key>", page)]
            more = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", page)
            if not more:
                return keys
            token = f"continuation-token={quote(more.group(1), safe='')}&"

    def size(self, key: str) -> int:
        query = f"?list-type=2&prefix={quote(self.prefix + key, safe='')}"
        return int(re.search(r"<Size>(\d+)</Size>", self._get(query).decode()).group(1))


def value_of(store, run: str, step: str) -> str:
    (record,) = [k for k in store.list(f"{run}/tasks/{step}/") if k.endswith(".json")]
    return json.loads(store.read(record))["artifacts"]["df"]


def manifest(store, value: str) -> list[dict]:
    return json.loads(store.read(f"chunked/{value[:2]}/{value}.json"))["chunks"]


def packs(chunks: list[dict]) -> set[str]:
    return {c["pack"]["hash"] for c in chunks if "pack" in c}


def main() -> None:
    where = sys.argv[1]
    store = S3(where) if where.startswith("s3://") else Local(where)
    runs = {k.split("/runs/")[1].split("/")[0] for k in store.list("flows/DedupFlow/runs/")}
    (run,) = runs
    run = f"flows/DedupFlow/runs/{run}"
    old, new = (manifest(store, value_of(store, run, step)) for step in ("start", "change"))
    kept = {c["hash"] for c in old}
    total = sum(c["size"] for c in new)
    # What stores each chunk: its bytes, or its difference from `start`'s.
    distinct = {c["hash"]: c["delta"]["size"] if "delta" in c else c["size"] for c in new}
    fresh = sum(size for hash, size in distinct.items() if hash not in kept)
    line = f"{fresh / 2**20:6.1f} MiB of {total / 2**20:.1f} MiB new ({100 * fresh / total:.1f} %)"
    uploaded = packs(new) - packs(old)
    if uploaded:
        size = sum(store.size(f"blobs/{p[:2]}/{p}") for p in uploaded)
        line += f"; {len(uploaded)} new packs, {size / 2**20:.1f} MiB ({100 * size / total:.1f} %)"
    print(line)


if __name__ == "__main__":
    main()
