"""benches/dedup.sh: reads a local datastore's only DedupFlow run and
prints how many bytes of `change`'s data frame the store wrote anew: the
chunks its manifest lists that `start`'s does not."""

import json
import sys
from pathlib import Path


def value_of(run: Path, step: str) -> str:
    (record,) = (run / "tasks" / step).glob("*.json")
    return json.loads(record.read_text())["artifacts"]["df"]


def chunks(store: Path, value: str) -> dict[str, int]:
    manifest = store / "chunked" / value[:2] / f"{value}.json"
    return {c["hash"]: c["size"] for c in json.loads(manifest.read_text())["chunks"]}


def main() -> None:
    store = Path(sys.argv[1])
    (run,) = (store / "flows" / "DedupFlow" / "runs").iterdir()
    old, new = (chunks(store, value_of(run, step)) for step in ("start", "change"))
    total = sum(new.values())
    fresh = sum(size for hash, size in new.items() if hash not in old)
    print(f"{fresh / 2**20:6.1f} MiB of {total / 2**20:.1f} MiB new ({100 * fresh / total:.1f} %)")


if __name__ == "__main__":
    main()
