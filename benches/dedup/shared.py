"""benches/dedup.sh: reads a datastore's only DedupFlow run and prints how
many bytes of `change`'s data frame the store wrote anew: the chunks its
manifest lists that `start`'s does not. The datastore is a local directory,
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


def value_of(store, run: str, step: str) -> str:
    (record,) = [k for k in store.list(f"{run}/tasks/{step}/") if k.endswith(".json")]
    return json.loads(store.read(record))["artifacts"]["df"]


def chunks(store, value: str) -> dict[str, int]:
    manifest = json.loads(store.read(f"chunked/{value[:2]}/{value}.json"))
    return {c["hash"]: c["size"] for c in manifest["chunks"]}


def main() -> None:
    where = sys.argv[1]
    store = S3(where) if where.startswith("s3://") else Local(where)
    runs = {k.split("/runs/")[1].split("/")[0] for k in store.list("flows/DedupFlow/runs/")}
    (run,) = runs
    run = f"flows/DedupFlow/runs/{run}"
    old, new = (chunks(store, value_of(store, run, step)) for step in ("start", "change"))
    total = sum(new.values())
    fresh = sum(size for hash, size in new.items() if hash not in old)
    print(f"{fresh / 2**20:6.1f} MiB of {total / 2**20:.1f} MiB new ({100 * fresh / total:.1f} %)")


if __name__ == "__main__":
    main()
