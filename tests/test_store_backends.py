"""The Store interface: backends by URL scheme, path safety, the umask, links, and the rule that
no module outside animlib/store touches fsspec."""

from __future__ import annotations

import ast
import collections
import errno
import os
import stat
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers import chunk_file, image_for, write_run

import animlib
from animlib.errors import Code, RunFormatError, StoreError
from animlib.store import LocalStore, Store, open_store, scheme_of
from animlib.store.paths import (
    check_run_id,
    is_run_id,
    run_id_for,
    validate_path_is_safe,
)

ANIMLIB = Path(animlib.__file__).resolve().parent


# -- the scheme registry -------------------------------------------------------------------------
def test_backend_is_picked_by_scheme(tmp_path):
    assert isinstance(open_store(tmp_path), LocalStore)
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    local = open_store(f"file://{tmp_path}")
    assert isinstance(local, LocalStore) and local.url == str(tmp_path)
    remote = open_store(f"memory://animlib-{uuid.uuid4().hex}")
    assert type(remote).__name__ == "RemoteStore" and isinstance(remote, Store)
    assert open_store(remote) is remote  # a store passes through
    assert scheme_of("s3://b/x") == "s3" and scheme_of("/tmp/x") is None
    assert scheme_of("simplecache::s3://b/x") == "simplecache"


@pytest.mark.parametrize("url", ["nosuchscheme://bucket/runs", "evil::file:", "zz+ab://x"])
def test_an_unknown_scheme_is_a_clear_error(url, tmp_path):
    scheme = scheme_of(url)
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert info.value.code == Code.UNSUPPORTED and info.value.field == "url"
    assert f"unknown storage scheme {scheme!r}" in str(info.value)
    for call in (
        lambda: animlib.list_runs(url),
        lambda: animlib.open_run(url),
        lambda: animlib.validate(url),
        lambda: animlib.RunWriter(url, name="x"),
    ):
        with pytest.raises(StoreError, match="unknown storage scheme") as info:
            call()
        assert info.value.code == Code.UNSUPPORTED
    assert list(tmp_path.iterdir()) == []


def test_memory_backend_round_trip():
    root = f"memory://animlib-{uuid.uuid4().hex}/runs"
    run_id = write_run(root, "mem", steps=5)
    infos = animlib.list_runs(root)
    assert [i.id for i in infos] == [run_id] and infos[0].url == f"{root}/{run_id}"
    run = animlib.open_run_in(root, run_id)
    np.testing.assert_array_equal(run.images[4], image_for(4))
    assert [r.line().split()[0] for r in animlib.validate(root)] == ["OK"]
    entries = {e.name: e for e in open_store(root).child(run_id).list(detail=True)}
    assert entries["run.json"].size == len(open_store(root).child(run_id).read("run.json"))
    assert entries["images"].is_dir


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_a_read_with_a_limit_gives_at_most_that_many_bytes(tmp_path, scheme):
    root = str(tmp_path) if scheme == "file" else f"memory://animlib-{uuid.uuid4().hex}"
    store = open_store(root)
    data = bytes(range(256)) * 40
    store.write_atomic("f.bin", data)
    for limit in (None, 1, 10_239, 10_240, 10_241, 1 << 30):
        want = data if limit is None else data[:limit]
        assert store.read("f.bin", limit=limit) == want, limit
    store.write_atomic("empty", b"")
    assert store.read("empty", limit=5) == b"" and store.read("empty") == b""


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_folder_names_are_the_folders_of_list(tmp_path, scheme):
    root = str(tmp_path / "r") if scheme == "file" else f"memory://animlib-{uuid.uuid4().hex}"
    store = open_store(root)
    store.makedirs()
    for folder in ("a", "b", "b/y", ".hidden"):
        store.make_folder(folder)
    for name in ("a/x", "b/y/z", ".hidden/x", "file.txt"):
        store.write_atomic(name, b"1")
    if scheme == "file":
        os.symlink(tmp_path / "r" / "a", tmp_path / "r" / "link-to-a")
    want = sorted(e.name for e in store.list() if e.is_dir and e.name != "link-to-a")
    assert sorted(store.folder_names()) == want  # (a link to a folder of it: an alias)
    assert {"a", "b", ".hidden"} <= set(want) and "file.txt" not in want
    assert sorted(store.folder_names("b")) == ["y"]
    with pytest.raises(StoreError):
        store.folder_names("missing")


# -- path safety ---------------------------------------------------------------------------------
GOOD_IDS = ["pgd-eps8-img3", "a", "run_1.2", "-x", "A.B_c-9", "x" * 255]
BAD_IDS = [
    "", ".", "..", ".hidden", "a..b", "a/b", "a\\b", "../a", "/etc", "a\x00b", "a\nb",
    "evil::file:", "good:x", "s3://b/x", "caf\u00e9", "a b", "x" * 256, None, 3,
]  # fmt: skip


@pytest.mark.parametrize("run_id", GOOD_IDS)
def test_plain_names_are_run_ids(run_id):
    assert is_run_id(run_id) and check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_anything_else_is_refused_as_unsafe(run_id, tmp_path):
    assert not is_run_id(run_id)
    with pytest.raises(RunFormatError, match="not a valid run id") as info:
        animlib.open_run_in(tmp_path, run_id)
    assert info.value.code == Code.UNSAFE and info.value.field == "id"
    if isinstance(run_id, str):
        with pytest.raises(StoreError) as info:
            open_store(tmp_path).child(run_id)
        assert info.value.code == Code.UNSAFE


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "evil::file:", "...", "caf\u00e9 \u2028", "a" * 300, "/x/..", ""]
)
def test_ids_made_from_names_are_run_ids(name):
    assert is_run_id(run_id_for(name))


@pytest.mark.parametrize("path", ["", "run.json", "images/c/0/0/0/0", "a.b/c_d-e"])
def test_relative_paths_inside_a_store(path):
    assert validate_path_is_safe(path) == path


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a/", "a\\b", "a\x00", "C:x",
             "s3://b/k", "x::file:", "a\nb"],
)  # fmt: skip
def test_unsafe_relative_paths_are_refused_by_every_operation(path, tmp_path):
    with pytest.raises(StoreError) as info:
        validate_path_is_safe(path)
    assert info.value.code == Code.UNSAFE
    store = open_store(tmp_path)
    for call in (
        lambda: store.read(path),
        lambda: store.write_atomic(path, b"x"),
        lambda: store.contains(path),
        lambda: store.list(path),
        lambda: store.remove(path),
    ):
        with pytest.raises(StoreError) as info:
            call()
        assert info.value.code == Code.UNSAFE
    assert list(tmp_path.iterdir()) == []


def test_links_inside_the_confined_folder_are_fine_outside_refused(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "outside"
    write_run(root, "a", steps=3)
    write_run(outside, "b", steps=3)
    (root / "c").mkdir()
    os.symlink(root / "a" / "run.json", root / "c" / "inside.json")
    os.symlink(outside / "b" / "run.json", root / "c" / "outside.json")
    store = open_store(root).child("c")
    assert store.read("inside.json") == (root / "a" / "run.json").read_bytes()
    with pytest.raises(StoreError) as info:
        store.read("outside.json")
    assert info.value.code == Code.UNSAFE and info.value.field == "outside.json"
    with pytest.raises(StoreError) as info:
        store.check_links(recursive=True)
    assert info.value.field == "outside.json"
    alone = open_store(root / "c")  # confined to itself: the link into a sibling leads outside
    with pytest.raises(StoreError):
        alone.read("inside.json")


def test_a_run_opened_by_path_is_confined_to_its_folder(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", steps=3)
    write_run(root, "b", steps=3)
    import shutil

    shutil.rmtree(root / "b" / "images")
    os.symlink(root / "a" / "images", root / "b" / "images")  # shares a sibling's images
    assert len(animlib.open_run_in(root, "b")) == 3  # inside the results folder: fine
    with pytest.raises(RunFormatError, match="images is a symlink that points outside the run"):
        animlib.open_run(root / "b")
    report = animlib.validate(root / "b")[0]
    assert not report.ok and report.code == Code.UNSAFE and report.field == "path"
    assert [r.ok for r in animlib.validate(root)] == [True, True]


# -- writes honour the umask ---------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_permissions_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        run_id = write_run(tmp_path, "perm", steps=2)
        store = open_store(tmp_path).child(run_id)
        store.write_atomic("extra.json", b"{}")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for name in ("run.json", "extra.json", "images/zarr.json"):
        mode = stat.S_IMODE(os.stat(tmp_path / run_id / name).st_mode)
        assert mode == expected, (name, oct(mode), oct(expected))
    assert not [p for p in (tmp_path / run_id).iterdir() if p.name.startswith(".tmp-")]


# -- whole files or none ------------------------------------------------------------------------
def test_replace_via_temp_writes_whole_files_and_leaves_no_temporary_file(tmp_path):
    from animlib.store.base import replace_via_temp

    target = tmp_path / "out.bin"
    names = []

    def fill(tmp):
        names.append(os.path.basename(tmp))
        Path(tmp).write_bytes(b"new")

    replace_via_temp(str(target), fill, "out.bin", "URL")
    replace_via_temp(str(target), fill, "out.bin", "URL", named=True)
    assert target.read_bytes() == b"new"
    assert names[0].startswith(".tmp-") and not names[0].endswith("out.bin")
    assert names[1].startswith(".tmp-") and names[1].endswith("-out.bin")

    def broken(error):
        def fill(tmp):
            Path(tmp).write_bytes(b"part")
            raise error

        return fill

    with pytest.raises(StoreError, match="no such file in URL") as info:  # a caught error
        replace_via_temp(str(target), broken(FileNotFoundError()), "out.bin", "URL")
    assert info.value.code == Code.MISSING and info.value.field == "out.bin"
    with pytest.raises(KeyError):  # not caught: propagates as it is
        replace_via_temp(str(target), broken(KeyError("k")), "out.bin", "URL")
    with pytest.raises(StoreError) as info:
        replace_via_temp(str(target), broken(KeyError("k")), "o", "U", caught=Exception)
    assert info.value.code == Code.STORAGE
    assert target.read_bytes() == b"new"  # the old content stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("scheme", ["local", "memory"])
def test_download_and_upload_are_whole_or_nothing(tmp_path, scheme):
    root = str(tmp_path / "r") if scheme == "local" else f"memory://animlib-{uuid.uuid4().hex}"
    store = open_store(root)
    store.makedirs()
    store.write_atomic("a.txt", b"hello")
    local = tmp_path / "got" / "a.txt"
    local.parent.mkdir()
    store.download("a.txt", local)
    assert local.read_bytes() == b"hello"
    with pytest.raises(StoreError) as info:
        store.download("nope.txt", local)
    assert info.value.code == Code.MISSING and info.value.field == "nope.txt"
    assert local.read_bytes() == b"hello" and os.listdir(local.parent) == ["a.txt"]
    local.write_bytes(b"up")
    store.upload(local, "b.txt")
    assert store.read("b.txt") == b"up"
    if scheme == "local":
        assert sorted(os.listdir(root)) == ["a.txt", "b.txt"]
        with pytest.raises(StoreError) as info:
            store.upload(tmp_path / "missing", "c.txt")
        assert info.value.code == Code.MISSING and sorted(os.listdir(root)) == ["a.txt", "b.txt"]


# -- exclusive creation (leases, writer locks) ----------------------------------------------------
def test_a_file_created_exclusively_is_never_seen_without_its_data(tmp_path, monkeypatch):
    """A lease or writer lock read while it is being created is absent or whole: an empty one
    looked abandoned (a waiting thread took the render lease over and rendered a second time)."""
    store = LocalStore(tmp_path)
    seen = []
    real = os.fdopen

    def fdopen(fd, *args, **kwargs):  # just before the data is written: what would a reader see?
        seen.append(store.read(".lease-x") if store.contains(".lease-x") else None)
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    assert store.create_exclusive(".lease-x", b'{"token": "a"}')
    assert not store.create_exclusive(".lease-x", b'{"token": "b"}')
    monkeypatch.undo()
    assert seen == [None, b'{"token": "a"}']
    assert store.read(".lease-x") == b'{"token": "a"}'
    assert [p.name for p in tmp_path.iterdir()] == [".lease-x"]  # no temporary file is left


def test_exclusive_creation_without_hard_links(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted", dst)

    monkeypatch.setattr(os, "link", no_links)  # FAT, some network shares
    store = LocalStore(tmp_path)
    assert store.create_exclusive(".writer.lock", b"{}")
    assert not store.create_exclusive(".writer.lock", b"[]")
    assert store.read(".writer.lock") == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == [".writer.lock"]


# -- one owner for storage -------------------------------------------------------------------
def test_no_module_outside_the_store_package_touches_fsspec():
    offenders = []
    for path in ANIMLIB.rglob("*.py"):
        if path.parent.name == "store" and path.parent.parent == ANIMLIB:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute) and node.attr == "fs":
                names = ["<.fs>"]
            if any(n.split(".")[0] in ("fsspec", "s3fs", "<.fs>") for n in names):
                offenders.append(f"{path.relative_to(ANIMLIB)}:{node.lineno}")
    assert not offenders, offenders
    assert not (ANIMLIB / "location.py").exists()


# -- the public read interface of a run -----------------------------------------------------------
def test_run_accessors_answer_from_metadata(tmp_path):
    run_id = write_run(tmp_path, "acc", steps=7, shape=(16, 12, 3))
    edit_id = write_run(tmp_path, "edit", steps=2, confidences=False, original=False)
    run, edit = animlib.open_run(tmp_path / run_id), animlib.open_run(tmp_path / edit_id)
    assert run.has_array("images") and run.has_array("original") and run.has_confidences
    assert not edit.has_array("original") and not edit.has_array("confidences")
    info = run.array_info("images")
    assert info.shape[1:] == (16, 12, 3) and info.dtype == np.float32 and info.ndim == 4
    assert info.chunks[1:] == (16, 12, 3) and run.images.chunk_len == info.chunks[0]
    assert run.array_info("confidences").shape[1] == 4
    assert run.image_nbytes == 7 * 16 * 12 * 3 * 4
    with pytest.raises(RunFormatError, match="array is missing") as err:
        edit.array_info("original")
    assert err.value.code == Code.MISSING
    np.testing.assert_array_equal(run.read_steps("images", 2, 4)[1], image_for(3))
    assert run.missing_chunks() == []
    first = chunk_file(tmp_path / run_id, "confidences", 0)
    first.unlink()
    gaps = animlib.open_run(tmp_path / run_id).missing_chunks()
    assert [(g.array, g.steps) for g in gaps] == [("confidences", (0, 6))]
    key = first.relative_to(tmp_path / run_id / "confidences").as_posix()
    assert gaps[0].describe() == f"chunk {key} (steps 0..6) is missing"
    with pytest.raises(IndexError):
        run.images[7]


def test_a_run_reads_its_metadata_once_however_often_it_is_asked(tmp_path, monkeypatch):
    """Over a bucket every read is a round trip (200 ms): an opened Run read each array's
    zarr.json again for every ``fingerprint`` (the viewer asked four times), for the chunk
    reader of its first step and for its scalars' lookup. Now once per Run object; a Run
    opened again reads again (an overwritten run is noticed)."""
    run_id = write_run(tmp_path, "once", steps=5)
    reads: collections.Counter[str] = collections.Counter()
    real = LocalStore.read

    def counting(self, path, **kw):
        reads[path] += 1
        return real(self, path, **kw)

    def looking(self, path="", **kw):
        reads[f"contains {path}"] += 1
        return real_contains(self, path, **kw)

    def listing(self, path="", **kw):
        reads[f"list {path}"] += 1
        return real_list(self, path, **kw)

    real_contains, real_list = LocalStore.contains, LocalStore.list
    monkeypatch.setattr(LocalStore, "read", counting)
    monkeypatch.setattr(LocalStore, "contains", looking)
    monkeypatch.setattr(LocalStore, "list", listing)
    for opened in (1, 2):
        run = animlib.open_run(tmp_path / run_id)
        fingerprint = run.fingerprint
        np.testing.assert_array_equal(run.images[0], image_for(0))
        assert run.fingerprint == fingerprint and run.has_confidences
        assert run.confidences is not None and run.original is not None
        assert run.scalar_names() == run.scalar_names() == []
        arrays = {
            p: n
            for p, n in reads.items()
            if p.endswith("zarr.json") or p in ("run.json", "list scalars")
        }
        assert arrays == {
            "list scalars": opened,  # (its series: the group's own zarr.json may be missing)
            "run.json": opened,
            "images/zarr.json": opened,
            "confidences/zarr.json": opened,
            "original/zarr.json": opened,
        }


def test_run_metadata_properties_read_run_json(tmp_path):
    from animlib.reader import Run

    full = {
        "name": "n",
        "status": "finished",
        "attack": "PGD",
        "model": "m",
        "params": {"eps": 0.1},
        "tags": ["a"],
        "true_label": 0,
        "target_label": 3,
        "summary": {"success": True},
    }
    run = Run(LocalStore(tmp_path / "r"), full, b"{}")
    assert (run.name, run.status, run.attack, run.model) == ("n", "finished", "PGD", "m")
    assert run.params is full["params"] and run.tags is full["tags"]
    assert run.summary is full["summary"]
    assert (run.true_label, run.target_label) == (0, 3)  # 0 is a class, not "none"
    bare = Run(LocalStore(tmp_path / "r"), {"name": "n", "status": "running", "params": {}}, b"")
    assert (bare.attack, bare.model, bare.true_label, bare.target_label) == (None,) * 4
    assert bare.params == {} and bare.tags == [] and bare.summary == {}
    bare.params["x"] = 1  # a fresh empty value each time: run.json is not changed
    assert bare.params == {} and bare.meta["params"] == {}
    assert Run.attack.__doc__ and isinstance(Run.tags, property)
    with pytest.raises(AttributeError):
        run.attack = "other"


def test_chunk_keys_are_flat_on_disk_and_nested_on_object_storage(tmp_path):
    """Local runs keep chunk files flat in an array's folder (fewer directories to create);
    on object storage chunk keys nest under ``c/`` so a listing delimited by ``/c/`` rolls them
    up (the run index lists about 8 entries per run however long it is)."""
    import json

    import fsspec
    from helpers import write_run

    local = tmp_path / "runs"
    write_run(local, "flat", steps=3)
    remote = f"memory://animlib-{uuid.uuid4().hex}"
    write_run(remote, "nested", steps=3)
    for name in ("images", "confidences", "original"):
        meta = json.loads((local / "flat" / name / "zarr.json").read_text())
        assert meta["chunk_key_encoding"]["configuration"]["separator"] == "."
        assert any(p.name.startswith("c.") for p in (local / "flat" / name).iterdir())
        fs = fsspec.filesystem("memory")
        raw = fs.cat(f"{remote}/nested/{name}/zarr.json")
        assert json.loads(raw)["chunk_key_encoding"]["configuration"]["separator"] == "/"
        assert fs.exists(f"{remote}/nested/{name}/c/0")
    assert (
        animlib.open_run_in(remote, "nested").images[2]
        == animlib.open_run_in(local, "flat").images[2]
    ).all()


def test_local_read_many_reads_every_file_and_names_each_failure(tmp_path):
    """Batches larger than the read-ahead window, with a missing file, a folder, a FIFO (not
    waited on) and a link leading outside among them: every file comes back, each failure as
    its own StoreError."""
    import threading

    root = tmp_path / "root"
    names = [f"r{i:03d}/run.json" for i in range(300)]
    for i, name in enumerate(names):
        (root / name).parent.mkdir(parents=True)
        (root / name).write_bytes(b"x" * i)
    (root / "dir" / "run.json").mkdir(parents=True)
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "run.json")
    (tmp_path / "secret").write_text("outside")
    (root / "link").mkdir()
    (root / "link" / "run.json").symlink_to(tmp_path / "secret")
    odd = ["missing/run.json", "dir/run.json", "fifo/run.json", "link/run.json"]
    store = LocalStore(root)
    got: dict = {}
    batch = names[:150] + odd + names[150:]
    reader = threading.Thread(target=lambda: got.update(store.read_many(batch)), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "read_many waited on the FIFO"
    assert [got[n] for n in names] == [b"x" * i for i in range(300)]
    assert got["missing/run.json"].code == Code.MISSING
    assert isinstance(got["dir/run.json"], StoreError)
    assert got["fifo/run.json"] == b"" or isinstance(got["fifo/run.json"], StoreError)
    assert got["link/run.json"].code == Code.UNSAFE


def test_a_fifo_as_run_json_is_an_error_not_a_hang(tmp_path):
    import threading

    run_id = write_run(tmp_path, "fifo", steps=2)
    (tmp_path / run_id / "run.json").unlink()
    os.mkfifo(tmp_path / run_id / "run.json")
    outcome: list = []

    def open_it() -> None:
        try:
            animlib.open_run(tmp_path / run_id)
            outcome.append("opened")
        except RunFormatError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=open_it, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "open_run waited on the FIFO"
    assert isinstance(outcome[0], RunFormatError) and run_id in str(outcome[0])
    assert LocalStore(tmp_path).read(f"{run_id}/run.json") == b""


def scandir_failing(monkeypatch, folder: str, error: OSError):
    """``os.scandir`` raising ``error`` for a folder named ``folder``; returns the real one."""
    real = os.scandir

    def failing(path="."):
        if os.fspath(path).endswith(folder):
            error.filename = os.fspath(path)
            raise error
        return real(path)

    monkeypatch.setattr(os, "scandir", failing)
    return real


def test_a_listing_that_fails_is_an_error_not_no_files(tmp_path, monkeypatch):
    """``find`` returned [] when a folder could not be listed (S3 throttled, a folder without
    permission): a run then read as missing every chunk, and the dashboard listed it broken
    for 5 minutes. It raises a StoreError; the dashboard's check of the run is not kept."""
    from animlib import ui
    from animlib.validation import Report

    run_dir = tmp_path / write_run(tmp_path, "r", steps=3)
    store = open_store(run_dir)
    assert "zarr.json" in store.find("images")
    real = scandir_failing(
        monkeypatch, "images", PermissionError(errno.EACCES, "Permission denied")
    )
    with pytest.raises(StoreError) as info:
        store.find("images")
    assert info.value.code == Code.STORAGE and "permission denied" in str(info.value)
    with pytest.raises(RunFormatError, match="cannot be listed") as info:
        animlib.open_run(run_dir).missing_chunks()
    assert info.value.code == Code.STORAGE
    monkeypatch.setattr(os, "scandir", real)
    assert open_store("memory://find-ok").find("nothing-here") == []

    reports = iter([Report("r", str(run_dir), error="x", code=Code.STORAGE), Report("r", "u")])
    monkeypatch.setattr(ui, "validate_run", lambda *a, **kw: next(reports))
    ui._checked.cache_clear()
    assert ui._check(str(run_dir), str(tmp_path), "k", False).code == Code.STORAGE
    assert ui._check(str(run_dir), str(tmp_path), "k", False).ok  # checked again, not kept


def test_a_subfolder_removed_while_listed_is_no_error(tmp_path, monkeypatch):
    """A reader listing a run while an overwrite removed it got a StoreError (1 in 7 listings)."""
    run_dir = tmp_path / write_run(tmp_path, "r", steps=3)
    scandir_failing(monkeypatch, "images", FileNotFoundError(errno.ENOENT, "No such file"))
    found = open_store(run_dir).find("")
    assert "run.json" in found and not any(p.startswith("images/") for p in found)


def test_the_chunks_open_remote_runs_keep_have_one_budget_for_the_process(monkeypatch):
    """A notebook holding hundreds of runs of a bucket, or the experiments grid's 128, must
    not keep 32 MiB of chunks each: the process keeps TOTAL_BYTES at most, and a run's share
    comes back when it is collected."""
    import gc

    from animlib import run_reads

    monkeypatch.setattr(run_reads, "TOTAL_BYTES", run_reads.kept_bytes() + 250)
    a, b = run_reads.RunReads(True, max_bytes=200), run_reads.RunReads(True, max_bytes=200)
    a.keep_chunk("images/c/0", b"x" * 150)
    b.keep_chunk("images/c/0", b"y" * 150)  # over the process's budget: read again each time
    assert a.chunk("images/c/0") == b"x" * 150 and b.chunk("images/c/0") is None
    b.keep_chunk("images/c/1", b"y" * 100)
    assert b.chunk("images/c/1") == b"y" * 100
    del a
    gc.collect()
    b.keep_chunk("images/c/2", b"z" * 100)  # a's 150 bytes were given back
    assert b.chunk("images/c/2") == b"z" * 100
    local = run_reads.RunReads(False)
    local.keep_chunk("images/c/0", b"x")
    assert local.chunk("images/c/0") is None


def test_reads_ask_for_one_request_only_where_the_file_system_takes_it():
    """s3fs before 2026.3 has a max_concurrency option but its _cat_file took no such keyword:
    every S3 read raised TypeError, so no run could be read, written or listed on S3."""
    from animlib.store.remote import _one_request

    class Old:
        max_concurrency = 10

        async def _cat_file(self, path, start=None, end=None, **kwargs):
            return b""

    class New(Old):
        async def _cat_file(self, path, start=None, end=None, max_concurrency=None, **kwargs):
            return b""

    class Plain:
        async def _cat_file(self, path, start=None, end=None, max_concurrency=None, **kwargs):
            return b""

    assert _one_request(Old()) == {}
    assert _one_request(New()) == {"max_concurrency": 1}
    assert _one_request(Plain()) == {}  # (no such option: not s3fs)
