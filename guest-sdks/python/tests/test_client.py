"""The client reads runs from the datastore layout (docs/datastore.md)."""

import importlib.util
import json
import sys
import zlib

import pytest
from blake3 import blake3

from mfw import Flow, Metaflow, MfwError, Run, _encoding, set_datastore


def blob(store, value):
    data = _encoding.encode(value)
    name = blake3(data).hexdigest()
    path = store / "blobs" / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return name


@pytest.fixture
def store(tmp_path):
    root = tmp_path / ".mfw"

    def run(run_id, status, x):
        base = root / "flows" / "HelloFlow" / "runs" / run_id
        (base / "tasks" / "end").mkdir(parents=True)
        (base / "tasks" / "start").mkdir(parents=True)
        record = {
            "format": 1,
            "flow": "HelloFlow",
            "run_id": run_id,
            "status": status,
            "started_at": 1_700_000_000_000,
            "finished_at": 1_700_000_001_000,
            "parameters": {"n": blob(root, 5)},
            "graph": {"name": "HelloFlow", "steps": [{"name": "start"}, {"name": "end"}]},
        }
        (base / "run.json").write_text(json.dumps(record))
        for step, value in (("start", 1), ("end", x)):
            log = blob(root, "unused")
            task = {
                "flow": "HelloFlow",
                "run_id": run_id,
                "step": step,
                "task_id": "0",
                "status": "succeeded",
                "artifacts": {"x": blob(root, value)},
                "attempts": [{"attempt": 0, "stdout": log}],
            }
            (base / "tasks" / step / "0.json").write_text(json.dumps(task))

    run("9", "succeeded", 2)
    run("10", "failed", 3)
    set_datastore(str(root))
    yield root
    set_datastore(None)


def test_latest_run_and_its_data(store):
    flow = Flow("HelloFlow")
    assert [r.id for r in flow.runs()] == ["10", "9"], "newest first, numerically"
    assert flow.latest_run.id == "10"
    assert not flow.latest_run.successful and flow.latest_run.finished
    assert flow.latest_successful_run.id == "9"
    assert flow.latest_successful_run["end"].task.data.x == 2
    assert flow["9"].data.x == 2
    assert [s.id for s in flow["9"].steps()] == ["start", "end"]
    assert flow["9"].parameters == {"n": 5}


def test_metaflow_lists_the_flows_that_have_runs(store):
    (store / "flows" / "EmptyFlow" / "runs").mkdir(parents=True)
    assert [f.id for f in Metaflow().flows] == ["HelloFlow"]
    assert [f.id for f in Metaflow()] == ["HelloFlow"]
    assert Metaflow()["HelloFlow"].latest_run.id == "10"
    assert repr(Metaflow()) == "Metaflow()"


def test_the_rounds_of_a_recursive_step_are_in_order(store):
    step = store / "flows" / "HelloFlow" / "runs" / "9" / "tasks" / "start"
    task = json.loads((step / "0.json").read_text())
    for round_id in ("0_10", "0_2", "0_1"):
        (step / f"{round_id}.json").write_text(json.dumps(dict(task, task_id=round_id)))
    assert [t.id for t in Run("HelloFlow/9")["start"]] == ["0", "0_1", "0_2", "0_10"]


def test_tasks_a_run_took_from_the_cache_are_read_from_their_step_pack(store):
    step = store / "flows" / "HelloFlow" / "runs" / "9" / "tasks" / "start"
    task = json.loads((step / "0.json").read_text())
    (step / "0.json").unlink()
    twin = dict(task, task_id="1", artifacts={"x": blob(store, 11)})
    for t in (task, twin):
        t.update(cached=True, cloned_from="3")
    pack = {"format": "mfw task pack v1", "tasks": [task, twin]}
    (step / "2-0123456789abcdef.pack").write_text(json.dumps(pack))
    start = Run("HelloFlow/9")["start"]
    assert [t.id for t in start] == ["0", "1"]
    assert start["1"].data.x == 11 and start["0"].data.x == 1
    assert start["0"].cached
    # A pack never changes once written; a newer mfw writes its own.
    (step / "2-0123456789abcdef.pack").unlink()
    pack["format"] = "mfw task pack v9"
    (step / "2-fedcba9876543210.pack").write_text(json.dumps(pack))
    with pytest.raises(MfwError, match="has format 'mfw task pack v9'.*upgrade mfw"):
        _ = Run("HelloFlow/9")["start"]["1"].data.x


def test_a_corrupt_blob_is_named_never_read_as_a_value(store):
    sha = blob(store, 1)
    (store / "blobs" / sha[:2] / sha).write_bytes(_encoding.encode(7))
    with pytest.raises(MfwError, match=f"blob {sha} .* is corrupt: its content hashes to"):
        _ = Run("HelloFlow/9")["start"].task.data.x


def test_artifacts_and_missing_things_are_clear(store):
    task = Run("HelloFlow/9")["start"].task
    assert "x" in task and task["x"].data == 1
    with pytest.raises(AttributeError, match="has no artifact 'y'"):
        _ = task.data.y
    with pytest.raises(KeyError):
        Run("HelloFlow/9")["train"]
    with pytest.raises(MfwError, match="flow 'NoFlow' has no runs"):
        Flow("NoFlow")


def chunked(store, value, pieces):
    """Stores `value` as a chunked value of `pieces` chunks, as the host does
    for a large one: each chunk a blob, and a manifest listing them."""
    data = _encoding.encode(value)
    name = blake3(data).hexdigest()
    step = -(-len(data) // pieces)
    listed = []
    for at in range(0, len(data), step):
        chunk = data[at : at + step]
        sha = blake3(chunk).hexdigest()
        path = store / "blobs" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chunk)
        listed.append({"hash": sha, "size": len(chunk)})
    manifest = store / "chunked" / name[:2] / f"{name}.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps({"format": "mfw chunked value v1", "size": len(data), "chunks": listed})
    )
    return name


def packed(store, value, pieces, per_pack):
    """Stores `value` as an object store does a large one: `pieces` chunks,
    `per_pack` of them concatenated to a pack (a blob), and a v2 manifest
    saying where each chunk is."""
    data = _encoding.encode(value)
    name = blake3(data).hexdigest()
    step = -(-len(data) // pieces)
    cut = [data[at : at + step] for at in range(0, len(data), step)]
    listed = []
    for first in range(0, len(cut), per_pack):
        members = cut[first : first + per_pack]
        pack = b"".join(members)
        sha = blake3(pack).hexdigest()
        path = store / "blobs" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pack)
        offset = 0
        for chunk in members:
            place = {"hash": sha, "offset": offset}
            listed.append({"hash": blake3(chunk).hexdigest(), "size": len(chunk), "pack": place})
            offset += len(chunk)
    manifest = store / "chunked" / name[:2] / f"{name}.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps({"format": "mfw chunked value v2", "size": len(data), "chunks": listed})
    )
    return name


def with_artifacts(store, **shas):
    """Adds artifacts (by hash) to run 9's start task."""
    path = store / "flows" / "HelloFlow" / "runs" / "9" / "tasks" / "start" / "0.json"
    task = json.loads(path.read_text())
    task["artifacts"].update(shas)
    path.write_text(json.dumps(task))
    return Run("HelloFlow/9")["start"].task


def test_a_large_bytes_value_opens_as_a_file_read_a_chunk_at_a_time(store):
    value = bytes(range(256)) * 1200
    task = with_artifacts(
        store,
        big=chunked(store, value, 3),
        buf=chunked(store, bytearray(value[:1000]), 2),
        small=blob(store, b"abc"),
        n=chunked(store, list(range(1000)), 2),
    )
    assert task.data.big == value and task.data.n == list(range(1000))
    with task["big"].open() as f:
        assert f.read(10) == value[:10]
        assert f.read() == value[10:]
    with task["buf"].open() as f:
        assert f.read() == value[:1000]
    assert task["small"].open().read() == b"abc"
    with pytest.raises(MfwError, match="is a list, not bytes: .* read it with .data"):
        task["n"].open()


def test_a_damaged_chunk_is_named_when_a_file_reaches_it(store):
    value = bytes(range(256)) * 1200
    sha = chunked(store, value, 3)
    task = with_artifacts(store, big=sha)
    manifest = json.loads((store / "chunked" / sha[:2] / f"{sha}.json").read_text())
    last = manifest["chunks"][2]["hash"]
    path = store / "blobs" / last[:2] / last
    path.write_bytes(b"x" + path.read_bytes()[1:])
    with task["big"].open() as f:
        assert f.read(1000) == value[:1000]
        with pytest.raises(MfwError, match=f"its chunk 2 of 3 \\({last}\\) is damaged"):
            f.read()
    with pytest.raises(MfwError, match="its chunk 2 of 3"):
        _ = task.data.big


def test_a_value_whose_chunks_are_packed_reads_whole_and_names_a_damaged_chunk(store):
    value = bytes(range(256)) * 1200
    sha = packed(store, value, 5, 2)
    task = with_artifacts(store, big=sha)
    assert task.data.big == value
    with task["big"].open() as f:
        assert f.read(7) == value[:7]
        assert f.read() == value[7:]
    manifest = json.loads((store / "chunked" / sha[:2] / f"{sha}.json").read_text())
    third = manifest["chunks"][3]
    pack = third["pack"]["hash"]
    path = store / "blobs" / pack[:2] / pack
    damaged = bytearray(path.read_bytes())
    damaged[third["pack"]["offset"]] ^= 1
    path.write_bytes(bytes(damaged))
    with pytest.raises(MfwError, match=f"its chunk 3 of 5 \\({third['hash']}\\) is damaged"):
        _ = task.data.big
    path.unlink()
    with pytest.raises(MfwError, match="its chunk 2 of 5 .* is missing"):
        _ = task.data.big


def delta_of(store, value, earlier, pieces, in_pack):
    """Stores `value` as mfw stores a new version of `earlier` (a chunked
    value's hash, `pieces` chunks of the same sizes): each chunk as its
    difference from `earlier`'s bytes at the same place, deflated, in a
    blob or (`in_pack`) one pack; and a v3 manifest."""
    data = _encoding.encode(value)
    name = blake3(data).hexdigest()
    old = b"".join(
        (store / "blobs" / c["hash"][:2] / c["hash"]).read_bytes()
        for c in json.loads((store / "chunked" / earlier[:2] / f"{earlier}.json").read_text())[
            "chunks"
        ]
    )
    step = -(-len(data) // pieces)
    listed, pack = [], b""
    for at in range(0, len(data), step):
        chunk = data[at : at + step]
        base = old[at : at + len(chunk)].ljust(len(chunk), b"\0")
        diff = (int.from_bytes(chunk, "little") ^ int.from_bytes(base, "little")).to_bytes(
            len(chunk), "little"
        )
        stored = zlib.compress(diff, 1)
        sha = blake3(stored).hexdigest()
        delta = {"base": earlier, "offset": at, "hash": sha, "size": len(stored), "depth": 1}
        entry = {"hash": blake3(chunk).hexdigest(), "size": len(chunk), "delta": delta}
        if in_pack:
            entry["pack"] = {"offset": len(pack)}
            pack += stored
        else:
            path = store / "blobs" / sha[:2] / sha
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(stored)
        listed.append(entry)
    if in_pack:
        sha = blake3(pack).hexdigest()
        path = store / "blobs" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pack)
        for entry in listed:
            entry["pack"]["hash"] = sha
    manifest = store / "chunked" / name[:2] / f"{name}.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps({"format": "mfw chunked value v3", "size": len(data), "chunks": listed})
    )
    return name


@pytest.mark.parametrize("in_pack", [False, True])
def test_a_value_stored_as_its_difference_from_an_earlier_one_reads_whole(store, in_pack):
    value = bytes(range(256)) * 1200
    changed = bytearray(value)
    for at in range(0, len(changed), 997):
        changed[at] ^= 0x5A
    earlier = chunked(store, value, 3)
    sha = delta_of(store, bytes(changed), earlier, 3, in_pack)
    task = with_artifacts(store, big=sha, old=earlier)
    assert task.data.big == bytes(changed)
    with task["big"].open() as f:
        assert f.read(5) == bytes(changed[:5])
        assert f.read() == bytes(changed[5:])
    # A damaged chunk of the earlier value is named through the newer one.
    first = json.loads((store / "chunked" / earlier[:2] / f"{earlier}.json").read_text())
    old_chunk = first["chunks"][1]["hash"]
    path = store / "blobs" / old_chunk[:2] / old_chunk
    path.write_bytes(b"x" + path.read_bytes()[1:])
    with pytest.raises(MfwError, match=f"its chunk 1 of 3 .* based on value {earlier}"):
        _ = task.data.big


def test_a_damaged_difference_is_named_and_a_loop_of_differences_is_refused(store):
    value = bytes(range(256)) * 1200
    earlier = chunked(store, value, 3)
    sha = delta_of(store, value[::-1], earlier, 3, False)
    task = with_artifacts(store, big=sha)
    manifest_path = store / "chunked" / sha[:2] / f"{sha}.json"
    manifest = json.loads(manifest_path.read_text())
    stored = manifest["chunks"][2]["delta"]["hash"]
    path = store / "blobs" / stored[:2] / stored
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(MfwError, match="its chunk 2 of 3 .* damaged .*difference"):
        _ = task.data.big
    path.write_bytes(good)
    # A manifest that makes the value its own earlier value never ends
    # reading; it is refused.
    manifest["chunks"][0]["delta"]["base"] = sha
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(MfwError, match="its chunk 0 of 3 .* more than 4 differences"):
        _ = task.data.big


def test_a_notebook_reads_the_datastore_mfw_run_writes_to(store, tmp_path, monkeypatch):
    # Where `mfw run` writes when the config file names the datastore:
    # the client reads there too, after MFW_DATASTORE and set_datastore.
    set_datastore(None)
    monkeypatch.delenv("MFW_DATASTORE", raising=False)
    monkeypatch.delenv("MFW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # Not the store's own directory, whose .mfw would be the default.
    monkeypatch.chdir(tmp_path.parent)
    (tmp_path / "config" / "mfw").mkdir(parents=True)
    (tmp_path / "config" / "mfw" / "config.toml").write_text(f'datastore = "{store}"\n')
    assert Flow("HelloFlow").latest_successful_run.id == "9"
    monkeypatch.setenv("MFW_DATASTORE", str(tmp_path / "elsewhere"))
    with pytest.raises(MfwError, match="has no runs"):
        Flow("HelloFlow").latest_run  # noqa: B018
    monkeypatch.delenv("MFW_DATASTORE")
    (tmp_path / "config" / "mfw" / "config.toml").write_text("datastore = [")
    with pytest.raises(MfwError, match="is not a readable mfw config"):
        Flow("HelloFlow").latest_run  # noqa: B018


def test_a_flow_class_from_a_flow_importing_metaflow_reads_without_metaflow(
    store, tmp_path, monkeypatch
):
    if importlib.util.find_spec("metaflow") is not None:
        pytest.skip("this Python has Metaflow, which the flow's code would import")
    from mfw._alias import metaflow_as_mfw

    code = tmp_path / "code"
    code.mkdir()
    (code / "pointflow.py").write_text(
        "from metaflow import FlowSpec, step\n\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
    )
    monkeypatch.syspath_prepend(str(code))
    with metaflow_as_mfw():
        import pointflow

        sha = blob(store, pointflow.Point(3))
    del sys.modules["pointflow"]
    assert "metaflow" not in sys.modules
    task = with_artifacts(store, point=sha)
    # The flow's `from metaflow import` gets mfw's objects while its code
    # is imported; the notebook's own `metaflow` stays as it was.
    assert task.data.point.x == 3
    assert "metaflow" not in sys.modules
    del sys.modules["pointflow"]


def test_default_metadata_forgets_the_datastore_metadata_chose(tmp_path, monkeypatch):
    from mfw import default_metadata, get_metadata, metadata

    monkeypatch.setenv("MFW_DATASTORE", str(tmp_path / "team"))
    assert metadata(f"local@{tmp_path / 'mine'}") == f"local@{tmp_path / 'mine'}"
    assert default_metadata() == f"local@{tmp_path / 'team'}"
    assert get_metadata() == f"local@{tmp_path / 'team'}"
