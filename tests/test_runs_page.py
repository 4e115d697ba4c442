"""AppTest of the runs page on many runs: paging, filters, sort and facets come from the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import page_links, write_run
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "dashboard.py")
N = 60


@pytest.fixture
def many(tmp_path, monkeypatch):
    """60 runs (one real run's folder cloned with its own run.json each), one broken, two
    running of which one is silent for a day (stale)."""
    root = tmp_path / "runs"
    template = root / write_run(root, "template", steps=4)
    base = json.loads((template / "run.json").read_text())
    for i in range(N - 1):
        meta = dict(
            base,
            name=f"run-{i:02d}",
            attack=["FGSM", "PGD", "CW"][i % 3],
            model=["vit", "mlp"][i % 2],
            created=f"2025-01-01T00:{i:02d}:00+00:00",
            tags=[f"group{i % 4}"],
            summary=dict(base["summary"], final_true_conf=i / 100),
            params={"eps": (i % 5 + 1) / 100, "steps": i, "norm": ["linf", "l2"][i % 2]},
        )
        if i in (5, 6):
            meta.update(status="running", updated="2025-01-01T00:00:00+00:00" if i == 5 else None)
        folder = root / f"run-{i:02d}"
        folder.mkdir()
        for part in ("images", "confidences", "original", "zarr.json"):
            (folder / part).symlink_to(template / part)  # links inside the folder are fine
        (folder / "run.json").write_text(json.dumps(meta))
    (root / "zz-broken").mkdir()
    (root / "zz-broken" / "run.json").write_text('{"format_version": 1')
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return root


def ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["id"])


def captions(at: AppTest) -> str:
    return " | ".join(c.value for c in at.caption)


def pager(at: AppTest) -> str:
    """The pager's "page N of M"."""
    (text,) = [m.value for m in at.markdown if m.value.startswith("page ")]
    return text


def test_one_page_at_a_time(many):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(ids(at)) == 50 and ids(at)[0] == "template"  # newest first
    # the table's own header sort orders the rows of a page only: said
    assert "rows 1–50 (a header click sorts these; Sort, every run)" in captions(at)
    assert pager(at) == "page 1 of 2"
    assert at.button(key="pg_prev").disabled and at.button(key="pg_first").disabled
    at.button(key="pg_next").click().run()
    assert len(ids(at)) == 10 and "rows 51–60" in captions(at)
    assert ids(at)[-1] == "run-00" and pager(at) == "page 2 of 2"
    assert at.button(key="pg_next").disabled and at.button(key="pg_last").disabled
    at.button(key="pg_first").click().run()
    assert ids(at)[0] == "template"
    at.button(key="pg_last").click().run()
    assert ids(at)[-1] == "run-00"
    at.selectbox(key="f_rows").set_value(25).run()  # a new page size starts at page 1
    assert pager(at) == "page 1 of 3" and len(ids(at)) == 25
    at.button(key="pg_next").click().run()
    at.button(key="pg_next").click().run()
    assert pager(at) == "page 3 of 3" and len(ids(at)) == 10
    at.button(key="pg_prev").click().run()
    assert pager(at) == "page 2 of 3" and ids(at)[0] == "run-34"
    broken = at.table[0].value  # cells are Markdown-escaped for st.table
    problems = dict(zip(broken.index.str.replace("\\", ""), broken["problem"], strict=True))
    assert "not valid JSON" in problems["zz-broken"]


def test_the_created_column_says_its_times_are_utc(many):
    """The table showed "2026-12-06 16:08" for a run made at 21:38 in Kolkata: the times are
    UTC, whatever the browser's zone, and nothing said so."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["created"]["label"] == "created (UTC)"
    assert "created (UTC)" in at.selectbox(key="f_sort").options


def test_filters_search_sort_and_facets(many):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.multiselect(key="f_attack").options == ["CW", "FGSM", "PGD"]
    assert at.multiselect(key="f_model").options == ["mlp", "tiny", "vit"]
    at.button(key="pg_next").click().run()
    at.multiselect(key="f_attack").set_value(["CW"]).run()
    assert pager(at) == "page 1 of 1"  # a new filter starts at page 1
    assert "19 of 60 runs shown · attack CW · 1 running" in captions(at)  # the caption names it
    assert at.get("popover")[0].proto.popover.label == "Filters · 1"
    assert ids(at) == [f"run-{i:02d}" for i in range(N - 1) if i % 3 == 2][::-1]
    at.multiselect(key="f_model").set_value(["vit"]).run()
    assert all(int(r[-2:]) % 6 == 2 for r in ids(at))
    assert "attack CW · model vit" in captions(at)
    assert at.get("popover")[0].proto.popover.label == "Filters · 2"
    at.button(key="clear_filters").click().run()
    assert len(ids(at)) == 50 and at.multiselect(key="f_attack").value == []
    assert at.get("popover")[0].proto.popover.label == "Filters"
    at.text_input(key="f_text").set_value("group3 pgd").run()
    assert ids(at) == [f"run-{i:02d}" for i in range(N - 1) if i % 12 == 7][::-1]
    at.text_input(key="f_text").set_value("").run()
    at.multiselect(key="f_status").set_value(["stale"]).run()
    assert ids(at) == ["run-05"]
    at.multiselect(key="f_status").set_value(["running"]).run()
    assert ids(at) == ["run-06"]
    at.multiselect(key="f_status").set_value([]).run()
    assert at.toggle(key="f_desc").disabled  # newest first has no direction
    at.selectbox(key="f_sort").set_value("final_true_conf").run()
    at.toggle(key="f_desc").set_value(True).run()
    assert ids(at)[:3] == ["run-58", "run-57", "run-56"]
    assert at.get("popover")[1].proto.popover.label == "Sort: final true conf ↓"
    sort_box = at.selectbox(key="f_sort")
    assert "final true conf" in sort_box.options and "L∞" in sort_box.options  # as the headers
    assert "final_true_conf" not in sort_box.options
    at.selectbox(key="f_sort").set_value("name").run()
    at.toggle(key="f_desc").set_value(False).run()
    assert ids(at)[:2] == ["run-00", "run-01"]


def test_selection_follows_the_run_across_a_sort(many):
    at = AppTest.from_file(APP, default_timeout=120).run()
    table = at.dataframe[0]
    rows = [ids(at).index("run-40"), ids(at).index("run-41")]
    at.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    buttons = page_links(at)
    assert buttons["Compare 2 runs"] == "compare?runs=run-40,run-41"
    at.selectbox(key="f_sort").set_value("name").run()  # the rows move; the selection follows
    buttons = page_links(at)
    assert buttons["Compare 2 runs"] == "compare?runs=run-40,run-41"


def test_runs_selected_on_two_pages_are_compared(many):
    """Leaving page 1 forgot its selection: a run of page 1 and one of page 2 could not be
    compared."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    table = at.dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    first = ids(at)[1]
    at.button(key="pg_next").click().run()
    assert "1 run selected, 1 not shown here" in captions(at)
    assert page_links(at)["Open selected run"] == f"viewer?run={first}"
    table = at.dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    second = ids(at)[0]
    assert page_links(at)["Compare 2 runs"] == f"compare?runs={first},{second}"
    at.button(key="pg_first").click().run()  # page 1 shows its run selected again
    assert page_links(at)["Compare 2 runs"] == f"compare?runs={first},{second}"
    at.button(key="clear_selection").click().run()
    assert not any(k.startswith(("Open", "Compare")) for k in page_links(at))
    at.button(key="pg_next").click().run()
    assert not any(k.startswith(("Open", "Compare")) for k in page_links(at))


def test_parameter_columns_sort_and_search(many):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.multiselect(key="f_params").options == ["eps", "norm", "steps"]
    assert "params.steps" in at.selectbox(key="f_sort").options
    at.multiselect(key="f_params").set_value(["eps"]).run()
    frame = at.dataframe[0].value.set_index("id")
    assert frame.loc["run-17", "params.eps"] == 0.03 and "params.norm" not in frame
    assert at.query_params["params"] in ("eps", ["eps"])  # a link shows the same columns
    # a sort by a parameter shows it; numbers in numeric order (as text, 9 > 10)
    at.selectbox(key="f_sort").set_value("params.steps").run()
    at.toggle(key="f_desc").set_value(True).run()
    frame = at.dataframe[0].value
    assert ids(at)[:3] == ["run-58", "run-57", "run-56"] and list(frame["params.steps"][:2]) == [
        58,
        57,
    ]
    at.button(key="pg_next").click().run()
    assert ids(at)[-1] == "template"  # it sets no steps: last either way
    at.toggle(key="f_desc").set_value(False).run()
    assert ids(at)[:3] == ["run-00", "run-01", "run-02"]
    at.text_input(key="f_text").set_value("eps=0.03 norm=l2").run()
    assert ids(at)[:3] == ["run-07", "run-17", "run-27"]  # still sorted by steps
    assert len(ids(at)) == 6
    (button,) = at.get("download_button")
    assert button.proto.label == "Download 6 runs (CSV)"  # the matches, not the page


def test_parameter_columns_from_a_link(many):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["params"] = "norm,nope"
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="f_params").value == ["norm"]
    assert at.dataframe[0].value.set_index("id").loc["run-11", "params.norm"] == "l2"


def test_the_view_is_kept_in_the_link_and_a_link_shows_it_again(many):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not dict(at.query_params)  # an untouched page has a bare link
    at.multiselect(key="f_attack").set_value(["PGD", "CW"]).run()
    at.text_input(key="f_text").set_value("group1").run()
    at.selectbox(key="f_sort").set_value("final_true_conf").run()
    at.toggle(key="f_desc").set_value(True).run()
    at.selectbox(key="f_rows").set_value(25).run()
    at.multiselect(key="f_params").set_value(["eps"]).run()
    link = {name: at.query_params[name] for name in at.query_params}
    assert {k: v if isinstance(v, str) else v[0] for k, v in link.items()} == {
        "attack": "PGD,CW",
        "q": "group1",
        "sort": "final_true_conf",
        "desc": "1",
        "rows": "25",
        "params": "eps",
    }
    shown = ids(at)  # group1 (i % 4 == 1), PGD or CW (i % 3 != 0), by final_true_conf ↓
    assert shown == [f"run-{i:02d}" for i in range(N - 1) if i % 4 == 1 and i % 3][::-1]
    again = AppTest.from_file(APP, default_timeout=120)  # a reload or a shared link
    for name, value in link.items():
        again.query_params[name] = value
    again.run()
    assert not again.exception and not again.warning, again.warning
    assert ids(again) == shown and captions(again) == captions(at)
    assert again.multiselect(key="f_attack").value == ["PGD", "CW"]
    assert again.toggle(key="f_desc").value and again.selectbox(key="f_rows").value == 25
    assert again.get("popover")[0].proto.popover.label == "Filters · 1"
    again.button(key="clear_filters").click().run()
    again.text_input(key="f_text").set_value("").run()
    assert "attack" not in again.query_params and "q" not in again.query_params


def test_a_link_to_a_later_page_and_what_a_link_names_that_the_folder_lacks(many):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = "2"
    at.query_params["attack"] = "PGD,Square"
    at.query_params["rows"] = "7"
    at.run()
    assert not at.exception, at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]  # (Markdown-escaped)
    assert "No attack Square in this folder (the choices: CW, FGSM, PGD)" in warnings
    assert "rows=7 in the link is not one of: 25, 50, 100, 200" in warnings
    assert pager(at) == "page 1 of 1"  # 21 PGD runs fit on one page of 50: the last page
    assert at.query_params.get("page") is None and at.query_params["attack"] in ("PGD", ["PGD"])
    assert "21 of 60 runs shown · attack PGD" in captions(at)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = "2"
    at.run()
    assert pager(at) == "page 2 of 2" and ids(at)[-1] == "run-00"
    at.button(key="pg_first").click().run()
    assert "page" not in at.query_params


def test_a_source_shortcut_says_when_it_shows_only_some_runs_and_the_check_says_its_result(
    tmp_path, monkeypatch
):
    """15 runs of the demo attack one image (9 sweep samples known by its pixels, 6 runs naming
    it digits-test-0): its shortcut compares 6, the selected run first (it compared the first 6
    by id, without the run selected), and says "6 of 15", by the image's name; "Check every
    chunk" ends with what it found, not with nothing."""
    monkeypatch.setenv("ANIMLIB_RUNS", str(Path(APP).parent / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.text_input(key="f_text").set_value("sweep-pgd-linf-eps0.20-0000").run()
    table = at.dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    links = {label.replace("\\", ""): url for label, url in page_links(at).items()}
    assert "6 of 15 runs on digits-test-0" in links, links
    runs = links["6 of 15 runs on digits-test-0"].split("runs=")[1].split(",")
    assert runs[0] == "sweep-pgd-linf-eps0.20-0000" and len(runs) == 6, runs
    at.button(key="deep_check_button").click().run()
    assert not at.exception, at.exception
    # the runs the search matches (it read all 165, ~1 min for 6,144 runs, whatever was shown)
    checked = "Every chunk of 1 run matching the filters and search read back: none damaged."
    assert checked in captions(at)


def test_one_run_is_counted_as_one_run(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    write_run(root, "only", steps=2)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert "1 of 1 run shown" in captions(at)
    assert [b for b in at.get("download_button") if b.proto.label == "Download 1 run (CSV)"]


def test_back_and_forward_show_the_view_of_the_link(many):
    """Each change writes the link (a history entry), but a Back to an earlier link was
    rewritten at once to the widgets' view: Back changed nothing (once per change), then left
    the app. The widgets follow a link they did not write."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    first = ids(at)
    at.text_input(key="f_text").set_value("eps=0.03").run()
    searched = ids(at)
    assert at.query_params["q"] in ("eps=0.03", ["eps=0.03"]) and searched != first
    at.query_params.pop("q")  # the browser's Back to the bare link
    at.run()
    assert at.text_input(key="f_text").value == "" and ids(at) == first
    assert "q" not in at.query_params
    at.query_params["q"] = "eps=0.03"  # Forward
    at.run()
    assert at.text_input(key="f_text").value == "eps=0.03" and ids(at) == searched


def test_a_search_in_a_query_language_it_does_not_have_says_what_it_takes(many):
    """``eps<0.01`` and ``status:stale`` matched nothing, unexplained."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="f_text").set_value("eps<0.01").run()
    assert not at.exception and ids(at) == []
    assert "`name=value` for a parameter" in captions(at)
    at.text_input(key="f_text").set_value("no-such-run").run()  # no hint: a plain miss
    assert "`name=value` for a parameter" not in captions(at)


def test_check_every_chunk_is_offered_again_once_the_runs_change(tmp_path, monkeypatch):
    """After "Check every chunk" its caption stayed and the button was gone for the session,
    while runs were added (one with a damaged chunk listed as good under that caption); then
    the caption went at any change (a live run's next step: gone before it could be read)."""
    from animlib import deep_verdict

    root = tmp_path / "runs"
    write_run(root, "first", steps=2)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="deep_check_button").click().run()
    said = "Every chunk of 1 run read back: none damaged."
    assert said in captions(at)
    at.run()  # the runs as they were: the verdict stays
    assert said in captions(at) and "deep_check_button" not in [b.key for b in at.button]
    write_run(root, "second", steps=2)
    at.run()
    assert not at.exception, at.exception
    assert said + deep_verdict.SINCE in captions(at) and "2 of 2 runs shown" in captions(at)
    assert "deep_check_button" in [b.key for b in at.button]  # (the verdict, said to be older)
    at.button(key="deep_check_button").click().run()
    assert "Every chunk of 2 runs read back: none damaged." in captions(at)


def test_long_names_leave_the_sample_suffix_and_the_outcome_columns_in_view(tmp_path, monkeypatch):
    """Sample runs of a realistically named experiment all read "apgd-dlr-targeted-cifar10-
    eps0.0" (the name column clipped their "-0000" suffix) while a 60-character attack and a
    54-character model, each sized to its text, pushed the outcome columns off a 1280-px window.
    The name is cut in its middle (its end kept); long attack and model names get a width."""
    from animlib import runs_table as table
    from animlib.index import Query, open_index

    root = tmp_path / "runs"
    attack = "AutoProjectedGradientDescentWithDifferenceOfLogitsRatioLoss"
    model = "wide_resnet_28_10_trades_adversarially_trained_cifar10"
    for i in range(2):
        write_run(root, f"apgd-dlr-targeted-cifar10-eps0.031-{i:04d}", steps=2, attack=attack,
                  model=model)  # fmt: skip
    write_run(root, "short", steps=2)  # (attack "PGD", model "tiny")
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    names = sorted(at.dataframe[0].value["name"])
    assert names == ["apgd-dlr-targe…eps0.031-0000", "apgd-dlr-targe…eps0.031-0001", "short"]
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["name"]["width"] == table.NAME_WIDTH
    assert config["attack"]["width"] == config["model"]["width"] == table.TEXT_WIDTH
    # short names keep their own width: no width set
    index = open_index(root)
    index.refresh()
    frame = table.page_frame(index.query(Query()).rows)
    assert table.capped_columns(frame[frame["name"] == "short"]) == []
