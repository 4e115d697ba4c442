"""Runs written by another tool from the run format alone: listed, summarized and checked alike."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import zarr

import animlib
from animlib.errors import Code
from animlib.index import open_index
from animlib.index.grid import outcomes
from animlib.index.versions import UNREAD
from animlib.validation import validate_run

CLASSES = ["cat", "dog", "car", "ship"]


def plain_run(root, run_id, *, true, flip, steps=5, summary=None, **extra):
    """A run written with plain zarr and json (the format's keys only, no ``summary`` unless
    given): its model says ``true`` until step ``flip`` (None: never), then the next class."""
    assert summary is None or set(summary) <= {"final_pred", "success", "flip_step"}
    path = root / run_id
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    x0 = np.random.default_rng(len(run_id)).random((6, 6, 3)).astype(np.float32)
    images = np.stack([np.clip(x0 + 0.02 * s, 0, 1) for s in range(steps)]).astype(np.float32)
    conf = np.full((steps, 4), 0.1, np.float32)
    for s in range(steps):
        conf[s, true if flip is None or s < flip else (true + 1) % 4] = 0.7
    for name, data in (("images", images), ("confidences", conf), ("original", x0)):
        group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=data.shape)[...] = data
    meta = {
        "format_version": 1,
        "name": run_id,
        "attack": "PGD",
        "model": "m",
        "params": {"eps": 0.1},
        "class_names": CLASSES,
        "true_label": true,
        "target_label": None,
        "status": "finished",
        "created": "2026-12-07T10:00:00Z",
        "updated": "2026-12-07T10:00:05Z",
        "steps": steps,
        "tags": [],
        **({"summary": summary} if summary is not None else {}),
        **extra,
    }
    (path / "run.json").write_text(json.dumps(meta))
    return path


def sweep(root, summary=None):
    """Experiment ``tp`` of four plain sample runs: fooled at step 2, never, before the
    attack (step 0), at step 1."""
    for sample, flip in enumerate((2, None, 0, 1)):
        kept = summary if sample == 0 else None
        plain_run(root, f"tp-{sample:04d}", true=sample, flip=flip, summary=kept,
                  experiment="tp", sample=sample)  # fmt: skip


def test_a_run_json_without_a_summary_is_summarized_from_its_arrays(tmp_path):
    """Such runs (another tool's, or animlib's after a tool rewrote run.json with the
    format's keys) showed no success, robust accuracy or flip step anywhere, and ``outcomes``
    said no image was fooled."""
    sweep(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.glob("*/run.json")}
    row = animlib.summarize(tmp_path, by="experiment").iloc[0]
    assert (row["n"], row["clean_acc"], row["robust_acc"], row["success_rate"]) == (
        4,
        0.75,
        0.25,
        0.75,
    )
    assert row["median_flip_step"] == 1 and row["median_linf"] > 0
    index = open_index(str(tmp_path))
    index.refresh()
    flips = outcomes(index, ["tp"]).set_index("sample")["flip_step"]
    assert [str(flips[s]) for s in range(4)] == ["2", "<NA>", "0", "1"]
    infos = {info.id: info for info in animlib.list_runs(tmp_path)}
    assert [infos[f"tp-{s:04d}"].meta["summary"]["success"] for s in range(4)] == [
        True, False, True, True
    ]  # fmt: skip
    ls = subprocess.run(
        [sys.executable, "-m", "animlib", "ls", str(tmp_path)], capture_output=True, text=True
    )
    assert [line.split()[-2:] for line in ls.stdout.splitlines()[1:5]] == [
        ["yes", "2"], ["no", "-"], ["yes", "0"], ["yes", "1"]
    ]  # fmt: skip
    assert {p: p.read_bytes() for p in tmp_path.glob("*/run.json")} == before  # never written


def test_a_summary_whose_final_prediction_the_confidences_deny_is_a_broken_run(tmp_path):
    """A run.json summary with another final prediction than the stored confidences' was
    counted as written: an experiment whose every image was fooled read robust accuracy 1."""
    sweep(tmp_path, summary={"final_pred": 0, "success": False, "flip_step": None})
    report = validate_run(tmp_path / "tp-0000", deep=False)  # (the pages' and summaries' check)
    assert report.field == "summary.final_pred" and report.code == Code.MISMATCH, report
    assert "run.json says 0, the stored confidences and labels give 1" in report.error
    row = animlib.summarize(tmp_path, by="experiment").iloc[0]
    assert (row["n"], row["left_out"], row["success_rate"]) == (3, 1, 2 / 3)


def test_a_byte_order_mark_is_read_and_an_infinite_parameter_says_how_to_write_it(tmp_path):
    """run.json with a UTF-8 byte order mark (PowerShell 5's and some editors' UTF-8) was
    refused as "not valid JSON"; ``norm: Infinity`` (Python's ``json.dump`` of ``np.inf``) was
    told to be written as null, where animlib writes the text "inf"."""
    path = plain_run(tmp_path, "bom", true=0, flip=None)
    (path / "run.json").write_bytes(b"\xef\xbb\xbf" + (path / "run.json").read_bytes())
    assert validate_run(path).ok and animlib.open_run(path).meta["name"] == "bom"
    path = plain_run(tmp_path, "inf", true=0, flip=None)
    text = (path / "run.json").read_text().replace('"eps": 0.1', '"eps": 0.1, "norm": Infinity')
    (path / "run.json").write_text(text)
    report = validate_run(path)
    assert report.field == "params.norm" and 'write the text "inf" or "-inf"' in report.error


def test_a_uint64_sample_id_is_read_and_counted_where_it_crashed_the_outcomes(tmp_path):
    """A uint64 hash as ``sample`` (another tool's) crashed ``outcomes`` and the experiments
    page (pandas' Int64 cannot hold it); BatchWriter, which stores int64 ids, called such an id
    negative."""
    big = 0xF3A1C0DE12345678
    plain_run(tmp_path, "h-0000", true=0, flip=1, experiment="h", sample=big)
    plain_run(tmp_path, "h-0001", true=1, flip=None, experiment="h", sample=1)
    assert all(report.ok for report in animlib.validate(tmp_path))
    index = open_index(str(tmp_path))
    index.refresh()
    frame = outcomes(index, ["h"])
    assert frame["sample"].tolist() == [1, big]
    assert [str(v) for v in frame["flip_step"]] == ["<NA>", "1"]
    assert animlib.summarize(tmp_path).iloc[0]["n"] == 2
    ids = np.array([big, 5], np.uint64)
    with pytest.raises(animlib.ExperimentInputError, match="17555524882487596664 does not fit"):
        animlib.BatchWriter(tmp_path, experiment="b", class_names=CLASSES, sample_ids=ids)


def test_logits_stored_as_confidences_are_not_drawn(tmp_path):
    """``validate`` and the viewer refused another tool's logits stored as confidences, but
    ``render`` drew them: a frame read "pred: 7 (828.4%)", with negative bars."""
    path = plain_run(tmp_path, "logits", true=0, flip=None, steps=3)
    conf = zarr.open_array(str(path / "confidences"), mode="r+")
    conf[...] = np.array([[8.3, -5.2, 5.6, 0.1]] * 3, np.float32)
    message = "run 'logits': confidences: step 0 has values outside [0, 1] (logits?)"
    assert validate_run(path).line().endswith(message.split(": ", 1)[1])
    for draw in (
        lambda: animlib.render(path, tmp_path / "x.mp4"),
        lambda: animlib.animate(path),
        lambda: animlib.run_metrics(path),
    ):
        with pytest.raises(animlib.RunFormatError) as err:
            draw()
        assert str(err.value) == message and err.value.field == "confidences"
    assert not (tmp_path / "x.mp4").exists()


def test_another_tools_run_is_resumed_and_its_summary_covers_every_step(tmp_path):
    """``RunWriter.resume`` accepted such a run, then every ``log`` died with a bare
    ``KeyError: 'image_shape'``; its summary would have covered the new steps only."""
    path = plain_run(tmp_path, "tp", true=0, flip=2, steps=4, status="running")  # (killed)
    with animlib.RunWriter.resume(path) as w:
        image = animlib.open_run(path).images[3]
        w.log(image=image, confidences=[0.1, 0.7, 0.1, 0.1])
    run = animlib.open_run(path)
    assert len(run) == 5 and run.status == "finished" and run.meta["image_shape"] == [6, 6, 3]
    summary = run.meta["summary"]
    assert (summary["flip_step"], summary["final_pred"], summary["success"]) == (2, 1, True)
    assert validate_run(path).ok


def test_a_link_to_a_run_of_the_folder_is_no_second_run(tmp_path):
    """A ``latest`` link to a run (as ``wandb/latest-run``; cp -a, rsync -a, tar and zip -y
    keep it) counted that run twice in ``ls`` and ``summarize`` and made its experiment look
    mixed; it still opens the run."""
    sweep(tmp_path)
    (tmp_path / "latest").symlink_to("tp-0003")
    assert sorted(info.id for info in animlib.list_runs(tmp_path)) == [
        f"tp-{s:04d}" for s in range(4)
    ]
    assert animlib.summarize(tmp_path, by="experiment").iloc[0]["n"] == 4
    assert animlib.open_run_in(tmp_path, "latest").meta["sample"] == 3
    index = open_index(str(tmp_path))
    index.refresh()
    (tmp_path / "newest").symlink_to(tmp_path / "tp-0001")  # (an absolute link too)
    index.refresh()
    assert sorted(index.table.column("id").to_pylist()) == [f"tp-{s:04d}" for s in range(4)]


def test_a_format_version_written_as_text_is_told_so():
    """``"format_version": "1"`` read "unknown format version '1' (this animlib reads version
    1)", a contradiction."""
    from animlib.meta import check_meta

    with pytest.raises(animlib.RunFormatError, match="must be the number 1, not the text '1'"):
        check_meta({"format_version": "1"}, "r")


def test_scalars_without_their_groups_document_and_integer_scalars_are_read(tmp_path):
    """``zarr.create_array("run/scalars/loss")`` writes no ``scalars/zarr.json``: the loss
    curve was silently not shown; an int64 series (an attack's query count) made the whole run
    broken."""
    path = plain_run(tmp_path, "tp", true=0, flip=None, steps=4)
    loss = zarr.create_array(str(path / "scalars" / "loss"), shape=(4,), dtype="float64")
    loss[...] = [1.0, 0.8, 0.5, 0.2]
    queries = zarr.create_array(str(path / "scalars" / "queries"), shape=(4,), dtype="int64")
    queries[...] = [0, 10, 20, 30]
    assert not (path / "scalars" / "zarr.json").exists()
    assert validate_run(path).ok
    scalars = animlib.open_run(path).scalars
    assert scalars["loss"].tolist() == [1.0, 0.8, 0.5, 0.2] and scalars["queries"][-1] == 30.0


def test_a_run_folder_named_outside_the_run_id_rule_is_broken_alone_too(tmp_path):
    """``validate FOLDER`` called ``pgd-ε0.03`` broken (the dashboard does not show it) while
    ``validate FOLDER/pgd-ε0.03`` said OK."""
    path = plain_run(tmp_path, "pgd-ε0.03", true=0, flip=None)
    (listed,) = animlib.validate(tmp_path)
    (alone,) = animlib.validate(path)
    assert listed.code == alone.code == Code.UNSAFE and alone.error == listed.error
    assert "is not a safe run id" in alone.error


def test_a_link_is_the_name_of_a_hidden_or_oddly_named_run_folder(tmp_path):
    """``current -> .v3`` (publishing by swapping a link) and a link to a folder named outside
    the run id rule are the only names of their runs: listed, not dropped as aliases."""
    plain_run(tmp_path, ".v3", true=0, flip=None)
    plain_run(tmp_path, "copy (1)", true=0, flip=None)
    (tmp_path / "current").symlink_to(".v3")
    (tmp_path / "copy").symlink_to("copy (1)")
    infos = {info.id: info for info in animlib.list_runs(tmp_path)}
    assert infos["current"].ok and infos["copy"].ok and not infos["copy (1)"].ok


def test_another_tools_integer_scalar_series_is_not_continued(tmp_path):
    """Resumed, an int64 series stored 40.5 as 40, then the first step not logging it died
    with a bare "cannot convert float NaN to integer"; the run was left failed."""
    path = plain_run(tmp_path, "tp", true=0, flip=None, steps=3, status="running")
    queries = zarr.create_array(str(path / "scalars" / "queries"), shape=(3,), dtype="int64")
    queries[...] = [10, 20, 30]
    with pytest.raises(animlib.RunInputError, match="int64 series .* cannot be continued") as err:
        animlib.RunWriter.resume(path)
    assert err.value.field == "scalars/queries"
    assert animlib.open_run(path).status == "running" and len(animlib.open_run(path)) == 3


def test_a_storage_failure_while_a_summary_is_computed_is_tried_again(tmp_path, monkeypatch):
    """One failed read (EMFILE, an S3 503) was kept as "no summary" for good: the run index
    keeps a listing per run.json version, and a finished run's never changes."""
    from animlib import reader

    sweep(tmp_path)
    real, failing = reader.open_run_in, [True]

    def flaky(root, run_id, **kw):
        if run_id == "tp-0000" and failing[0]:
            raise animlib.StoreError("Too many open files", field=run_id, code=Code.STORAGE)
        return real(root, run_id, **kw)

    monkeypatch.setattr(reader, "open_run_in", flaky)
    index = open_index(str(tmp_path))
    index.refresh()
    (row,) = index.rows(["tp-0000"]).to_pylist()
    assert row["version"].startswith(UNREAD) and row["error"] is None  # (listed, read again)
    assert index.rows(["tp-0001"]).to_pylist()[0]["success"] is False
    failing[0] = False
    index._unread = dict.fromkeys(index._unread, 0.0)  # (its retry is due)
    index.refresh()
    (row,) = index.rows(["tp-0000"]).to_pylist()
    assert not row["version"].startswith(UNREAD) and (row["success"], row["flip_step"]) == (True, 2)
