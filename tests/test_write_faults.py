"""Writers under faults: every store write failing in turn, threads, a folder removed, big run.json.

Each test here failed on the writer before the storage engine (``animlib/appender.py``): steps
counted twice after a failed run.json write, ``finish`` not retryable, steps dropped by threads,
removed folders rebuilt, run.json re-serialized whole on every step.
"""

from __future__ import annotations

import errno
import json
import shutil
import threading
import time

import numpy as np
import pytest
from helpers import CLASSES, probs_for

import animlib
from animlib import meta as M
from animlib.errors import Code, RunFormatError, RunInputError, StoreError
from animlib.store import LocalStore, Store
from animlib.store.base import storage_error

SHAPE = (4, 4, 3)
STEPS = 20


@pytest.fixture(autouse=True)
def _forget_writers_left_on_failing_stores():
    """Writers these tests leave open on a store that fails on purpose are not closed at exit
    (each would print why it could not be)."""
    from animlib import open_writers

    before = set(open_writers._open)
    yield
    for key in set(open_writers._open) - before:
        open_writers._open.pop(key, None)


def image_for(step: int) -> np.ndarray:
    """A small float image on the 1/255 grid, a few values just off it (as PGD makes them)."""
    rng = np.random.default_rng(step)
    x = rng.integers(0, 256, SHAPE).astype(np.float32) / np.float32(255)
    x[0, 0, 0] = np.nextafter(x[0, 0, 0], np.float32(1))  # one value off the grid
    return x


class Faults:
    """Counts store writes; the ``k``-th one fails (``lasting``: that one and every later one)."""

    def __init__(self, k: int | None = None, lasting: bool = False) -> None:
        self.k, self.lasting, self.count = k, lasting, 0

    def tick(self, op: str, path: str) -> None:
        self.count += 1
        if self.k is not None and (self.count == self.k or (self.lasting and self.count > self.k)):
            raise StoreError(f"injected fault at write {self.count} ({op} {path})", field=path)


class FaultyStore(Store):
    """A LocalStore whose writes go through :class:`Faults` (reads are never faulted)."""

    def __init__(self, inner: LocalStore, faults: Faults) -> None:
        self.inner, self.faults = inner, faults
        self.storage_options = {}

    url = property(lambda self: self.inner.url)
    confined_to = property(lambda self: self.inner.confined_to)

    def url_of(self, path: str = "") -> str:
        return self.inner.url_of(path)

    def child(self, name: str) -> FaultyStore:
        return FaultyStore(self.inner.child(name), self.faults)

    def list(self, path: str = "", *, detail: bool = False):
        return self.inner.list(path, detail=detail)

    def find(self, path: str):
        return self.inner.find(path)

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        return self.inner.read(path, limit=limit)

    def contains(self, path: str = "") -> bool:
        return self.inner.contains(path)

    def signature(self, member: str) -> str:
        return self.inner.signature(member)

    def zarr_store(self, *, read_only: bool = True):
        return self.inner.zarr_store(read_only=read_only)

    def _write(self, op: str, path: str, call):
        self.faults.tick(op, path)
        return call()

    def write_atomic(self, path: str, data: bytes) -> None:
        self._write("write", path, lambda: self.inner.write_atomic(path, data))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        return self._write("create", path, lambda: self.inner.create_exclusive(path, data))

    def make_exclusive(self) -> bool:
        return self._write("mkdir", "", self.inner.make_exclusive)

    def makedirs(self) -> None:
        self._write("makedirs", "", self.inner.makedirs)

    def make_folder(self, path: str) -> None:
        self._write("mkdir", path, lambda: self.inner.make_folder(path))

    def remove(self, path: str = "", *, recursive: bool = False) -> None:
        self._write("remove", path, lambda: self.inner.remove(path, recursive=recursive))

    def upload(self, local_path, path: str) -> None:
        self._write("upload", path, lambda: self.inner.upload(local_path, path))


def check_reads_back(root, run_id: str, returned: list[int]) -> None:
    """A fresh reader sees exactly the steps whose log() returned, in order, once each."""
    if not returned:
        try:
            run = animlib.open_run(root / run_id)
        except RunFormatError as exc:  # no folder, no run.json, or zero steps
            assert exc.code in (Code.NOT_FOUND, Code.MISSING, Code.EMPTY), exc
            return
        raise AssertionError(f"a run with {len(run)} steps but no log() returned")
    run = animlib.open_run(root / run_id)
    assert len(run) == len(returned), (len(run), returned)
    stored = run.images[:]
    want = np.stack([image_for(i) for i in returned])
    assert (
        stored.dtype == np.float32
        and stored.view(np.uint32).tolist() == want.view(np.uint32).tolist()
    )
    np.testing.assert_allclose(run.confidences, [probs_for(i) for i in returned], rtol=1e-6)
    assert run.scalars["loss"].tolist() == [float(i) for i in returned]


def scenario(root, faults: Faults) -> tuple[str | None, list[int], bool]:
    """A 20-step run whose caller retries a failed log() once and finish() twice."""
    store = FaultyStore(LocalStore(root), faults)
    try:
        w = animlib.RunWriter(
            store, name="faulty", class_names=CLASSES, true_label=0, original=image_for(0)
        )
    except StoreError:
        return None, [], False
    returned: list[int] = []
    for i in range(STEPS):
        failures = 0
        while failures < 2:
            try:
                index = w.log(image=image_for(i), confidences=probs_for(i), loss=float(i))
            except StoreError:
                failures += 1
                if failures == 1:
                    check_reads_back(root, w.run_id, returned)  # as before the call
                continue
            assert index == len(returned)
            returned.append(i)
            break
        if failures == 2:
            break  # a lasting fault: later steps fail too
    finished = False
    for attempt in range(3):
        try:
            w.finish()
            finished = True
            break
        except StoreError:
            if attempt == 0:
                check_reads_back(root, w.run_id, returned)
    return w.run_id, returned, finished


def test_count_writes_of_a_clean_run(tmp_path):
    faults = Faults()
    run_id, returned, finished = scenario(tmp_path, faults)
    assert returned == list(range(STEPS)) and finished
    assert 60 < faults.count < 200  # the range the next tests sweep
    check_reads_back(tmp_path, run_id, returned)


@pytest.mark.parametrize("lasting", [False, True], ids=["transient", "lasting"])
def test_the_kth_store_write_fails_for_every_k(tmp_path, lasting):
    clean = Faults()
    scenario(tmp_path / "clean", clean)
    for k in range(1, clean.count + 1):
        root = tmp_path / f"k{k}"
        root.mkdir()
        run_id, returned, finished = scenario(root, Faults(k, lasting))
        if run_id is None:  # the writer could not even be created: nothing readable is left
            infos = animlib.list_runs(root)
            assert all(not i.ok or i.get("steps") == 0 for i in infos), (k, infos)
            continue
        check_reads_back(root, run_id, returned)
        if not lasting:  # one failed write, retried: nothing lost, the run is finished
            assert returned == list(range(STEPS)) and finished, k
        run = animlib.open_run(root / run_id) if returned else None
        if run is not None:
            assert run.status == ("finished" if finished else "running"), (k, run.status)
            report = animlib.validate(root / run_id)[0]
            assert report.ok, (k, report.line())


def test_finish_is_retryable(tmp_path):
    faults = Faults()
    w = animlib.RunWriter(FaultyStore(LocalStore(tmp_path), faults), name="r", class_names=CLASSES)
    for i in range(3):
        w.log(image=image_for(i), confidences=probs_for(i))
    faults.k, faults.lasting = faults.count + 1, True
    for _ in range(2):
        with pytest.raises(StoreError):
            w.finish()
    assert animlib.open_run(tmp_path / "r").status == "running"
    with pytest.raises(RunInputError, match="closed"):  # finishing: no more steps
        w.log(image=image_for(3), confidences=probs_for(3))
    faults.k = None
    w.finish()
    run = animlib.open_run(tmp_path / "r")
    assert run.status == "finished" and len(run) == 3
    assert not (tmp_path / "r" / ".writer.lock").exists()
    w.finish()  # once it succeeded, nothing more happens


# -- threads ----------------------------------------------------------------------------------
def test_eight_threads_share_one_writer(tmp_path):
    w = animlib.RunWriter(tmp_path, name="shared", class_names=CLASSES)
    per_thread = 13
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                img = np.full((2, 3, 1), t * 16 + i, np.uint8)  # says who logged it
                w.log(image=img, confidences=probs_for(i), thread=float(t))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    w.finish()
    assert not errors, errors
    run = animlib.open_run(tmp_path / "shared")
    assert len(run) == 8 * per_thread
    ids = [int(run.images[s][0, 0, 0]) for s in range(len(run))]
    assert sorted(ids) == sorted(t * 16 + i for t in range(8) for i in range(per_thread))
    for t in range(8):  # each thread's steps are stored in the order it logged them
        mine = [i - t * 16 for i in ids if i // 16 == t]
        assert mine == list(range(per_thread))
    assert run.scalars["thread"].tolist() == [float(i // 16) for i in ids]
    assert animlib.validate(tmp_path / "shared")[0].ok


# -- the folder removed under a writer --------------------------------------------------------
@pytest.mark.parametrize("which", ["run folder", "results folder"])
def test_a_removed_folder_is_an_error_not_rebuilt(tmp_path, which):
    root = tmp_path / "runs"
    w = animlib.RunWriter(root, name="gone", class_names=CLASSES, original=image_for(0))
    for i in range(3):
        w.log(image=image_for(i), confidences=probs_for(i))
    shutil.rmtree(root / "gone" if which == "run folder" else root)
    with pytest.raises(StoreError) as info:
        w.log(image=image_for(3), confidences=probs_for(3))
    assert info.value.code in (Code.MISSING, Code.STORAGE) and info.value.run == "gone"
    assert "removed" in str(info.value)
    with pytest.raises(StoreError), w:
        pass
    assert not (root / "gone").exists()


def test_a_writer_never_writes_into_another_run_made_where_its_folder_was(tmp_path):
    """The folder removed, then another run of that name made there: the old writer went on
    writing into it (its attack, shape and steps replaced the new run's) and its finish
    removed the new writer's lock."""
    root = tmp_path / "runs"
    old = animlib.RunWriter(root, name="victim", attack="A", class_names=CLASSES)
    for i in range(3):
        old.log(image=image_for(i), confidences=probs_for(i))
    old.appender.flush()
    shutil.rmtree(root / "victim")
    new = animlib.RunWriter(root, name="victim", attack="B", class_names=CLASSES)
    assert new.run_id == "victim"
    new.log(image=np.zeros((8, 8, 1), np.float32), confidences=probs_for(0))
    new.appender.flush()
    with pytest.raises(StoreError) as info:
        old.log(image=image_for(3), confidences=probs_for(3))
        old.appender.flush()
    assert info.value.code == Code.MISSING and "removed or replaced" in str(info.value)
    with pytest.raises(StoreError):
        old.finish()
    assert (root / "victim" / ".writer.lock").exists()  # still the new writer's
    new.log(image=np.ones((8, 8, 1), np.float32), confidences=probs_for(1))
    new.finish()
    run = animlib.open_run(root / "victim")
    assert (run.meta["attack"], len(run), run.image_shape) == ("B", 2, (8, 8, 1))


def test_a_removed_sample_folder_is_reported_by_the_batch_writer(tmp_path):
    w = animlib.BatchWriter(tmp_path, experiment="e", class_names=CLASSES[:3])
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    p = np.full((2, 3), 1 / 3)
    w.log(images=x, confidences=p)
    w.flush()
    shutil.rmtree(tmp_path / "e-0001")
    w.log(images=x, confidences=p)
    with pytest.raises(StoreError) as info:
        w.flush()
    assert info.value.code == Code.MISSING and info.value.run == "e-0001"
    with pytest.raises(StoreError):
        w.finish()
    assert not (tmp_path / "e-0001").exists()
    run = animlib.open_run(tmp_path / "e-0000")  # the other sample is whole and finished
    assert len(run) == 2 and run.status == "finished"


# -- run.json ---------------------------------------------------------------------------------
def test_an_oversized_run_json_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(RunInputError) as info:
        animlib.RunWriter(tmp_path, name="big", params={"table": "x" * (9 * 2**20)})
    assert info.value.code == Code.LIMIT and info.value.field == "params"
    assert "over the limit of 1,048,576" in str(info.value), info.value
    assert "MAX_RUN_JSON_BYTES" in str(info.value) and list(tmp_path.iterdir()) == []


def test_big_params_are_serialized_once_not_per_step(tmp_path, monkeypatch):
    params = {"table": list(range(60_000))}  # ~0.8 MB of run.json (the limit is 1 MiB)
    big = len(M.dumps(params))  # any run.json holding the params is at least this long
    calls: list[int] = []
    real = M.dumps

    def counting(value):
        out = real(value)
        calls.append(len(out))
        return out

    monkeypatch.setattr(M, "dumps", counting)
    with animlib.RunWriter(tmp_path, name="p", params=params, class_names=CLASSES) as w:
        for i in range(10):
            w.log(image=image_for(i), confidences=probs_for(i))
    assert sum(n >= big for n in calls) == 1, sorted(calls)[-3:]
    assert json.loads((tmp_path / "p" / "run.json").read_text())["params"] == params


def test_a_background_write_error_surfaces_on_the_next_log_and_loses_nothing(tmp_path, monkeypatch):
    w = animlib.BatchWriter(tmp_path, experiment="bg", class_names=CLASSES)
    batch = [np.stack([image_for(10 * s + i) for i in range(3)]) for s in range(4)]
    probs = np.stack([probs_for(i) for i in range(3)])
    for s in range(2):
        w.log(images=batch[s], confidences=probs)
    w.flush()
    real = LocalStore.write_atomic

    def failing(self, path, data):
        if self.url.endswith("bg-0001"):
            raise storage_error(OSError(errno.ENOSPC, "No space left on device"), path, self.url)
        return real(self, path, data)

    monkeypatch.setattr(LocalStore, "write_atomic", failing)
    w.log(images=batch[2], confidences=probs)  # buffered; the background write fails
    deadline = time.monotonic() + 5
    while w._flusher._error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(StoreError, match="no space left where") as info:  # step not logged
        w.log(images=batch[3], confidences=probs)
    assert info.value.run == "bg-0001"  # (a background write named only the file)
    assert len(w) == 3
    monkeypatch.setattr(LocalStore, "write_atomic", real)
    w.log(images=batch[3], confidences=probs)
    w.finish()
    for i in range(3):
        run = animlib.open_run(tmp_path / f"bg-{i:04d}")
        assert len(run) == 4 and run.status == "finished"
        for s in range(4):  # every step once, in order: the failed write was retried
            assert run.images[s].tobytes() == image_for(10 * s + i).tobytes()


def test_while_the_storage_keeps_failing_the_buffer_stays_bounded(tmp_path, monkeypatch):
    """A full disk raised once in a while and every other log buffered its step: memory grew
    without bound while the disk stayed full. Above the bound a log now tries to write at
    once and is refused with the storage's error; once the disk has room all is written."""
    from animlib import flusher

    w = animlib.BatchWriter(tmp_path, experiment="full", class_names=CLASSES)
    batch = np.stack([image_for(i) for i in range(3)])
    probs = np.stack([probs_for(i) for i in range(3)])
    w.log(images=batch, confidences=probs)
    w.flush()
    real = LocalStore.write_atomic

    def full(self, path, data):
        raise storage_error(OSError(errno.ENOSPC, "No space left on device"), path, self.url)

    monkeypatch.setattr(LocalStore, "write_atomic", full)
    monkeypatch.setattr(flusher, "MAX_BYTES", 4 * batch.nbytes)
    logged = refused = 0
    for _ in range(40):
        try:
            w.log(images=batch, confidences=probs)
            logged += 1
        except StoreError as exc:
            assert "no space left" in str(exc)
            refused += 1
        assert w._flusher.pending_bytes <= 6 * batch.nbytes
    assert refused >= 30 and len(w) == 1 + logged
    monkeypatch.setattr(LocalStore, "write_atomic", real)
    w.finish()
    assert [len(animlib.open_run(tmp_path / f"full-{i:04d}")) for i in range(3)] == [1 + logged] * 3


def final_write_failing_for_sample_1(tmp_path, monkeypatch):
    """A BatchWriter of 3 samples whose close fails for sample 1 (a full disk), 5 steps logged
    and 2 flushed; the ExperimentStoreError raised, and the writer."""
    from animlib.errors import ExperimentStoreError

    batch = [np.stack([image_for(10 * s + i) for i in range(3)]) for s in range(5)]
    probs = np.stack([probs_for(i) for i in range(3)])
    real = LocalStore.write_atomic

    def full_for_sample_1(self, path, data):
        if self.url.endswith("e-0001"):
            raise storage_error(OSError(errno.ENOSPC, "No space left on device"), path, self.url)
        return real(self, path, data)

    with pytest.raises(ExperimentStoreError) as info:
        with animlib.BatchWriter(tmp_path, experiment="e", class_names=CLASSES) as w:
            for s in range(2):
                w.log(images=batch[s], confidences=probs)
            w.flush()
            for s in range(2, 5):
                w.log(images=batch[s], confidences=probs)
            monkeypatch.setattr(LocalStore, "write_atomic", full_for_sample_1)
    monkeypatch.setattr(LocalStore, "write_atomic", real)  # (the disk has room again)
    return info.value, w, (batch, probs)


def statuses(tmp_path) -> list[tuple[str, int]]:
    runs = [animlib.open_run(tmp_path / f"e-{i:04d}") for i in range(3)]  # all readable
    return [(r.status, len(r)) for r in runs]


def test_a_final_write_failing_for_one_sample_marks_no_sample_anything(tmp_path, monkeypatch):
    """A full disk at the close of a BatchWriter: the samples whose last steps were written
    were marked finished, steps ahead of the one whose write failed (resume realigned them);
    the error named only that run's file. Then the retry the error advised, once there was
    room, stored every step but left every sample failed, with an error no longer true."""
    err, w, _ = final_write_failing_for_sample_1(tmp_path, monkeypatch)
    assert isinstance(err, StoreError) and err.code == Code.STORAGE
    assert (err.experiment, err.sample, err.run) == ("e", 1, "e-0001")
    assert str(err).startswith("experiment 'e' sample 1: ") and "no space left" in str(err)
    assert "call finish() on this writer again" in str(err)
    assert statuses(tmp_path) == [("running", 5), ("running", 2), ("running", 5)]
    assert "status='closing'" in repr(w)  # (it said closed, its runs still open)
    w.finish()  # as the error says
    assert statuses(tmp_path) == [("finished", 5)] * 3
    assert "status='closed'" in repr(w)
    for i in range(3):
        run = animlib.open_run(tmp_path / f"e-{i:04d}")
        assert run.meta.get("error") is None
        assert animlib.validate(tmp_path / f"e-{i:04d}")[0].ok


def test_a_final_write_failing_then_given_up_marks_them_failed_saying_why(tmp_path, monkeypatch):
    _, w, (batch, probs) = final_write_failing_for_sample_1(tmp_path, monkeypatch)
    w.finish("failed")  # (or the end of the process: the exit hook)
    assert statuses(tmp_path) == [("failed", 5)] * 3
    run = animlib.open_run(tmp_path / "e-0000")
    assert "final write of sample 1 failed" in run.meta["error"]
    with animlib.BatchWriter.resume(tmp_path, "e") as w:  # and resume goes on from there
        assert w.next_step == 5
        w.log(images=batch[0], confidences=probs)
    for i in range(3):
        run = animlib.open_run(tmp_path / f"e-{i:04d}")
        assert (run.status, len(run), run.meta.get("error")) == ("finished", 6, None)
        assert animlib.validate(tmp_path / f"e-{i:04d}")[0].ok
