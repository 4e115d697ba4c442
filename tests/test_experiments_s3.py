"""Experiments in object storage (moto's S3 server on loopback): write, list, summarize, rerun."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import s3_fixture

import animlib

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
BUCKET = "experiments"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


def _write(root: str, **kw) -> animlib.BatchWriter:
    rng = np.random.default_rng(0)
    x = rng.random((3, 6, 6, 3), dtype=np.float32) * 0.5
    with animlib.BatchWriter(root, experiment="pgd", attack="PGD", class_names=["a", "b"],
                             true_labels=[0, 1, 0], originals=x, **kw) as w:  # fmt: skip
        for step in range(3):
            logits = np.stack([[1.0 - step, step], [0.0, 1.0], [2.0, 0.0]])
            w.log(images=x + 0.1 * step, logits=logits)
    return w


def test_experiment_round_trip_in_s3(s3, tmp_path):
    remote = f"s3://{BUCKET}/results"
    w = _write(remote)
    local = _write(str(tmp_path))
    assert w.run_ids == local.run_ids == ["pgd-0000", "pgd-0001", "pgd-0002"]
    exps = animlib.list_experiments(remote)
    assert [(e.id, e.run_ids) for e in exps] == [("pgd", w.run_ids)]
    a = animlib.summarize(remote)
    b = animlib.summarize(tmp_path)
    assert a.equals(b) and a.loc[0, "success_rate"] == pytest.approx(1 / 3)
    run = animlib.open_run(f"{remote}/pgd-0001")
    assert run.meta["experiment"] == "pgd" and len(run) == 3
    again = _write(remote, if_exists="overwrite")
    assert again.experiment == "pgd" and [e.id for e in animlib.list_experiments(remote)] == ["pgd"]
    assert _write(remote).experiment == "pgd-2"


def test_overwrite_in_s3_refuses_runs_holding_files_of_the_user(s3):
    """Overwrite removed the old sample runs whole, a user's notes in them too; the run's own
    objects (its claim, lock, chunks) are no reason to refuse."""
    from animlib.batch_input import ExperimentInputError
    from animlib.store import open_store

    remote = f"s3://{BUCKET}/notes"
    _write(remote)
    _write(remote, if_exists="overwrite")  # only the writer's own objects: replaced
    folder = open_store(remote).child("pgd-0002")
    folder.write_atomic("NOTES.md", b"my notes")
    with pytest.raises(ExperimentInputError, match=r"did not make \(NOTES.md\)") as info:
        _write(remote, if_exists="overwrite")
    assert info.value.run == "pgd-0002" and info.value.field == "if_exists"
    assert folder.read("NOTES.md") == b"my notes"
    assert len(animlib.open_run(f"{remote}/pgd-0002")) == 3
