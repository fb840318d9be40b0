"""Metaflow's helpers for a step's code: the maps and `profile`."""

import os

import pytest

from mfw import parallel_imap_unordered, parallel_map, profile


def test_parallel_map_keeps_the_items_order_and_takes_closures():
    offset = 10
    assert parallel_map(lambda x: x * x + offset, range(20), max_parallel=3) == [
        x * x + offset for x in range(20)
    ]
    assert sorted(parallel_imap_unordered(lambda x: -x, [3, 1, 2])) == [-3, -2, -1]
    assert parallel_map(str, []) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this Python cannot fork")
def test_parallel_map_runs_the_items_in_other_processes_and_raises_their_failures():
    pids = set(parallel_map(lambda _: os.getpid(), range(8), max_parallel=2))
    assert os.getpid() not in pids

    def fail(x):
        if x == 3:
            raise ValueError("item 3 is bad")
        return x

    with pytest.raises(ValueError, match="item 3 is bad"):
        parallel_map(fail, range(5), max_parallel=2)


def test_parallel_map_runs_in_order_in_this_process_where_it_cannot_fork(monkeypatch):
    monkeypatch.setattr("mfw._utils._can_fork", lambda: False)
    seen = []
    assert parallel_map(lambda x: seen.append(x) or os.getpid(), range(4)) == [os.getpid()] * 4
    assert seen == [0, 1, 2, 3]


def test_profile_prints_or_adds_up_milliseconds(capsys):
    with profile("load"):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PROFILE: load starting"
    assert out[1].startswith("PROFILE: load completed in ") and out[1].endswith("ms")
    stats = {"load": 5}
    with profile("load", stats):
        pass
    assert stats["load"] >= 5 and capsys.readouterr().out == ""
