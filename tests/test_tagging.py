"""Tags changed after a run ended (``animlib tag``, ``tagging.retag``): run.json rewritten whole."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import moto_s3

import animlib
from animlib.cli import main
from animlib.errors import Code, RunInputError
from animlib.tagging import retag, tag_list


def _run(root, name: str, tags=("demo",)) -> str:
    with animlib.RunWriter(root, name=name, attack="PGD", class_names=list("abc"), true_label=0,
                           tags=list(tags)) as w:  # fmt: skip
        w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[0.8, 0.1, 0.1])
    return str(root / w.run_id)


def test_retag_changes_only_the_tags(tmp_path):
    run = _run(tmp_path, "a", tags=("demo", "digits"))
    before = json.loads((tmp_path / "a" / "run.json").read_text())
    assert retag(run, add="best, talk", remove=["demo", "absent"]) == ["digits", "best", "talk"]
    after = json.loads((tmp_path / "a" / "run.json").read_text())
    assert list(after) == list(before)  # (the same keys, in the same order)
    assert {k: v for k, v in after.items() if k != "tags"} == {
        k: v for k, v in before.items() if k != "tags"
    }
    assert animlib.open_run(run).meta["tags"] == ["digits", "best", "talk"]
    assert all(r.ok for r in animlib.validate(run))
    assert not (tmp_path / "a" / animlib.lock.LOCK_NAME).exists() and not list(
        (tmp_path / "a").glob(".tmp*")
    )
    assert retag(run, add="best") == ["digits", "best", "talk"]  # (nothing to change)


def test_a_running_run_is_not_retagged(tmp_path):
    with animlib.RunWriter(tmp_path, name="live", class_names=list("abc"), true_label=0) as w:
        w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[0.8, 0.1, 0.1])
        with pytest.raises(RunInputError) as caught:  # (its writer holds the lock)
            retag(tmp_path / "live", add="x")
        assert caught.value.code == Code.BUSY
    meta = tmp_path / "live" / "run.json"
    meta.write_text(meta.read_text().replace('"finished"', '"running"'))  # (a killed writer)
    with pytest.raises(RunInputError, match="is still running") as caught:
        retag(tmp_path / "live", add="x")
    assert (caught.value.field, caught.value.code) == ("status", Code.BUSY)
    assert json.loads(meta.read_text())["tags"] == []
    with pytest.raises(RunInputError) as caught:
        tag_list([1, 2], "live")
    assert caught.value.field == "tags"


def test_cli_tag_runs_and_experiments_and_the_index_sees_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path))
    _run(tmp_path, "single")
    with animlib.BatchWriter(tmp_path, experiment="sweep", attack="PGD", class_names=list("abc"),
                             true_labels=[0, 1]) as w:  # fmt: skip
        w.log(images=np.zeros((2, 4, 4, 1), np.float32), confidences=np.full((2, 3), 1 / 3))
    assert main(["ls", "--search", "best"]) == 0
    assert "0 runs" in capsys.readouterr().out
    assert main(["tag", "single", "sweep", "--add", "best"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "single: tags demo, best", "sweep-0000: tags best", "sweep-0001: tags best",
        "3 runs tagged",
    ]  # fmt: skip
    main(["ls", "--search", "best"])
    assert "3 runs, 0 broken" in capsys.readouterr().out
    assert [e.get("tags") for e in animlib.list_experiments(tmp_path)] == [["best"]]
    assert main(["tag", "nope", "--add", "x"]) == 2
    assert "error: run 'nope'" in capsys.readouterr().err
    assert main(["tag", "single"]) == 2
    assert "--add TAGS and/or --remove TAGS" in capsys.readouterr().err
    meta = tmp_path / "sweep-0001" / "run.json"
    meta.write_text(meta.read_text().replace('"finished"', '"running"'))
    assert main(["tag", "sweep", "--remove", "best"]) == 1  # one of them is still running
    out, err = capsys.readouterr()
    assert out.splitlines() == ["sweep-0000: tags (none)", "1 run tagged, 1 not"]
    assert "run 'sweep-0001': status: is still running" in err


def test_retag_over_object_storage():
    with moto_s3("tags"):
        url = "s3://tags/runs"
        with animlib.RunWriter(url, name="r", class_names=list("abc"), true_label=0) as w:
            w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[0.8, 0.1, 0.1])
        assert retag(f"{url}/r", add="best") == ["best"]
        assert animlib.open_run(f"{url}/r").meta["tags"] == ["best"]
        assert [i.get("tags") for i in animlib.list_runs(url)] == [["best"]]


def test_a_tag_added_while_a_writer_resumes_the_run_is_kept(tmp_path, monkeypatch):
    """Resume read run.json before it took the lock, then wrote that old copy back: a tag
    added between the two was lost (475 of 2,797 in a two-process loop)."""
    from animlib import appender, lock

    run = _run(tmp_path, "r", tags=())
    real, done = lock.acquire, []

    def acquire(store, run_id, *args, **kwargs):
        if not done:  # (another process tags the run just before resume takes the lock)
            done.append(None)
            done[0] = retag(run, add="best")
        return real(store, run_id, *args, **kwargs)

    monkeypatch.setattr(appender.lock, "acquire", acquire)
    animlib.RunWriter.resume(run).finish()
    assert done == [["best"]]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["tags"] == ["best"]


def test_retag_refuses_what_would_break_the_run_and_leaves_a_killed_writers_lock(tmp_path):
    import subprocess
    import sys

    run = _run(tmp_path, "r", tags=(" sp ", "a,b", "keep"))
    with pytest.raises(RunInputError, match="over the limit") as caught:
        retag(run, add=[f"t{i}" for i in range(100_000)])
    assert (caught.value.field, caught.value.code) == ("tags", Code.LIMIT)
    assert animlib.open_run(run).meta["tags"] == [" sp ", "a,b", "keep"]
    assert retag(run, remove=["a,b"]) == [" sp ", "keep"]  # (a list: tags as stored)
    assert retag(run, remove="sp") == ["keep"]  # (a stored tag's spaces do not count)
    code = (  # a writer killed mid-run: its lock stays, the run reads as stale
        "import numpy as np, animlib, os, signal\n"
        f"w = animlib.RunWriter({str(tmp_path)!r}, name='k', class_names=list('abc'))\n"
        "w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[.8, .1, .1])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    assert animlib.lock.writer_gone(animlib.store.open_store(tmp_path / "k"))
    with pytest.raises(RunInputError, match="still running"):
        retag(tmp_path / "k", add="x")
    assert animlib.lock.writer_gone(animlib.store.open_store(tmp_path / "k"))
    with pytest.raises(animlib.RunFormatError, match="no such run folder"):
        retag(tmp_path / "nothing", add="x")
    assert not (tmp_path / "nothing").exists()


def test_cli_tag_names_an_experiment_by_its_name_and_says_when_an_id_names_two(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path))
    with animlib.BatchWriter(tmp_path, experiment="PGD ε=0.1", class_names=list("abc"),
                             true_labels=[0]) as w:  # fmt: skip
        w.log(images=np.zeros((1, 4, 4, 1), np.float32), confidences=[[0.8, 0.1, 0.1]])
    assert main(["tag", "PGD ε=0.1", "--add", "x"]) == 0  # (its name, as resume takes it)
    assert capsys.readouterr().out.endswith(": tags x\n")
    _run(tmp_path, "sweep")
    with animlib.BatchWriter(tmp_path, experiment="sweep", class_names=list("abc"),
                             true_labels=[0]) as w:  # fmt: skip
        w.log(images=np.zeros((1, 4, 4, 1), np.float32), confidences=[[0.8, 0.1, 0.1]])
    assert main(["tag", "sweep", "--add", "y"]) == 0
    out, err = capsys.readouterr()
    assert out == "sweep: tags demo, y\n" and "names a run and an experiment" in err


def test_cli_tag_points_a_typo_at_the_experiment_and_takes_runs_slash_id(
    tmp_path, monkeypatch, capsys
):
    """'tag sweep-eps0.5' (a typo of the experiment sweep-eps0.05) was told 'did you mean
    sweep-eps0.05-0001?': one sample run, not the experiment."""
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path))
    with animlib.BatchWriter(tmp_path, experiment="sweep-eps0.05", class_names=list("abc"),
                             true_labels=[0, 1]) as w:  # fmt: skip
        w.log(images=np.zeros((2, 4, 4, 1), np.float32), confidences=np.full((2, 3), 1 / 3))
    assert main(["tag", "sweep-eps0.5", "--add", "x"]) == 2
    err = capsys.readouterr().err
    assert "did you mean the experiment 'sweep-eps0.05'?" in err
    assert main(["tag", str(tmp_path / "sweep-eps0.05"), "--add", "x"]) == 0  # (runs/ID)
    assert capsys.readouterr().out.splitlines()[-1] == "2 runs tagged"


def test_cli_tag_of_a_run_folder_here_without_a_results_folder(tmp_path, monkeypatch, capsys):
    """'tag myrun' in a folder holding the run myrun, with no ./runs: the experiment lookup in
    the (missing) results folder ended it with 'results folder does not exist'."""
    monkeypatch.delenv("ANIMLIB_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    _run(tmp_path, "myrun")
    assert main(["tag", "myrun", "--add", "x"]) == 0
    assert capsys.readouterr().out == "myrun: tags demo, x\n"
    assert main(["tag", "nothere", "--add", "x"]) == 2
    assert "no such run folder here" in capsys.readouterr().err


def test_a_retagged_run_keeps_its_rendered_video(tmp_path, monkeypatch):
    """Tags are drawn nowhere: retagging a run made its cached video (and `render --all`'s)
    render again, as if its content had changed; any other change to run.json still does."""
    from animlib.cache.keys import render_key
    from animlib.options import RenderOptions

    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    run = _run(tmp_path / "runs", "a")
    before = animlib.open_run(run)
    key = render_key(before, "gif", RenderOptions())
    retag(run, add="best", remove="demo")
    after = animlib.open_run(run)
    assert after.meta["tags"] == ["best"] and after.fingerprint == before.fingerprint
    assert render_key(after, "gif", RenderOptions()) == key
    meta = json.loads((tmp_path / "runs" / "a" / "run.json").read_text())
    meta["attack"] = "FGSM"  # (drawn in the video's comment)
    (tmp_path / "runs" / "a" / "run.json").write_text(json.dumps(meta))
    assert animlib.open_run(run).fingerprint != before.fingerprint


def test_cli_tag_counts_the_runs_it_changed_and_names_a_tag_none_had(tmp_path, monkeypatch, capsys):
    """``tag EXP --remove Best`` (the tag is ``best``) said "2 runs tagged", changing none."""
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path))
    with animlib.BatchWriter(tmp_path, experiment="sweep", class_names=list("abc"),
                             true_labels=[0, 1], tags=["best"]) as w:  # fmt: skip
        w.log(images=np.zeros((2, 4, 4, 1), np.float32), confidences=np.full((2, 3), 1 / 3))
    assert main(["tag", "sweep", "--remove", "Best"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "0 runs tagged, 2 already so"
    assert (
        "note: none of the runs had the tag 'Best' (tags are case-sensitive: 'best' is one)" in err
    )
    assert main(["tag", "sweep", "--remove", "best"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "2 runs tagged" and "note" not in err
