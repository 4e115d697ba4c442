"""Streamlit AppTest tests of the three pages: table contents, filters, unknown and broken runs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import CLASSES, DownloadSlot, chunk_file, page_links, probs_for, write_run
from streamlit.testing.v1 import AppTest

import animlib
from animlib.options import RenderOptions
from animlib.player import unpack
from animlib.views import NO_VALUE

APP = str(Path(__file__).resolve().parents[1] / "dashboard.py")


@pytest.fixture
def app_env(runs_dir, tmp_path, monkeypatch):
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "run.json").write_text('{"format_version": 1, "name": ')
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs_dir))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return runs_dir


def app(page: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if page:
        at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_runs_page_lists_runs_and_broken_ones(app_env):
    at = app()
    assert not at.exception
    frame = at.dataframe[0].value
    assert set(frame["id"]) == {"alpha", "beta", "edit"}
    assert set(frame["attack"]) == {"PGD", "FGSM", "blur"}
    row = frame.set_index("id").loc["alpha"]
    assert row["steps"] == 12 and bool(row["success"]) is True
    assert row["open"] == "viewer?run=alpha"
    # a value a run does not have (blur never flips the class) shows as the tables' dash
    assert frame.set_index("id")["flip_step"].isna().any()
    assert at.dataframe[0].proto.placeholder == NO_VALUE
    broken = at.table[0].value
    assert "broken" in broken.index and "not valid JSON" in broken.loc["broken", "problem"]


def test_runs_page_filters_and_search(app_env):
    at = app()
    at.multiselect(key="f_attack").set_value(["FGSM"]).run()
    assert list(at.dataframe[0].value["id"]) == ["beta"]
    at.multiselect(key="f_attack").set_value([]).run()
    at.text_input(key="f_text").set_value("edi").run()
    assert list(at.dataframe[0].value["id"]) == ["edit"]
    at.text_input(key="f_text").set_value("").run()
    at.multiselect(key="f_success").set_value(["succeeded"]).run()
    assert set(at.dataframe[0].value["id"]) == {"alpha"}  # beta stops at a tie: still class 0
    at.multiselect(key="f_success").set_value(["failed"]).run()
    assert set(at.dataframe[0].value["id"]) == {"beta"}
    at.multiselect(key="f_success").set_value(["n/a"]).run()
    assert set(at.dataframe[0].value["id"]) == {"edit"}


def test_a_filter_holding_every_choice_filters_nothing(app_env):
    """All three outcomes chosen counted as a filter in use ("Filters · 1"), the caption named
    them all, and "failed" read as the status of the same name."""
    at = app()
    at.multiselect(key="f_success").set_value(["succeeded"]).run()
    assert "outcome attack succeeded" in " ".join(c.value for c in at.caption)
    assert at.multiselect(key="f_success").format_func("failed") == "attack failed"
    at.multiselect(key="f_success").set_value(["succeeded", "failed", "n/a"]).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="f_success").value == []
    assert "outcome" not in " ".join(c.value for c in at.caption)
    assert set(at.dataframe[0].value["id"]) == {"alpha", "beta", "edit"}


def test_runs_page_empty_and_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "nope"))
    at = app()
    assert not at.exception and "Cannot list runs" in at.error[0].value
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "empty"))
    at = app()
    assert not at.exception and "No runs" in at.info[0].value


def player_payload(at: AppTest) -> tuple[dict, dict]:
    """The header and arrays the page sent to its browser player (one per page)."""
    (element,) = at.get("bidi_component")
    assert element.proto.component_name == "animlib_player"
    return unpack(element.proto.bytes)


def test_viewer_shows_run_and_exact_step(app_env):
    at = app("app_pages/viewer.py", run="alpha")
    assert not at.exception, at.exception
    assert not at.error
    assert "alpha" in at.title[0].value
    assert not at.get("video")  # one player, no video: the MP4 is a download
    header, arrays = player_payload(at)
    (run,) = header["runs"]
    assert run["id"] == "alpha" and run["steps"] == 12 and run["classes"] == CLASSES
    for step in (0, 9, 11):  # what the browser shows at a step: the stored confidences
        shown = {
            CLASSES[k]: f"{v:.4f}"
            for k, v in zip(arrays["0.topk"][step], arrays["0.topv"][step], strict=True)
        }
        assert shown == {name: f"{probs_for(step)[k]:.4f}" for k, name in enumerate(CLASSES)}
        assert arrays["0.topk"][step][0] == int(probs_for(step).argmax())
    image = run["image"]
    assert image["height"] == 16 and image["width"] == 12 and image["stride"] == 1
    urls = [*image["strips"], *image["perturbation"], image["original"]]
    assert all("/media/" in u and u.endswith(".png") for u in urls)  # the app's own route
    assert image["gain"] > 0
    labels = [b.label for b in at.get("download_button")]
    assert labels[:3] == ["MP4 video", "GIF", "Standalone HTML"]
    at.number_input(key="v_top_k").set_value(
        2
    ).run()  # top-k from the render options reaches the player
    assert player_payload(at)[0]["runs"][0]["k"] == 2


def test_viewer_and_compare_work_with_a_cache_folder_that_cannot_be_written(
    app_env, tmp_path, monkeypatch
):
    """With ANIMLIB_CACHE read-only (or a path that cannot be made) the viewer and compare
    pages showed only "Cannot show the frames of run 'alpha': [Errno 13] Permission denied:
    .../.player-....tmp". The player now keeps its frames in memory and the page says so in
    a small note naming ANIMLIB_CACHE."""
    (tmp_path / "a-file").write_text("")
    folder = tmp_path / "a-file" / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(folder))
    for at in (app("app_pages/viewer.py", run="alpha"),
               app("app_pages/compare.py", runs="alpha,beta")):  # fmt: skip
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        header, _ = player_payload(at)
        for run in header["runs"]:
            image = run["image"]
            urls = [*image["strips"], *image["perturbation"], image["original"]]
            assert all("/media/" in u and u.endswith(".png") for u in urls)
        notes = [c.value for c in at.caption if "Frames kept in memory" in c.value]
        assert len(notes) == 1 and "ANIMLIB\\_CACHE" in notes[0] and "cannot be used" in notes[0]
        said = [c.value for c in at.caption if "first click" in c.value]  # (downloads render
        assert len(said) == 1 and "served from the render cache" not in said[0]  # every time)
        assert "and again on every click (the render cache folder cannot be written)" in said[0]
    assert not folder.exists()


def test_viewer_without_a_run_offers_the_opened_and_the_newest_runs(app_env):
    def offered(at: AppTest) -> dict[str, list[str]]:
        """Run ids linked under each subheader (page links in order)."""
        links = [p.proto for p in at.get("page_link") if p.proto.page == "viewer"]
        assert all("from_link=1" in link.query_string for link in links)
        ids = [link.query_string.split("&")[0].removeprefix("run=") for link in links]
        titles = [h.value for h in at.subheader]
        opened = len(ids) - 3 if "Opened in this session" in titles else 0
        return {"opened": ids[:opened], "newest": ids[opened:]}

    newest = [i.id for i in animlib.list_runs(app_env) if i.ok]  # as the runs page lists them
    assert sorted(newest) == ["alpha", "beta", "edit"]  # (not "broken")
    at = app("app_pages/viewer.py")
    assert not at.exception, at.exception
    assert "or one of these" in at.info[0].value
    assert offered(at) == {"opened": [], "newest": newest}
    assert [h.value for h in at.subheader] == ["Newest runs"]
    for run_id in ("alpha", "beta", "alpha"):  # opened in this session, then back without one
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception and run_id in at.title[0].value
    del at.query_params["run"]
    at.run()
    assert offered(at) == {"opened": ["alpha", "beta"], "newest": newest}
    assert [h.value for h in at.subheader] == ["Opened in this session", "Newest runs"]


def test_viewer_without_a_run_on_an_empty_folder_promises_no_list(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "empty"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = app("app_pages/viewer.py")
    assert not at.exception, at.exception
    assert "or one of these" not in at.info[0].value and "has no runs yet" in at.info[0].value
    assert not at.subheader


def test_viewer_unknown_and_hostile_ids(app_env):
    for bad in ("nope", "../alpha", "/etc/passwd", "a\x00b"):
        at = app("app_pages/viewer.py", run=bad)
        assert not at.exception, bad
        assert at.error and (
            "No run" in at.error[0].value or "cannot be shown" in at.error[0].value
        ), bad


def test_viewer_of_a_pasted_link_a_typo_and_a_folder_that_is_gone(app_env, monkeypatch, tmp_path):
    """A link ending in a space (pasted from notes) was refused as a bad id; a typo lost the
    reader's "did you mean"; a results folder gone for a while (an NFS mount) read as the run
    deleted."""
    for pasted in ("alpha ", "alpha\n"):
        at = app("app_pages/viewer.py", run=pasted)
        assert not at.exception and not at.error and "alpha" in at.title[0].value
    at = app("app_pages/viewer.py", run="alph")
    assert "did you mean alpha?" in at.error[0].value
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "moved-away"))
    at = app("app_pages/viewer.py", run="alpha")
    assert not at.exception
    assert "cannot be reached now" in at.error[0].value and "No run" not in at.error[0].value


def test_viewer_makes_its_csv_on_a_click_and_tints_only_tables_it_can_afford(app_env, monkeypatch):
    """The CSV was made on every rerun (10,000 steps x 1,000 classes: 126 MB, 24 s) and every
    cell of tables up to 200,000 cells styled (9 s a rerun)."""
    from animlib import views

    made, real = [], views.confidence_csv
    monkeypatch.setattr(views, "confidence_csv", lambda run: made.append(run.id) or real(run))
    at = app("app_pages/viewer.py", run="alpha")
    assert not at.exception and made == []
    assert "Confidences CSV" in [b.label for b in at.get("download_button")]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("True class green") for c in captions)
    monkeypatch.setattr(views, "STYLE_MAX_CELLS", 40)  # alpha: 12 steps x 4 classes
    at.run()
    assert not at.exception and made == []
    assert any("too many cells to tint" in c.value for c in at.caption)
    (table,) = [d for d in at.dataframe if "%.4g" in d.proto.columns]  # 1e-09 read as 1e-09
    assert not any(c.value.startswith("True class green") for c in at.caption)


def test_viewer_cuts_a_very_long_run_name_and_shows_it_whole_below(app_env):
    """A 5,000-character name was the heading whole: the player started 3,000 px down."""
    name = "pgd-eps8-resnet50-" * 280
    write_run(app_env, name=name, steps=3)
    (info,) = [i for i in animlib.list_runs(app_env) if i.ok and i.meta["name"] == name]
    at = app("app_pages/viewer.py", run=info.id)
    assert not at.exception
    (heading,) = at.header
    assert len(heading.value.replace("\\", "")) <= 160 and heading.value.endswith("…")
    (whole,) = [e for e in at.expander if e.label.startswith("Whole name")]
    assert whole.label == "Whole name (5,040 characters)" and whole.code[0].value == name
    at = app("app_pages/compare.py", runs=f"alpha,{info.id}")  # (its caption: 16,900 px)
    assert not at.exception and max(len(c.value) for c in at.caption) < 600


def test_viewer_shows_a_run_whose_label_was_corrected_by_hand(app_env):
    """Deep validate names the stale summary, but the pages' own deep check refused the whole
    run for it (and listed it broken), though every array is intact."""
    path = app_env / "alpha" / "run.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), true_label=1)))
    (report,) = animlib.validate(app_env / "alpha")
    assert report.field == "summary.success"
    at = app("app_pages/viewer.py", run="alpha")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert player_payload(at)[0]["runs"][0]["id"] == "alpha"


def test_viewer_broken_run_shows_reason(app_env):
    at = app("app_pages/viewer.py", run="broken")
    assert not at.exception
    assert "not valid JSON" in at.error[0].value


def test_viewer_run_without_confidences(app_env):
    at = app("app_pages/viewer.py", run="edit")
    assert not at.exception and not at.error
    # the player says it logged none; no "Confidence table" tab says it again
    assert [t.label for t in at.tabs] == ["Scalars", "Parameters"]
    header, arrays = player_payload(at)
    assert header["runs"][0]["classes"] is None and arrays == {}
    image = header["runs"][0]["image"]
    assert image["original"] is None and image["perturbation"] is None and image["strips"]


def test_compare_page(app_env):
    at = app("app_pages/compare.py", runs="alpha,beta")
    assert not at.exception and not at.error
    header, arrays = player_payload(at)  # one player moves both runs
    assert header["mode"] == "compare"
    assert [r["id"] for r in header["runs"]] == ["alpha", "beta"]
    assert [r["steps"] for r in header["runs"]] == [12, 5]
    assert arrays["1.topv"].shape == (5, 4)
    assert "Download comparison MP4" in [b.label for b in at.get("download_button")]
    metrics = at.table[0].value
    assert list(metrics.loc["steps"]) == ["12", "5"] or list(metrics.loc["steps"]) == [12, 5]
    at = app("app_pages/compare.py", runs="alpha,nope")
    assert not at.exception
    assert any("nope" in e.value for e in at.error)
    at = app("app_pages/compare.py", runs="alpha")
    assert not at.exception and at.info
    for one in ("alpha", "alpha,alpha"):  # said "(1 given.)" to a link naming alpha twice
        at = app("app_pages/compare.py", runs=one)
        text = at.info[0].value.replace("\\", "")
        assert "The link names one run only (alpha" in text
        assert ("2 times" in text) == ("," in one)
        (link,) = [el for el in at.get("page_link") if "viewer" in el.proto.page]
        assert "alpha" in link.proto.label
    at = app("app_pages/compare.py", runs=["alpha", "beta"])  # runs=alpha&runs=beta: both
    assert not at.exception and not at.info
    assert [r["id"] for r in player_payload(at)[0]["runs"]] == ["alpha", "beta"]
    # the viewer shows one run: a link naming two shows the first and offers to compare them
    at = app("app_pages/viewer.py", run=["alpha", "beta", "alpha"])  # (showed beta, silently)
    assert not at.exception and player_payload(at)[0]["runs"][0]["id"] == "alpha"
    assert "names 2 runs; the viewer shows one: alpha" in at.info[0].value.replace("\\", "")
    (link,) = [el for el in at.get("page_link") if el.proto.label == "Compare 2 runs"]
    assert link.proto.page == "compare" and link.proto.query_string == "runs=alpha%2Cbeta"
    write_run(app_env, "gamma", steps=3)
    seven = ",".join(["alpha", "beta", "gamma", "alpha", "nope1", "nope2", "nope3", "nope4"])
    at = app("app_pages/compare.py", runs=seven)  # 7 named: the first 6, with a word
    assert not at.exception
    assert at.warning[0].value.startswith("The link names 7 runs: the first 6 are compared")
    assert sorted("nope" in e.value for e in at.error) == [True] * 3  # nope4 left out


def test_compare_page_shows_the_parameters_that_differ_first(app_env):
    write_run(app_env, "p1", steps=3, params={"eps": 0.1, "alpha": 0.01, "norm": "linf"})
    write_run(app_env, "p2", steps=3, params={"eps": 0.2, "alpha": 0.01, "norm": "[l2](x)"})
    at = app("app_pages/compare.py", runs="p1,p2")
    assert not at.exception and not at.error
    assert "Parameters" in [h.value for h in at.subheader]
    params = at.table[1].value
    assert list(params.index) == ["eps", "norm", "alpha"]
    assert list(params.loc["eps"]) == ["0.1", "0.2"]
    assert params.loc["norm"].iloc[1] == r"\[l2\]\(x\)"  # shown as text, not as a link
    assert any(c.value == "2 of 3 differ (listed first)" for c in at.caption)
    same = app("app_pages/compare.py", runs="alpha,beta")  # no parameters: no table
    assert "Parameters" not in [h.value for h in same.subheader] and len(same.table) == 1


def test_pages_never_write_into_results_folder(app_env):
    before = {p: p.read_bytes() for p in Path(app_env).rglob("*") if p.is_file()}
    app()
    app("app_pages/viewer.py", run="alpha")
    app("app_pages/compare.py", runs="alpha,beta,edit")
    after = {p: p.read_bytes() for p in Path(app_env).rglob("*") if p.is_file()}
    assert before == after


def test_running_run_is_listed_as_running(app_env):
    import animlib

    w = animlib.RunWriter(app_env, name="live", class_names=CLASSES, true_label=0)
    w.log(image=__import__("numpy").zeros((4, 4, 3), "uint8"), confidences=probs_for(0))
    at = app()
    frame = at.dataframe[0].value.set_index("id")
    assert frame.loc["live", "status"] == "running"
    assert any("running" in c.value for c in at.caption)
    w.finish()
    meta = json.loads((app_env / "live" / "run.json").read_text())
    assert meta["status"] == "finished"
    _ = write_run  # fixture helper reused by other modules


def _select(at: AppTest, *run_ids: str) -> AppTest:
    """Select rows of the runs table as a click would (by position in the shown table)."""
    table = at.dataframe[0]
    ids = list(table.value["id"])
    rows = [ids.index(r) for r in run_ids]
    at.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def _buttons(at: AppTest) -> dict[str, str]:
    return page_links(at)


def test_runs_page_selection_follows_the_run_not_its_position(app_env):
    at = app()
    ids = list(at.dataframe[0].value["id"])
    target, other = ids[1], ids[0]  # a run with another run above it
    at = _select(at, target)
    assert _buttons(at)["Open selected run"] == f"viewer?run={target}"
    # a search that moves it to the top keeps it selected (not the run now at its old row)
    at.text_input(key="f_text").set_value(target).run()
    assert list(at.dataframe[0].value["id"]) == [target]
    assert _buttons(at).get("Open selected run") == f"viewer?run={target}"
    # a search that hides it keeps it selected (said), never another run
    at.text_input(key="f_text").set_value(other).run()
    assert _buttons(at).get("Open selected run") == f"viewer?run={target}"
    assert "1 run selected, 1 not shown here" in [c.value for c in at.caption]
    at.button(key="clear_selection").click().run()  # (shown while a selected run is hidden)
    assert not any(label.startswith(("Open", "Compare")) for label in _buttons(at))
    at.text_input(key="f_text").set_value("").run()
    assert not any(label.startswith(("Open", "Compare")) for label in _buttons(at))
    at = _select(at, target)
    at.text_input(key="f_text").set_value(other).run()
    at.text_input(key="f_text").set_value("").run()  # shown again: selected again
    assert _buttons(at).get("Open selected run") == f"viewer?run={target}"


def test_compare_offers_same_source_runs_only_beyond_those_shown(app_env):
    # alpha and beta attack the same image; edit has no original
    at = app("app_pages/compare.py", runs="alpha,beta")
    assert not at.exception and not at.error
    headings = [h.value for h in at.subheader]
    assert "Runs on the same source image" not in headings  # the group is what is shown
    write_run(app_env, "gamma", steps=4)  # a third run on the same image
    at = app("app_pages/compare.py", runs="alpha,beta")
    assert "Runs on the same source image" in [h.value for h in at.subheader]
    (url,) = _buttons(at).values()
    assert url.startswith("compare?runs=") and url.endswith("&from_link=1")  # (see links.py)
    runs = url.removeprefix("compare?runs=").removesuffix("&from_link=1")
    assert sorted(runs.split(",")) == ["alpha", "beta", "gamma"]
    assert not [p for p in at.get("page_link") if "experiments" in p.proto.page]  # no samples


def test_viewer_survives_its_run_replaced_by_a_shorter_one(app_env):
    """A viewer whose stride is 9 (of 12 steps) reruns after the run was replaced by a 3-step
    run with the same id: no StreamlitValueAboveMaxError, the stride starts again from 1."""
    import shutil

    at = app("app_pages/viewer.py", run="alpha")
    at.number_input(key="v_stride").set_value(9).run()
    assert not at.exception, at.exception
    shutil.rmtree(app_env / "alpha")
    write_run(app_env, "alpha", steps=3)
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="v_stride").value == 1
    assert player_payload(at)[0]["runs"][0]["steps"] == 3


def test_live_run_viewer_follows_new_steps(app_env):
    """A running run's viewer does not ask for a reload: it says new steps show up, and looks
    for them in a fragment that reruns the page (the e2e test watches the steps arrive)."""
    import numpy as np

    import animlib

    w = animlib.RunWriter(app_env, name="live", class_names=CLASSES, true_label=0)
    w.log(image=np.zeros((4, 4, 3), "uint8"), confidences=probs_for(0))
    at = app("app_pages/viewer.py", run="live")
    assert not at.exception, at.exception
    (info,) = [i.value for i in at.info if "still being written" in i.value]
    assert "reload" not in info and "show up" in info
    w.finish()
    at.run()
    assert not [i for i in at.info if "still being written" in i.value]


def test_viewer_of_a_run_whose_writer_was_killed_says_it_stopped(app_env):
    """A running run whose writer on this host is gone (SIGKILL, out of memory) is not shown
    as still being written: its status is stale at once, with how to continue it."""
    import json
    import subprocess
    import sys

    import numpy as np

    import animlib

    w = animlib.RunWriter(app_env, name="killed", class_names=CLASSES, true_label=0)
    w.log(image=np.zeros((4, 4, 3), "uint8"), confidences=probs_for(0))
    at = app("app_pages/viewer.py", run="killed")
    assert [i for i in at.info if "still being written" in i.value]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = app_env / "killed" / ".writer.lock"
    held = json.loads(lock.read_text())
    lock.write_text(json.dumps({**held, "pid": gone.pid}))  # as a killed writer leaves it
    at.run()
    assert not at.exception, at.exception
    assert not [i for i in at.info if "still being written" in i.value]
    (warning,) = [x.value for x in at.warning if "stopped before it finished" in x.value]
    assert "1 step logged" in warning and "RunWriter.resume" in warning
    assert " · stale · 1 step · " in at.caption[0].value
    lock.write_text(json.dumps(held))
    w.finish()


def test_bidi_overrides_in_names_show_as_escapes_not_as_other_text(app_env):
    """ "RTL \u202eevil\u202c name" reads "RTL live name" in a browser: the viewer's title and
    the runs table show the override as an escape (stored as given; the CSV keeps it too)."""
    import numpy as np

    import animlib
    from animlib.index import Query, open_index
    from animlib.runs_table import page_frame, runs_csv

    name = "RTL \u202eevil\u202c name"
    with animlib.RunWriter(app_env, name=name, class_names=CLASSES, true_label=0) as w:
        w.log(image=np.zeros((4, 4, 3), "uint8"), confidences=probs_for(0))
    assert animlib.open_run(app_env / w.run_id).name == name  # the data is not rewritten
    at = app("app_pages/viewer.py", run=w.run_id)
    assert not at.exception, at.exception
    titles = [t.value for t in (*at.title, *at.header)]
    assert "RTL \\\\u202eevil\\\\u202c name" in titles, titles  # (Markdown: \\u202e shows \u202e)
    assert not any("\u202e" in t for t in titles)
    index = open_index(app_env)
    index.refresh()
    rows = index.query(Query(text="RTL")).rows
    assert page_frame(rows)["name"].tolist() == ["RTL \\u202eevil\\u202c name"]
    assert name in runs_csv(rows).decode()


def test_a_run_the_viewer_finds_damaged_is_listed_broken_on_the_runs_page(app_env):
    """The runs page checks the cheap way (a damaged middle chunk passes); the viewer reads every
    chunk. What the viewer found is not forgotten by the runs page of the same session."""
    import shutil

    shutil.rmtree(app_env / "alpha")
    write_run(app_env, "alpha", steps=12, shape=(256, 256, 3))  # 3 chunks: the middle damaged
    chunk = app_env / "alpha" / "images" / "c.1.0.0.0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2 :] = bytes(b ^ 0x5A for b in data[len(data) // 2 :])
    chunk.write_bytes(bytes(data))
    at = app()
    assert "alpha" in at.dataframe[0].value["name"].tolist()  # the quick check passes it
    assert " · 1 broken" in at.caption[1].value, [c.value for c in at.caption]
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "alpha"
    at.run()
    assert [e for e in at.error if "cannot be shown" in e.value]
    at.switch_page("app_pages/runs.py")
    at.query_params.clear()
    at.run()
    assert not at.exception, at.exception
    assert "alpha" not in at.dataframe[0].value["name"].tolist()
    assert " · 2 broken" in at.caption[1].value, [c.value for c in at.caption]


def test_render_download_renders_only_when_clicked(monkeypatch, tmp_path):
    from animlib import downloads as ui

    rendered = []

    def fake_render(runs, fmt, **options):
        rendered.append((runs, fmt, options))
        out = tmp_path / f"r.{fmt}"
        out.write_bytes(fmt.encode())
        return out

    class Slot:
        def download_button(self, label, data, **kw):
            self.args = (label, data, kw)

    monkeypatch.setattr(ui, "cached_render", fake_render)
    slot = Slot()
    opts = RenderOptions(fps=5)
    ui.render_download(slot, "GIF", "RUN", "a.b.gif", "image/gif", opts, width="stretch")
    label, data, kw = slot.args
    assert label == "GIF" and rendered == []  # nothing rendered before the click
    assert kw == dict(file_name="a.b.gif", mime="image/gif", on_click="ignore", width="stretch")
    assert data() == b"gif" and rendered == [("RUN", "gif", {"options": opts})]


def test_a_download_being_made_or_fetched_holds_the_pages_following_its_runs(monkeypatch):
    """A live run's page reran when a step landed while its download was made: the made file
    was dropped before the browser fetched it (404, the download cancelled)."""
    import time

    from animlib import downloads

    seen = []

    class Run:
        def __init__(self, run_id):
            self.id = run_id

    def render(runs, fmt, **options):
        seen.append(downloads.downloading(["b"]))  # while it is made
        return Path(__file__)

    monkeypatch.setattr(downloads, "cached_render", render)
    monkeypatch.setattr(downloads, "_IN_FLIGHT", {})
    slot = DownloadSlot()
    both = [Run("a"), Run("b")]
    downloads.render_download(slot, "MP4", both, "x.mp4", "video/mp4", RenderOptions())
    assert not downloads.downloading(["a", "b"])  # nothing made before the click
    slot.data()
    assert seen == [True] and downloads.downloading(["b"]) and not downloads.downloading(["c"])
    # another browser session watching the run goes on following it (all of them froze)
    monkeypatch.setattr(downloads, "_session", lambda: "another session")
    assert not downloads.downloading(["b"])
    monkeypatch.setattr(time, "monotonic", lambda: 1e12)  # HOLD_S later: the page follows again
    assert not downloads.downloading(["a", "b"])


def test_a_failed_download_render_is_shown_under_its_button(monkeypatch):
    """The browser only says a deferred download failed: the page says why, at its next run
    (and no more once a render of the same file and options succeeds)."""
    from animlib import downloads

    fail = [True]

    def render(runs, fmt, **options):
        if fail[0]:
            raise RuntimeError("No glyphs have been loaded.")
        return Path(__file__)

    monkeypatch.setattr(downloads, "cached_render", render)
    slot = DownloadSlot()
    downloads.render_download(slot, "MP4 video", "RUN", "x.mp4", "video/mp4", RenderOptions(fps=9))
    assert slot.errors == []
    with pytest.raises(RuntimeError):
        slot.data()  # (Streamlit logs it; the browser gets no file)
    slot = DownloadSlot()  # (the same options, 9.0 and 9 alike)
    downloads.render_download(
        slot, "MP4 video", "RUN", "x.mp4", "video/mp4", RenderOptions(fps=9.0)
    )
    assert slot.errors == [
        "The last MP4 video could not be rendered: RuntimeError: No glyphs have been loaded."
    ]
    other = DownloadSlot()  # other options: another download
    downloads.render_download(other, "MP4 video", "RUN", "x.mp4", "video/mp4", RenderOptions(fps=3))
    assert other.errors == []
    remade = SimpleNamespace(id="RUN", meta={"created": "2026-12-07T12:00:00+00:00"})  # made again
    other = DownloadSlot()  # (every user of the new run was told of a chunk missing from the old)
    downloads.render_download(
        other, "MP4 video", remade, "x.mp4", "video/mp4", RenderOptions(fps=9)
    )
    assert other.errors == []
    live = SimpleNamespace(id="LIVE", fingerprint="10 steps", meta={"run_uid": "a1", "steps": 10})
    watch = DownloadSlot()
    downloads.render_download(watch, "MP4 video", live, "l.mp4", "video/mp4", RenderOptions())
    with pytest.raises(RuntimeError):
        watch.data()
    grown = SimpleNamespace(id="LIVE", fingerprint="11 steps", meta={"run_uid": "a1", "steps": 11})
    watch = DownloadSlot()  # (a live run's failure was keyed by a fingerprint moving each step)
    downloads.render_download(watch, "MP4 video", grown, "l.mp4", "video/mp4", RenderOptions())
    assert len(watch.errors) == 1
    fail[0] = False
    assert slot.data() == Path(__file__).read_bytes()
    slot = DownloadSlot()  # (the same options, 9.0 and 9 alike)
    downloads.render_download(
        slot, "MP4 video", "RUN", "x.mp4", "video/mp4", RenderOptions(fps=9.0)
    )
    assert slot.errors == []


def test_open_checked_gives_a_run_or_a_message(app_env):
    from animlib import ui

    run, problem = ui.open_checked("alpha", str(app_env))
    assert run is not None and run.id == "alpha" and problem is None
    for bad in ("nope", "broken"):
        run, problem = ui.open_checked(bad, str(app_env))
        assert run is None and problem
    chunk_file(app_env / "alpha", "images").unlink()  # a damaged run
    run, problem = ui.open_checked("alpha", str(app_env))
    assert run is None and "cannot be shown" in problem


def test_viewer_of_an_experiment_sample_links_to_its_experiment(tmp_path, monkeypatch):
    import numpy as np

    import animlib

    x = np.zeros((2, 4, 4, 1), np.float32)
    with animlib.BatchWriter(
        tmp_path / "runs", experiment="pgd_eps0.1", class_names=["a", "b"], true_labels=[0, 1],
        originals=x, sample_ids=[7, 9],
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.9, 0.1], [0.2, 0.8]]))
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = app("app_pages/viewer.py", run="pgd_eps0.1-0009")
    assert not at.exception, at.exception
    (link,) = [p for p in at.get("page_link") if "experiments" in p.proto.page]
    assert link.proto.label == r"Experiment pgd\_eps0\.1, sample 9: its images in the grid"
    assert link.proto.query_string == "ids=pgd_eps0.1"
    # its neighbour in the experiment: sample 7 before it, none after
    steps = {p.proto.label: p.proto.query_string for p in at.get("page_link") if p.proto.help}
    assert steps == {"Sample 7": "run=pgd_eps0.1-0007&from_link=1"}
    first = app("app_pages/viewer.py", run="pgd_eps0.1-0007")
    steps = {p.proto.label: p.proto.query_string for p in first.get("page_link") if p.proto.help}
    assert steps == {"Sample 9": "run=pgd_eps0.1-0009&from_link=1"}
    plain_id = write_run(tmp_path / "runs", name="plain", steps=2)
    plain = app("app_pages/viewer.py", run=plain_id)  # a run of no experiment: no link
    assert not plain.exception and not plain.error and plain_id in plain.title[0].value
    assert not [p for p in plain.get("page_link") if "experiments" in p.proto.page]
    assert not [p for p in plain.get("page_link") if "Sample" in p.proto.label]


def test_viewer_of_a_stale_experiment_sample_says_it_stopped(tmp_path, monkeypatch):
    """A sample run whose writer was killed: the neighbour links and the stale warning both
    show (the page once named its sample count like the helper that words the warning)."""
    import json
    import subprocess
    import sys

    import numpy as np

    import animlib

    x = np.zeros((3, 4, 4, 1), np.float32)
    w = animlib.BatchWriter(tmp_path / "runs", experiment="killed", class_names=["a", "b"],
                            true_labels=[0, 1, 0], originals=x)  # fmt: skip
    w.log(images=x, confidences=np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    w.flush()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = tmp_path / "runs" / "killed-0001" / ".writer.lock"
    held = json.loads(lock.read_text())
    lock.write_text(json.dumps({**held, "pid": gone.pid}))  # as a killed writer leaves it
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    try:
        at = app("app_pages/viewer.py", run="killed-0001")
        assert not at.exception, at.exception
        (warning,) = [x.value for x in at.warning if "stopped before it finished" in x.value]
        assert "1 step logged" in warning and "BatchWriter.resume" in warning
        assert [c.value for c in at.caption if c.value == "3 samples in this experiment"]
    finally:
        lock.write_text(json.dumps(held))
        w.finish()


def test_md_table_escapes_text_columns_of_every_dtype():
    """pandas 3 gives text columns the ``str`` dtype (not ``object``): their cells are escaped
    too (they were shown as Markdown: a link, here)."""
    import pandas as pd

    from animlib.ui import md, md_table

    link = "[x](https://example.com)"
    frame = pd.DataFrame({"a": [link, "1.5"], "b": [link, 2]}, index=[link, "r"])
    shown = md_table(frame)
    assert shown.loc[md(link), "a"] == md(link) == shown.loc[md(link), "b"] != link
    assert shown.loc["r", "a"] == "1.5" and shown.loc["r", "b"] == 2  # numbers as they are
    assert md_table(frame.astype({"a": "string"})).iloc[0, 0] == md(link)


def test_the_runs_page_shows_a_folder_it_cannot_list_as_text(tmp_path, monkeypatch):
    """The folder and the error went into the message as Markdown (a folder name could plant a
    link); every other page escaped them."""
    where = tmp_path / "[click](http://127.0.0.1:9/x) **bold**"
    monkeypatch.setenv("ANIMLIB_RUNS", str(where))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = app()
    assert not at.exception
    (error,) = [e.value for e in at.error if e.value.startswith("Cannot list runs in")]
    assert "\\[click\\]" in error and "\\*\\*bold\\*\\*" in error


def test_the_compare_player_shows_every_perturbation_with_one_gain(app_env):
    """As the comparison video: one gain, the smallest of the runs' own (each its own read
    x120 beside x500)."""
    import animlib
    from animlib.figure.pixels import auto_amplification

    x0 = np.full((16, 12, 3), 0.5, np.float32)
    for name, eps in (("near", 0.01), ("far", 0.04)):  # (alpha's and beta's steps are noise)
        with animlib.RunWriter(app_env, name=name, class_names=CLASSES, true_label=0,
                               original=x0) as w:  # fmt: skip
            for i in range(3):
                w.log(image=x0 + np.float32(eps * i / 2), confidences=probs_for(i))
    at = app("app_pages/compare.py", runs="near,far")
    assert not at.exception, at.exception
    header, _ = player_payload(at)
    gains = [run["image"]["gain"] for run in header["runs"]]
    own = [auto_amplification(animlib.open_run(app_env / r)) for r in ("near", "far")]
    assert own[0] != own[1] and gains == [min(own), min(own)]


def test_compare_picker_adds_and_removes_runs_through_the_address(app_env):
    write_run(app_env, "gamma", steps=4)  # on alpha's and beta's image; edit is on none
    at = app("app_pages/compare.py", runs="alpha,beta")
    picker = at.multiselect(key="compare_pick:alpha,beta")
    assert picker.value == ["alpha", "beta"]
    assert picker.options == ["alpha", "beta", "gamma"]  # the runs on their image
    picker.set_value(["alpha", "beta", "gamma"]).run()
    assert not at.exception, at.exception
    assert at.query_params["runs"] == "alpha,beta,gamma"  # in the address: Back returns
    header, _ = player_payload(at)
    assert [r["id"] for r in header["runs"]] == ["alpha", "beta", "gamma"]
    # down to one run: the page asks for another, and the picker stays to add it
    at.multiselect(key="compare_pick:alpha,beta,gamma").set_value(["gamma"]).run()
    assert at.query_params["runs"] == "gamma" and at.info
    picker = at.multiselect(key="compare_pick:gamma")
    assert picker.value == ["gamma"]
    # any run can be typed in, even one on another image; a typed "a,b" is two runs
    picker.set_value(["gamma", "edit, beta"]).run()
    assert not at.exception, at.exception
    assert at.query_params["runs"] == "gamma,edit,beta"
    header, _ = player_payload(at)
    assert [r["id"] for r in header["runs"]] == ["gamma", "edit", "beta"]
    # a typed list past the 6 that fit: the first 6, and a word on the others (the page
    # blamed "the link", and the seventh stayed in the address unseen)
    for name in ("d1", "d2", "d3", "d4"):
        write_run(app_env, name, steps=2)
    picker = at.multiselect(key="compare_pick:gamma,edit,beta")
    picker.set_value(["gamma", "edit", "beta", "d1, d2,d3", "d4"]).run()
    assert at.query_params["runs"] == "gamma,edit,beta,d1,d2,d3"
    (note,) = [w.value for w in at.warning]
    assert note == "At most 6 runs fit side by side: d4 left out."


def test_compare_picker_offers_the_first_runs_of_a_large_image_group():
    from animlib.run_picker import offered_runs, picked_ids

    groups = {"cat": [f"r{i}" for i in range(500)], "dog": ["d1", "r3"]}
    offered = offered_runs(["d1", "x"], groups, limit=5)
    assert offered == ["d1", "x", "r0", "r1", "r2"]  # the compared runs always, then in order
    assert offered_runs(["a", "b"], {}) == ["a", "b"]
    assert picked_ids([" a ", "b,c", "a", ",", ""]) == ["a", "b", "c"]


def test_the_viewer_links_to_a_comparison_with_the_runs_on_its_image(app_env):
    """The viewer had no way to the compare page but the runs table."""
    at = app("app_pages/viewer.py", run="alpha")  # beta attacks the same image
    assert not at.exception
    links = {el.proto.label: el.proto.page for el in at.get("page_link")}
    label = "Compare with the 1 other run on "
    (found,) = [k for k in links if k.startswith(label)]
    assert "compare" in links[found]
    (link,) = [el for el in at.get("page_link") if el.proto.label == found]
    assert link.proto.query_string == "runs=alpha%2Cbeta"  # this run first
    write_run(app_env, "gamma", steps=4)
    at = app("app_pages/viewer.py", run="alpha")
    labels = [el.proto.label for el in at.get("page_link")]
    assert any(t.startswith("Compare with the 2 other runs on ") for t in labels)
    for name in ("d", "e", "f", "g", "h", "i"):  # 8 others: a comparison holds 6 runs
        write_run(app_env, name, steps=2)
    at = app("app_pages/viewer.py", run="alpha")  # (it read "with the 5 of the 8 other runs")
    labels = [el.proto.label for el in at.get("page_link")]
    assert any(t.startswith("Compare with 5 of the 8 other runs on ") for t in labels), labels
    at = app("app_pages/viewer.py", run="edit")  # on no image of another run
    assert not any(el.proto.label.startswith("Compare") for el in at.get("page_link"))


def test_a_long_runs_gif_is_said_to_take_long(app_env):
    """2,000 frames of GIF took 53 s (206 MB) under a caption saying "a few seconds"."""
    write_run(app_env, "longish", steps=420)
    captions = " ".join(c.value for c in app("app_pages/viewer.py", run="longish").caption)
    assert "A GIF of 420 frames takes about 10 s and is large" in captions
    captions = " ".join(c.value for c in app("app_pages/viewer.py", run="alpha").caption)
    assert "A GIF of" not in captions


def test_a_clean_error_is_said_to_be_no_success_of_the_attack(app_env):
    """ "success yes · flip step 0" for an image the model got wrong unattacked, no word."""
    with animlib.RunWriter(app_env, name="wrong", class_names=CLASSES, true_label=1) as w:
        for _ in range(3):
            w.log(image=np.zeros((4, 4, 3), np.float32), confidences=probs_for(0))
    at = app("app_pages/viewer.py", run="wrong")
    assert animlib.open_run(app_env / "wrong").meta["summary"]["flip_step"] == 0
    assert any("got the clean image wrong already" in c.value for c in at.caption)
    at = app("app_pages/viewer.py", run="alpha")
    assert not any("got the clean image wrong" in c.value for c in at.caption)


def test_no_gif_time_is_given_for_a_gif_that_is_refused(app_env, monkeypatch):
    write_run(app_env, "longish", steps=420)
    monkeypatch.setenv("ANIMLIB_MAX_GIF_FRAMES", "400")
    at = app("app_pages/viewer.py", run="longish")
    captions = " ".join(c.value for c in at.caption)
    assert "exceed the limit of 400" in captions and "A GIF of" not in captions


def test_runs_of_the_same_eps_come_first_for_single_runs_too(app_env):
    """The index's eps column is an experiment column: plain runs' params.eps was not read,
    and a run was compared with the other eps first."""
    for name, eps in (("r1", 0.1), ("r2", 0.2), ("r3", 0.1)):
        write_run(app_env, name, steps=3, params={"epsilon" if name == "r3" else "eps": eps})
    at = app("app_pages/viewer.py", run="r1")
    (link,) = [el for el in at.get("page_link") if el.proto.page == "compare"]
    runs = link.proto.query_string.removeprefix("runs=").split("%2C")
    assert runs[:2] == ["r1", "r3"] and set(runs) == {"r1", "r3", "alpha", "beta", "r2"}


def test_a_long_comparisons_file_name_keeps_whole_ids():
    """Six long ids were cut at 150 characters: "...-vs-square-eps.mp4" named no run."""
    from animlib.downloads import MAX_STEM, compare_stem

    assert compare_stem(["a", "b-2"]) == "a-vs-b-2"
    ids = [f"square-eps0.{k}0-digits-sample-{k:04d}-long-enough" for k in range(6)]
    stem = compare_stem(ids)
    assert stem == f"{ids[0]}-vs-5-more" and len(stem) <= MAX_STEM
    assert compare_stem(["x" * 149, "y"]) == "compare-vs-1-more"


def test_the_download_captions_say_how_long_a_first_render_takes(app_env):
    """A 10,000-step run's MP4 took 48 s after a caption that said "a few seconds for a long
    run" (the HTML as long again)."""
    from animlib.downloads import render_wait

    assert render_wait(120) == render_wait(1000) == "a few seconds"
    assert render_wait(10_000) == "about 50 s" and render_wait(10_000, 6) == "about 5 min"
    for at in (app("app_pages/viewer.py", run="alpha"),
               app("app_pages/compare.py", runs="alpha,beta")):  # fmt: skip
        (said,) = [c.value for c in at.caption if "first click" in c.value]
        assert "the download starts when it is made, a few seconds)" in said, said


def test_a_long_render_has_its_own_button_with_a_progress_bar(app_env, monkeypatch):
    """A 10,000-step run's MP4 download showed only a spinner for 48 s (PRODUCT.md: a progress
    bar while rendering). A render that is not cached and would take over LONG_S is made by a
    "Render …" button, with a progress bar; the download then serves it from the cache (and
    the standalone page, which wraps that MP4)."""
    from animlib import downloads

    monkeypatch.setattr(downloads, "FRAMES_PER_S", 0.5)  # (alpha's few frames: "long")
    progress = []
    real = downloads.cached_render

    def watched(*args, **kwargs):
        shown = kwargs["progress"]
        kwargs["progress"] = lambda done, total: (progress.append(done), shown(done, total))
        return real(*args, **kwargs)

    monkeypatch.setattr(downloads, "cached_render", watched)
    at = app("app_pages/viewer.py", run="alpha")
    labels = [b.label for b in at.get("download_button")]
    assert "MP4 video" not in labels and "Confidences CSV" in labels
    assert [b for b in at.button if b.label.startswith("Render Standalone HTML (about ")]
    (render,) = [b for b in at.button if b.label.startswith("Render MP4 video (about ")]
    render.click().run()
    assert not at.exception and progress and progress[-1] > 0  # (rendered with the bar)
    assert "MP4 video" in [b.label for b in at.get("download_button")]
    assert not [b for b in at.button if b.label.startswith("Render MP4")]  # (in its place)
    at = app("app_pages/viewer.py", run="alpha")  # cached now: the download alone
    assert "MP4 video" in [b.label for b in at.get("download_button")]
    assert not [b for b in at.button if b.label.startswith("Render MP4")]
    assert [b for b in at.button if b.label.startswith("Render GIF")]  # (not rendered yet)
    # the page wraps the cached MP4 at once: no render of its own
    assert "Standalone HTML" in [b.label for b in at.get("download_button")]


def test_render_options_are_kept_in_the_link_and_read_from_it(app_env):
    """A reloaded or shared viewer link showed the default top-k, gain and speed."""
    at = app("app_pages/viewer.py", run="alpha")
    assert set(at.query_params) == {"run"}  # options at their defaults: a bare link
    at.number_input(key="v_top_k").set_value(2).run()
    at.number_input(key="v_gain").set_value(50.0).run()
    at.slider(key="v_fps").set_value(25).run()
    assert not at.exception, at.exception
    link = {k: at.query_params[k] for k in at.query_params}
    assert link == {"run": "alpha", "top_k": "2", "gain": "50", "fps": "25"}
    opened = app("app_pages/viewer.py", **link)  # the link opened in a new session
    assert not opened.exception and not opened.warning
    header, _ = player_payload(opened)
    assert header["fps"] == 25 and header["runs"][0]["k"] == 2
    assert opened.number_input(key="v_gain").value == 50.0
    # the next run opened by an in-page link (no options in it) keeps them
    opened.query_params.clear()
    opened.query_params["run"] = "beta"
    opened.run()
    assert player_payload(opened)[0]["runs"][0]["k"] == 2 and opened.query_params["top_k"] == "2"
    # Back to the bare link of that run (before the option was set) follows it: the default
    opened.query_params.clear()
    opened.query_params["run"] = "beta"
    opened.run()
    assert player_payload(opened)[0]["runs"][0]["k"] == 4 and "top_k" not in opened.query_params


@pytest.mark.parametrize(
    ("param", "value", "said"),
    [
        ("fps", "500", "fps=500 in the link is not a whole number from 1 to 60"),
        ("top_k", "x", "top_k=x in the link is not a whole number from 1 to 4"),
        ("gain", "nan", "gain=nan in the link is not a number from 0 to 1000"),
        ("dpi", "99", "dpi=99 in the link is not one of: 50, 72, 100, 120, 150, 200"),
        ("stride", "13", "stride=13 in the link is not a whole number from 1 to 12"),
        ("top_k", "--5", "top_k=--5 in the link is not a whole number from 1 to 4"),  # (crashed)
        ("top_k", "³", "top_k=³ in the link is not a whole number from 1 to 4"),
        ("fps", "9" * 5000, f"fps={'9' * 5000} in the link is not a whole number from 1 to 60"),
    ],
)
def test_a_bad_render_option_in_the_link_is_named_and_left_at_its_default(
    app_env, param, value, said
):
    at = app("app_pages/viewer.py", run="alpha", **{param: value})
    assert not at.exception, at.exception
    assert said in [w.value.replace("\\", "") for w in at.warning]
    header, _ = player_payload(at)
    assert header["fps"] == 10 and header["runs"][0]["k"] == 4  # the defaults (4 classes)


def test_compare_keeps_its_render_options_in_the_link(app_env):
    at = app("app_pages/compare.py", runs="alpha,beta", top_k="3", stride="2")
    assert not at.exception and not at.warning
    assert player_payload(at)[0]["runs"][0]["k"] == 3
    assert at.number_input(key="c_stride").value == 2
    at.slider(key="c_fps").set_value(5).run()
    assert at.query_params["fps"] == "5" and at.query_params["top_k"] == "3"


def test_a_failed_runs_viewer_says_why_it_failed(app_env):
    """run.json kept "RuntimeError: boom at step 4", and the viewer only said "failed"."""
    from helpers import image_for

    with pytest.raises(RuntimeError), animlib.RunWriter(app_env, name="boom") as w:
        for i in range(4):
            w.log(image=image_for(i))
        raise RuntimeError("boom at step 4 <b>\nloss was nan\nlr 0.1")
    at = app("app_pages/viewer.py", run="boom")
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert error.replace("\\", "").startswith("This run failed: RuntimeError: boom at step 4")
    assert "holds the 4 steps" in error and "loss was nan" not in error  # (its first line)
    (code,) = [c.value for c in at.code]
    assert code.splitlines() == ["RuntimeError: boom at step 4 <b>", "loss was nan", "lr 0.1"]


def test_a_folder_that_cannot_be_listed_any_more_shows_its_last_listing_and_says_so(
    app_env, monkeypatch
):
    """The bucket unreachable: the pages kept the last listing as if it were current (no word),
    or replaced it by an error; now they show it and say since when."""
    import time

    from animlib.errors import Code, StoreError
    from animlib.store import LocalStore

    at = app()
    rows = len(at.dataframe[0].value)
    assert not at.warning and rows == 3
    real = LocalStore.member_versions

    def unreachable(self, *args, **kwargs):
        raise StoreError("cannot be accessed (EndpointConnectionError)", code=Code.STORAGE)

    monkeypatch.setattr(LocalStore, "member_versions", unreachable)
    at.run()
    assert not at.exception and not at.error
    (warning,) = [w.value.replace("\\", "") for w in at.warning]
    assert "cannot list it now" in warning and "EndpointConnectionError" in warning
    assert "showing the runs as listed" in warning.lower() and len(at.dataframe[0].value) == rows
    monkeypatch.setattr(LocalStore, "member_versions", real)  # back: tried in the background
    deadline = time.time() + 20
    while at.warning and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.warning and len(at.dataframe[0].value) == rows


def test_an_open_page_gains_and_loses_the_cannot_list_notice(app_env, monkeypatch):
    """An open runs page (experiments page) kept the notice it was drawn with: its watcher
    compared only the folder's rows and running count, which an outage and its end leave as
    they were, so the page never said the bucket was unreachable, and once it had said so it
    kept "listed 22 s ago" after the bucket was back. Its watcher now sees both, and the
    notice growing older (in 10-s steps: no rerun every second)."""
    import time

    from animlib import watching
    from animlib.errors import Code, StoreError
    from animlib.store import LocalStore

    monkeypatch.setattr(LocalStore, "folder_version", lambda self: None)  # listed as a bucket is
    watched = []  # (seen, look) of each watcher the page started; the folder's comes last
    monkeypatch.setattr(watching, "_rerun_when_changed", lambda *a: watched.append(a[:2]))
    real, clock = LocalStore.member_versions, time.monotonic

    def unreachable(self, *args, **kwargs):
        raise StoreError("cannot be accessed (EndpointConnectionError)", code=Code.STORAGE)

    def shown(at):  # the page drawn until its folder's watcher sees nothing new
        for _ in range(40):
            at.run()
            seen, look = watched[-1]
            if look() == seen:  # (runs just written are read again once their tag settles)
                return seen, look
            time.sleep(0.3)
        raise AssertionError(f"the page reruns for ever: {seen} then {look()}")

    for page in (None, "app_pages/experiments.py"):
        at = app(page)
        seen, look = shown(at)
        assert not at.warning and not at.exception
        monkeypatch.setattr(LocalStore, "member_versions", unreachable)
        assert look() != seen  # the bucket unreachable: the open page reruns to say so
        seen, look = shown(at)  # (the notice shown: no rerun at every look)
        assert "cannot list it now" in at.warning[0].value
        monkeypatch.setattr(time, "monotonic", lambda: clock() + 11)
        assert look() != seen  # 10 s older: its "listed N s ago" is brought up to date
        monkeypatch.setattr(time, "monotonic", clock)
        monkeypatch.setattr(LocalStore, "member_versions", real)
        deadline = time.time() + 20  # the bucket back: the page reruns to drop the notice
        while look() == seen and time.time() < deadline:
            time.sleep(0.3)
        assert look() != seen
        shown(at)
        assert not at.warning and not at.exception


def test_an_idle_folder_is_not_said_unreachable_only_a_hanging_listing_is(app_env, monkeypatch):
    """After a minute with no page open, a healthy folder was said to give "no answer": the
    time since the last listing counted, not how long a listing had been running."""
    import time

    from animlib.index import open_index
    from animlib.index import runindex as runindex_module

    at = app()
    assert not at.warning
    later = time.monotonic() + 1000
    monkeypatch.setattr(runindex_module.time, "monotonic", lambda: later)  # idle 1000 s
    index = open_index(str(app_env))
    assert index.listed_ago > 900 and index.busy_since is None
    from animlib import ui

    monkeypatch.setattr(ui.time, "monotonic", lambda: later)
    shown = []
    monkeypatch.setattr(ui.st, "warning", lambda text, **kw: shown.append(text))
    ui.stale_listing(index)
    assert shown == []
    index.busy_since = later - 120  # a refresh running for two minutes: it hangs
    ui.stale_listing(index)
    assert len(shown) == 1 and "no answer" in shown[0] and "listed 17 min ago" in shown[0]
    index.busy_since = None


def test_the_viewer_of_a_sample_left_out_of_some_steps_says_whose_steps_it_counts(
    tmp_path, monkeypatch
):
    """Sample 1 sits out experiment steps 1-2 (``active=``) and is fooled from experiment
    step 4: its own flip step is 2, which the experiments page counts as step 4. The viewer
    said only "flip step 2"; sample 0, logged at every step, gets no note."""
    held, fooled = [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]
    with animlib.BatchWriter(
        tmp_path / "runs", experiment="gap", class_names=["a", "b", "c"], true_labels=[0, 0],
        layout="HWC",
    ) as w:  # fmt: skip
        for step in range(6):
            w.log(
                images=np.full((2, 4, 4, 1), step / 10, np.float32),
                confidences=[held, fooled if step >= 4 else held],
                active=[True, step not in (1, 2)],
            )
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = app("app_pages/viewer.py", run="gap-0001")
    assert not at.exception, at.exception
    assert [m.value for m in at.metric if m.label == "flip step"] == ["2"]
    (note,) = [c.value for c in at.caption if "left out" in c.value]
    assert "experiment steps 1–2" in note
    assert "step 1 here is experiment step 3" in note
    assert "its flip step 2 is experiment step 4" in note
    whole = app("app_pages/viewer.py", run="gap-0000")
    assert not whole.exception and not [c for c in whole.caption if "left out" in c.value]
