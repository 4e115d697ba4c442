"""Issue 14, read side: a missing chunk is an error wherever it is read (never zeros); array
metadata is checked before Zarr reads anything; run.json is bounded in size and depth (depth on
write too); a read-only results folder is a StoreError naming the folder."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    CLASSES,
    chunk_file,
    chunk_files,
    chunk_key,
    image_for,
    old_layout,
    probs_for,
    steps_chunk_bomb,
    write_run,
    zstd_zeros,
)
from streamlit.testing.v1 import AppTest

import animlib
from animlib.errors import Code, RunFormatError, RunInputError, StoreError
from animlib.limits import (
    MAX_JSON_DEPTH,
    MAX_RUN_JSON_BYTES,
    check_json_depth,
    check_run_json_size,
    json_depth,
)
from animlib.metrics import run_metrics
from animlib.snapshot import frame_png
from animlib.stepcodec import encode_chunk

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard.py")


@pytest.fixture(autouse=True)
def render_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))


def full_run(root: Path, name: str = "full", steps: int = 12) -> Path:
    """A run with every array: images, confidences, original and a scalar."""
    with animlib.RunWriter(
        root, name=name, class_names=CLASSES, true_label=0, original=image_for(0)
    ) as w:
        for i in range(steps):
            w.log(image=image_for(i), confidences=probs_for(i), loss=float(i))
    return root / w.run_id


def render(fmt: str):
    def go(run):
        out = Path(run.url).parent.parent / f"out.{fmt}"
        try:
            return animlib.render(run, out, dpi=50)
        finally:
            assert not out.exists(), "a render of a damaged run left a file"

    return go


READERS = {  # what reads each array: every one must raise, none may return zeros
    "images": {
        "images[i]": lambda run: run.images[5],
        "images[a:b]": lambda run: run.images[2:9],
        "images[:]": lambda run: run.images[:],
        "images[::2]": lambda run: run.images[::2],
        "iter(images)": lambda run: list(run.images),
        "snapshot": lambda run: frame_png(run, 5, dpi=50),
        "metrics": run_metrics,
        "gif": render("gif"),
        "html": render("html"),
    },
    "confidences": {
        "confidences": lambda run: run.confidences,
        "metrics": run_metrics,
        "snapshot": lambda run: frame_png(run, 5, dpi=50),
        "mp4": render("mp4"),
    },
    "original": {
        "original": lambda run: run.original,
        "metrics": run_metrics,
        "snapshot": lambda run: frame_png(run, 5, dpi=50),
    },
    "scalars/loss": {"scalars": lambda run: run.scalars},
}
CASES = [(array, reader) for array, readers in READERS.items() for reader in readers]


@pytest.mark.parametrize(("array", "reader"), CASES, ids=[f"{a}-{r}" for a, r in CASES])
def test_a_missing_chunk_is_an_error_for_every_reader(tmp_path, array, reader):
    run_dir = full_run(tmp_path / "runs")
    run = animlib.open_run(run_dir)  # opened (metadata checked) before the chunk goes
    (gone,) = chunk_files(run_dir, array)
    gone.unlink()
    with pytest.raises(RunFormatError) as info:
        READERS[array][reader](run)
    err = info.value
    assert err.code == Code.MISSING and err.field == array and err.run == "full", err
    key = re.escape(gone.relative_to(run_dir / array).as_posix())  # c.0.0 (flat chunk keys)
    assert re.search(rf"chunk {key}( \(steps 0\.\.11\))? is missing", str(err)), err


def test_a_run_folder_deleted_after_opening_renders_nothing(tmp_path):
    run_dir = full_run(tmp_path / "runs")
    run = animlib.open_run(run_dir)
    shutil.rmtree(run_dir)
    for fmt in ("gif", "html"):  # (said of the run: not a chunk "missing", as if damaged)
        with pytest.raises(RunFormatError, match="was removed since it was opened") as info:
            animlib.render(run, tmp_path / f"out.{fmt}", dpi=50)
        assert info.value.code == Code.MISSING
        assert not (tmp_path / f"out.{fmt}").exists()
    with pytest.raises(RunFormatError, match="was removed since it was opened"):
        run.images[3]


def test_other_steps_still_read_next_to_a_missing_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(animlib.writer, "CHUNK_TARGET_BYTES", 4 * image_for(0).nbytes)
    run_dir = tmp_path / write_run(tmp_path, "chunked", steps=12)
    gone = chunk_file(run_dir, "images", 1)
    gone.unlink()
    run = animlib.open_run(run_dir)
    np.testing.assert_array_equal(run.images[3], image_for(3))
    np.testing.assert_array_equal(run.images[8:12], np.stack([image_for(i) for i in range(8, 12)]))
    assert gone.name == "c.1.0.0.0"  # flat chunk keys
    with pytest.raises(RunFormatError, match=r"chunk c\.1\.0\.0\.0 \(steps 4\.\.7\) is missing"):
        run.images[2:6]  # the slice names the first broken step's chunk


def test_a_missing_chunk_in_object_storage_is_an_error_too():
    import fsspec

    root = "memory://read-safety/runs"
    run_id = write_run(root, "remote", steps=5)
    run = animlib.open_run_in(root, run_id)
    fs = fsspec.filesystem("memory")
    folder = f"/read-safety/runs/{run_id}/confidences/"
    key = chunk_key([k.removeprefix(folder) for k in fs.find(folder)], 0)
    fs.rm(folder + key)
    with pytest.raises(
        RunFormatError, match=rf"chunk {re.escape(key)} \(steps 0\.\.4\) is missing"
    ) as info:
        _ = run.confidences
    assert info.value.code == Code.MISSING and info.value.field == "confidences"
    np.testing.assert_array_equal(run.images[4], image_for(4))
    fs.rm("/read-safety", recursive=True)


def refusal_and_peak(read) -> tuple[RunFormatError, int]:
    """The RunFormatError ``read()`` raises and the peak memory allocated meanwhile (bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(RunFormatError) as info:
            read()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


PADDING = 48 * 2**20  # appended to a good chunk file: more than the reads may take
PEAK = 32 * 2**20  # what reading a refused chunk may allocate (a bomb claims 1 GB)
ZSTD_DAMAGE = [  # a chunk stored with bytes + zstd: every refusal names the chunk's steps
    ("oversized", "steps 0..2 cannot be read", "too large for a chunk of this shape"),
    ("zstd-bomb", "steps 0..2 cannot be read", "decodes to 1,000,000,000 bytes where the chunk"),
    ("garbage", "steps 0..2 cannot be read", "truncated or corrupt: not a zstd frame"),
]
STEPS_DAMAGE = [  # an animlib.steps chunk: the store refuses the first three, the codec the bomb
    ("oversized", "steps 0..2 cannot be read", "too large for a chunk of this shape"),
    ("zstd-bomb", "steps 0..2 cannot be read", "truncated or corrupt: not an animlib.steps chunk"),
    ("garbage", "steps 0..2 cannot be read", "truncated or corrupt: not an animlib.steps chunk"),
    ("steps-bomb", "steps 0..2 cannot be read", "holds 1000000000 values where shape (16, 12, 3)"),
]
LAYOUTS = {  # (array, written in the layout of old runs, what the chunk holds, reader)
    "images": ("images", False, STEPS_DAMAGE, lambda run: run.images[1]),
    "confidences": ("confidences", False, ZSTD_DAMAGE, lambda run: run.confidences),
    "old-images": ("images", True, ZSTD_DAMAGE, lambda run: run.images[1]),
}
DAMAGE_CASES = [(k, *d) for k, (_a, _o, damage, _r) in LAYOUTS.items() for d in damage]


@pytest.mark.parametrize(
    ("layout", "damage", "what", "words"),
    DAMAGE_CASES,
    ids=[f"{c[0]}-{c[1]}" for c in DAMAGE_CASES],
)
def test_chunk_files_are_read_only_up_to_what_a_chunk_can_hold(
    tmp_path, layout, damage, what, words
):
    """A chunk file far larger than its chunk compresses to is refused after reading at most
    that bound, and so is a zstd frame declaring another size, or no zstd frame at all; an
    ``animlib.steps`` frame declaring another size is refused before it is decoded. Memory stays
    bounded: nothing a chunk file claims is allocated."""
    array, old, _damage, read = LAYOUTS[layout]
    run_dir = tmp_path / write_run(tmp_path, "oversized", steps=3)
    if old:
        old_layout(run_dir)
    (path,) = chunk_files(run_dir, array)
    assert ("/" in path.relative_to(run_dir / array).as_posix()) == old  # nested keys: old runs
    codecs = json.loads((run_dir / array / "zarr.json").read_text())["codecs"]
    steps = array == "images" and not old
    assert [c["name"] for c in codecs] == (["animlib.steps"] if steps else ["bytes", "zstd"])
    data = {
        "oversized": lambda: path.read_bytes() + bytes(PADDING),
        "zstd-bomb": lambda: zstd_zeros(10**9),
        "garbage": lambda: b"\x00" * 40,
        "steps-bomb": lambda: steps_chunk_bomb(10**9, frames=3),
    }[damage]()
    path.write_bytes(data)
    run = animlib.open_run(run_dir)
    err, peak = refusal_and_peak(lambda: read(run))
    assert err.run == "oversized" and err.field == array and err.code == Code.CORRUPT, err
    assert what in str(err) and words in str(err), err
    assert peak < PEAK, f"{peak / 2**20:.0f} MB allocated to refuse a chunk"


def test_a_zstd_bomb_in_an_old_run_is_never_inflated_by_a_render(tmp_path, monkeypatch):
    """Old runs' plain chunks are read straight from the store when rendering
    (animlib.chunk_reader): a chunk whose zstd frame claims 805 MB is refused there too, with
    bounded memory, and the render names the run, the array and the steps."""
    monkeypatch.setattr(animlib.writer, "CHUNK_TARGET_BYTES", 4 * image_for(0).nbytes)
    run_dir = old_layout(tmp_path / write_run(tmp_path, "old-bomb", steps=12))
    chunk_file(run_dir, "images", 1).write_bytes(zstd_zeros(805_306_368))
    run = animlib.open_run(run_dir)
    for fmt in ("gif", "mp4"):
        out = tmp_path / f"x.{fmt}"
        err, peak = refusal_and_peak(lambda out=out: animlib.render(run, out, dpi=50))
        assert err.run == "old-bomb" and err.field == "images" and err.code == Code.CORRUPT
        assert "steps 4..7 cannot be read (chunk c/1/0/0/0 decodes to 805,306,368" in str(err)
        assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB allocated to refuse a chunk"
        assert not out.exists()


def test_an_images_chunk_holding_fewer_steps_than_run_json_counts_is_cut_short(tmp_path):
    """An animlib.steps chunk decodes the steps it holds a frame for and fills the rest: a chunk
    file older than run.json (a copy, a crash between the writes) must not read as zeros."""
    run_dir = tmp_path / write_run(tmp_path, "short", steps=5)
    chunk_file(run_dir, "images").write_bytes(
        encode_chunk(np.stack([image_for(i) for i in (0, 1)]))
    )
    run = animlib.open_run(run_dir)
    for read in (lambda: run.images[3], lambda: run.images[:], lambda: run_metrics(run)):
        with pytest.raises(RunFormatError) as info:
            read()
        err = info.value
        assert err.code == Code.MISSING and err.run == "short" and err.field == "images", err
        assert "chunk c.0.0.0.0 (steps 2..4) is cut short" in str(err), err
    assert not animlib.validate(run_dir)[0].ok


def test_original_is_read_in_zarrs_own_chunks_but_never_larger_ones(tmp_path):
    image = np.random.default_rng(0).random((300, 300, 3), dtype=np.float32)
    with animlib.RunWriter(tmp_path, name="big-original", original=image) as w:
        w.log(image=image)
    run_dir = tmp_path / w.run_id
    np.testing.assert_array_equal(animlib.open_run(run_dir).original, image)  # chunked by Zarr
    meta = json.loads((run_dir / "original" / "zarr.json").read_text())
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [300, 16384, 3]
    (run_dir / "original" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(RunFormatError, match=r"chunk shape \(300, 16384, 3\) is larger than"):
        animlib.open_run(run_dir)


def test_consolidated_group_metadata_is_never_used(tmp_path):
    """Only each array's own (checked) zarr.json is used: consolidated metadata in the group's
    zarr.json claiming a transpose codec (scrambled pixels) is ignored."""
    run_dir = tmp_path / write_run(tmp_path, "consolidated", steps=3)
    images = json.loads((run_dir / "images" / "zarr.json").read_text())
    images["codecs"] = [
        {"name": "transpose", "configuration": {"order": [0, 2, 1, 3]}},
        *images["codecs"],
    ]
    group = json.loads((run_dir / "zarr.json").read_text())
    group["consolidated_metadata"] = {
        "kind": "inline",
        "must_understand": False,
        "metadata": {"images": images},
    }
    (run_dir / "zarr.json").write_text(json.dumps(group))
    run = animlib.open_run(run_dir)
    np.testing.assert_array_equal(run.images[2], image_for(2))
    assert animlib.validate(run_dir)[0].ok


# -- the dashboard's cached check notices chunks deleted after it ------------------------------
def app(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_viewer_check_notices_a_chunk_deleted_after_it(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run_id = write_run(root, "checked-then-damaged", steps=6)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    at = app("app_pages/viewer.py", run=run_id)
    assert not at.exception and not at.error, [e.value for e in at.error]
    chunk_file(root / run_id, "images").unlink()
    at = app("app_pages/viewer.py", run=run_id)  # same process: the check's cache is warm
    assert not at.exception
    shown = [plain(e.value) for e in at.error]
    assert shown and "images: chunk c.0.0.0.0 (steps 0..5) is missing" in shown[0], shown


def test_big_runs_are_checked_again_on_a_timer_instead_of_listing_chunks(tmp_path, monkeypatch):
    from animlib import ui

    run = animlib.open_run(tmp_path / write_run(tmp_path, "listed", steps=3))
    fingerprint, listed = ui._check_key(run)
    assert fingerprint == run.fingerprint and listed == run.chunk_signature()
    monkeypatch.setattr(ui, "CHUNK_LISTING_MAX", 0)
    monkeypatch.setattr(run, "chunk_signature", lambda: pytest.fail("listed chunks"))
    assert ui._check_key(run)[1].startswith("t")


def test_a_cached_check_is_shared_and_redone_after_its_period(tmp_path, monkeypatch):
    from animlib import ui

    folder = tmp_path / write_run(tmp_path, "timed", steps=3)
    run = animlib.open_run(folder)
    calls = []
    real = ui.validate_run
    monkeypatch.setattr(ui, "validate_run", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    clock = [1e6]
    monkeypatch.setattr(ui.time, "monotonic", lambda: clock[0])
    key = ui._check_key(run)
    assert ui._check(run.url, str(tmp_path), key, False).ok
    assert ui._check(run.url, str(tmp_path), key, False).ok
    assert len(calls) == 1  # the second page (or session) uses the first one's check
    chunk_file(folder, "images").unlink()
    clock[0] += ui.CHECK_TTL_S
    report = ui._check(run.url, str(tmp_path), key, False)  # the same key: a new period
    assert len(calls) == 2 and not report.ok and "is missing" in report.error


# -- nesting depth: one limit, on write and on read ----------------------------------------------
def nested(depth: int) -> dict:
    value: dict = {"eps": 0.03}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_json_depth_counts_containers_without_recursion():
    assert json_depth(1) == 0 and json_depth({}) == 1 and json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(np.zeros((2, 3))) == 2
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) == MAX_JSON_DEPTH + 1  # stops counting past the limit
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(RunInputError, match="more than 64 levels") as info:
        check_json_depth(loop, run="r", error=RunInputError)
    assert info.value.code == Code.LIMIT and info.value.field == "params"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 490, 1000, 100_000])
def test_writer_refuses_deep_params_before_creating_any_folder(tmp_path, depth):
    root = tmp_path / "runs"
    with pytest.raises(RunInputError) as info:
        animlib.RunWriter(root, name="deep", params=nested(depth))
    err = info.value
    assert err.code == Code.LIMIT and err.field == "params" and err.run == "deep"
    assert "nested more than 64 levels deep" in str(err) and "MAX_JSON_DEPTH" in str(err)
    assert not root.exists()


def test_params_at_the_depth_limit_are_written_and_read(tmp_path):
    with animlib.RunWriter(tmp_path, name="at-limit", params=nested(MAX_JSON_DEPTH)) as w:
        w.log(image=image_for(0))
    run = animlib.open_run(tmp_path / w.run_id)
    assert json_depth(run.params) == MAX_JSON_DEPTH
    assert animlib.validate(tmp_path)[0].ok


def test_one_deep_run_never_empties_the_listing_or_breaks_compare(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for name in ("ok-a", "ok-b", "deep"):
        write_run(root, name, steps=4)
    meta = root / "deep" / "run.json"
    deep = '{"a": ' * 490 + "1" + "}" * 490
    meta.write_text(meta.read_text().replace('"params": {}', f'"params": {deep}'))
    infos = {i.id: i for i in animlib.list_runs(root)}
    assert infos["ok-a"].ok and infos["ok-b"].ok
    assert infos["deep"].code == Code.LIMIT and infos["deep"].field == "params"
    assert infos["deep"].meta is None  # nothing deep is kept (cached, pickled, shown)
    with pytest.raises(RunFormatError, match="params: is nested more than 64 levels"):
        animlib.open_run_in(root, "deep")
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["id"]) == {"ok-a", "ok-b"}
    at = app("app_pages/compare.py", runs="ok-a,deep,ok-b")
    assert not at.exception, at.exception
    assert any("nested more than 64 levels" in plain(e.value) for e in at.error)


# -- run.json size --------------------------------------------------------------------------------
def test_run_json_size_is_bounded_on_read(tmp_path):
    check_run_json_size(MAX_RUN_JSON_BYTES)
    with pytest.raises(RunFormatError, match=r"run\.json: is 1,048,577 bytes, over the limit"):
        check_run_json_size(MAX_RUN_JSON_BYTES + 1)
    run_id = write_run(tmp_path, "big-tags", steps=2)
    meta = json.loads((tmp_path / run_id / "run.json").read_text())
    meta["tags"] = ["x" * 1000] * 2000  # 2 MB
    (tmp_path / run_id / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunFormatError, match="MAX_RUN_JSON_BYTES") as info:
        animlib.open_run(tmp_path / run_id)
    assert info.value.code == Code.LIMIT and info.value.field == "run.json"
    (info_row,) = animlib.list_runs(tmp_path)
    assert info_row.code == Code.LIMIT and info_row.meta is None


# -- a read-only results folder --------------------------------------------------------------------
def test_writer_into_a_read_only_folder_names_the_folder(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    write_run(root, "existing", steps=2)

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    monkeypatch.setattr(os, "mkdir", read_only)
    with pytest.raises(StoreError) as info:
        animlib.RunWriter(root, name="new")
    assert info.value.code == Code.STORAGE
    assert f"the folder {root} is read-only" in str(info.value), info.value
    monkeypatch.undo()

    real_open = os.open

    def denied(path, flags, *args, **kwargs):  # files can be read, not created
        if not flags & os.O_CREAT:
            return real_open(path, flags, *args, **kwargs)
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StoreError) as info:
        animlib.RunWriter.resume(root / "existing")
    assert info.value.code == Code.STORAGE and info.value.field == ".writer.lock"
    assert f"check the permissions of the folder {root / 'existing'}" in str(info.value)


READ_ONLY_SCRIPT = textwrap.dedent(
    """
    import sys
    import animlib
    from animlib.cli import main
    from animlib.errors import StoreError
    root, out = sys.argv[1], sys.argv[2]
    problems = []
    for what, call in (
        ("writer", lambda: animlib.RunWriter(root, name="new")),
        ("resume", lambda: animlib.RunWriter.resume(root + "/existing")),
    ):
        try:
            call()
            problems.append(what + ": no error")
        except StoreError as exc:
            if "the folder " + root not in str(exc) or "read-only" not in str(exc):
                problems.append(what + ": " + str(exc))
    assert [r.ok for r in animlib.validate(root)] == [True], "validate"
    assert [i.ok for i in animlib.list_runs(root)] == [True], "list"
    animlib.render(animlib.open_run_in(root, "existing"), out + "/x.gif", dpi=50)
    assert main(["ls", root]) == 0 and main(["validate", root]) == 0
    print("PROBLEMS", problems)
    """
)


def test_a_read_only_results_folder_is_read_and_refuses_writers_clearly(tmp_path):
    """On a real read-only mount (a private mount namespace; skipped where that is not allowed)
    readers work and writers get a StoreError naming the folder, never a raw OSError."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a read-only bind mount")
    root, out = tmp_path / "runs", tmp_path / "out"
    write_run(root, "existing", steps=3)
    out.mkdir()
    probe = subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, text=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not allowed here: {probe.stderr.strip()}")
    script = tmp_path / "ro.py"
    script.write_text(READ_ONLY_SCRIPT)
    mount = f"mount --bind {root} {root} && mount -o remount,ro,bind {root}"
    cmd = f'{mount} && "{sys.executable}" {script} {root} {out}'
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
        ANIMLIB_CACHE=str(tmp_path / "cache"),
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", cmd],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PROBLEMS []" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert (out / "x.gif").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_place_of_a_chunk_is_refused_not_waited_on(tmp_path):
    """Opening a FIFO waits for a writer: validate (of the whole folder) and the runs page,
    which checks the runs it shows, hung forever on one such chunk."""
    import threading

    run_id = write_run(tmp_path, "a", steps=4)
    chunk = tmp_path / run_id / "confidences" / "c.0.0"
    chunk.unlink()
    os.mkfifo(chunk)
    found: list = []
    worker = threading.Thread(target=lambda: found.append(animlib.validate(tmp_path)))
    worker.daemon = True  # (a hang must not keep the test process alive)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "validate waited on the named pipe"
    (report,) = found[0]
    assert not report.ok and report.field == "confidences"
    assert "c.0.0 is not a regular file (a FIFO)" in report.error


def _restore_from_backup(folder: Path, backup: Path) -> None:
    """``rm -rf RUN; cp -a BACKUP RUN``: the same run.json (``updated`` too), mtimes kept."""
    shutil.rmtree(folder)
    subprocess.run(["cp", "-a", str(backup), str(folder)], check=True)


def test_a_damaged_run_restored_from_its_backup_is_checked_again(tmp_path, monkeypatch):
    """The runs page (key: updated, steps, status) and the viewer (key: fingerprint and chunk
    names) kept calling a run restored by ``cp -a`` broken for up to CHECK_TTL_S: every key
    was the same as the damaged run's."""
    from animlib import ui
    from animlib.index import open_index

    root = tmp_path / "runs"
    run_id = write_run(root, "restored", steps=6)
    folder, backup = root / run_id, tmp_path / "backup"
    subprocess.run(["cp", "-a", str(folder), str(backup)], check=True)
    with open(chunk_file(folder, "images"), "r+b") as fh:
        fh.truncate(10)
    subprocess.run(["cp", "-a", str(folder), str(tmp_path / "damaged")], check=True)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    index = open_index(str(root))

    def verdicts() -> tuple[str | None, str | None]:
        index.refresh()
        checked, _ = ui.check_runs(index.infos(), str(root))  # (the index of str(root))
        return checked[0].error, ui.open_checked(run_id, str(root))[1]

    page, viewer = verdicts()
    assert page and "cannot be read" in page and viewer and "cannot be read" in viewer
    _restore_from_backup(folder, backup)
    assert verdicts() == (None, None)
    _restore_from_backup(folder, tmp_path / "damaged")  # (and the other way round)
    page, viewer = verdicts()
    assert page and viewer


def test_a_chunk_signature_changes_when_a_chunk_is_rewritten_keeping_size_and_mtime(tmp_path):
    folder = tmp_path / write_run(tmp_path, "rewritten", steps=3)
    chunk = chunk_file(folder, "images")
    before = animlib.open_run(folder).chunk_signature()
    st = chunk.stat()
    data = chunk.read_bytes()
    chunk.unlink()
    chunk.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped: same size
    os.utime(chunk, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime set back (cp -p, rsync -t)
    assert animlib.open_run(folder).chunk_signature() != before


def test_a_remote_stores_tagged_listing_changes_when_a_file_is_written():
    import uuid

    from animlib.store import open_store

    store = open_store(f"memory://animlib-{uuid.uuid4().hex}")
    store.write_atomic("images/c/0", b"ab")
    first = store.find_tagged("images")
    assert [name for name, _ in first] == store.find("images") == ["c/0"]
    store.write_atomic("images/c/0", b"ba")
    assert store.find_tagged("images") != first
