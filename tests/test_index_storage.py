"""A run.json the storage fails to read (too many open files, say) is no verdict on the run:
the listing says so, and the next one reads it again rather than keep it broken."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from helpers import write_run

import animlib
from animlib.errors import Code
from animlib.index import versions
from animlib.store import LocalStore
from animlib.store import local as local_store


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(local_store, "RACY_S", 0.0)  # (settled files are read once)


FAILING = """
from animlib.store import LocalStore, local

def failing(self, paths):
    emfile = OSError(24, "Too many open files")
    return {p: local.storage_error(emfile, p, self.url) for p in paths}

LocalStore.read_many = failing
"""


def listed(root, *, failing: bool = False) -> list[str]:
    """``ok`` or the error of each run, as a new process lists them (saving its index)."""
    code = (FAILING if failing else "") + textwrap.dedent(
        """
        import sys, animlib
        for info in animlib.list_runs(sys.argv[1]):
            print("ok" if info.ok else info.error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_a_run_json_the_storage_failed_to_read_is_read_again(tmp_path, monkeypatch):
    """Listed under ``ulimit -n 64``, 612 of 1,165 good runs were kept broken ("Too many open
    files") by the run index, in ls, validate, summary and the runs page, after the limit was
    raised, until the cache folder was deleted."""
    root = tmp_path / "runs"
    for i in range(3):
        write_run(root, f"r{i}", steps=2)
    original, real_time = LocalStore.read_many, versions.time.time

    def failing(self, paths):
        emfile = OSError(24, "Too many open files")
        return {p: local_store.storage_error(emfile, p, self.url) for p in paths}

    monkeypatch.setattr(LocalStore, "read_many", failing)
    infos = animlib.list_runs(root)
    assert [i.code for i in infos] == [Code.STORAGE] * 3
    assert "Too many open files" in infos[0].error
    monkeypatch.setattr(LocalStore, "read_many", original)
    assert [i.ok for i in animlib.list_runs(root)] == [False] * 3  # (read again in 30 s)
    monkeypatch.setattr(versions.time, "time", lambda: real_time() + versions.RETRY_UNREAD_S)
    assert [i.ok for i in animlib.list_runs(root)] == [True] * 3
    # a process that failed to read them saved its index; the next one reads them
    other = tmp_path / "other"
    write_run(other, "a", steps=2)
    assert "Too many open files" in listed(other, failing=True)[0]
    assert listed(other) == ["ok"]


def test_listing_under_a_low_open_file_limit_reads_every_run(tmp_path):
    """``read_many`` opened 128 files at once whatever the limit: under ``ulimit -n 24``, 240
    of 300 runs were broken with "Too many open files"."""
    root = tmp_path / "runs"
    ids = [write_run(root, f"r{i}", steps=1, shape=(2, 2, 3)) for i in range(150)]
    code = textwrap.dedent(
        """
        import resource, sys
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, hard))
        import animlib
        infos = animlib.list_runs(sys.argv[1])
        print(sum(i.ok for i in infos), [i.error for i in infos if not i.ok][:1])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[0] == str(len(ids)), out.stdout


def test_descriptors_running_out_mid_batch_are_freed_and_the_open_tried_again(
    tmp_path, monkeypatch
):
    """When the process runs out of descriptors with files of the batch open, those are read
    and closed, and the file is opened again (no run reported unreadable for it)."""
    from animlib.store import fileread

    for i in range(10):
        (tmp_path / f"f{i}").write_bytes(b"x%d" % i)
    real_open, held = fileread.os.open, []

    def scarce(path, flags, *args):
        if len(held) >= 3:
            raise OSError(24, "Too many open files")
        fd = real_open(path, flags, *args)
        held.append(fd)
        return fd

    real_close = fileread.os.close

    def close(fd):
        held.remove(fd)
        real_close(fd)

    monkeypatch.setattr(fileread.os, "open", scarce)
    monkeypatch.setattr(fileread.os, "close", close)
    got = fileread.read_ahead([f"f{i}" for i in range(10)], lambda p: str(tmp_path / p), None)
    assert got == {f"f{i}": b"x%d" % i for i in range(10)}
    assert held == []


def test_a_run_json_that_stays_unreadable_is_read_again_rarely_and_quietly(tmp_path, monkeypatch):
    """A run.json the user may not read (or an archived object on S3) was read again by every
    refresh, each time changing the index's signature: the runs page reran every 2 s."""
    from animlib.index import open_index
    from animlib.index.runindex import lock as index_lock

    root = tmp_path / "runs"
    ids = [write_run(root, f"r{i}", steps=2) for i in range(3)]
    original, real_time, tried = LocalStore.read_many, versions.time.time, []

    def denied(self, paths):
        paths = list(paths)
        tried.extend(p for p in paths if p.endswith("run.json"))
        got = original(self, [p for p in paths if not p.startswith(ids[0])])
        eacces = PermissionError(13, "Permission denied")
        return got | {p: local_store.storage_error(eacces, p, self.url) for p in paths
                      if p.startswith(ids[0])}  # fmt: skip

    monkeypatch.setattr(LocalStore, "read_many", denied)
    index = open_index(root)
    assert [i.ok for i in animlib.list_runs(root)].count(False) == 1
    assert ids[0] in index._hot  # (polled: it is read again when its run.json changes)
    # its listed version is kept, so an unchanged listing is still compared in one go (a kept
    # "unread" version made every refresh of 100,000 runs go through them one by one: 50 ms)
    assert not index.version(ids[0]).startswith(versions.UNREAD)
    looked = []
    real_gone = index_lock.writers_gone
    monkeypatch.setattr(
        index_lock,
        "writers_gone",
        lambda store, ids_: looked.append(set(ids_)) or real_gone(store, ids_),
    )
    index.refresh()
    assert looked and all(ids[0] not in ids_ for ids_ in looked)  # (no lock GET per poll)
    signature, tried[:] = index.signature, []
    for _ in range(3):
        animlib.list_runs(root)
        index.refresh_changes()
    assert tried == [] and index.signature == signature
    monkeypatch.setattr(versions.time, "time", lambda: real_time() + versions.RETRY_UNREAD_S)
    index.refresh()
    assert tried == [f"{ids[0]}/run.json"]  # read again, failing as before: no news
    assert index.signature == signature
    assert ids[0] in versions.hot_ids(index.table)


def test_a_query_of_an_empty_folder_never_asks_pyarrow_for_positions(tmp_path, monkeypatch):
    """pyarrow before 26.0.1 crashes the process (SIGSEGV) in indices_nonzero on a chunked array
    of no chunks, which an empty folder's index columns are: the dashboard's server died when
    the viewer was opened without a run on an empty results folder."""
    import pyarrow.compute as pc

    from animlib.index import Query, open_index
    from animlib.index import query as index_query

    real = pc.indices_nonzero

    def crashing(mask, *args, **kwargs):
        assert len(mask) > 0, "pyarrow < 26.0.1 crashes here"
        return real(mask, *args, **kwargs)

    monkeypatch.setattr(index_query.pc, "indices_nonzero", crashing)
    (tmp_path / "empty").mkdir()
    index = open_index(tmp_path / "empty")
    index.refresh()
    assert index.query(Query(limit=10)).rows.num_rows == 0
    assert index.query(Query(text="pgd", limit=10)).rows.num_rows == 0
