"""Runs written before the animlib.steps codec (tests/data/old_runs: demo runs as committed
then) still read, validate and resume: new steps go in the run's own layout (bytes + zstd)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import animlib

RUNS = Path(__file__).resolve().parent / "data" / "old_runs"
OLD = sorted(p for p in RUNS.iterdir() if (p / "run.json").is_file())


def codecs(run: Path) -> list[str]:
    return [c["name"] for c in json.loads((run / "images" / "zarr.json").read_text())["codecs"]]


def test_every_committed_run_reads_and_validates():
    assert len(OLD) >= 6
    for run_dir in OLD[:: max(1, len(OLD) // 40)]:  # a spread of the demo runs and samples
        run = animlib.open_run(run_dir)
        first, last = run.images[0], run.images[len(run) - 1]
        assert first.shape == last.shape == run.image_shape
        assert run.images.shape == (len(run), *first.shape)  # numpy-like, without a read
        assert run.images.dtype == first.dtype == last.dtype
        if run.has_confidences:
            assert run.confidences.shape == (len(run), len(run.class_names))
        report = animlib.validate(run_dir, deep=False)[0]
        assert report.ok, report.line()


def test_an_old_run_resumes_in_its_own_layout(tmp_path):
    source = next(p for p in OLD if codecs(p) == ["bytes", "zstd"] and (p / "confidences").is_dir())
    shutil.copytree(source, tmp_path / source.name)
    before = animlib.open_run(tmp_path / source.name)
    n, images = len(before), before.images[:]
    conf = before.confidences
    extra = np.clip(images[-1] + np.float32(1 / 255), 0, 1).astype(images.dtype)
    with animlib.RunWriter.resume(tmp_path / source.name) as w:
        w.log(image=extra, confidences=conf[-1])
        w.log(image=images[0], confidences=conf[0])
    run = animlib.open_run(tmp_path / source.name)
    assert len(run) == n + 2 and run.status == "finished"
    assert run.images[:n].tobytes() == images.tobytes()
    assert run.images[n].tobytes() == extra.tobytes()
    assert run.images[n + 1].tobytes() == images[0].tobytes()
    assert codecs(tmp_path / source.name) == ["bytes", "zstd"]  # the run's layout is kept
    assert animlib.validate(tmp_path / source.name)[0].ok


def test_a_caller_reusing_its_array_never_changes_stored_steps(tmp_path):
    source = next(p for p in OLD if codecs(p) == ["bytes", "zstd"])
    shutil.copytree(source, tmp_path / "old")
    before = animlib.open_run(tmp_path / "old")
    n, x = len(before), before.images[0].copy()
    kwargs = {"confidences": before.confidences[0]} if before.has_confidences else {}
    want = []
    with animlib.RunWriter.resume(tmp_path / "old") as w:
        for step in range(3):  # one array, changed in place between calls (as attack loops do)
            x[...] = np.float32(step / 4) if x.dtype == np.float32 else step * 60
            w.log(image=x, **kwargs)
            want.append(x.copy())
    run = animlib.open_run(tmp_path / "old")
    for step in range(3):
        assert run.images[n + step].tobytes() == want[step].tobytes()
