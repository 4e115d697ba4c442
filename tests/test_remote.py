"""Runs in object storage: a real S3-compatible server (moto) on loopback, same results as local."""

from __future__ import annotations

import collections
import functools
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for, s3_fixture, write_run

import animlib
from animlib.player import unpack

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "lab"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


def _write_both(local: Path, remote: str) -> None:
    for root in (str(local), remote):
        write_run(root, "alpha", steps=8)
        write_run(root, "beta", steps=4, attack="FGSM")
        write_run(root, "edit", steps=3, confidences=False, original=False, attack="blur")


def test_s3_round_trip_same_as_local(s3, tmp_path):
    remote = f"s3://{BUCKET}/same"
    _write_both(tmp_path, remote)
    local_infos = {i.id: i for i in animlib.list_runs(tmp_path)}
    remote_infos = {i.id: i for i in animlib.list_runs(remote)}
    assert set(local_infos) == set(remote_infos) == {"alpha", "beta", "edit"}
    for run_id, info in local_infos.items():
        other = remote_infos[run_id]
        assert other.ok and other.url == f"{remote}/{run_id}"
        for key in ("name", "attack", "steps", "status", "summary", "class_names"):
            assert info.get(key) == other.get(key), (run_id, key)
        a, b = animlib.open_run(info.url), animlib.open_run(other.url)
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.images[-1], b.images[-1])
        if a.confidences is not None:
            np.testing.assert_array_equal(a.confidences, b.confidences)
    assert [r.line() for r in animlib.validate(remote)] == [
        r.line() for r in animlib.validate(tmp_path)
    ]
    from animlib.store import open_store

    entries = {e.name: e for e in open_store(remote).child("alpha").list(detail=True)}
    meta = entries["run.json"]
    assert not meta.is_dir and meta.size == (tmp_path / "alpha" / "run.json").stat().st_size
    assert meta.etag and meta.mtime and entries["images"].is_dir


def test_render_all_from_and_to_a_bucket(s3):
    from animlib.bulk import render_all

    runs, out = f"s3://{BUCKET}/bulk-runs", f"s3://{BUCKET}/bulk-out"
    write_run(runs, "one", steps=3, shape=(8, 8, 3))
    report = render_all(runs, out, fmt="gif", use_dask=False, dpi=50, progress=lambda *a: None)
    assert report.summary() == "1 rendered, 0 up to date, 0 failed"
    assert report.outcomes[0].output == f"{out}/one.gif"
    again = render_all(runs, out, fmt="gif", use_dask=False, dpi=50, progress=lambda *a: None)
    assert again.summary() == "0 rendered, 1 up to date, 0 failed"
    import s3fs

    fs = s3fs.S3FileSystem()
    assert fs.cat_file(f"{BUCKET}/bulk-out/one.gif")[:6] == b"GIF89a"


def test_storage_options_are_passed_through(s3, tmp_path):
    opts = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3["AWS_ENDPOINT_URL"]},
    }
    with animlib.RunWriter(f"s3://{BUCKET}/opts", name="o", storage_options=opts) as w:
        w.log(image=image_for(0))
    infos = animlib.list_runs(f"s3://{BUCKET}/opts", storage_options=opts)
    assert [i.id for i in infos] == ["o"]
    run = animlib.open_run(infos[0].url, storage_options=opts)
    np.testing.assert_array_equal(run.images[0], image_for(0))


def s3_requests(monkeypatch) -> list[str]:
    """Record the S3 operation of every request s3fs sends from now on (``list_objects_v2``,
    ``get_object``, ``head_object``, ...)."""
    import s3fs

    sent: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    @functools.wraps(original)
    async def spy(self, method, *a, **kw):
        sent.append(method if isinstance(method, str) else getattr(method, "__name__", "?"))
        return await original(self, method, *a, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", spy)
    return sent


def test_listing_is_one_list_call_plus_one_batched_read(s3, monkeypatch):
    remote = f"s3://{BUCKET}/many"
    for i in range(6):
        write_run(remote, f"r{i}", steps=2)
    sent = s3_requests(monkeypatch)
    infos = animlib.list_runs(remote)
    assert len(infos) == 6 and all(i.ok for i in infos)
    # one listing of the folder (with every run.json's ETag), then one GET per run.json, and
    # once per process a GET of the folder's own run.json (none: not a run folder)
    assert sorted(sent) == ["get_object"] * 7 + ["list_objects_v2"], sent
    sent.clear()
    assert [i.id for i in animlib.list_runs(remote)] == [i.id for i in infos]
    assert sent == ["list_objects_v2"]  # nothing changed: nothing read


READER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import animlib
    from helpers import image_for, probs_for, CLASSES
    with animlib.RunWriter({root!r}, name="live", class_names=CLASSES, true_label=0) as w:
        print(w.run_id, flush=True)
        for i in range(25):
            w.log(image=image_for(i), confidences=probs_for(i))
    """
)


def test_read_s3_run_while_it_is_written(s3):
    remote = f"s3://{BUCKET}/live"
    code = READER.format(tests=os.path.dirname(__file__), root=remote)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    seen = set()
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            run = animlib.open_run(f"{remote}/{run_id}")
        except animlib.RunFormatError:
            time.sleep(0.1)
            continue
        n = len(run)
        if n:
            np.testing.assert_array_equal(run.images[n - 1], image_for(n - 1))
            np.testing.assert_allclose(run.confidences[n - 1], probs_for(n - 1), rtol=1e-6)
            seen.add((n, run.status))
        if run.status == "finished":
            break
        time.sleep(0.05)
    assert proc.wait(60) == 0
    assert any(status == "running" and 0 < n < 25 for n, status in seen), sorted(seen)
    assert (25, "finished") in seen


def test_a_run_rewritten_by_another_process_is_not_read_from_a_stale_listing(s3):
    """s3fs keeps every folder listing for ever: a run rewritten by another process without
    its ``loss`` scalar was reported broken ("scalars: cannot be read (folder does not
    exist)") by a long-running process that had listed the old run's scalars."""
    remote = f"s3://{BUCKET}/rewritten"
    other = {"skip_instance_cache": True}  # another process: its own s3fs and listing cache

    def write(with_loss: bool) -> None:
        with animlib.RunWriter(remote, name="r", class_names=CLASSES, if_exists="overwrite",
                               storage_options=other) as w:  # fmt: skip
            for i in range(3):
                w.log(image=image_for(i), confidences=probs_for(i),
                      **({"loss": float(i)} if with_loss else {}))  # fmt: skip

    write(with_loss=True)
    assert [r.line() for r in animlib.validate(f"{remote}/r")] == ["OK      r  (3 steps, finished)"]
    assert list(animlib.open_run(f"{remote}/r").scalars) == ["loss"]
    write(with_loss=False)
    assert [r.line() for r in animlib.validate(f"{remote}/r")] == ["OK      r  (3 steps, finished)"]
    assert animlib.open_run(f"{remote}/r").scalars == {}


def test_render_from_s3(s3, tmp_path):
    remote = f"s3://{BUCKET}/render"
    run_id = write_run(remote, "vid", steps=9)
    out = animlib.render(animlib.open_run(f"{remote}/{run_id}"), tmp_path / "vid.mp4", fps=5)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == 9


def test_render_to_a_bucket(s3, tmp_path, monkeypatch):
    """``render RUN s3://…/x.mp4`` wrote a local folder named ``s3:`` and said "wrote s3:/…";
    ``animlib.render`` failed in ffmpeg. Both upload the video now, cached or not."""
    import fsspec

    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    remote = f"s3://{BUCKET}/to-bucket"
    run_id = write_run(remote, "vid", steps=7)
    fs = fsspec.filesystem("s3")
    url = animlib.render(f"{remote}/{run_id}", f"s3://{BUCKET}/videos/py.mp4", fps=5)
    assert url == f"s3://{BUCKET}/videos/py.mp4"
    fs.get(url, str(tmp_path / "py.mp4"))
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "py.mp4"))[0] == 7
    for extra in ([], ["--no-cache"]):
        out = subprocess.run(
            [sys.executable, "-m", "animlib", "render", f"{remote}/{run_id}",
             f"s3://{BUCKET}/videos/cli{len(extra)}.gif", *extra],
            capture_output=True, text=True, env=dict(os.environ),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert f"wrote s3://{BUCKET}/videos/cli{len(extra)}.gif" in out.stdout
    fs.invalidate_cache()
    assert sorted(fs.ls(f"{BUCKET}/videos")) == [
        f"{BUCKET}/videos/{n}" for n in ("cli0.gif", "cli1.gif", "py.mp4")
    ]
    assert not (tmp_path / "s3:").exists()
    with pytest.raises(animlib.AnimlibError, match="full URL"):
        animlib.render(f"{remote}/{run_id}", "s3://")


def test_dashboard_over_a_bucket(s3, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    remote = f"s3://{BUCKET}/dash"
    write_run(remote, "alpha", steps=6)
    write_run(remote, "beta", steps=3, attack="FGSM")
    monkeypatch.setenv("ANIMLIB_RUNS", remote)
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    app = str(Path(__file__).resolve().parents[1] / "dashboard.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception
    assert set(at.dataframe[0].value["id"]) == {"alpha", "beta"}
    at = AppTest.from_file(app, default_timeout=120)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "alpha"
    at.run()
    assert not at.exception and not at.error
    (element,) = at.get("bidi_component")  # the browser player got the run's numbers and frames
    header, arrays = unpack(element.proto.bytes)
    assert header["runs"][0]["classes"][int(arrays["0.topk"][0][0])] == "cat"
    assert f"{arrays['0.topv'][0][0]:.4f}" == f"{probs_for(0)[0]:.4f}"
    assert len(header["runs"][0]["image"]["strips"]) == 1
    at = AppTest.from_file(app, default_timeout=120)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "../dash/alpha"
    at.run()
    assert not at.exception and at.error


def s3_objects(monkeypatch) -> collections.Counter[str]:
    """Count the requests s3fs sends from now on per operation and object
    (``get_object runs/a/run.json``; a listing as ``list_objects_v2 <prefix>/``)."""
    import s3fs

    sent: collections.Counter[str] = collections.Counter()
    original = s3fs.S3FileSystem._call_s3

    @functools.wraps(original)
    async def spy(self, method, *a, **kw):
        name = method if isinstance(method, str) else getattr(method, "__name__", "?")
        sent[f"{name} {kw.get('Key') or kw.get('Prefix')}"] += 1
        return await original(self, method, *a, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", spy)
    return sent


def test_the_viewer_reads_a_runs_metadata_once_per_page(s3, tmp_path, monkeypatch):
    """Over a bucket answering in 200 ms the viewer took 15 s to open a 31-step 16x16 run:
    60 requests, each array's zarr.json fetched 7-9 times, run.json and the run folder's HEAD
    3 times (the page's check, its metrics and every fingerprint opened or re-read the run).
    The page now opens the run once and its consumers share it, and the opened run keeps the
    chunks and listings it read (the image chunk was still read 4 times, each array listed
    twice)."""
    from streamlit.testing.v1 import AppTest

    remote = f"s3://{BUCKET}/slow"
    write_run(remote, "alpha", steps=31, shape=(16, 16, 3))
    monkeypatch.setenv("ANIMLIB_RUNS", remote)
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    app = str(Path(__file__).resolve().parents[1] / "dashboard.py")
    assert not AppTest.from_file(app, default_timeout=120).run().exception  # the runs page
    sent = s3_objects(monkeypatch)
    at = AppTest.from_file(app, default_timeout=120)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "alpha"
    at.run()
    assert not at.exception and not at.error and at.get("bidi_component")
    run = "slow/alpha"
    for path in ("run.json", "images/zarr.json", "confidences/zarr.json", "original/zarr.json"):
        assert sent[f"get_object {run}/{path}"] == 1, (path, sent)
    # opened with its run.json's GET (a HEAD and a listing of its folder came first), its
    # scalars looked up in the one listing of scalars/ (a HEAD of scalars/zarr.json, a listing)
    assert not sent[f"head_object {run}"] and not sent[f"list_objects_v2 {run}/"], sent
    assert not sent[f"head_object {run}/scalars/zarr.json"], sent
    # the image chunk was read 4 times (the page's check, the player's gain and its strip, the
    # metrics) and each array listed twice (the check's key, then its missing chunks): the
    # opened run keeps the chunks and listings it read
    for path in ("images/c/0/0/0/0", "confidences/c/0/0", "original/c/0/0/0"):
        assert sent[f"get_object {run}/{path}"] == 1, (path, sent)
    for name in ("images", "confidences", "original"):
        assert sent[f"list_objects_v2 {run}/{name}/"] == 1, (name, sent)
    assert sum(sent.values()) <= 16, sent  # (60 before; 26, then 16)


def test_cli_over_s3(s3):
    remote = f"s3://{BUCKET}/cli"
    write_run(remote, "one", steps=2)
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "animlib", "ls", remote], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and "one" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "animlib", "validate", remote],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and "OK      one" in out.stdout
    _ = CLASSES


def test_cli_run_ids_in_a_bucket_results_folder(s3, tmp_path, capsys, monkeypatch):
    """With $ANIMLIB_RUNS in a bucket, ``render alpha beta -o c.gif`` said "two output files:
    beta and -o c.gif", without -o "cannot tell the format of 'beta'", and an unknown id only
    "no such run folder" (ids were looked up in a local folder of that URL's name)."""
    from animlib.cli import main

    remote = f"s3://{BUCKET}/ids"
    a, b = (write_run(remote, name, steps=2) for name in ("alpha", "beta"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMLIB_RUNS", remote)
    assert main(["render", a, b, "-o", "c.gif", "--no-cache"]) == 0
    assert (tmp_path / "c.gif").stat().st_size > 0
    capsys.readouterr()
    assert main(["render", a, b]) == 2
    assert "a comparison of 2 runs needs its file as -o OUT.mp4" in capsys.readouterr().err
    assert main(["render", "nosuch", "-o", "x.gif"]) == 2
    assert (
        f"no such run folder here ({tmp_path / 'nosuch'}), nor in the results folder {remote} "
        "($ANIMLIB_RUNS)" in capsys.readouterr().err
    )


def at_once(job, n: int) -> tuple[list, list[BaseException]]:
    """``job(k, barrier)`` in ``n`` threads that pass the barrier together: results, errors."""
    start, results, errors = threading.Barrier(n), [], []

    def one(k: int) -> None:
        try:
            results.append(job(k, start))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_writers_racing_for_one_name_on_s3_each_get_their_own_run(s3):
    """On S3 a folder is a prefix: writers starting at once with one name all took the same
    id; the losers crashed and removed the winner's files (a run reported written read as
    broken). A claim object (a conditional PUT) gives each its own id, as a local folder does."""

    remote = f"s3://{BUCKET}/race"

    def write(k: int, start: threading.Barrier) -> str:
        original = np.full((8, 8), k, np.uint8)
        start.wait()
        with animlib.RunWriter(remote, name="race", class_names=CLASSES, original=original) as w:
            for step in range(3):
                w.log(image=original, confidences=probs_for(step))
        return w.run_id

    ids, errors = at_once(write, 4)
    assert errors == [] and sorted(ids) == ["race", "race-2", "race-3", "race-4"]
    reports = animlib.validate(remote)
    assert [r.ok for r in reports] == [True] * 4, [r.line() for r in reports]
    originals = {int(animlib.open_run(f"{remote}/{i}").original[0, 0, 0]) for i in ids}
    assert originals == {0, 1, 2, 3}  # each run holds its own writer's data


def test_a_doubled_slash_names_the_same_folder_on_s3(s3):
    """``s3://bucket//runs`` was listed as another prefix than ``s3://bucket/runs``, yet a
    removal under it removed ``bucket/runs/...``: a writer given the doubled URL took the id
    of a run another writer was writing, and finishing with no step removed that run."""
    remote = f"s3://{BUCKET}/doubled"
    w = animlib.RunWriter(remote, name="x", class_names=CLASSES)
    w.log(image=image_for(0), confidences=probs_for(0))
    other = animlib.RunWriter(f"s3://{BUCKET}//doubled/", name="x", class_names=CLASSES)
    assert other.run_id == "x-2" and other.url == f"{remote}/x-2"
    with pytest.warns(UserWarning, match="logged no step"):
        other.finish()  # (no step: its own folder goes)
    w.log(image=image_for(1), confidences=probs_for(1))  # ("the run folder was removed")
    w.finish()
    assert [(i.id, i.get("steps")) for i in animlib.list_runs(f"s3://{BUCKET}//doubled")] == [
        ("x", 2)
    ]


def test_a_writer_refuses_a_bucket_that_does_not_exist(s3):
    """s3fs created the bucket: a typo in its name sent the runs to a new bucket, where the
    dashboard watching the real one never showed them."""
    import boto3

    for make in (
        lambda: animlib.RunWriter("s3://no-such-lab-bucket/runs", name="a", class_names=CLASSES),
        lambda: animlib.BatchWriter("s3://no-such-lab-bucket/runs", experiment="e").log(
            images=np.zeros((2, 4, 4), np.uint8)
        ),
    ):
        with pytest.raises(
            animlib.AnimlibError, match="bucket 'no-such-lab-bucket' does not exist"
        ):
            make()
    from animlib.bulk import render_all

    runs = f"s3://{BUCKET}/to-typo"
    write_run(runs, "one", steps=2)
    with pytest.raises(animlib.AnimlibError, match="bucket 'no-such-lab-bucket' does not exist"):
        render_all(runs, "s3://no-such-lab-bucket/videos", use_dask=False)  # once, not per run
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert "no-such-lab-bucket" not in buckets


@pytest.mark.parametrize("how", ["error", "overwrite"])
def test_batch_writers_racing_for_one_experiment_in_s3_one_gets_it(s3, how):
    """With "error" or "overwrite", writers starting one experiment at once could all be
    refused (each created some of its sample runs). The experiment's claim (a conditional PUT)
    gives it to one; the other gets one BUSY error; the claim is not left behind."""
    import fsspec

    for k in range(4):
        root = f"s3://{BUCKET}/claim-{how}-{k}"

        def write(j: int, start: threading.Barrier, root: str = root) -> str:
            x = np.full((8, 6, 6), j, np.uint8)
            w = animlib.BatchWriter(root, experiment="cx", if_exists=how, attack=str(j))
            start.wait()  # (both past the check for existing runs: the first steps race)
            try:
                w.log(images=x)
            finally:
                start.wait()  # (the loser has been refused by now)
            w.log(images=x)
            w.finish()
            return str(j)

        done, errors = at_once(write, 2)
        assert len(done) == 1 and len(errors) == 1, errors
        assert errors[0].code == animlib.errors.Code.BUSY and "a writer in this process" in str(
            errors[0]
        )
        runs = animlib.list_runs(root)
        assert [(r.get("attack"), r.get("steps")) for r in runs] == [(done[0], 2)] * 8
        keys = fsspec.filesystem("s3").find(root.removeprefix("s3://"))
        top = [p.split("/")[2] for p in keys]  # (no claim left, nor a takeover marker)
        assert [name for name in top if name.startswith(".")] == []


@pytest.mark.parametrize("where", ["s3", "local"])
def test_batch_writers_racing_for_one_experiment_each_get_their_own(s3, tmp_path, where):
    """BatchWriters starting one experiment at once chose the same id; the later ones failed
    ("run … appeared while the experiment was starting") and left half experiments. With
    ``if_exists="new"`` a writer whose sample runs were taken moves on to the next free id."""

    root = f"s3://{BUCKET}/brace" if where == "s3" else str(tmp_path / "brace")

    def write(k: int, start: threading.Barrier) -> tuple[str, int]:
        x = np.full((3, 6, 6), k, np.uint8)
        start.wait()
        with animlib.BatchWriter(root, experiment="bx", class_names=CLASSES, originals=x) as w:
            for step in range(3):
                w.log(images=x, confidences=np.stack([probs_for(step)] * 3))
        return w.experiment, k

    done, errors = at_once(write, 3)
    assert errors == [] and sorted(e for e, _ in done) == ["bx", "bx-2", "bx-3"]
    for experiment, k in done:
        runs = [animlib.open_run(f"{root}/{experiment}-{s:04d}") for s in range(3)]
        assert [(len(r), int(r.original[0, 0, 0])) for r in runs] == [(3, k)] * 3
    assert all(r.ok for r in animlib.validate(root)) and len(animlib.list_runs(root)) == 9


def test_a_chunk_that_did_not_decode_is_read_again_not_kept(s3):
    """An opened Run over object storage keeps the chunks it read; one that passed the size
    checks but did not decode (bytes scrambled after the zstd header) must not be served again
    from there: once the object is repaired, the same Run reads it."""
    import boto3

    root = f"s3://{BUCKET}/undecoded"
    with animlib.RunWriter(root, name="z", class_names=CLASSES) as w:
        for i in range(5):
            w.log(image=image_for(i), confidences=probs_for(i))
    client = boto3.client("s3")
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="undecoded/z/confidences/c")
    key = listed["Contents"][0]["Key"]
    good = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=key, Body=good[:12] + bytes(b ^ 0x5A for b in good[12:]))
    run = animlib.open_run(f"{root}/z")
    with pytest.raises(animlib.RunFormatError, match="cannot be read"):
        run.read_steps("confidences", 0, 5)
    client.put_object(Bucket=BUCKET, Key=key, Body=good)
    np.testing.assert_allclose(run.read_steps("confidences", 0, 5)[0], probs_for(0), rtol=1e-6)


def test_a_failing_bucket_is_asked_for_run_json_once(s3, monkeypatch):
    """Opening a run of a bucket that fails (unreachable, throttled) raises its STORAGE error
    from the GET of run.json: not the GET, then a HEAD and a listing of the folder as well."""
    from animlib.errors import Code, StoreError
    from animlib.store import open_store

    store = open_store(f"s3://{BUCKET}/failing/r")
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        raise StoreError("the storage is unreachable", code=Code.STORAGE)

    monkeypatch.setattr(type(store), "read", failing)
    monkeypatch.setattr(type(store), "contains", failing)
    with pytest.raises(StoreError, match="unreachable") as caught:
        animlib.open_run(store)
    assert caught.value.code == Code.STORAGE and caught.value.run == "r"
    assert len(calls) == 1


def test_a_run_not_found_in_a_bucket_prefix_that_holds_nothing_is_not_unreachable(s3):
    """A prefix with no object left "does not exist" on object storage: the pages said the
    results folder could not be reached (check your network) for a run removed."""
    from animlib.errors import AnimlibError
    from animlib.not_found import not_found_message
    from animlib.reader import open_run_in

    def message(where: str) -> str:
        try:
            open_run_in(where, "gone")
        except AnimlibError as exc:
            return not_found_message("'gone'", where, exc, str)
        raise AssertionError("found")

    assert message(f"s3://{BUCKET}/emptied").startswith("No run with id 'gone' in s3://")
    assert "cannot be reached now" in message("s3://no-such-bucket-animlib/x")
