"""Batch rendering with Dask: every run of a folder, skipping up-to-date outputs, failures apart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import imageio_ffmpeg
import pytest
from helpers import chunk_file, image_for, probs_for, write_run

import animlib
from animlib.bulk import render_all

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_render_all_on_a_two_worker_cluster(cluster, tmp_path):
    runs = tmp_path / "runs"
    lengths = {}
    for i in range(20):
        steps = 3 + i % 5
        lengths[write_run(runs, f"run-{i:02d}", steps=steps, shape=(12, 12, 3))] = steps
    (runs / "junk").mkdir()  # a broken entry: reported, the rest go on
    out = tmp_path / "videos"
    seen = []
    report = render_all(
        str(runs),
        str(out),
        scheduler=cluster.scheduler_address,
        fps=5,
        dpi=50,
        progress=lambda done, total, o: seen.append((done, total, o.run_id)),
    )
    assert report.count("rendered") == 20 and report.count("failed") == 1
    assert report.failed[0].run_id == "junk" and "run.json" in report.failed[0].message
    assert [d for d, _, _ in seen] == list(range(1, 22)) and {t for _, t, _ in seen} == {21}
    for run_id, steps in lengths.items():
        frames, secs = imageio_ffmpeg.count_frames_and_secs(str(out / f"{run_id}.mp4"))
        assert frames == steps, run_id
        assert secs == pytest.approx(steps / 5, abs=0.21)

    # nothing changed: everything is up to date
    again = render_all(
        str(runs),
        str(out),
        scheduler=cluster.scheduler_address,
        fps=5,
        dpi=50,
        progress=lambda *a: None,
    )
    assert again.count("skipped") == 20 and again.count("rendered") == 0

    # one run grows: only that one is rendered again
    with animlib.RunWriter.resume(runs / "run-07") as w:
        w.log(image=image_for(99, (12, 12, 3)), confidences=probs_for(99))
    third = render_all(
        str(runs),
        str(out),
        scheduler=cluster.scheduler_address,
        fps=5,
        dpi=50,
        progress=lambda *a: None,
    )
    assert [o.run_id for o in third.outcomes if o.status == "rendered"] == ["run-07"]
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out / "run-07.mp4"))
    assert frames == lengths["run-07"] + 1


def test_cli_render_all_with_local_cluster(tmp_path):
    runs = tmp_path / "runs"
    for i in range(3):
        write_run(runs, f"c{i}", steps=4, shape=(8, 8, 3))
    out = tmp_path / "gifs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "animlib",
            "render",
            "--all",
            str(runs),
            "--out",
            str(out),
            "--format",
            "gif",
            "--workers",
            "2",
            "--dpi",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 rendered, 0 up to date, 0 failed" in proc.stdout
    assert sorted(p.name for p in out.glob("*.gif")) == ["c0.gif", "c1.gif", "c2.gif"]
    assert "3/3" in proc.stderr  # the progress bar


def test_render_all_never_follows_links_leading_outside(tmp_path):
    runs, outside, out = tmp_path / "runs", tmp_path / "outside", tmp_path / "out"
    shape = (8, 8, 3)
    write_run(runs, "fine", steps=3, shape=shape)
    secret = outside / write_run(outside, "secret", steps=3, shape=shape)
    linked = runs / write_run(runs, "linked-images", steps=3, shape=shape)
    shutil.rmtree(linked / "images")
    os.symlink(secret / "images", linked / "images")
    chunked = runs / write_run(runs, "linked-chunk", steps=3, shape=shape)
    first = chunk_file(chunked, "images", 0)
    first.unlink()
    os.symlink("/etc/passwd", first)
    report = render_all(
        str(runs), str(out), fmt="gif", use_dask=False, dpi=50, progress=lambda *a: None
    )
    assert report.count("rendered") == 1
    failed = {o.run_id: o.message for o in report.failed}
    assert set(failed) == {"linked-images", "linked-chunk"}
    where = "is a symlink that points outside the results folder"
    assert f"images {where}" in failed["linked-images"]
    key = first.relative_to(chunked).as_posix()
    assert f"{key} {where}" in failed["linked-chunk"]
    assert sorted(p.name for p in out.glob("*.gif")) == ["fine.gif"]


def test_render_all_checks_the_format_and_options_once_before_any_run(tmp_path, capsys):
    """A typo in --format failed once per run (10,000 lines for a big folder); ".GIF" wrote
    ``run..GIF``."""
    from animlib.cli import main
    from animlib.errors import RenderOptionError

    runs, out = tmp_path / "runs", tmp_path / "out"
    run_id = write_run(runs, "one", steps=2, shape=(12, 12, 3))
    for fmt, options in (("gifx", {}), ("gif", {"fsp": 10}), ("gif", {"fps": 0})):
        with pytest.raises(RenderOptionError):
            render_all(str(tmp_path / "nowhere"), str(out), fmt=fmt, use_dask=False, **options)
    assert main(["render", "--all", str(runs), "--out", str(out), "--format", "gifx"]) == 2
    assert "unsupported output format 'gifx'" in capsys.readouterr().err
    assert not out.exists()
    report = render_all(str(runs), str(out), fmt=".GIF", use_dask=False, dpi=40)
    assert [o.status for o in report.outcomes] == ["rendered"]
    assert sorted(p.name for p in out.iterdir()) == [f".{run_id}.gif.stamp", f"{run_id}.gif"]


def test_render_all_refuses_to_write_videos_among_the_runs(tmp_path, capsys):
    """Videos in the results folder listed as broken runs there, and validate failed on the
    folder afterwards; a hidden folder in it is skipped by listings, so it is allowed."""
    from animlib.cli import main

    runs = tmp_path / "runs"
    write_run(runs, "one", steps=2, shape=(12, 12, 3))
    for out in (runs, runs / "renders"):
        assert main(["render", "--all", str(runs), "--out", str(out), "--workers", "1"]) == 2
        assert "videos would list as broken runs" in capsys.readouterr().err
    assert sorted(p.name for p in runs.iterdir()) == ["one"]
    report = render_all(str(runs), str(runs / ".renders"), fmt="gif", use_dask=False, dpi=40)
    assert [o.status for o in report.outcomes] == ["rendered"]
    assert render_all(str(runs), str(tmp_path / "runs-2"), fmt="gif", use_dask=False, dpi=40)
    assert main(["validate", str(runs), "--quick"]) == 0


def test_render_all_leaves_a_users_own_file_of_a_runs_name_alone(tmp_path):
    """``render --all --out DIR`` replaced the user's own ``DIR/<run>.mp4`` (no stamp: not
    rendered there) without a word."""
    runs, out = tmp_path / "runs", tmp_path / "videos"
    write_run(runs, "alpha", steps=2, shape=(12, 12, 3))
    write_run(runs, "beta", steps=2, shape=(12, 12, 3))
    out.mkdir()
    (out / "alpha.gif").write_bytes(b"the user's own file")
    report = render_all(str(runs), str(out), fmt="gif", use_dask=False, dpi=40)
    by_run = {o.run_id: o for o in report.outcomes}
    assert by_run["beta"].status == "rendered" and by_run["alpha"].status == "failed"
    assert "not rendered here" in by_run["alpha"].message and "--force" in by_run["alpha"].message
    assert (out / "alpha.gif").read_bytes() == b"the user's own file"
    again = render_all(str(runs), str(out), fmt="gif", use_dask=False, dpi=40, force=True)
    assert {o.status for o in again.outcomes} == {"rendered"}
    assert (out / "alpha.gif").read_bytes()[:3] == b"GIF"


def test_renders_of_runs_no_longer_there_are_named_and_left(tmp_path):
    """``render --all`` after runs were removed or renamed kept serving their old videos from
    the output folder without a word."""
    runs, out = tmp_path / "runs", tmp_path / "renders"
    for name in ("a", "b", "c"):
        write_run(runs, name, steps=2)
    first = render_all(str(runs), str(out), use_dask=False)
    assert first.count("rendered") == 3 and first.orphans == []
    shutil.rmtree(runs / "b")
    (runs / "c").rename(runs / "c2")
    (out / "mine.mp4").write_bytes(b"not rendered here")  # (no stamp: the user's own, not named)
    again = render_all(str(runs), str(out), use_dask=False)
    assert again.orphans == ["b.mp4", "c.mp4"]
    assert again.summary().endswith(
        "2 earlier renders are of runs not in this results folder (removed, renamed, or "
        "rendered from another folder into this one), left as they are: b.mp4, c.mp4"
    )
    assert (out / "b.mp4").is_file() and (out / "mine.mp4").is_file()
