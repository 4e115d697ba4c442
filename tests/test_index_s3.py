"""The run index over S3 (moto on loopback): one listing per refresh, reads only what changed."""

from __future__ import annotations

import functools
import json

import pytest
from helpers import s3_fixture, write_run

import animlib
from animlib.errors import Code
from animlib.index import Query, open_index
from animlib.store import open_store

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "index-lab"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))


def s3_requests(monkeypatch) -> list[tuple[str, str]]:
    """(operation, key) of every request s3fs sends from now on."""
    import s3fs

    sent: list[tuple[str, str]] = []
    original = s3fs.S3FileSystem._call_s3

    @functools.wraps(original)
    async def spy(self, method, *a, **kw):
        sent.append((method, kw.get("Key") or kw.get("Prefix") or ""))
        return await original(self, method, *a, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", spy)
    return sent


def gets(sent: list[tuple[str, str]]) -> list[str]:
    return sorted(key.rsplit("/", 2)[-2] for method, key in sent if method == "get_object")


def test_s3_run_added_changed_broken_removed(s3, monkeypatch):
    remote = f"s3://{BUCKET}/lab"
    for name in ("a", "b", "c"):
        write_run(remote, name, steps=3)
    store = open_store(remote)
    before = sorted(store.find(""))
    sent = s3_requests(monkeypatch)
    assert {i.id for i in animlib.list_runs(remote)} == {"a", "b", "c"}
    assert gets(sent) == ["a", "b", "c", "lab"]  # (lab/run.json: once, is it a run folder?)
    assert [m for m, _ in sent].count("list_objects_v2") == 1
    sent.clear()
    animlib.list_runs(remote)
    assert sent == [("list_objects_v2", "lab/")]  # unchanged: one listing, nothing read

    write_run(remote, "d", steps=2)  # added
    meta = json.loads(store.read("b/run.json"))
    store.write_atomic("b/run.json", json.dumps(dict(meta, tags=["new"])).encode())  # changed
    store.write_atomic("c/run.json", b'{"format_version": 1, "name": ')  # broken
    sent.clear()
    infos = {i.id: i for i in animlib.list_runs(remote)}
    assert gets(sent) == ["b", "c", "d"]
    assert infos["d"].ok and infos["b"].get("tags") == ["new"]
    assert infos["c"].code == Code.CORRUPT and "not valid JSON" in infos["c"].error
    assert infos["c"].field == "run.json"

    sent.clear()
    animlib.list_runs(remote)
    assert gets(sent) == []  # the broken run is not read again while unchanged
    store.write_atomic("c/run.json", json.dumps(meta).encode())  # repaired
    store.remove("a", recursive=True)  # removed
    sent.clear()
    infos = {i.id: i for i in animlib.list_runs(remote)}
    assert gets(sent) == ["c"] and set(infos) == {"b", "c", "d"} and infos["c"].ok
    assert open_index(remote).last.removed == 1
    # the index lives in the local cache folder; the bucket holds only what the writers wrote
    assert not [k for k in store.find("") if k not in before and not k.startswith("d/")]


def test_s3_queries_and_a_run_without_run_json(s3):
    remote = f"s3://{BUCKET}/q"
    write_run(remote, "pgd-1", steps=3)
    write_run(remote, "fgsm-1", steps=3, attack="FGSM")
    store = open_store(remote)
    store.write_atomic("half/images/zarr.json", b"{}")  # arrays without run.json
    index = open_index(remote)
    index.refresh()
    assert index.query(Query(attacks=("FGSM",))).rows["id"].to_pylist() == ["fgsm-1"]
    assert index.query(Query(text="pgd")).rows["id"].to_pylist() == ["pgd-1"]
    (half,) = [i for i in index.infos() if i.id == "half"]
    assert half.code == Code.MISSING and "half-copied" in half.error


def test_s3_listing_rolls_chunk_keys_up(s3, monkeypatch):
    remote = f"s3://{BUCKET}/long"
    write_run(remote, "long", steps=40)
    store = open_store(remote)
    listed = store._below()  # what one refresh lists: no chunk key, whatever the run length
    names = [info["name"].split("/long/", 1)[1] for info in listed]
    assert "long/run.json" in names
    assert not [n for n in names if "/c/" in n and not n.endswith("/c")], names
    assert not [n for n in names if "/c." in n], names  # chunk keys on S3 nest: c/0/0/0/0
    assert len(names) <= 10


def test_s3_key_ranges_listed_in_parallel_give_the_same_listing(s3, monkeypatch):
    from animlib.store import s3listing

    remote = f"s3://{BUCKET}/ranges"
    store = open_store(remote)
    names = [f"r{i:03d}" for i in range(70)] + ["r010a", "r0", "zz"]
    for name in names:
        store.write_atomic(f"{name}/run.json", b"{}")
        store.write_atomic(f"{name}/images/c/0/0/0", b"")
        store.write_atomic(f"{name}/images/c/1/0/0", b"")
    store.write_atomic("plain-file", b"")
    monkeypatch.setattr(s3listing, "RANGES", 4)
    monkeypatch.setattr(s3listing, "ENTRIES_PER_FOLDER", 1000)  # as if each run filled a page
    sent = s3_requests(monkeypatch)
    whole = store.scan_folders("run.json")
    assert [m for m, _ in sent] == ["list_objects_v2"] and sorted(whole) == sorted(names)
    sent.clear()
    ranged = store.scan_folders("run.json", hints=names[::2])
    assert [m for m, _ in sent] == ["list_objects_v2"] * 4
    assert ranged == whole
    # listings of every range, end to end, hold each entry once
    entries = [i["name"] for i in s3listing.list_below(store.fs, store.root, names)]
    assert len(entries) == len(set(entries)) == 2 * len(names) + 1


def test_s3_run_of_a_killed_writer_of_this_host_lists_stale_at_once(s3, monkeypatch, capsys):
    """``ls`` and the runs page showed a killed writer's run on S3 ``running`` (locks were
    looked at in local folders only) while its viewer said ``stale``. The locks of the
    running runs are read in one batch of GETs on each refresh."""
    import subprocess
    import sys

    import numpy as np

    from animlib.cli import main

    remote = f"s3://{BUCKET}/killed"
    write_run(remote, "done", steps=2)
    w = animlib.RunWriter(remote, name="live", class_names=["a", "b"])
    w.log(image=np.zeros((4, 4), np.uint8), confidences=[0.5, 0.5])
    assert {i.id: i.get("status") for i in animlib.list_runs(remote)}["live"] == "running"
    store = open_store(f"{remote}/live")
    held = store.read(".writer.lock")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.write_atomic(".writer.lock", json.dumps({**json.loads(held), "pid": gone.pid}).encode())
    sent = s3_requests(monkeypatch)
    assert main(["ls", remote]) == 0
    head, *lines = capsys.readouterr().out.splitlines()
    at = head.split().index("status")  # (a model column when the runs' models differ)
    rows = [line.split() for line in lines[:2]]
    assert {row[0]: row[at] for row in rows} == {"done": "finished", "live": "stale"}
    assert open_index(remote).writers_gone == {"live"}
    assert [k for m, k in sent if m == "get_object" and k.endswith(".writer.lock")] == [
        "killed/live/.writer.lock"
    ]  # the running run's lock only
    store.write_atomic(".writer.lock", held)
    w.finish()
