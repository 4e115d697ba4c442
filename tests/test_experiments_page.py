"""The /experiments page (AppTest): summary table, robust-accuracy chart data, the image grid."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import page_links
from streamlit.testing.v1 import AppTest

import animlib
from animlib import grid_start
from animlib.errors import Code
from animlib.experiment_grid import DARK_BACKGROUND, grid_html, grid_rows, order_rows
from animlib.experiment_views import (
    experiment_table,
    robust_chart,
    robust_curve,
    sweep_of,
)
from animlib.experiments import AT_START
from animlib.grid_start import default_grid
from animlib.text import natural_key
from animlib.views import NO_VALUE

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard.py")
DEMO = ROOT / "runs"


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_RUNS", str(DEMO))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return DEMO


def experiments_page(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/experiments.py")
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _cells(at: AppTest) -> list[tuple[str, int]]:
    page = "".join(h.proto.body for h in at.get("html"))
    return [
        (run, int(step))
        for run, step in re.findall(
            r'data-testid="animlib-grid-cell" data-run="([^"]+)" data-step="(\d+)"', page
        )
    ]


def test_table_shows_summarize_of_every_experiment(demo_env):
    at = experiments_page()
    assert not at.exception, at.exception
    assert at.dataframe[0].proto.placeholder == NO_VALUE  # a missing value reads as a dash
    table = at.dataframe[0].value.set_index("experiment")
    expected = animlib.summarize(DEMO).set_index("experiment")
    assert set(table.index) == set(expected.index) and len(expected) >= 9
    for col in ("n", "clean_acc", "robust_acc", "success_rate", "median_linf"):
        np.testing.assert_allclose(
            table.loc[expected.index, col].astype(float), expected[col].astype(float)
        )
    assert not [c for c in at.caption if "Clean accuracy below 1" in c.value]  # all 1 here


def test_images_the_model_got_wrong_unattacked_are_named(tmp_path, monkeypatch):
    """Sample 2 is misclassified at step 0: the page says which experiment attacked such
    images and how the summary counts them; its grid row is marked."""
    from test_experiments import UNTARGETED, write

    write(tmp_path / "runs", "pgd-a", UNTARGETED, 0.1)
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page(ids="pgd-a")
    assert not at.exception, at.exception
    (note,) = [c.value for c in at.caption if "Clean accuracy below 1" in c.value]
    assert "pgd\\-a (1 of 4)" in note and "Robust acc, the accuracy at the last step" in note
    assert "a targeted one only where the model already predicted the target" in note
    page = "".join(h.proto.body for h in at.get("html"))
    assert page.count("misclassified before the attack") == 1


def test_the_flip_table_calls_no_attack_fastest_on_an_image_wrong_unattacked(tmp_path, monkeypatch):
    """Sample 2 is misclassified at step 0 (pgd-a: flip step 0); the targeted attack reaches
    its target at step 1. The table's *fastest* named the targeted attack beside the 0, though
    README says it never calls such images' attacks fastest."""
    from test_experiments import TARGETED, TARGETS, UNTARGETED, write

    write(tmp_path / "runs", "pgd-a", UNTARGETED, 0.1)
    write(tmp_path / "runs", "tgt", TARGETED, 0.1, targets=TARGETS, attack="PGD-T")
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page(ids="pgd-a,tgt")
    assert not at.exception, at.exception
    table = _flip_table(at).set_index("sample")
    assert table.loc[2, "pgd-a"] == 0 and table.loc[2, "tgt"] == 1
    assert table.loc[2, "fastest"] == AT_START
    assert (table.loc[0, "pgd-a"], table.loc[0, "tgt"], table.loc[0, "fastest"]) == (2, 1, "tgt")


def test_grid_cells_follow_the_deep_link_step_and_experiments(demo_env):
    ids = "sweep-fgsm-eps0.10,sweep-pgd-linf-eps0.10"
    at = experiments_page(ids=ids, step="1")
    assert not at.exception, at.exception
    cells = _cells(at)
    assert len(cells) == 32  # 16 images x 2 experiments
    assert {run.rsplit("-", 1)[0] for run, _ in cells} == set(ids.split(","))
    assert all(step == 1 for _, step in cells)
    assert at.query_params["step"] in ("1", ["1"])
    at.slider(key="grid_step").set_value(5).run()
    steps = {run: step for run, step in _cells(at)}
    # FGSM runs have 2 steps: they show their last one; PGD runs show step 5
    assert steps["sweep-fgsm-eps0.10-0000"] == 1 and steps["sweep-pgd-linf-eps0.10-0000"] == 5
    # each image's compare link opens its runs at the grid's step
    page = "".join(h.proto.body for h in at.get("html"))
    links = re.findall(r'href="(compare\?[^"]+)"', page)
    assert len(links) == 16
    assert links[0] == "compare?runs=sweep-fgsm-eps0.10-0000,sweep-pgd-linf-eps0.10-0000&amp;step=5"


def test_grid_cells_are_opened_side_by_side(demo_env, monkeypatch):
    """Over object storage each cell waits on ~8 round trips: 96 cells opened one after another
    took 150 s at 200 ms a request. They are opened side by side, damaged ones as before."""
    import threading
    import time

    from animlib import experiment_grid

    real, lock, now, most = experiment_grid.cell_for, threading.Lock(), [0], [0]

    def slow(run, step):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.05)  # (a request's wait)
        with lock:
            now[0] -= 1
        return real(run, step)

    monkeypatch.setattr(experiment_grid, "cell_for", slow)
    at = experiments_page(ids="sweep-fgsm-eps0.05,sweep-bim-eps0.05", step="1")
    assert not at.exception and len(_cells(at)) == 32
    assert most[0] > 1


def test_filters_narrow_the_table(demo_env):
    at = experiments_page()
    at.multiselect(key="e_attack").set_value(["FGSM"]).run()
    assert set(at.dataframe[0].value["attack"]) == {"FGSM"}


def test_targeted_cells_tell_a_wrong_class_from_the_target(tmp_path):
    """Targeted at class 2: predicted 2 is fooled (red), predicted 0 (the true class) holds
    (green), predicted 1 is wrong but not the target (amber, not 'held')."""
    from animlib.experiment_grid import OFF_TARGET_COLOR, cell_for

    x = np.zeros((3, 4, 4, 1), np.float32)
    conf = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    with animlib.BatchWriter(
        tmp_path, experiment="t", class_names=["a", "b", "c"], true_labels=[0, 0, 0],
        target_labels=[2, 2, 2], originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=conf)
    infos = animlib.list_runs(tmp_path)
    cells = {i.id: cell_for(animlib.open_run_in(tmp_path, i.id), 0) for i in infos}
    page = grid_html(grid_rows(infos, ["t"]), ["t"], cells)
    found = dict(re.findall(r'data-run="([^"]+)"[^>]*data-outcome="([\w-]+)"', page))
    assert found == {"t-0000": "fooled", "t-0001": "held", "t-0002": "off-target"}
    assert OFF_TARGET_COLOR in page and "target c" in page  # the target in the cell's title
    # a mark beside the prediction, for eyes that do not tell the red border from the green
    marks = dict(re.findall(r'data-run="([^"]+)".*?<span>(.*?)</span>', page))
    assert marks == {"t-0000": "✗ pred c", "t-0001": "✓ pred a", "t-0002": "◐ pred b"}
    assert 'title="t-0000 · step 0 · pred c · target c · fooled"' in page


def test_a_sample_left_out_of_some_steps_shows_the_experiment_step_in_the_grid(tmp_path):
    """Sample 1 sits out experiment steps 1-2 (``active=``) and is fooled from step 4 on: its
    cell at the grid's step 3 shows the run's step 1 (not fooled), at step 2 what it held (its
    step 0), at step 4 its step 2 (fooled). Cells showed the run's step of the same number."""
    from animlib.experiment_grid import cell_for
    from animlib.outcomes import run_step_at

    held, fooled = [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]
    with animlib.BatchWriter(
        tmp_path, experiment="gap", class_names=["a", "b", "c"], true_labels=[0, 0], layout="HWC"
    ) as w:
        for step in range(6):
            x = np.full((2, 4, 4, 1), step / 10, np.float32)
            w.log(
                images=x,
                confidences=[held, fooled if step >= 4 else held],
                active=[True, step not in (1, 2)],
            )
    run = animlib.open_run_in(tmp_path, "gap-0001")
    assert len(run) == 4
    shown = {step: cell_for(run, step) for step in range(7)}
    assert [shown[s].step for s in range(7)] == [0, 0, 0, 1, 2, 3, 3]
    assert [shown[s].fooled for s in range(7)] == [False] * 4 + [True] * 3
    assert 'step=1"' in grid_html(grid_rows(animlib.list_runs(tmp_path), ["gap"]), ["gap"],
                                   {"gap-0001": shown[3]})  # fmt: skip  # the viewer's step
    assert run_step_at({}, 5) == 5 and run_step_at({"experiment_index": "x"}, 5) == 5


def test_duplicate_class_names_are_told_apart_by_their_index(tmp_path):
    """ImageNet has two classes called "crane" (134, a bird; 517, a machine): an attack moving
    one to the other read "true: crane ... pred crane" in the grid, its tooltips and outcomes.
    Where a run's names repeat, each repeated one carries its index, as in the player."""
    from animlib.experiment_grid import cell_for, outcomes, outcomes_to_csv
    from animlib.index import grid as indexed_grid
    from animlib.index import open_index

    names = ["crane", "cat", "crane", "dog"]
    x = np.zeros((2, 4, 4, 1), np.float32)
    with animlib.BatchWriter(
        tmp_path, experiment="t", class_names=names, true_labels=[0, 1], target_labels=[2, 0],
        originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.1, 0.1, 0.7, 0.1], [0.1, 0.8, 0.05, 0.05]]))
    infos = animlib.list_runs(tmp_path)
    rows = grid_rows(infos, ["t"])
    assert [r.label for r in rows] == ["sample 0 · true: crane [0]", "sample 1 · true: cat"]
    cells = {i.id: cell_for(animlib.open_run_in(tmp_path, i.id), 0) for i in infos}
    page = grid_html(rows, ["t"], cells)
    assert "true:&nbsp;crane [0]" in page
    assert 'title="t-0000 · step 0 · pred crane [2] · target crane [2] · fooled"' in page
    assert 'title="t-0001 · step 0 · pred cat · target crane [0] · held"' in page
    assert ">✗ pred crane [2]</span>" in page
    index = open_index(tmp_path)
    index.refresh()
    for table in (outcomes(infos, ["t"]), indexed_grid.outcomes(index, ["t"])):
        assert list(table["true_class"]) == ["crane [0]", "cat"]
        assert list(table["target_class"]) == ["crane [2]", "crane [0]"]
        assert list(table["final_class"]) == ["crane [2]", "cat"]
    assert indexed_grid.grid_rows(index, ["t"]) == rows
    assert ",crane [0],2,crane [2]," in outcomes_to_csv(outcomes(infos, ["t"])).decode()


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((32, 32), (96, 96)),  # small: zoomed 3x, whole pixels
        ((96, 32), (32, 96)),  # portrait (H, W): fitted by its height, not 96x288
        ((32, 96), (96, 32)),  # landscape
        ((40, 10), (20, 80)),  # zoomed 2x by its longest side (a 9.6x zoom is no whole one)
        ((512, 128), (24, 96)),  # large: shrunk to fit the square
        ((100, 400), (96, 24)),
    ],
)
def test_grid_thumbnails_fit_one_square_box_by_their_longest_side(shape, size):
    """Cells were sized by the image's width alone: a 96x32 (H x W) image became a 96x288
    cell three rows high, a 32x96 one a sliver. Every thumbnail fits one 96 px square."""
    from PIL import Image

    from animlib.experiment_grid import thumbnail

    image = np.zeros((*shape, 3), np.uint8)
    image[0, 0] = 255
    picture = Image.open(io.BytesIO(thumbnail(image)))
    assert picture.size == size
    if max(shape) < 96:  # zoomed with nearest neighbour: the corner pixel stays a sharp block
        zoom = size[0] // shape[1]
        block = np.asarray(picture)[:zoom, :zoom]
        assert (block == 255).all() and not np.asarray(picture)[zoom, zoom].any()


def test_grid_cells_are_one_size_and_cut_long_names_in_the_middle(tmp_path):
    """A long predicted class name ("American Staffordshire terrier, ...") made every cell of
    its column as wide as the name; it is cut in its middle in the cell (whole on hover), and
    the image and label boxes have one size whatever the image's shape."""
    from animlib.experiment_grid import LABEL_CELLS, cell_for

    long = "American Staffordshire terrier, Staffordshire terrier, American pit bull terrier"
    x = np.zeros((2, 4, 12, 1), np.float32)
    with animlib.BatchWriter(
        tmp_path, experiment="t", class_names=["cat", long], true_labels=[0, 0], originals=x
    ) as w:
        w.log(images=x, confidences=np.array([[0.1, 0.9], [0.9, 0.1]]))
    infos = animlib.list_runs(tmp_path)
    cells = {i.id: cell_for(animlib.open_run_in(tmp_path, i.id), 0) for i in infos}
    page = grid_html(grid_rows(infos, ["t"]), ["t"], cells)
    labels = dict(re.findall(r'data-run="([^"]+)".*?<span>(.*?)</span>', page))
    assert labels == {"t-0000": "✗ pred American…terrier", "t-0001": "✓ pred cat"}
    assert len(labels["t-0000"]) <= len("✗ pred ") + LABEL_CELLS
    assert f'title="t-0000 · step 0 · pred {long} · fooled"' in page  # whole on hover
    # one box for every image (the PNG fitted in it), one for every label (2 lines, cut)
    assert "img{display:block;width:96px;height:96px;object-fit:contain;" in page
    assert "span{display:block;width:96px;height:2.4em;" in page and "overflow:hidden" in page


def test_middle_clipped_keeps_start_and_end_in_terminal_cells():
    from animlib.text import display_width, middle_clipped

    assert middle_clipped("crane [517]", 18) == "crane [517]"
    assert middle_clipped("apgd-dlr-targeted-cifar10-eps0.031-0000", 18) == "apgd-dlr-…031-0000"
    cut = middle_clipped("攻撃攻撃攻撃攻撃攻撃攻撃攻撃", 12)
    assert cut == "攻撃攻…攻撃" and display_width(cut) <= 12
    assert middle_clipped("abc", 1) == "…"


def test_grid_marks_outcomes_and_escapes_names(tmp_path):
    x = np.zeros((2, 4, 4, 1), np.float32)
    names = ["<b>zero</b>", "one"]
    with animlib.BatchWriter(
        tmp_path, experiment="e<script>", class_names=names, true_labels=[0, 1], originals=x
    ) as w:
        w.log(images=x, confidences=np.array([[0.9, 0.1], [0.9, 0.1]]))
    infos = animlib.list_runs(tmp_path)
    (exp,) = {i.get("experiment") for i in infos}
    rows = grid_rows(infos, [exp])
    from animlib.experiment_grid import cell_for

    cells = {i.id: cell_for(animlib.open_run_in(tmp_path, i.id), 0) for i in infos}
    page = grid_html(rows, [exp], cells, {exp: "e<script>"})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;zero&lt;/b&gt;" in page  # the predicted class name stays text
    outcomes = re.findall(r'data-outcome="(\w+)"', page)
    assert sorted(outcomes) == ["fooled", "held"]  # sample 1 (true "one") is predicted "zero"
    # many experiments: the table scrolls sideways inside the page instead of being cut off
    assert ".animlib-grid-wrap{overflow:auto" in page
    wrapped = r'<div class="animlib-grid-wrap"><table class="animlib-grid">.*</table></div>'
    assert re.search(wrapped, page)
    # the row labels and titles stay in view, painted with the page's background (dark too)
    assert ".animlib-grid th{background:#ffffff}" in page
    dark = grid_html(rows, [exp], cells, background=DARK_BACKGROUND)
    assert f".animlib-grid th{{background:{DARK_BACKGROUND}}}" in dark


def test_grid_rows_count_the_attacks_that_fooled_each_image_and_order_by_it(demo_env):
    chosen = ["sweep-fgsm-eps0.05", "sweep-bim-eps0.05", "sweep-pgd-linf-eps0.05"]
    infos = animlib.list_runs(DEMO)
    rows = grid_rows(infos, chosen)
    for row in rows:  # recomputed from the stored confidences of each run
        fooled = 0
        for run_id in row.runs.values():
            run = animlib.open_run_in(DEMO, run_id)
            last = np.asarray(run.confidences[len(run) - 1])
            fooled += int(np.argmax(last)) != run.true_label
        assert (row.fooled, row.judged) == (fooled, 3), row.label
    assert {r.fooled for r in rows} >= {0, 3}  # the demo has images no attack breaks, and others
    robust = order_rows(rows, "robust")
    shares = [r.fooled_share for r in robust]
    assert shares == sorted(shares)
    assert [r.fooled_share for r in order_rows(rows, "fragile")] == shares[::-1]
    assert order_rows(rows, "sample") == rows
    ties = [r.key for r in robust if r.fooled_share == shares[0]]
    assert ties == [r.key for r in rows if r.fooled_share == shares[0]]  # ties by sample
    with pytest.raises(animlib.AnimlibError, match="order: must be one of") as info:
        order_rows(rows, "random")
    assert info.value.field == "order" and info.value.code == Code.INVALID


def test_grid_page_orders_images_and_shows_each_tally(demo_env):
    ids = "sweep-fgsm-eps0.05,sweep-bim-eps0.05,sweep-pgd-linf-eps0.05"
    at = experiments_page(ids=ids)
    assert not at.exception, at.exception
    page = "".join(h.proto.body for h in at.get("html"))
    assert re.search(r"fooled by [0-3] of 3", page)
    at.selectbox(key="grid_order").set_value("robust").run()
    page = "".join(h.proto.body for h in at.get("html"))
    tallies = [int(k) for k in re.findall(r"fooled by ([0-3]) of 3", page)]
    assert tallies == sorted(tallies) and len(tallies) == 16
    at.selectbox(key="grid_order").set_value("fragile").run()
    page = "".join(h.proto.body for h in at.get("html"))
    tallies = [int(k) for k in re.findall(r"fooled by ([0-3]) of 3", page)]
    assert tallies == sorted(tallies, reverse=True) and tallies[0] > tallies[-1]
    assert at.query_params["order"] in ("fragile", ["fragile"])
    linked = experiments_page(ids=ids, order="fragile")  # the order is kept in the URL
    assert linked.selectbox(key="grid_order").value == "fragile"
    again = "".join(h.proto.body for h in linked.get("html"))
    assert [int(k) for k in re.findall(r"fooled by ([0-3]) of 3", again)] == tallies
    bogus = experiments_page(ids=ids, order="random")
    assert not bogus.exception and bogus.selectbox(key="grid_order").value == "sample"


def test_robust_curve_has_a_point_per_experiment_with_eps(demo_env):
    exps = animlib.list_experiments(DEMO)
    frame = experiment_table(exps, animlib.summarize(DEMO))
    points = robust_curve(frame)
    assert len(points) == len(frame) and set(points["series"]) == set(frame["attack"])
    # every parameter as name=value words, for the search (eps as logged, to 6 digits)
    by_id = frame.set_index("experiment")["params"]
    for exp in exps:
        words = by_id[exp.id].split()
        params = exp.get("params")
        assert f"eps={params['eps']:.6g}" in words and len(words) == len(params)


def test_one_attack_from_two_libraries_draws_two_lines():
    """PGD-Linf run through torchattacks and through ART over the same ε values: two series
    named by sweep, each one point per ε (one series would zig-zag between two points per ε);
    an attack with one experiment per ε keeps its plain name."""
    import pandas as pd

    ids = ["ta-pgd-eps0.05", "ta-pgd-eps0.1", "art-pgd-eps0.05", "art-pgd-eps0.1", "fgsm-eps8"]
    frame = pd.DataFrame(
        {
            "experiment": ids,
            "attack": ["PGD-Linf"] * 4 + ["FGSM"],
            "model": ["cnn"] * 5,
            "eps": [0.05, 0.1, 0.05, 0.1, 8 / 255],
            "robust_acc": [0.7, 0.3, 0.8, 0.35, 0.5],
            "n": [16] * 5,
        }
    )
    points = robust_curve(frame).set_index("experiment")
    assert points.loc["ta-pgd-eps0.1", "series"] == "PGD-Linf · ta-pgd-eps*"
    assert points.loc["art-pgd-eps0.05", "series"] == "PGD-Linf · art-pgd-eps*"
    assert points.loc["fgsm-eps8", "series"] == "FGSM"
    assert not points.reset_index().duplicated(["series", "value"]).any()
    assert points["series"].nunique() == 3


@pytest.mark.parametrize(
    ("experiment", "eps", "sweep"),
    [
        ("pgd-eps0.1", 0.1, "pgd-eps*"),
        ("pgd-eps0.10-v2", 0.1, "pgd-eps*-v2"),
        ("pgd-eps8", 8 / 255, "pgd-eps*"),  # named in 1/255 units
        ("v8-eps8", 8 / 255, "v8-eps*"),  # the last such number: ε comes last in names
        ("run7-eps1e-3", 0.001, "run7-eps*"),
        ("baseline", 0.1, "baseline"),  # no ε in the name: its own sweep
        # rounded as written (8/255 stored as 0.031373): each was its own sweep, and the table
        # came in creation order, not by ε
        ("pgd-eps0.0314-m3", 0.031373, "pgd-eps*-m3"),
        ("pgd-eps0.03-m3", 0.031373, "pgd-eps*-m3"),
        ("pgd-l2-eps3.2-m3", 3.2, "pgd-l2-eps*-m3"),  # a whole number names only itself
        ("pgd-eps0.0314-m3", 0.05, "pgd-eps0.0314-m3"),
    ],
)
def test_sweep_of_leaves_the_eps_out_of_the_id(experiment, eps, sweep):
    assert sweep_of(experiment, eps) == sweep


def _series_layers(spec: dict) -> list[dict]:
    """The chart's line and point layers (not the intervals drawn behind them)."""
    return [layer for layer in spec["layer"] if layer["mark"]["type"] in ("line", "point")]


def _interval_layer(spec: dict) -> dict:
    (rule,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    return rule


def test_equal_series_stay_visible_in_the_robust_chart():
    """Two attacks with the same accuracies draw the same line: dash and point shape differ per
    series, so the one below shows through the gaps of the one above."""
    import pandas as pd

    points = pd.DataFrame(
        {
            "series": ["BIM", "BIM", "PGD", "PGD"],
            "experiment": ["b1", "b2", "p1", "p2"],
            "value": [0.05, 0.1, 0.05, 0.1],
            "robust_acc": [0.6, 0.1, 0.6, 0.1],
            "n": [16] * 4,
        }
    )
    chart = robust_chart(points)
    spec = chart.to_dict(validate=True)  # (Streamlit's to_dict() skips the schema check)
    assert chart.to_dict() == spec
    for layer in _series_layers(spec):
        enc = layer["encoding"]
        assert enc["color"]["field"] == enc["strokeDash"]["field"] == enc["shape"]["field"]
    dashes = _series_layers(spec)[0]["encoding"]["strokeDash"]["scale"]["range"]
    assert len({tuple(d) for d in dashes}) == len(dashes) and dashes[0] == [1, 0]
    assert all(max(d) >= 3 for d in dashes[1:])  # long enough to leave visible gaps
    # the tooltip of a point drawn over another names the series under it
    (data,) = spec["datasets"].values()
    assert [(row["series"], row["same"]) for row in data] == [
        ("BIM", "PGD"), ("BIM", "PGD"), ("PGD", "BIM"), ("PGD", "BIM")
    ]  # fmt: skip
    from animlib.experiment_views import _same_point

    alone = points.assign(robust_acc=[0.1, 0.2, 0.3, 0.4][: len(points)])
    assert set(_same_point(alone)) == {"none"}  # (an empty value read as a missing one)


def test_a_legend_of_many_sweeps_wraps_and_the_chart_grows_with_it():
    """24 sweeps: the legend wraps into rows of 3 and each row adds height, so the plot keeps
    its size (in one fitted height the plot was squeezed to a strip above the legend)."""
    import pandas as pd

    def spec(n: int) -> dict:
        points = pd.DataFrame(
            {
                "series": [f"s{i}" for i in range(n)],
                "experiment": [f"e{i}" for i in range(n)],
                "value": [0.1] * n,
                "robust_acc": [0.5] * n,
                "n": [16] * n,
            }
        )
        return robust_chart(points).to_dict(validate=True)

    few, many = spec(3), spec(24)
    legend = _series_layers(many)[0]["encoding"]["color"]["legend"]
    assert legend["columns"] == 3 and legend["orient"] == "bottom"
    assert many["height"] - few["height"] == 7 * 30  # 8 rows of legend instead of 1
    picked = many["params"][0]
    assert picked["bind"] == "legend" and picked["select"]["fields"] == ["series"]
    assert spec(24) == many  # the same spec each time: the chart keeps its state on reruns
    # 100 sweeps: the legend names 45 and says how many more; the height is for those rows
    # (it was for 34 rows while Vega showed 10: a plot stretched over the empty space)
    for channel in ("color", "strokeDash", "shape"):  # one legend, in natural order
        assert _series_layers(many)[0]["encoding"][channel]["sort"] == [f"s{i}" for i in range(24)]
    huge = spec(100)
    assert _series_layers(huge)[0]["encoding"]["color"]["legend"]["symbolLimit"] == 45
    assert huge["height"] - few["height"] == (16 - 1) * 30  # 45 names + 1 line, in 3 columns


def test_the_robust_chart_pickles_as_the_page_caches_it():
    """st.cache_data keeps the page's chart pickled: the chart class made to skip validation
    (a class made in a function) could not be pickled."""
    import pickle

    frame = _frame([("a-eps0.1", "A", 0.1, 0.25), ("a-eps0.2", "A", 0.2, 0.5)])
    points = robust_curve(frame.assign(n=[16, 16]))
    chart = robust_chart(points)
    again = pickle.loads(pickle.dumps(chart))
    assert type(again) is type(chart)  # (its to_dict still skips the validation)
    assert again.to_dict() == chart.to_dict()


def test_the_robust_chart_is_built_again_only_when_its_points_change(tmp_path, monkeypatch):
    """Every rerun of the page (the folder's poll every 2 s, a grid step, a tick) built the
    Altair chart again: ~28 % of a rerun's server time. It is built once per set of points;
    an experiment that lands (new points) still shows at once."""
    import streamlit as st
    from test_experiments import UNTARGETED, write

    from animlib import experiment_views

    root = tmp_path / "runs"
    for eps in (0.1, 0.2):
        write(root, f"pgd-eps{eps}", UNTARGETED, eps)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    built = []
    real = experiment_views.robust_chart

    def counted(points: pd.DataFrame, **kwargs: Any) -> Any:
        built.append(set(points["experiment"]))
        return real(points, **kwargs)

    monkeypatch.setattr(experiment_views, "robust_chart", counted)
    st.cache_data.clear()  # (a chart of these points cached by another test)
    at = experiments_page()
    at.run()
    at.run()
    assert not at.exception, at.exception
    assert _chart_experiments(at) == {"pgd-eps0.1", "pgd-eps0.2"}
    assert built == [{"pgd-eps0.1", "pgd-eps0.2"}]  # three page runs, one chart
    write(root, "pgd-eps0.3", UNTARGETED, 0.3)
    deadline = time.monotonic() + 30
    while "pgd-eps0.3" not in _chart_experiments(at.run()):  # (the page polls the folder)
        assert time.monotonic() < deadline, "the new experiment never showed in the chart"
        time.sleep(0.5)
    assert not at.exception, at.exception
    assert built[-1] == {"pgd-eps0.1", "pgd-eps0.2", "pgd-eps0.3"}


def _chart_experiments(at: AppTest) -> set[str]:
    """The experiments of the points the page's robust-accuracy chart draws."""
    from test_experiments_bars import chart_data

    (chart,) = at.get("vega_lite_chart")
    return {e for frame in chart_data(chart) for e in frame.get("experiment", [])}


def test_the_chart_draws_the_sweeps_and_counts_the_single_eps_experiments(tmp_path, monkeypatch):
    """100 experiments, 84 of them one-offs at one ε each: a line (a point) and a legend entry
    each, 46+ entries, unreadable. The chart draws the sweeps (2 or more ε); a caption under
    it counts the others and says how to see them, and a toggle draws them too; a click on a
    point still sets the grid. With only sweeps (the demo) nothing of this shows."""
    from test_experiments import UNTARGETED, write

    root = tmp_path / "runs"
    for attack in ("PGD", "FGSM"):
        for eps in (0.05, 0.1):
            write(root, f"{attack.lower()}-eps{eps}", UNTARGETED, eps, attack=attack)
    singles = ["cw-old1-eps0.1", "cw-old2-eps0.05", "cw-old3-eps0.1"]
    for name in singles:
        write(root, name, UNTARGETED, float(name.rsplit("eps", 1)[1]), attack="CW")
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    assert not at.exception, at.exception
    sweeps = {"pgd-eps0.05", "pgd-eps0.1", "fgsm-eps0.05", "fgsm-eps0.1"}
    assert _chart_experiments(at) == sweeps
    (note,) = [c.value for c in at.caption if c.value.startswith("Not drawn")]
    assert note.startswith("Not drawn: 3 experiments tried at a single ε only")
    assert "*Show single-ε experiments*" in note
    assert len(at.dataframe[0].value) == 7  # the table keeps them all
    at.toggle(key="e_single").set_value(True).run()
    assert not at.exception, at.exception
    assert _chart_experiments(at) == sweeps | set(singles)
    assert not [c for c in at.caption if c.value.startswith("Not drawn")]
    at.toggle(key="e_single").set_value(False).run()
    assert _chart_experiments(at) == sweeps
    # filtered to the one-offs alone, they are all there is to draw: drawn, no note
    at.text_input(key="e_text").set_value("cw").run()
    assert _chart_experiments(at) == set(singles)
    assert not [c for c in at.caption if c.value.startswith("Not drawn")]
    at.text_input(key="e_text").set_value("").run()
    at.session_state["robust_chart"] = {"selection": {"point": [{"experiment": "fgsm-eps0.05"}]}}
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="grid_ids").value[0] == "fgsm-eps0.05"


def test_single_value_lines_are_counted_by_experiment_and_line():
    from animlib.chart_lines import drawn_points, left_out_note

    points = pd.DataFrame(
        {
            "series": ["PGD", "PGD", "CW · a", "CW · b", "CW · b"],
            "value": [0.05, 0.1, 0.1, 0.05, 0.05],
            "experiment": ["p1", "p2", "a", "b", "b-2"],
        }
    )
    drawn, single = drawn_points(points)
    assert list(drawn["experiment"]) == ["p1", "p2"] and single == ["CW · a", "CW · b"]
    assert drawn_points(points, every=True)[0] is points
    note = left_out_note(points, single, "c", "Show single-c experiments")
    assert note.startswith("Not drawn: 3 experiments (2 lines) tried at a single c only")
    one_offs = points[points["series"] != "PGD"]  # no sweep: all drawn, none listed
    assert drawn_points(one_offs)[0] is one_offs and drawn_points(one_offs)[1] == []


def test_a_chart_of_sweeps_alone_has_no_single_eps_toggle(demo_env):
    at = experiments_page()
    assert not at.exception, at.exception
    assert len(_chart_experiments(at)) == 9
    assert not [t for t in at.toggle if t.key == "e_single"]
    assert not [c for c in at.caption if c.value.startswith("Not drawn")]


def _info(exp_id: str, attack: str, eps: float | None, created: str) -> Any:
    from animlib.experiments import ExperimentInfo

    params = {} if eps is None else {"eps": eps}
    meta = {"attack": attack, "model": "cnn", "params": params, "created": created}
    return ExperimentInfo(exp_id, meta, [])


def test_table_keeps_each_sweep_together_in_eps_order_newest_sweep_first():
    """Created within one second, a sweep's experiments came out in id order (0.2, 0.05, 0.1)
    and interleaved with other sweeps; the table groups each sweep in ε order."""
    import pandas as pd

    infos = [
        _info("old-fgsm-eps0.2", "FGSM", 0.2, "2026-01-01T10:00:00"),
        _info("art-pgd-eps0.05", "PGD", 0.05, "2026-01-02T10:00:01"),
        _info("old-fgsm-eps0.05", "FGSM", 0.05, "2026-01-01T10:00:00"),
        _info("art-pgd-eps0.2", "PGD", 0.2, "2026-01-02T10:00:01"),
        _info("notes", "PGD", None, "2026-01-03T00:00:00"),
        _info("art-pgd-eps0.1", "PGD", 0.1, "2026-01-02T10:00:00"),
    ]
    order = list(experiment_table(infos, pd.DataFrame())["experiment"])
    assert order == [
        "notes",  # the newest sweep (of one experiment, without ε)
        "art-pgd-eps0.05",
        "art-pgd-eps0.1",
        "art-pgd-eps0.2",
        "old-fgsm-eps0.05",
        "old-fgsm-eps0.2",
    ]


def test_the_newest_sweep_is_the_newest_instant_whatever_the_offset():
    """A run.json written at 21:00+05:30 (15:30 UTC) sorted as newer than one of 16:00 UTC: the
    times were compared as text."""
    import pandas as pd

    infos = [
        _info("utc-eps0.1", "FGSM", 0.1, "2026-01-02T16:00:00+00:00"),
        _info("india-eps0.1", "PGD", 0.1, "2026-01-02T21:00:00+05:30"),
    ]
    order = list(experiment_table(infos, pd.DataFrame())["experiment"])
    assert order == ["utc-eps0.1", "india-eps0.1"]


def _frame(rows: list[tuple[str, str, float | None, float]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["experiment", "attack", "eps", "robust_acc"])
    return frame.assign(model="cnn")


def test_grid_starts_with_each_sweep_at_the_eps_they_share_where_attacks_differ_most():
    frame = _frame(
        [
            ("ta-pgd-eps0.05", "PGD", 0.05, 0.75),
            ("ta-pgd-eps0.1", "PGD", 0.1, 0.31),
            ("ta-pgd-eps0.2", "PGD", 0.2, 0.0),
            ("art-pgd-eps0.05", "PGD", 0.05, 0.8),
            ("art-pgd-eps0.1", "PGD", 0.1, 0.40),
            ("art-pgd-eps0.2", "PGD", 0.2, 0.0),
            ("fgsm-eps0.1", "FGSM", 0.1, 0.6),
            ("fgsm-eps0.3", "FGSM", 0.3, 0.1),
        ]
    )
    ids, eps = default_grid(frame, 6)
    assert eps == 0.1 and ids == ["ta-pgd-eps0.1", "art-pgd-eps0.1", "fgsm-eps0.1"]
    assert default_grid(frame, 2)[0] == ["ta-pgd-eps0.1", "art-pgd-eps0.1"]
    # every ε shared by every sweep: the one where their robust accuracies differ most
    two = frame[frame["experiment"].str.startswith(("ta-", "art-"))]
    assert default_grid(two, 6) == (["ta-pgd-eps0.1", "art-pgd-eps0.1"], 0.1)  # 0.09 apart
    two = two.assign(robust_acc=[0.55, 0.1, 0.0, 0.45, 0.05, 0.0])
    assert default_grid(two, 6) == (["ta-pgd-eps0.05", "art-pgd-eps0.05"], 0.05)  # 0.1 apart
    # as far apart everywhere: the ε whose robust accuracy is nearest 50 %
    two = two.assign(robust_acc=[0.9, 0.6, 0.0, 0.9, 0.6, 0.0])
    assert default_grid(two, 6) == (["ta-pgd-eps0.1", "art-pgd-eps0.1"], 0.1)
    # one sweep (or none with ε): the first rows, in the table's order
    one = frame[frame["experiment"].str.startswith("ta-")]
    assert default_grid(one, 2) == (["ta-pgd-eps0.05", "ta-pgd-eps0.1"], None)
    assert default_grid(_frame([("a", "X", None, 0.5), ("b", "Y", None, 0.5)]), 6) == (
        ["a", "b"],
        None,
    )


def test_grid_starts_with_sweeps_on_one_set_of_images():
    """Two models attacked other images under the same sample ids: the grid took the 6
    newest sweeps of both, and every row of its 128 was half empty."""
    rows = []
    for model, acc in (("m2", 0.7), ("m3", 0.2)):
        for attack in ("FGSM", "BIM", "PGD", "MIFGSM"):
            for eps in (0.01, 0.1):
                rows.append((f"{attack.lower()}-eps{eps}-{model}", attack, eps, acc - eps))
    frame = _frame(rows).assign(model=[r[0][-2:] for r in rows])
    images = {r[0]: r[0][-2:] for r in rows}  # each model's experiments on its own images
    ids, eps = default_grid(frame, 6, images=images)
    assert len(ids) == 4 and len({images[e] for e in ids}) == 1  # one model's 4 sweeps
    assert len(default_grid(frame, 6)[0]) == 6  # (without the images: both models')
    clicked = grid_start.experiments_at(
        frame, 0.1, 6, images=images, first="pgd-eps0.1-m3"
    )  # a point clicked: the sweeps on its images
    assert sorted(clicked) == sorted(e for e in images if e.endswith("0.1-m3"))
    hidden = {e for e in images if e.startswith("pgd-")}  # (one-offs the chart leaves out)
    drawn = grid_start.experiments_at(frame, 0.1, 6, among=set(images) - hidden)
    assert drawn and not hidden & set(drawn)
    assert hidden & set(grid_start.experiments_at(frame, 0.1, 6))
    alone = {e: e for e in images}  # every experiment on its own images: as without them
    assert default_grid(frame, 6, images=alone) == default_grid(frame, 6)


def test_grid_starts_with_finished_sweeps_not_the_newest_one_offs():
    """Five newer one-off experiments at ε 0.03 (killed, running, clean-only, no labels, a
    lone finished one) counted as five sweeps: the grid started with them and none of the
    bim/fgsm/pgd sweeps. Real finished sweeps come first; the others only fill after them."""
    from animlib.grid_start import FINISHED, OTHER, RUNNING, SWEEP, experiments_at, preference

    rows = [  # (experiment, attack, eps, status, steps, n, robust_acc), newest first
        ("killed-eps0.03", "PGD", 0.03, "stale", 3, 0, math.nan),
        ("live-eps0.03", "PGD", 0.03, "running", 2, 4, 0.5),
        ("clean-only-eps0.03", "BIM", 0.03, "failed", 1, 0, math.nan),
        ("nolabel-eps0.03", "FGSM", 0.03, "finished", 4, 4, math.nan),
        ("lone-eps0.03", "CW", 0.03, "finished", 4, 4, 0.25),
        ("crash-eps0.1", "PGD", 0.1, "failed", 1, 0, math.nan),
        ("empty", "PGD", None, "running", 0, 0, math.nan),
    ]
    for attack in ("bim", "fgsm", "pgd"):
        for eps, acc in ((0.05, 0.5), (0.1, {"bim": 0.5, "fgsm": 1.0, "pgd": 0.0}[attack])):
            rows.append((f"{attack}-eps{eps}", attack.upper(), eps, "finished", 4, 4, acc))
        rows.append((f"{attack}-eps0.2", attack.upper(), 0.2, "finished", 4, 4, 0.0))
    columns = ["experiment", "attack", "eps", "status", "steps", "n", "robust_acc"]
    frame = pd.DataFrame(rows, columns=columns).assign(model="cnn")
    tiers = dict(zip(frame["experiment"], preference(frame), strict=True))
    assert tiers["pgd-eps0.1"] == SWEEP and tiers["lone-eps0.03"] == FINISHED
    assert tiers["live-eps0.03"] == RUNNING
    others = ("killed-eps0.03", "clean-only-eps0.03", "nolabel-eps0.03", "crash-eps0.1", "empty")
    assert {tiers[e] for e in others} == {OTHER}
    ids, eps = default_grid(frame, 6)  # ε 0.1: 0.0 to 1.0, where the sweeps differ most
    assert eps == 0.1 and ids == ["bim-eps0.1", "fgsm-eps0.1", "pgd-eps0.1", "crash-eps0.1"]
    assert default_grid(frame, 3) == (["bim-eps0.1", "fgsm-eps0.1", "pgd-eps0.1"], 0.1)
    # a click at ε 0.03: the finished one first, the running one, then the rest
    assert experiments_at(frame, 0.03, 3) == ["lone-eps0.03", "live-eps0.03", "killed-eps0.03"]
    # no value two sweeps share: the first rows, the finished ones first
    alone = frame[frame["experiment"].isin(["killed-eps0.03", "empty", "pgd-eps0.2"])]
    assert default_grid(alone, 2) == (["pgd-eps0.2", "killed-eps0.03"], None)
    # only unfinished experiments: as before, they share their value
    unfinished = frame[frame["status"] != "finished"]
    assert default_grid(unfinished, 6)[1] in (0.03, 0.1)


def test_a_clicked_value_picks_one_experiment_per_sweep_at_it():
    from animlib.grid_start import experiments_at

    frame = _frame(
        [
            ("ta-pgd-eps0.05", "PGD", 0.05, 0.75),
            ("ta-pgd-eps0.1", "PGD", 0.1, 0.31),
            ("ta-pgd-eps0.10", "PGD", 0.1, 0.3),  # the same sweep (ta-pgd-eps*): one per sweep
            ("art-pgd-eps0.1", "PGD", 0.1 + 1e-12, 0.40),  # (as a float sum may give it)
            ("fgsm-eps0.3", "FGSM", 0.3, 0.1),
            ("notes", "PGD", None, 0.5),
        ]
    )
    assert experiments_at(frame, 0.1, 6) == ["ta-pgd-eps0.1", "art-pgd-eps0.1"]
    assert experiments_at(frame, 0.1, 1) == ["ta-pgd-eps0.1"]
    assert experiments_at(frame, 0.3, 6) == ["fgsm-eps0.3"]
    assert experiments_at(frame, 0.7, 6) == []


def test_grid_page_starts_with_every_attack_at_one_eps(demo_env):
    at = experiments_page()
    assert not at.exception, at.exception
    chosen = at.multiselect(key="grid_ids").value
    # ε 0.1: robust accuracy 0.06 (BIM, PGD) to 0.25 (FGSM); 0.05: 0.63-0.69; 0.2: all 0
    assert sorted(chosen) == ["sweep-bim-eps0.10", "sweep-fgsm-eps0.10", "sweep-pgd-linf-eps0.10"]
    assert {run.rsplit("-", 1)[0] for run, _ in _cells(at)} == set(chosen)
    table = list(at.dataframe[0].value["experiment"])
    assert table.index("sweep-bim-eps0.10") == table.index("sweep-bim-eps0.05") + 1


def test_outcomes_are_the_grid_as_data(demo_env):
    """One row per run, by sample then grid column; success and flip step recomputed here from
    each run's stored confidences; the class names are the run's."""
    from animlib.experiment_grid import outcomes

    chosen = ["sweep-pgd-linf-eps0.10", "sweep-fgsm-eps0.10"]
    table = outcomes(animlib.list_runs(DEMO), chosen)
    assert len(table) == 32
    assert list(table["experiment"][:4]) == chosen * 2
    assert list(table["sample"]) == sorted(table["sample"])
    for row in table.itertuples():
        run = animlib.open_run_in(DEMO, row.run)
        preds = np.asarray(run.confidences[: len(run)]).argmax(axis=1)
        flipped = np.flatnonzero(preds != run.true_label)
        assert row.success == (preds[-1] != run.true_label), row.run
        assert row.final_pred == preds[-1] and row.final_class == run.class_names[preds[-1]]
        assert row.true_class == run.class_names[run.true_label]
        if row.success:
            assert row.flip_step == flipped[0], row.run
        else:
            assert table.loc[row.Index, "flip_step"] is pd.NA
    assert table.groupby("experiment")["success"].mean().round(4).to_dict() == {
        e: round(1 - animlib.summarize(DEMO).set_index("experiment").loc[e, "robust_acc"], 4)
        for e in chosen
    }


def test_outcomes_csv_writes_formula_like_class_names_as_text(tmp_path):
    from animlib.experiment_grid import outcomes, outcomes_to_csv

    x = np.zeros((2, 4, 4, 1), np.float32)
    names = ["=HYPERLINK(1)", "ok"]
    with animlib.BatchWriter(tmp_path, experiment="e1", attack="p\r=1+3", class_names=names,
                             true_labels=[0, 1], originals=x) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.1, 0.9], [0.9, 0.1]]))
    text = outcomes_to_csv(outcomes(animlib.list_runs(tmp_path), ["e1"])).decode()
    lines = text.splitlines()
    assert lines[0].startswith(
        "sample,true_label,true_class,target_label,target_class,experiment,attack,model,eps,run,"
    )
    assert "'=HYPERLINK(1)" in text and '"p\n=1+3"' in text
    assert ",=" not in text and ",+" not in text and "\r" not in text
    assert len(list(csv.reader(io.StringIO(text)))) == 3  # (a lone CR began a row: "=1+3,...")
    with animlib.BatchWriter(tmp_path, experiment="e2", class_names=names, true_labels=[0, 1],
                             originals=x, params={"eps": "x\r=2+2"}) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.1, 0.9], [0.9, 0.1]]))
    text = outcomes_to_csv(outcomes(animlib.list_runs(tmp_path), ["e2"])).decode()
    rows = list(csv.reader(io.StringIO(text)))  # (eps, any JSON value, was written bare)
    assert len(rows) == 3 and {len(r) for r in rows} == {len(rows[0])}
    assert not any(c.startswith(("=", "+", "@")) for r in rows for c in r)


def test_grid_page_offers_the_outcomes_csv(demo_env):
    at = experiments_page(ids="sweep-fgsm-eps0.10,sweep-bim-eps0.10")
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Outcomes of every image (CSV)" in labels


def test_grid_step_follows_a_running_experiment_only_from_its_last_step(tmp_path, monkeypatch):
    x = np.zeros((2, 6, 6, 3), np.float32)
    conf = np.array([[0.9, 0.1], [0.2, 0.8]])
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    # every page run refreshes the index in line (on a busy machine a refresh over 50 ms went
    # to the background, and the page could show the old step count: this test is about the
    # grid's step, not when new steps show)
    monkeypatch.setattr("animlib.ui.CHEAP_REFRESH_S", 3600.0)
    w = animlib.BatchWriter(
        tmp_path / "runs", experiment="live", class_names=["a", "b"], true_labels=[0, 1],
        originals=x,
    )  # fmt: skip
    try:
        for step in range(3):
            w.log(images=x + 0.1 * step, confidences=conf)
        w.flush()
        at, moved = experiments_page(), experiments_page()
        assert at.slider(key="grid_step").value == 2
        moved.slider(key="grid_step").set_value(1).run()
        for step in (3, 4):
            w.log(images=x + 0.1 * step, confidences=conf)
        w.flush()
        at.run()
        moved.run()
        assert at.slider(key="grid_step").value == 4  # was at the last step: follows it
        assert {s for _, s in _cells(at)} == {4}
        assert moved.slider(key="grid_step").value == 1  # a step the user chose stays
        # its numbers are of the steps so far: said under the table (a tooltip in the chart)
        assert any("1 experiment still running" in c.value for c in at.caption)
    finally:
        w.finish()
    at.run()
    assert not any("still running" in c.value for c in at.caption)


def _grid_link(page: str, **params: str) -> tuple[str, list[str]]:
    """The label of ``page``'s one link to the experiments page, and the ids it opens."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception and not at.error
    (link,) = [p for p in at.get("page_link") if "experiments" in p.proto.page]
    return link.proto.label, _link_query(link)["ids"].split(",")


def _link_query(link) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}


def test_compare_of_two_samples_links_to_every_experiment_on_that_image(demo_env):
    runs = "sweep-fgsm-eps0.10-0003,sweep-bim-eps0.10-0003"
    label, ids = _grid_link("app_pages/compare.py", runs=runs)
    assert label == "The image in the images × experiments grid (9 experiments)"
    assert ids == [
        f"sweep-{attack}-eps{eps}"
        for attack in ("bim", "fgsm", "pgd-linf")
        for eps in ("0.05", "0.10", "0.20")
    ]


def test_compare_of_runs_naming_an_image_links_to_the_experiments_on_its_pixels(demo_env):
    """The demo's named digits-test-0 runs and the sweeps' sample 0 (known only by its pixels)
    attack one image: comparing two named runs offers the 9 sweeps on it."""
    runs = "pgd-linf-eps0.15-digits0,bim-eps0.15-digits0"
    label, ids = _grid_link("app_pages/compare.py", runs=runs)
    assert label == "The image in the images × experiments grid (9 experiments)"
    assert len(ids) == 9 and all(i.startswith("sweep-") for i in ids)
    label, same = _grid_link("app_pages/viewer.py", run="pgd-linf-eps0.15-digits0")
    assert (label, same) == ("This image in 9 experiments: the images × experiments grid", ids)


def test_rows_picked_in_the_table_become_the_grid(demo_env):
    at = experiments_page()
    table = at.dataframe[0]
    shown = list(table.value["experiment"])
    rows = [shown.index("sweep-fgsm-eps0.20"), shown.index("sweep-bim-eps0.05")]
    at.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    picked = [shown[i] for i in rows]
    assert at.multiselect(key="grid_ids").value == picked
    assert {run.rsplit("-", 1)[0] for run, _ in _cells(at)} == set(picked)
    # the grid can still be edited; the same pick, kept on later runs, does not undo that
    at.multiselect(key="grid_ids").set_value(["sweep-pgd-linf-eps0.10"]).run()
    assert at.multiselect(key="grid_ids").value == ["sweep-pgd-linf-eps0.10"]
    at.text_input(key="e_text").set_value("eps0.2").run()  # other rows: a new key, no pick
    assert at.multiselect(key="grid_ids").value == ["sweep-pgd-linf-eps0.10"]


def test_ticked_rows_stay_ticked_when_another_experiment_lands(tmp_path, monkeypatch):
    """A sweep written by someone else while the page was open gave the table a new key with
    nothing ticked: the next tick then replaced the grid instead of adding to it."""
    root = tmp_path / "runs"
    for info in animlib.list_runs(DEMO):
        if info.ok and info.get("experiment") in ("sweep-fgsm-eps0.05", "sweep-bim-eps0.05"):
            shutil.copytree(DEMO / info.id, root / info.id)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    table = at.dataframe[0]
    shown = list(table.value["experiment"])
    at.session_state[table.key] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert set(at.multiselect(key="grid_ids").value) == set(shown)
    with animlib.BatchWriter(root, experiment="late", class_names=list("0123456789")) as w:
        w.log(images=np.zeros((2, 8, 8)), confidences=np.full((2, 10), 0.1))
    deadline = time.monotonic() + 30
    while "late" not in list(at.run().dataframe[0].value["experiment"]):  # (the page polls)
        assert time.monotonic() < deadline, "the new experiment never showed"
        time.sleep(0.5)
    table = at.dataframe[0]
    now = list(table.value["experiment"])
    ticked = at.session_state[table.key]["selection"]["rows"]
    assert sorted(now[i] for i in ticked) == sorted(shown)  # still ticked
    rows = [*ticked, now.index("late")]
    at.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert set(at.multiselect(key="grid_ids").value) == {*shown, "late"}


def test_a_pasted_grid_link_ending_in_a_space_or_line_break_works(demo_env):
    at = experiments_page(ids="sweep-bim-eps0.20,sweep-fgsm-eps0.05\n ")
    assert not at.exception and not at.warning
    assert at.multiselect(key="grid_ids").value == ["sweep-bim-eps0.20", "sweep-fgsm-eps0.05"]


def test_unticking_every_row_gives_the_first_grid_back(demo_env):
    """The last row unticked left its experiment in the grid (and the link), with no tick in
    the table to say so."""
    at = experiments_page()
    first = at.multiselect(key="grid_ids").value
    table = at.dataframe[0]
    shown = list(table.value["experiment"])
    row = [shown.index("sweep-bim-eps0.20")]
    at.session_state[table.key] = {"selection": {"rows": row, "columns": [], "cells": []}}
    at.run()
    assert at.multiselect(key="grid_ids").value == ["sweep-bim-eps0.20"]
    at.session_state[table.key] = {"selection": {"rows": [], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="grid_ids").value == first != ["sweep-bim-eps0.20"]


def test_viewer_of_a_sample_links_to_the_grid_of_every_experiment_on_its_image(demo_env):
    label, ids = _grid_link("app_pages/viewer.py", run="sweep-fgsm-eps0.10-0003")
    assert label.endswith("sample 3: this image in the grid with all 9 experiments on it")
    assert len(ids) == 9 and "sweep-fgsm-eps0.10" in ids and ids == sorted(ids, key=natural_key)


@pytest.mark.parametrize("run", ["sweep-fgsm-eps0.10-0003", "pgd-linf-eps0.15-digits0"])
def test_the_viewers_grid_link_shows_that_image_alone(demo_env, run):
    """ "This image in the grid" opened all 16 images of the 9 experiments, nothing singled
    out; its link names the image, whose row alone shows, the others a toggle away."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = run
    at.run()
    (link,) = [p for p in at.get("page_link") if "experiments" in p.proto.page]
    query = _link_query(link)
    assert query["image"] == run
    grid = experiments_page(**query)
    assert not grid.exception, grid.exception
    runs = {r for r, _ in _cells(grid)}
    assert len(runs) == 9 and len({r.rsplit("-", 1)[-1] for r in runs if "sweep" in r}) == 1
    if run.startswith("sweep"):
        assert run in runs
    toggle = grid.toggle(key=f"grid_one_image-{run}")
    assert toggle.value and grid.query_params["image"] in (run, [run])
    toggle.set_value(False).run()
    assert len({r for r, _ in _cells(grid)}) == 9 * 16 and "image" not in grid.query_params


def test_a_link_naming_a_removed_image_says_so_and_shows_every_image(demo_env):
    """A link whose image= run is gone (removed since the link was made) showed the toggle
    "Only the image of run ..." on and an empty grid, without a word."""
    ids = "sweep-bim-eps0.05,sweep-fgsm-eps0.05"
    grid = experiments_page(ids=ids, image="no-such-run")
    assert not grid.exception, grid.exception
    (warning,) = [w.value for w in grid.warning if "every image is shown" in w.value]
    assert "no\\-such\\-run" in warning  # (escaped for Markdown)
    assert not [t for t in grid.toggle if t.key.startswith("grid_one_image")]
    assert len({r for r, _ in _cells(grid)}) == 2 * 16


def test_an_experiment_repeated_in_the_link_is_shown_once(demo_env):
    """/experiments?ids=X,X ended in a traceback (duplicate column names in the flip table)."""
    grid = experiments_page(ids="sweep-bim-eps0.05,sweep-bim-eps0.05")
    assert not grid.exception, grid.exception
    assert grid.multiselect(key="grid_ids").value == ["sweep-bim-eps0.05"]
    assert len({r for r, _ in _cells(grid)}) == 16


def _flip_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "fastest" in d.value.columns]
    return table


def test_grid_can_show_only_the_images_the_attacks_disagree_on(demo_env):
    from animlib.experiment_grid import contested

    chosen = ["sweep-pgd-linf-eps0.10", "sweep-bim-eps0.10", "sweep-fgsm-eps0.10"]
    rows = grid_rows(animlib.list_runs(DEMO), chosen)
    mixed = contested(rows)
    assert mixed and len(mixed) < len(rows)  # the demo has both kinds at ε 0.1
    assert [r.key for r in mixed] == [r.key for r in rows if 0 < r.fooled < 3]
    at = experiments_page(ids=",".join(chosen))
    at.toggle(key="grid_contested").set_value(True).run()
    assert not at.exception, at.exception
    page = "".join(h.proto.body for h in at.get("html"))
    tallies = [int(k) for k in re.findall(r"fooled by ([0-3]) of 3", page)]
    assert len(tallies) == len(mixed) and set(tallies) <= {1, 2}
    flips = _flip_table(at)  # the flip table shows the same images
    assert len(flips) == len(mixed) and "disagree on" in " ".join(c.value for c in at.caption)
    assert at.query_params["only"] in ("contested", ["contested"])
    linked = experiments_page(ids=",".join(chosen), only="contested")  # kept in the URL
    assert linked.toggle(key="grid_contested").value is True
    assert len(_cells(linked)) == 3 * len(mixed)
    at.toggle(key="grid_contested").set_value(False).run()
    assert len(_cells(at)) == 3 * 16 and "only" not in at.query_params
    assert len(_flip_table(at)) == 16


def test_grid_page_number_follows_fewer_images(tmp_path, monkeypatch):
    """On page 3 of 40 images, showing only the 20 contested ones (2 pages) starts again at
    page 1 (the page widget is a new one when the number of pages changes)."""
    n = 40
    x = np.zeros((n, 4, 4, 1), np.float32)
    y = np.zeros(n, int)
    for exp, fooled in (("a", range(0, n, 2)), ("b", ())):  # a fools 20 images, b none
        conf = np.tile([0.9, 0.1], (n, 1))
        conf[list(fooled)] = [0.1, 0.9]
        with animlib.BatchWriter(tmp_path / "runs", experiment=exp, class_names=["p", "q"],
                                 true_labels=y, originals=x) as w:  # fmt: skip
            w.log(images=x, confidences=conf)
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page(ids="a,b")
    at.number_input(key="grid_page").set_value(3).run()
    assert len(_cells(at)) == 2 * (n - 2 * 16)
    at.toggle(key="grid_contested").set_value(True).run()
    assert not at.exception, at.exception
    assert at.number_input(key="grid_page").value == 1
    assert len(_cells(at)) == 2 * 16


def test_the_grid_links_to_its_runs_in_the_runs_table_filtered_by_experiment(demo_env):
    ids = "sweep-fgsm-eps0.10,sweep-pgd-linf-eps0.10"
    at = experiments_page(ids=ids)
    assert not at.exception, at.exception
    (link,) = [p for p in at.get("page_link") if "runs table" in p.proto.label]
    assert link.proto.page == ""  # the runs page is the dashboard's default page
    assert link.proto.query_string == f"experiment={ids.replace(',', '%2C')}"
    links = at.dataframe[0].value.set_index("experiment")["runs"]  # and each table row
    assert links["sweep-fgsm-eps0.10"] == "./?experiment=sweep-fgsm-eps0.10"
    # the runs page opened by that link shows those experiments' runs and nothing else
    runs = AppTest.from_file(APP, default_timeout=180)
    runs.query_params["experiment"] = ids
    runs.run()
    assert not runs.exception, runs.exception
    assert runs.multiselect(key="f_experiment").value == ids.split(",")
    shown = set(runs.dataframe[0].value["id"])
    expected = {i.id for i in animlib.list_runs(DEMO) if i.get("experiment") in ids.split(",")}
    assert shown == expected and len(shown) == 32
    assert runs.query_params["experiment"] == ids  # kept in the URL
    caption = " | ".join(c.value for c in runs.caption)
    assert "32 of 165 runs shown · experiment sweep-fgsm-eps0.10 or sweep-pgd-linf-eps0.10" in (
        caption.replace("\\", "")  # (Markdown-escaped)
    )
    (back,) = [p for p in runs.get("page_link") if "grid" in p.proto.label]  # and links back
    assert back.proto.label == "Their images in the grid (2 experiments)"
    assert back.proto.query_string == f"ids={ids.replace(',', '%2C')}"
    (back,) = [p for p in runs.get("page_link") if "grid" in p.proto.label]  # and the way back
    assert back.proto.page == "experiments"
    assert back.proto.query_string == f"ids={ids.replace(',', '%2C')}"
    runs.multiselect(key="f_experiment").set_value([]).run()
    assert len(runs.dataframe[0].value) > 32 and "experiment" not in runs.query_params
    wrong = AppTest.from_file(APP, default_timeout=180)
    wrong.query_params["experiment"] = "no-such-sweep"
    wrong.run()
    warning = wrong.warning[0].value.replace("\\", "")  # (Markdown-escaped)
    assert not wrong.exception and "No experiment no-such-sweep in this folder" in warning


def test_neighbours_follow_sample_order_not_id_order():
    from animlib.experiment_grid import neighbours
    from animlib.listing import RunInfo

    def info(run_id: str, sample: Any) -> RunInfo:
        return RunInfo(run_id, f"/r/{run_id}", {"experiment": "e", "sample": sample})

    infos = [info("e-b", 10), info("e-a", 2), info("e-c", 9), info("e-x", "x"), info("e-0", 0)]

    def ids(run_id: str) -> tuple:
        before, after, count = neighbours(infos, run_id)
        return (before and before.id, after and after.id, count)

    assert ids("e-c") == ("e-a", "e-b", 5)  # samples 0, 2, 9, 10, then "x"
    assert ids("e-0") == (None, "e-a", 5)
    assert ids("e-x") == ("e-b", None, 5)
    assert ids("other") == (None, None, 0)


def test_smallest_eps_per_image_and_sweep():
    from animlib.image_tables import smallest_value

    points = pd.DataFrame(
        {
            "series": ["PGD", "PGD", "PGD", "FGSM", "FGSM"],
            "value": [0.1, 0.05, 0.2, 0.1, 0.2],
            "experiment": ["p10", "p05", "p20", "f10", "f20"],
        }
    )
    runs = [  # (sample, experiment, success)
        (0, "p05", False), (0, "p10", True), (0, "p20", True), (0, "f10", False),
        (0, "f20", True), (10, "p05", True), (10, "p10", False), (10, "f10", None),
        (10, "f20", False), (2, "p20", True), (2, "other", True),
    ]  # fmt: skip
    outcomes = pd.DataFrame(
        [
            {"sample": s, "true_class": "c", "experiment": e, "success": ok, "image": f"{s}:"}
            for s, e, ok in runs
        ]
    )
    table, medians = smallest_value(outcomes, points)
    assert list(table.columns) == ["sample", "true class", "FGSM", "PGD"]
    assert list(table["sample"]) == [0, 2, 10]  # by sample value, not as text
    got = table.set_index("sample")
    assert got.loc[0, "PGD"] == 0.1 and got.loc[0, "FGSM"] == 0.2
    assert got.loc[10, "PGD"] == 0.05  # the smallest ε that fooled it, though 0.1 did not
    assert math.isnan(got.loc[10, "FGSM"])  # no ε of the sweep did (one unknown)
    assert got.loc[2, "PGD"] == 0.2 and math.isnan(got.loc[2, "FGSM"])  # not attacked by FGSM
    # the ε that fools at least half of the images each attacked: PGD (0.05, 0.1, 0.2) 0.1;
    # FGSM (0.2, none of its ε; sample 2 it did not attack) 0.2
    assert medians == {"FGSM": "0.2", "PGD": "0.1"}
    never = outcomes.assign(success=False)
    assert smallest_value(never, points)[1] == {"FGSM": "> 0.2", "PGD": "> 0.2"}


def test_an_image_wrong_before_the_attack_needs_no_eps():
    """Such an image read as if the sweep's smallest ε were needed to fool the model on it
    ("0.05"), unmarked, unlike the grid and the flip table."""
    from animlib.image_tables import smallest_value

    points = pd.DataFrame(
        {"series": ["PGD", "PGD"], "value": [0.05, 0.1], "experiment": ["p05", "p10"]}
    )
    runs = [(0, "p05", True, 0), (0, "p10", True, 0), (1, "p05", False, None), (1, "p10", True, 3)]
    outcomes = pd.DataFrame(
        [
            {
                "sample": s,
                "true_class": "c",
                "experiment": e,
                "success": ok,
                "flip_step": f,
                "image": f"{s}:",
            }
            for s, e, ok, f in runs
        ]  # fmt: skip
    )
    table, medians = smallest_value(outcomes, points)
    got = table.set_index("sample")["PGD"]
    assert got[0] == 0.0 and got[1] == 0.1
    assert medians == {"PGD": "0.05"}  # (a value the sweep tried: any ε fools it on image 0)


def test_the_page_shows_the_smallest_eps_recomputed_from_the_runs(demo_env):
    at = experiments_page()
    assert not at.exception, at.exception
    table = at.dataframe[1].value.set_index("sample")
    expected: dict = {}
    for info in animlib.list_runs(DEMO):
        meta = info.meta or {}
        if info.ok and meta.get("experiment") and (meta.get("summary") or {}).get("success"):
            key = (meta["sample"], meta["attack"])
            expected[key] = min(expected.get(key, math.inf), meta["params"]["eps"])
    assert set(table.columns) == {"true class", "BIM", "FGSM", "PGD-Linf"}
    for (sample, attack), eps in expected.items():
        assert table.loc[sample, attack] == pytest.approx(eps)
    never = [(s, a) for s in table.index for a in ("BIM", "FGSM", "PGD-Linf")
             if (s, a) not in expected]  # fmt: skip
    assert all(math.isnan(table.loc[s, a]) for s, a in never)
    # the ε that fools at least half of the 16 images: the 8th smallest (never fooled: inf)
    for attack in ("BIM", "FGSM", "PGD-Linf"):
        eighth = sorted(expected.get((s, attack), math.inf) for s in table.index)[7]
        text = "> 0.2" if math.isinf(eighth) else f"{eighth:.4g}"
        assert f"{attack} {text}" in " ".join(c.value.replace("\\", "") for c in at.caption)


# ------------------------------------------------------------- sweeps over another parameter
C_VALUES = (0.1, 1.0, 10.0)


def _fooled_from(sample: int, attack: str) -> float:
    """The smallest ``c`` fooling ``sample`` in the folder of :func:`c_sweeps` (inf: none)."""
    if attack == "CW":
        return (0.1, 1.0, 10.0, math.inf)[sample]
    return (1.0, 1.0, math.inf, 10.0)[sample]


@pytest.fixture
def c_sweeps(tmp_path, monkeypatch):
    """A CW and an EAD sweep over ``c`` (3 values, 4 images each) and a PGD sweep over ε:
    the attacks fool image ``i`` from the ``c`` :func:`_fooled_from` gives."""
    root = tmp_path / "runs"
    names = ["zero", "one", "two"]
    rng = np.random.default_rng(0)
    images = rng.random((4, 8, 8)).astype(np.float32)
    sweeps = [("CW", "cw-c", "c", C_VALUES), ("EAD", "ead-c", "c", C_VALUES)]
    sweeps.append(("PGD", "pgd-eps", "eps", (0.1, 0.2)))
    for attack, prefix, param, values in sweeps:
        for value in values:
            params = {param: value, "steps": 2}
            with animlib.BatchWriter(root, experiment=f"{prefix}{value:g}", attack=attack,
                                     model="m", class_names=names, true_labels=[0, 0, 0, 0],
                                     params=params, originals=images) as w:  # fmt: skip
                clean = np.tile([0.8, 0.1, 0.1], (4, 1))
                w.log(images=images, confidences=clean)
                fooled = [
                    param == "eps" and value > 0.15 or value >= _fooled_from(i, attack)
                    for i in range(4)
                ]
                last = np.array([[0.2, 0.7, 0.1] if f else [0.6, 0.3, 0.1] for f in fooled])
                w.log(images=images * 0.9, confidences=last)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return root


def test_sweep_params_are_the_numbers_that_vary(c_sweeps):
    from animlib.experiment_views import param_value, sweep_params

    exps = animlib.list_experiments(c_sweeps)
    assert sweep_params(exps) == ["eps", "c"]  # steps is the same everywhere; eps comes first
    assert param_value({"epsilon": 0.3}, "eps") == 0.3  # the other spelling of ε
    assert param_value({"c": True}, "c") is None and param_value({"c": "1"}, "c") is None
    assert param_value({"c": float("nan")}, "c") is None
    frame = experiment_table(exps, animlib.summarize(c_sweeps), sweep="c")
    assert list(frame.columns[:5]) == ["experiment", "attack", "model", "eps", "params.c"]
    cw = [e for e in frame["experiment"] if e.startswith("cw-")]
    assert cw == ["cw-c0.1", "cw-c1", "cw-c10"]  # in c order, together
    assert frame.set_index("experiment").loc["ead-c10", "params.c"] == 10.0
    assert list(experiment_table(exps, pd.DataFrame()).columns[3:5]) == ["eps", "status"]


def test_the_page_charts_a_sweep_over_c(c_sweeps):
    """A sweep over ``c`` (Carlini-Wagner) is charted against ``c`` once picked; the
    smallest-value table shows the smallest ``c`` that fooled each image, recomputed here
    from how the runs were logged; the choice is kept in the URL."""
    at = experiments_page()
    assert not at.exception, at.exception
    assert at.selectbox(key="e_sweep").value == "eps"
    assert at.selectbox(key="e_sweep").options == ["ε (params.eps)", "c (params.c)"]
    assert "Robust accuracy against ε" in [h.value for h in at.subheader]
    at.selectbox(key="e_sweep").set_value("c").run()
    assert not at.exception, at.exception
    heads = [h.value for h in at.subheader]
    assert "Robust accuracy against c" in heads
    assert "Smallest c that fools the model, per image" in heads
    assert at.query_params["sweep"] in (["c"], "c")
    table = at.dataframe[1].value.set_index("sample")
    assert set(table.columns) == {"true class", "CW", "EAD"}
    for sample in range(4):
        for attack in ("CW", "EAD"):
            expected = _fooled_from(sample, attack)
            got = table.loc[sample, attack]
            assert math.isnan(got) if math.isinf(expected) else got == expected, (sample, attack)
    captions = " ".join(c.value for c in at.caption)
    assert "CW 1" in captions and "EAD 1" in captions  # the lower median over the 4 images
    # robust accuracy at c = 0.1: CW 3/4, EAD 4/4; at 1 and 10 equal: the grid starts at 0.1
    assert "each sweep at c = 0.1," in at.multiselect(key="grid_ids").help
    assert sorted(at.multiselect(key="grid_ids").value) == ["cw-c0.1", "ead-c0.1"]
    at.multiselect(key="grid_ids").set_value(["pgd-eps0.2"]).run()
    at.selectbox(key="e_sweep").set_value("eps").run()  # an edited grid stays as it is
    assert at.multiselect(key="grid_ids").value == ["pgd-eps0.2"]
    assert "sweep" not in at.query_params
    # a deep link opens the same view; an unknown parameter falls back to ε
    linked = experiments_page(sweep="c")
    assert linked.selectbox(key="e_sweep").value == "c"
    assert experiments_page(sweep="nope").selectbox(key="e_sweep").value == "eps"


@pytest.fixture
def alpha_sweeps(tmp_path, monkeypatch):
    """Experiments whose ids spell ε only, their params ε and ``alpha`` both varying: a PGD
    sweep with ``alpha = eps / 4`` (``pgd-eps0.1``, ``pgd-eps0.03``, ``pgd-eps0.06``, written
    in that order) and BIM at ε 0.03 and 0.06 x alpha 0.01 and 0.005 (a name rerun with
    ``if_exists="new"``: ``bim-eps0.03``, ``bim-eps0.03-2``, ...)."""
    root = tmp_path / "runs"
    images = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)

    def write(name: str, attack: str, eps: float, alpha: float, fooled: int) -> None:
        with animlib.BatchWriter(root, experiment=name, attack=attack, model="m",
                                 class_names=["zero", "one", "two"], true_labels=[0] * 4,
                                 params={"eps": eps, "alpha": alpha, "steps": 2},
                                 originals=images, if_exists="new") as w:  # fmt: skip
            w.log(images=images, confidences=np.tile([0.8, 0.1, 0.1], (4, 1)))
            last = [[0.2, 0.7, 0.1] if i < fooled else [0.6, 0.3, 0.1] for i in range(4)]
            w.log(images=images * 0.9, confidences=np.array(last))

    for eps, fooled in ((0.1, 3), (0.03, 1), (0.06, 2)):
        write(f"pgd-eps{eps:g}", "PGD", eps, eps / 4, fooled)
    for eps in (0.03, 0.06):
        for alpha, fooled in ((0.01, 2), (0.005, 1)):
            write(f"bim-eps{eps:g}", "BIM", eps, alpha, fooled)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return root


def test_a_sweep_over_a_parameter_the_ids_do_not_spell(alpha_sweeps):
    """Sweep over alpha where the ids spell only ε: every experiment was its own sweep (the
    table in creation order, BIM drawn as four one-point lines, no PGD sweep for the grid).
    The experiments group by their other parameters (ε of BIM; not ε of PGD, which changes
    with alpha value for value), each sweep in alpha order."""
    from animlib.sweeps import sweep_keys

    exps = animlib.list_experiments(alpha_sweeps)
    frame = experiment_table(exps, animlib.summarize(alpha_sweeps), sweep="alpha")
    keys = dict(zip(frame["experiment"], sweep_keys(frame, "params.alpha"), strict=True))
    assert len(set(keys.values())) == 3
    assert keys["pgd-eps0.1"] == keys["pgd-eps0.03"] == keys["pgd-eps0.06"]
    assert keys["bim-eps0.03"] == keys["bim-eps0.03-2"] != keys["bim-eps0.06"]
    order = list(frame["experiment"])
    pgd = [e for e in order if e.startswith("pgd")]
    assert pgd == ["pgd-eps0.03", "pgd-eps0.06", "pgd-eps0.1"]  # in alpha order, together
    assert order.index(pgd[-1]) - order.index(pgd[0]) == 2
    for eps in ("0.03", "0.06"):  # each BIM sweep together, alpha 0.005 first
        at = order.index(f"bim-eps{eps}-2")
        assert order[at + 1] == f"bim-eps{eps}"
    points = robust_curve(frame, column="params.alpha").set_index("experiment")
    assert points.loc["bim-eps0.03-2", "series"] == "BIM · eps=0.03"
    assert points.loc["bim-eps0.06", "series"] == "BIM · eps=0.06"
    assert set(points.loc[pgd, "series"]) == {"PGD"}
    assert points.groupby("series").size().to_dict() == {
        "BIM · eps=0.03": 2, "BIM · eps=0.06": 2, "PGD": 3
    }  # fmt: skip
    tiers = grid_start.preference(frame, "params.alpha")  # each a sweep over two values
    assert list(tiers) == [grid_start.SWEEP] * len(frame)
    # ε itself stays swept by the ids, as before
    by_eps = robust_curve(experiment_table(exps, animlib.summarize(alpha_sweeps)))
    assert set(by_eps["series"]) == {"PGD", "BIM · bim-eps*", "BIM · bim-eps*-2"}
    at = experiments_page(sweep="alpha")
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["experiment"]) == order
    assert set(at.dataframe[1].value.columns[2:]) == {"BIM · eps=0.03", "BIM · eps=0.06", "PGD"}


def test_a_sweep_over_decades_is_charted_on_a_log_axis():
    def x_axis(values: list[float]) -> dict:
        points = pd.DataFrame(
            {
                "series": ["CW"] * len(values),
                "experiment": [f"cw-c{v:g}" for v in values],
                "value": values,
                "robust_acc": [0.5] * len(values),
                "n": [16] * len(values),
            }
        )
        spec = robust_chart(points, param="c").to_dict(validate=True)
        axes = [layer["encoding"]["x"] for layer in spec["layer"]]
        assert all(a == axes[0] for a in axes)  # the intervals share the points' axis
        return axes[0]

    # (padded: the points at either end, or a sweep of one value, are drawn whole)
    assert x_axis([0.1, 1, 10, 100])["scale"] == {"type": "log", "padding": 14}
    assert x_axis([0.1, 1, 10, 100])["title"] == "c (params.c, log scale)"
    # ε steps: a linear axis over the values (not stretched to 0 by the intervals)
    assert x_axis([0.05, 0.1, 0.2])["scale"] == {"zero": False, "padding": 14}
    assert x_axis([0, 1, 10, 100])["scale"]["zero"] is False  # 0 has no place on a log axis
    assert x_axis([0.2])["scale"]["padding"] == 14
    # a tick at each swept value (not 0.04, 0.05, ..., 0.2), up to 12 of them
    assert x_axis([0.2, 0.05, 0.1, 0.05])["axis"] == {"values": [0.05, 0.1, 0.2], "format": ".4~g"}
    assert x_axis([0.1, 1, 10, 100])["axis"]["values"] == [0.1, 1, 10, 100]
    assert "values" not in x_axis([i / 100 for i in range(1, 14)]).get("axis", {})


def test_flip_steps_per_image_and_experiment():
    from animlib.image_tables import flip_steps

    runs = [  # (sample, experiment, flip step, success)
        (10, "pgd", 3, True), (10, "fgsm", 1, True), (2, "pgd", 1, True), (2, "fgsm", 1, True),
        (0, "pgd", None, False), (0, "fgsm", None, False), (0, "other", 0, True),
        (5, "pgd", 4, True), (7, "pgd", 2, True), (7, "fgsm", None, False),
        (8, "fgsm", None, False), (9, "pgd", 0, True), (9, "fgsm", 4, True),
    ]  # fmt: skip
    outcomes = pd.DataFrame(
        [
            {
                "sample": s,
                "true_class": f"c{s}",
                "experiment": e,
                "flip_step": f,
                "success": ok,
                "image": f"{s}:",
            }
            for s, e, f, ok in runs
        ]  # fmt: skip
    )
    table = flip_steps(outcomes, ["pgd", "fgsm"]).set_index("sample")
    assert list(table.index) == [0, 2, 5, 7, 8, 9, 10]  # by sample value; "other" left out
    # no flip step (never fooled, or fooled and not at the last step: the outcomes give none)
    assert math.isnan(table.loc[7, "fgsm"]) and table.loc[7, "fastest"] == "pgd"
    assert math.isnan(table.loc[8, "fgsm"]) and table.loc[8, "fastest"] == "–"  # as the others
    assert list(table.columns) == ["true class", "pgd", "fgsm", "fastest"]
    assert table.loc[10, "pgd"] == 3 and table.loc[10, "fastest"] == "fgsm"
    assert table.loc[2, "fastest"] == "pgd, fgsm"  # tied
    assert math.isnan(table.loc[0, "pgd"]) and table.loc[0, "fastest"] == "–"  # never fooled
    assert math.isnan(table.loc[5, "fgsm"]) and table.loc[5, "fastest"] == "pgd"  # not attacked
    # the model got image 9 wrong unattacked (pgd: 0): fgsm's 4 steps are not the fastest
    assert table.loc[9, "fgsm"] == 4 and table.loc[9, "fastest"] == AT_START


def test_one_sample_id_naming_two_images_gives_two_rows_in_both_tables():
    """Sweeps that each drew their own batch: sample 5 of ε 0.05 (a digit 0, never fooled) is
    another image than sample 5 of ε 0.1 (a digit 2, fooled). The tables keyed rows by sample:
    "5 | digit 0 | 0.1" said the digit 0 was fooled at ε 0.1. Rows go by image, as the grid's."""
    from animlib.image_tables import flip_steps, smallest_value

    points = pd.DataFrame(
        {"series": ["PGD", "PGD"], "value": [0.05, 0.1], "experiment": ["p05", "p10"]}
    )
    outcomes = pd.DataFrame(
        [
            {
                "sample": 5,
                "true_class": "digit 0",
                "experiment": "p05",
                "success": False,
                "flip_step": None,
                "image": "5:aaaa",
            },
            {
                "sample": 5,
                "true_class": "digit 2",
                "experiment": "p10",
                "success": True,
                "flip_step": 3,
                "image": "5:bbbb",
            },
            {
                "sample": 4,
                "true_class": "digit 1",
                "experiment": "p10",
                "success": True,
                "flip_step": 1,
                "image": "4:cccc",
            },
        ]  # fmt: skip
    )
    table, medians = smallest_value(outcomes, points)
    assert list(table.columns) == ["sample", "true class", "PGD"]
    rows = [(r[0], r[1], None if math.isnan(r[2]) else r[2]) for r in table.itertuples(False)]
    assert rows == [(4, "digit 1", 0.1), (5, "digit 0", None), (5, "digit 2", 0.1)]
    table = flip_steps(outcomes, ["p05", "p10"])
    assert list(table.columns) == ["sample", "true class", "p05", "p10", "fastest"]
    assert [tuple(r) for r in table[["sample", "true class", "fastest"]].itertuples(False)] == [
        (4, "digit 1", "p10"),
        (5, "digit 0", "–"),
        (5, "digit 2", "p10"),
    ]


def test_the_page_shows_flip_steps_recomputed_from_the_stored_confidences(demo_env):
    ids = ["sweep-pgd-linf-eps0.10", "sweep-fgsm-eps0.10"]
    at = experiments_page(ids=",".join(ids))
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "fastest" in d.value.columns]
    table = table.set_index("sample")
    for sample in table.index:
        flips = {}
        for exp in ids:
            run = animlib.open_run(DEMO / f"{exp}-{int(sample):04d}")
            off = np.asarray(run.confidences[:]).argmax(axis=1) != run.true_label
            flips[exp] = int(np.flatnonzero(off)[0]) if off[-1] or off[0] else None  # (end)
            got = table.loc[sample, exp]
            assert math.isnan(got) if flips[exp] is None else got == flips[exp], (sample, exp)
        known = {e: f for e, f in flips.items() if f is not None}
        fastest = [e for e in ids if known and known.get(e) == min(known.values())]
        assert table.loc[sample, "fastest"] == (", ".join(fastest) or "–")


def test_each_robust_accuracy_has_its_95_percent_interval():
    from animlib.experiment_views import wilson

    # textbook values of the Wilson score interval (z = 1.96)
    low, high = wilson(np.array([0.25, 0.0, 1.0, 0.5]), np.array([16, 16, 16, 100]))
    np.testing.assert_allclose(low, [0.1018, 0.0, 0.8064, 0.4038], atol=1e-4)
    np.testing.assert_allclose(high, [0.4950, 0.1936, 1.0, 0.5962], atol=1e-4)
    frame = _frame([("a-eps0.1", "A", 0.1, 0.25), ("b-eps0.1", "B", 0.1, 0.5)]).assign(n=[16, 4])
    points = robust_curve(frame).set_index("experiment")
    assert points.loc["a-eps0.1", "low"] == pytest.approx(0.1018, abs=1e-4)
    assert points.loc["b-eps0.1", "high"] - points.loc["b-eps0.1", "low"] > 0.6  # 4 images
    rule = _interval_layer(robust_chart(points.reset_index()).to_dict(validate=True))
    assert rule["encoding"]["y"]["field"] == "low" and rule["encoding"]["y2"]["field"] == "high"


def test_experiments_named_like_the_flip_tables_columns_keep_theirs():
    from animlib.image_tables import flip_steps

    outcomes = pd.DataFrame(
        [
            {
                "sample": s,
                "true_class": "c",
                "experiment": e,
                "flip_step": s + 1,
                "success": True,
                "image": f"{s}:",
            }
            for s in (0, 1)
            for e in ("sample", "fastest", "true class")
        ]  # fmt: skip
    )
    table = flip_steps(outcomes, ["sample", "fastest", "true class"])
    assert list(table["sample"]) == [1, 2] and list(table["true class"]) == [1, 2]
    assert list(table["sample "]) == [0, 1] and list(table["true class "]) == ["c", "c"]
    assert list(table["fastest "]) == ["sample, fastest, true class"] * 2


def test_an_attack_named_sample_keeps_its_column_in_the_smallest_value_table():
    from animlib.image_tables import smallest_value

    points = pd.DataFrame(
        {"series": ["sample", "sample"], "value": [0.1, 0.2], "experiment": ["s1", "s2"]}
    )
    outcomes = pd.DataFrame(
        [
            {"sample": 7, "true_class": "c", "experiment": e, "success": ok, "image": "7:"}
            for e, ok in (("s1", False), ("s2", True))
        ]  # fmt: skip
    )
    table, medians = smallest_value(outcomes, points)
    assert list(table.columns) == ["sample ", "true class", "sample"]
    assert table.iloc[0].tolist() == [7, "c", 0.2] and medians == {"sample": "0.2"}


def test_an_image_known_by_its_pixels_is_named_by_a_short_hash(demo_env):
    """BatchWriter samples have no source name: their image is found by the hash of its
    pixels, and the shortcuts name it "image" and 8 digits of the hash, not "sha1:" and 16."""
    from animlib.runs_table import source_label

    assert source_label("sha1:fe3643816620810e") == "image fe364381"
    assert source_label("digits-test-3") == "digits-test-3"
    runs = [f"sweep-{a}-eps0.10-0003" for a in ("fgsm", "bim", "pgd-linf")]
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/compare.py")
    at.query_params["runs"] = ",".join(runs)
    at.run()
    assert not at.exception, at.exception
    sha = next(i.meta["original_sha1"] for i in animlib.list_runs(DEMO) if i.id == runs[0])
    labels = list(page_links(at))
    assert f"Compare 6 runs on image {sha[:8]}" in labels, labels
    assert not any("sha1:" in label for label in labels)


def test_the_table_filters_live_in_the_link(demo_env):
    at = experiments_page()
    at.multiselect(key="e_attack").set_value(["FGSM"]).run()
    at.text_input(key="e_text").set_value("eps=0.1").run()
    assert list(at.dataframe[0].value["experiment"]) == ["sweep-fgsm-eps0.10"]
    assert at.query_params["attack"] in ("FGSM", ["FGSM"])
    assert at.query_params["q"] in ("eps=0.1", ["eps=0.1"])
    shared = experiments_page(attack="FGSM,Square", q="eps=0.1")  # a reload or a shared link
    assert not shared.exception, shared.exception
    assert list(shared.dataframe[0].value["experiment"]) == ["sweep-fgsm-eps0.10"]
    assert shared.multiselect(key="e_attack").value == ["FGSM"]
    (warning,) = [w.value for w in shared.warning]
    assert warning.startswith("No attack Square in this folder") and "FGSM" in warning
    shared.multiselect(key="e_attack").set_value([]).run()  # changed by hand: the warning goes
    assert not shared.warning and "attack" not in shared.query_params


def test_the_search_finds_tags_and_the_table_shows_them_with_when_it_was_created(
    tmp_path, monkeypatch
):
    """A sweep tagged ``sweep1`` among one-offs: the search found no tag ("0 of 102" for a word
    the runs page's search finds), and the table had no tags and no date to sort by. The
    search matches tags (as it does words of the id); ``tags`` and ``created`` are columns,
    ``created`` a time (sorted by the moment, whatever offset a run.json wrote)."""
    from test_experiments import UNTARGETED, write

    root = tmp_path / "runs"
    written = [  # (the second sweep run is later by the moment, earlier by its text)
        ("aft-pgd-eps0.1", 0.1, ["afternoon", "sweep1"], "2026-03-03T14:00:00+02:00"),
        ("old-fgsm-eps0.1", 0.1, ["old", "week1"], "2026-03-03T12:30:00+00:00"),
        ("aft-pgd-eps0.2", 0.2, ["afternoon", "sweep1"], "2026-03-03T14:45:00+02:00"),
    ]
    for name, eps, tags, at in written:
        with monkeypatch.context() as patch:
            patch.setattr(animlib.meta, "now_iso", lambda at=at: at)
            write(root, name, UNTARGETED, eps, tags=tags)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    assert not at.exception, at.exception
    table = at.dataframe[0]
    order = list(table.proto.column_order)
    assert order[-2:] == ["tags", "created"]
    config = json.loads(table.proto.columns)
    assert config["created"]["label"] == "created (UTC)"  # as the runs page labels its times
    assert config["created"]["type_config"]["type"] == "datetime"
    frame = table.value.set_index("experiment")
    assert frame.loc["aft-pgd-eps0.1", "tags"] == "afternoon, sweep1"
    assert pd.api.types.is_datetime64_any_dtype(frame["created"])  # sorts as times
    by_date = list(frame.sort_values("created").index)
    assert by_date == ["aft-pgd-eps0.1", "old-fgsm-eps0.1", "aft-pgd-eps0.2"]
    listed = {e.id: e.get("created") for e in animlib.list_experiments(root)}
    assert all(frame.loc[e, "created"] == pd.Timestamp(t) for e, t in listed.items())
    for words, found in [
        ("sweep1", {"aft-pgd-eps0.1", "aft-pgd-eps0.2"}),
        ("afternoon eps=0.2", {"aft-pgd-eps0.2"}),
        ("WEEK1", {"old-fgsm-eps0.1"}),
        ("week", {"old-fgsm-eps0.1"}),  # a piece of a word, as of an id
        ("sweep2", set()),
    ]:
        at.text_input(key="e_text").set_value(words).run()
        assert set(at.dataframe[0].value["experiment"]) == found, words


def test_the_page_says_how_many_run_folders_it_could_not_read(tmp_path, monkeypatch):
    """A sample whose run.json is damaged counts in no experiment: the page says so (and
    where they are listed) instead of showing a smaller n without a word."""
    x = np.zeros((3, 4, 4, 1), np.float32)
    with animlib.BatchWriter(tmp_path / "runs", experiment="e", class_names=["p", "q"],
                             true_labels=[0, 0, 1], originals=x) as w:  # fmt: skip
        w.log(images=x, confidences=np.tile([0.9, 0.1], (3, 1)))
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))

    def caption() -> str:
        at = experiments_page()
        assert not at.exception, at.exception
        return " ".join(c.value for c in at.caption)

    assert "could not be read" not in caption()
    (tmp_path / "runs" / "e-0001" / "run.json").write_text("{not json")
    # (the page refreshes the folder's index in the background when the last refresh took
    # over 50 ms, as on a busy machine: its next poll would show it; here, refresh at once)
    animlib.list_runs(tmp_path / "runs")
    text = caption()
    assert "1 run folder could not be read and is not counted" in text and "runs page" in text


def test_deleted_sample_runs_are_noticed(tmp_path, monkeypatch, capsys):
    """A sample run deleted by hand: the page warns (the summary covers the runs left),
    ``validate`` fails naming the experiment, and resume warns before carrying on."""
    import shutil

    from test_experiments import UNTARGETED, write

    from animlib.cli import main

    root = tmp_path / "runs"
    write(root, "pgd-a", UNTARGETED, 0.1)
    write(root, "pgd-b", UNTARGETED, 0.2)
    assert main(["validate", str(root), "--quick"]) == 0
    capsys.readouterr()
    shutil.rmtree(root / "pgd-a-0002")
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = page_after_checks(root, 7)
    (warning,) = [w.value for w in at.warning if "Sample runs missing" in w.value]
    assert "pgd\\-a (1 of 4)" in warning and "pgd\\-b" not in warning
    exps = {e.id: e for e in animlib.list_experiments(root)}
    assert exps["pgd-a"].get("n_samples") == 4 and exps["pgd-a"].get("n_runs") == 3
    assert main(["validate", str(root), "--quick"]) == 1
    out = capsys.readouterr().out
    assert "MISSING experiment pgd-a: 1 of its 4 sample runs are not in the folder" in out
    assert "pgd-b:" not in out and out.rstrip().endswith(", 1 experiment missing runs")
    (root / "pgd-a-0001" / "run.json").write_text("{")  # a broken sample run is not "deleted"
    assert main(["validate", str(root), "--quick"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN  pgd-a-0001" in out
    assert (
        "MISSING experiment pgd-a: 2 of its 4 sample runs cannot be read (1 broken, as listed) "
        "or are not in the folder" in out
    )
    # the page named no run and sent the user looking for a deleted folder
    animlib.list_runs(root)  # (the index refreshed at once, see the test above)
    (warning,) = [w.value for w in experiments_page().warning if "Sample runs missing" in w.value]
    assert "pgd\\-a (2 of 4: pgd\\-a\\-0001 cannot be read)" in warning
    assert "damaged (the runs page lists why) or deleted or moved" in warning
    # summary's row shows n 2 of 4 with nothing said (validate did say it)
    assert main(["summary", str(root)]) == 0
    err = capsys.readouterr().err
    assert "note: experiment pgd-a: 2 of its 4 sample runs cannot be read" in err
    assert "its numbers cover the runs left" in err and "pgd-b:" not in err
    with pytest.raises(animlib.ExperimentInputError, match="the run pgd-a-0001, named as its"):
        animlib.BatchWriter.resume(root, "pgd-a")  # (a broken sample: resume refuses, naming it)
    shutil.rmtree(root / "pgd-a-0001")
    with pytest.warns(UserWarning, match="2 of its 4 sample runs are not in"):
        animlib.BatchWriter.resume(root, "pgd-a").finish()


def test_sample_runs_with_damaged_arrays_are_left_out_and_said(tmp_path, monkeypatch, capsys):
    """Sample runs whose arrays cannot be read (a truncated chunk, a missing array) count in
    no number of the page or of ``summary``, and the "cannot be read" lines count them as
    the BROKEN lines of ``validate`` do (they said 1 of 4 under four BROKEN lines)."""
    from test_experiments import UNTARGETED, _damage, write

    from animlib.cli import main

    root = tmp_path / "runs"
    write(root, "pgd-a", UNTARGETED, 0.1)
    write(root, "pgd-b", UNTARGETED, 0.2)
    (root / "pgd-a-0000" / "run.json").write_text("{")
    _damage(root, "pgd-a-0001", "truncated")
    _damage(root, "pgd-a-0002", "no confidences")
    _damage(root, "pgd-a-0003", "no images metadata")
    assert main(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert all(f"BROKEN  pgd-a-000{i}" in out for i in range(4))
    assert (
        "MISSING experiment pgd-a: 4 of its 4 sample runs cannot be read (broken, as listed)" in out
    )
    assert main(["summary", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    rows = {r["experiment"]: r for r in json.loads(captured.out)}
    assert (rows["pgd-a"]["n"], rows["pgd-a"]["left_out"], rows["pgd-a"]["robust_acc"]) == (
        0,
        3,
        None,
    )
    assert rows["pgd-b"]["n"] == 4
    assert "note: experiment pgd-a: 4 of its 4 sample runs cannot be read" in captured.err
    assert "3 runs left out of the numbers: arrays that cannot be read" in captured.err
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = page_after_checks(root, 7)
    (warning,) = [w.value for w in at.warning if "Sample runs missing" in w.value]
    assert "pgd\\-a (4 of 4: pgd\\-a\\-0000, pgd\\-a\\-0001 … cannot be read)" in warning
    (table,) = [t.value for t in at.dataframe if "robust_acc" in t.value]
    row = table.set_index("experiment").loc["pgd-a"]
    assert row["n"] == 0 and row["left_out"] == 3 and pd.isna(row["robust_acc"])


def test_an_experiments_name_is_kept_beside_its_path_safe_id(tmp_path, monkeypatch):
    """BatchWriter(experiment="PGD ε=8/255 (L∞)") has an id safe for paths; the name as given
    is in list_experiments, in the table's name column and found by the search."""
    x = np.zeros((2, 4, 4, 1), np.float32)
    name = "PGD ε=8/255 (L∞)"
    with animlib.BatchWriter(tmp_path / "runs", experiment=name, true_labels=[0, 1]) as w:
        w.log(images=x, confidences=np.array([[0.9, 0.1], [0.9, 0.1]]))
    with animlib.BatchWriter(tmp_path / "runs", experiment="plain", true_labels=[0, 1]) as p:
        p.log(images=x, confidences=np.array([[0.9, 0.1], [0.9, 0.1]]))
    assert w.experiment != name
    exps = {e.id: e for e in animlib.list_experiments(tmp_path / "runs")}
    assert exps[w.experiment].get("name") == name and exps["plain"].get("name") == "plain"
    resumed = animlib.BatchWriter.resume(tmp_path / "runs", w.experiment)
    resumed.finish()
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("experiment")
    assert table.loc[w.experiment, "name"] == name and table.loc["plain", "name"] == "plain"
    at.text_input(key="e_text").set_value("L∞").run()
    assert list(at.dataframe[0].value["experiment"]) == [w.experiment]
    grid = experiments_page(ids=w.experiment)
    page = "".join(h.proto.body for h in grid.get("html"))
    assert "<th>PGD ε=8/255 (L∞)</th>" in page  # the grid's column is headed by the name


def test_a_table_with_names_fits_a_1280_px_window(tmp_path, monkeypatch):
    """Experiments named in words (``PGD ε=8/255 (L∞), torchattacks, 40 steps, ...``) added a
    name column beside the id made from it: 1790 px of table in a 1280-px window (1118 px of
    table), scrolled sideways. The name stands for the experiment (the id is left out of
    view, not of the data or the search) at a fixed width, as does the model; the medians
    have short labels; status and left out are left out where they say nothing."""
    x = np.zeros((2, 4, 4, 1), np.float32)
    runs = tmp_path / "runs"
    names = [
        "PGD ε=8/255 (L∞), torchattacks, 40 steps, random start",
        "FGSM ε=4/255 (L∞) single step",
    ]
    for name, eps in zip(names, (8 / 255, 4 / 255), strict=True):
        model = "resnet18-cifar10-robust"
        with animlib.BatchWriter(runs, experiment=name, attack="PGD-Linf", true_labels=[0, 1],
                                 model=model, params={"eps": eps}) as w:  # fmt: skip
            w.log(images=x, confidences=np.array([[0.9, 0.1], [0.9, 0.1]]))
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    assert not at.exception, at.exception
    table = at.dataframe[0]
    order = list(table.proto.column_order)
    assert order[:4] == ["runs", "name", "attack", "eps"] and "experiment" not in order
    assert "status" not in order and "left_out" not in order  # all finished, none left out
    assert order[4:6] == ["robust_acc", "success_rate"] and "model" in order
    config = json.loads(table.proto.columns)
    assert config["name"]["label"] == "experiment" and config["name"]["width"] <= 200
    assert config["model"]["width"] <= 120 and config["runs"]["width"] <= 50
    labels = {c: config[c]["label"] for c in ("median_flip_step", "median_linf", "median_l2")}
    assert labels == {"median_flip_step": "flip step", "median_linf": "L∞", "median_l2": "L2"}
    assert all("Median" in config[c]["help"] for c in labels)
    # the data behind the table keeps both, and the search finds an experiment by its id too
    assert {"experiment", "name"} <= set(table.value.columns)
    at.text_input(key="e_text").set_value("FGSM-eps-4-255").run()
    assert list(at.dataframe[0].value["name"]) == [names[1]]


def test_back_and_forward_bring_the_grid_of_their_link_back(demo_env):
    """The browser's Back onto an earlier link of the page (another step, other experiments)
    changed the URL but not the grid: the widgets kept the session's values."""
    at = experiments_page()
    ids = "sweep-fgsm-eps0.10,sweep-bim-eps0.10"
    at.multiselect(key="grid_ids").set_value(ids.split(",")).run()
    at.slider(key="grid_step").set_value(2).run()
    assert at.query_params["step"] in ("2", ["2"])
    at.slider(key="grid_step").set_value(4).run()
    # Back: the browser shows the previous link and the page reruns on it
    at.query_params["step"] = "2"
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key="grid_step").value == 2
    assert {step for run, step in _cells(at) if "bim" in run} == {2}  # (FGSM has 2 steps)
    assert at.multiselect(key="grid_ids").value == ids.split(",")
    at.slider(key="grid_step").set_value(3).run()  # and the page goes on from there
    assert at.query_params["step"] in ("3", ["3"]) and at.slider(key="grid_step").value == 3


def test_a_swept_parameter_named_like_a_table_column_keeps_its_params_name(demo_env):
    """Sweeping over ``steps`` showed two columns headed "steps" (the parameter and the runs'
    step count); the parameter's reads ``params.steps``, ε keeps its name."""
    import json

    at = experiments_page(sweep="steps")
    assert not at.exception, at.exception
    labels = {k: v.get("label") for k, v in json.loads(at.dataframe[0].proto.columns).items()}
    assert labels["params.steps"] == "params.steps" and labels["eps"] == "ε"
    assert "steps" in at.dataframe[0].value.columns  # the runs' own step count, as before


def test_a_rows_compare_link_says_when_it_holds_only_some_of_the_grids_runs(demo_env):
    """A grid of 9 experiments: each image's compare link opens 6 of its 9 runs (the most a
    comparison holds) and said "compare 6 runs"."""
    at = experiments_page(ids=",".join(e.id for e in animlib.list_experiments(DEMO)))
    assert not at.exception, at.exception
    page = "".join(h.proto.body for h in at.get("html"))
    links = re.findall(r'data-testid="animlib-grid-row">compare ([^<]+)</a>', page)
    assert links and set(links) == {"6 of 9 runs"}, links
    small = experiments_page(ids="sweep-fgsm-eps0.10,sweep-bim-eps0.10")
    page = "".join(h.proto.body for h in small.get("html"))
    assert set(re.findall(r'data-testid="animlib-grid-row">compare ([^<]+)</a>', page)) == {
        "2 runs"
    }


def test_a_links_unknown_experiments_and_sweep_are_named_not_ignored(demo_env):
    """``ids=nope`` and ``sweep=bogus`` quietly showed the default grid and sweep (the filters
    and the runs page name what a link asks for that the folder has not)."""
    at = experiments_page(ids="nope,sweep-fgsm-eps0.10", sweep="bogus")
    assert not at.exception, at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]  # (markdown escapes)
    assert "sweep=bogus in the link is not one of: eps, alpha, steps" in warnings
    (ids,) = [w for w in warnings if w.startswith("No experiment")]
    assert ids.startswith("No experiment nope in this folder (the choices: sweep-")
    assert at.multiselect(key="grid_ids").value == ["sweep-fgsm-eps0.10"]
    at.multiselect(key="grid_ids").set_value(["sweep-bim-eps0.10"]).run()  # edited by hand
    assert [w.value for w in at.warning if w.value.startswith("No experiment")] == []
    at.selectbox(key="e_sweep").set_value("alpha").run()
    assert at.warning.len == 0
    assert not experiments_page(ids="sweep-fgsm-eps0.10").warning


def test_a_links_unknown_order_is_named_not_ignored(demo_env):
    at = experiments_page(ids="sweep-fgsm-eps0.10", order="fooled")
    assert not at.exception, at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert warnings == ["order=fooled in the link is not one of: sample, robust, fragile"], warnings
    assert at.selectbox(key="grid_order").value == "sample"
    at.selectbox(key="grid_order").set_value("robust").run()  # picked by hand: answered
    assert at.warning.len == 0


KILLED_AT_START = """
import os, signal, sys
import numpy as np
import animlib
w = animlib.BatchWriter(sys.argv[1], experiment="killed", class_names=["a", "b"],
                        true_labels=[0, 1], attack="PGD")
w.log(images=np.zeros((2, 8, 8), np.float32), confidences=[[0.9, 0.1], [0.2, 0.8]])
os.kill(os.getpid(), signal.SIGKILL)  # before the first flush: runs with no step stored
"""


def test_an_experiment_killed_before_its_first_step_shows_empty_cells(tmp_path, monkeypatch):
    """Its 0 steps made the grid's step slider -1: the page raised StreamlitValueBelowMinError."""
    import subprocess
    import sys

    root = tmp_path / "runs"
    subprocess.run([sys.executable, "-c", KILLED_AT_START, str(root)], timeout=120)
    assert sorted(p.name for p in root.iterdir()) == ["killed-0000", "killed-0001"]
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page(ids="killed")
    assert not at.exception, at.exception
    assert at.slider(key="grid_step").value == 0
    assert "2 runs of this page with no step stored yet: empty cells" in [
        c.value for c in at.caption
    ]
    assert not at.warning


@pytest.fixture
def sweeps_and_one_offs(tmp_path, monkeypatch):
    """bim/fgsm/pgd sweeps at ε 0.05, 0.1, 0.2 (finished), then newer one-offs at ε 0.03: a
    crash after the clean step (failed), a killed run (stale), one with no labels and one
    still running; ε 0.1 is where the sweeps differ most (robust accuracy 0.5, 1.0, 0.0)."""
    from test_experiments import (
        FOOLED,
        TRUE,
        UNTARGETED,
        _crash_after_the_clean_step,
        _edit_run,
        images,
        onehotish,
        write,
    )

    root = tmp_path / "runs"
    plans = {0.05: [UNTARGETED] * 3, 0.1: [UNTARGETED, [TRUE, TRUE], FOOLED], 0.2: [FOOLED] * 3}
    for eps, per_attack in plans.items():
        for attack, plan in zip(("bim", "fgsm", "pgd"), per_attack, strict=True):
            write(root, f"{attack}-eps{eps}", plan, eps, attack=attack.upper())
    _crash_after_the_clean_step(root, "clean-only-eps0.03", 0.03)
    killed = write(root, "killed-eps0.03", UNTARGETED, 0.03)
    for run_id in killed.run_ids:  # running, silent since 2020: stale
        _edit_run(root, run_id, status="running", updated="2020-01-01T00:00:00+00:00")
    with animlib.BatchWriter(root, experiment="nolabel-eps0.03", params={"eps": 0.03}) as w:
        w.log(images=images(0), confidences=onehotish(TRUE))
    live = animlib.BatchWriter(
        root, experiment="live-eps0.03", true_labels=TRUE, params={"eps": 0.03}
    )
    live.log(images=images(0), confidences=onehotish(TRUE))
    live.flush()
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    yield root
    live.finish()


def test_grid_page_starts_with_the_sweeps_not_killed_or_unlabelled_experiments(
    sweeps_and_one_offs,
):
    at = experiments_page()
    assert not at.exception, at.exception
    chosen = at.multiselect(key="grid_ids").value
    assert sorted(chosen) == ["bim-eps0.1", "fgsm-eps0.1", "pgd-eps0.1"]
    assert not set(chosen) & {"clean-only-eps0.03", "killed-eps0.03", "nolabel-eps0.03"}
    # the table: the numbers of summarize, the crashed and killed experiments' runs left out
    table = at.dataframe[0].value.set_index("experiment")
    expected = animlib.summarize(sweeps_and_one_offs).set_index("experiment")
    for column in ("n", "left_out", "robust_acc"):
        np.testing.assert_allclose(
            table.loc[expected.index, column].astype(float), expected[column].astype(float)
        )
    assert table.loc["clean-only-eps0.03", "n"] == 0
    assert table.loc["clean-only-eps0.03", "left_out"] == 4
    assert table.loc["killed-eps0.03", "left_out"] == 4
    assert table.loc["pgd-eps0.1", "left_out"] == 0
    assert math.isnan(table.loc["clean-only-eps0.03", "robust_acc"])
    (note,) = [c.value for c in at.caption if "left out of the numbers" in c.value]
    assert note.startswith("8 runs of 2 experiments left out of the numbers")


def test_a_running_experiment_gone_silent_leaves_the_tables_numbers(tmp_path, monkeypatch):
    """A running run silent past ANIMLIB_STALE_SECONDS is stale, out of summarize's numbers;
    the page kept its cached summary (keyed by the index's rows, which did not change)."""
    import json
    from datetime import datetime

    from test_experiments import UNTARGETED, write

    root = tmp_path / "runs"
    write(root, "live", UNTARGETED, 0.1)
    for run in root.iterdir():  # running, last heard of now (its writer of another host)
        meta = json.loads((run / "run.json").read_text())
        meta.update(status="running", updated=datetime.now(UTC).isoformat())
        (run / "run.json").write_text(json.dumps(meta))
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ANIMLIB_STALE_SECONDS", "3")
    at = experiments_page()

    def shown():
        table = at.dataframe[0].value.set_index("experiment")
        return int(table.loc["live", "n"]), int(table.loc["live", "left_out"])

    assert shown() == (4, 0)
    time.sleep(3.5)
    at.run()
    assert shown() == (0, 4)  # as summarize says now
    row = animlib.summarize(root).set_index("experiment").loc["live"]
    assert (row["n"], row["left_out"]) == (0, 4)


def grid_page(root, monkeypatch, ids: str):
    """The experiments page of ``root`` showing experiments ``ids``, and its HTML (the grid)."""
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(root.parent / f"{root.name}-cache"))
    at = experiments_page(ids=ids)
    assert not at.exception, at.exception
    return at, "".join(h.proto.body for h in at.get("html"))


def test_grid_columns_are_never_titled_alike(tmp_path, monkeypatch):
    """A rerun with if_exists="new" (id ``pgd-2``) keeps the name ``pgd``: its column was
    titled like the first run's, though their results differ."""
    import shutil

    from animlib import experiment_grid as grid

    x = np.zeros((1, 4, 4), np.float32)
    for _ in range(3):
        with animlib.BatchWriter(tmp_path, experiment="pgd", if_exists="new") as w:
            w.log(images=x)
    exps = animlib.list_experiments(tmp_path)
    assert sorted(e.id for e in exps) == ["pgd", "pgd-2", "pgd-3"]
    assert {e.get("name") for e in exps} == {"pgd"}
    assert grid.column_titles(exps, ["pgd", "pgd-2", "pgd-3"]) == {}  # the ids
    at, page = grid_page(tmp_path, monkeypatch, "pgd,pgd-2")
    assert "<th>pgd</th>" in page and "<th>pgd-2</th>" in page
    table = at.dataframe[0].value  # (the table read "pgd" on all three rows: their names)
    assert "name" not in table and sorted(table["experiment"]) == ["pgd", "pgd-2", "pgd-3"]
    shutil.rmtree(tmp_path / "pgd-0000")
    shutil.rmtree(tmp_path / "pgd-3-0000")
    exps = animlib.list_experiments(tmp_path)  # the first run gone: the name is the rerun's own
    assert grid.column_titles(exps, ["pgd-2"]) == {"pgd-2": "pgd"}


def test_a_running_experiments_runs_without_a_step_are_not_called_failed():
    """For the first seconds of every experiment its runs were "left out ... failed, stale or
    with no step stored": it read as an error."""
    import pandas as pd

    from animlib.experiment_views import left_out_note

    frame = pd.DataFrame(
        {"status": ["running", "finished", "stale"], "left_out": [16, 0, 4], "robust_acc": 0.5}
    )
    note = left_out_note(frame)
    assert note.startswith("4 runs of 1 experiment left out of the numbers")
    assert note.endswith("16 runs of running experiments have no step stored yet.")
    assert left_out_note(frame.iloc[:2]) == (
        "16 runs of running experiments have no step stored yet."
    )
    assert left_out_note(frame.iloc[1:2]) == ""


def test_the_grid_follows_the_filters_until_it_is_edited(demo_env):
    """Filtered to FGSM, the table and the chart showed FGSM while the grid kept the PGD
    experiments it started with."""
    at = experiments_page()
    assert any("pgd" in e for e in at.multiselect(key="grid_ids").value)
    at.multiselect(key="e_attack").set_value(["FGSM"]).run()
    assert not at.exception, at.exception
    fgsm = at.multiselect(key="grid_ids").value
    assert fgsm and all(e.startswith("sweep-fgsm") for e in fgsm)
    at.text_input(key="e_text").set_value("eps=0.2").run()
    assert at.multiselect(key="grid_ids").value == ["sweep-fgsm-eps0.20"]
    at.multiselect(key="grid_ids").set_value(["sweep-bim-eps0.05"]).run()  # edited: it stays
    at.text_input(key="e_text").set_value("").run()
    assert at.multiselect(key="grid_ids").value == ["sweep-bim-eps0.05"]


def test_the_viewers_compare_link_puts_the_runs_of_its_eps_first(demo_env):
    """A sample at ε 0.1 was compared with the sweep's ε 0.05 and 0.2 runs, before the other
    attacks at ε 0.1."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "sweep-fgsm-eps0.10-0003"
    at.run()
    (link,) = [p for p in at.get("page_link") if p.proto.page == "compare"]
    runs = _link_query(link)["runs"].split(",")
    assert runs[:3] == [
        "sweep-fgsm-eps0.10-0003",
        "sweep-bim-eps0.10-0003",
        "sweep-pgd-linf-eps0.10-0003",
    ]


def test_the_table_shows_the_answer_before_the_details(demo_env):
    """At 900 px the table ended at "clean acc": robust accuracy and success rate were past
    the edge, behind the model and the status."""
    order = list(experiments_page().dataframe[0].proto.column_order)
    assert order[:4] == ["runs", "experiment", "attack", "eps"]
    assert order[4:6] == ["robust_acc", "success_rate"]
    assert order.index("model") > order.index("median_flip_step")


def test_an_untouched_grid_follows_the_data_and_then_the_filters(tmp_path, monkeypatch):
    """When the data moved the default grid (a live experiment), the untouched grid kept the
    old one and was taken for edited: the FGSM filter then left BIM and PGD in it."""
    import shutil

    root = tmp_path / "runs"
    top = str(DEMO)
    sweep_only = lambda folder, names: [n for n in names if folder == top and "sweep" not in n]  # noqa: E731
    shutil.copytree(DEMO, root, ignore=sweep_only)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page()
    assert at.multiselect(key="grid_ids").value == [
        "sweep-bim-eps0.10", "sweep-fgsm-eps0.10", "sweep-pgd-linf-eps0.10"
    ]  # fmt: skip
    for run in root.glob("sweep-fgsm-eps0.05-*"):  # none fooled at 0.05 now: 0.05 differs most
        meta = json.loads((run / "run.json").read_text())
        summary = meta["summary"]
        summary.update(success=False, flip_step=None, final_pred=meta["true_label"])
        (run / "run.json").write_text(json.dumps(meta))
    animlib.list_runs(root)  # (the index refreshed at once)
    at.run()
    moved = at.multiselect(key="grid_ids").value
    assert moved == ["sweep-bim-eps0.05", "sweep-fgsm-eps0.05", "sweep-pgd-linf-eps0.05"]
    at.multiselect(key="e_attack").set_value(["FGSM"]).run()
    assert all(e.startswith("sweep-fgsm") for e in at.multiselect(key="grid_ids").value)


def test_success_per_true_class_is_recomputed_from_the_stored_confidences(demo_env):
    """The per-class table on the page: each experiment's share of a class's images whose
    last step's prediction is not the true label (computed here from the arrays)."""
    chosen = ["sweep-fgsm-eps0.05", "sweep-bim-eps0.05"]
    at = experiments_page(ids=",".join(chosen))
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "images" in d.value.columns]
    fooled: dict[str, dict[str, list[bool]]] = {}
    experiments = {e.id: e for e in animlib.list_experiments(DEMO)}
    for exp in chosen:
        for run_id in experiments[exp].run_ids:
            run = animlib.open_run_in(DEMO, run_id)
            last = int(np.asarray(run.confidences[len(run) - 1]).argmax())
            name = run.class_names[run.true_label]
            fooled.setdefault(name, {}).setdefault(exp, []).append(last != run.true_label)
    assert list(table["true class"]) == sorted(fooled, key=int)  # by label
    for row in table.itertuples(index=False):
        got = dict(zip(table.columns, row, strict=True))
        assert got["images"] == len(fooled[got["true class"]][chosen[0]])
        for exp in chosen:
            hits = fooled[got["true class"]][exp]
            assert got[exp] == pytest.approx(sum(hits) / len(hits)), (got, exp)
    assert 0 < table[chosen[0]].mean() < table[chosen[1]].mean() <= 1  # BIM fools more


def test_success_per_true_class_names_classes_and_keeps_odd_columns():
    from animlib.image_tables import success_by_class

    outcomes = pd.DataFrame(
        [
            {"true_label": t, "true_class": c, "experiment": e, "success": ok, "image": i}
            for i, t, c, e, ok in (
                ("a", 1, "cat", "images", True),
                ("b", 1, "cat", "images", False),
                ("a", 1, "cat", "x", True),
                ("c", 0, "dog", "images", None),  # no known outcome: not counted
                ("d", 0, "dog", "x", False),
                ("e", 2, None, "x", True),  # no class names: the label
                ("f", None, None, "x", True),
            )
        ]  # fmt: skip
    )
    table = success_by_class(outcomes, ["images", "x"])
    assert list(table.columns) == ["true class", "images ", "images", "x"]
    assert list(table["true class"]) == ["dog", "cat", "label 2", "no label"]
    assert list(table["images "]) == [1, 2, 1, 1]
    assert table["images"].tolist()[:2] == [pytest.approx(float("nan"), nan_ok=True), 0.5]
    assert table["x"].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert success_by_class(outcomes.iloc[:0], ["x"]).empty


def test_the_grid_page_is_kept_in_the_link(tmp_path, monkeypatch):
    """A reloaded or shared link of page 3 of the grid opened at page 1."""
    n = 40
    x = np.zeros((n, 4, 4, 1), np.float32)
    with animlib.BatchWriter(tmp_path / "runs", experiment="a", class_names=["p", "q"],
                             true_labels=np.zeros(n, int), originals=x) as w:  # fmt: skip
        w.log(images=x, confidences=np.tile([0.9, 0.1], (n, 1)))
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = experiments_page(ids="a")
    at.number_input(key="grid_page").set_value(3).run()
    assert at.query_params["page"] in ("3", ["3"])
    cells = _cells(at)
    opened = experiments_page(ids="a", page="3")
    assert not opened.exception and _cells(opened) == cells
    assert opened.number_input(key="grid_page").value == 3
    for bad in ("99", "x", "-1"):
        assert experiments_page(ids="a", page=bad).number_input(key="grid_page").value in (1, 3)


def test_a_dark_base_theme_paints_the_pinned_grid_labels_dark(demo_env):
    """Under ``--theme.base dark`` the grid's pinned labels were painted white (the page asked
    st.context.theme, which says "light" there), hiding their near-white text."""
    from streamlit import config

    config.set_option("theme.base", "dark")
    try:
        at = experiments_page()
        assert not at.exception, at.exception
    finally:
        config.set_option("theme.base", None)
    page = "".join(h.proto.body for h in at.get("html"))
    assert f".animlib-grid th{{background:{DARK_BACKGROUND}}}" in page


def test_a_sweep_found_by_its_parameters_is_named_by_them_even_alone():
    """One sweep found by its parameters beside sweeps whose ids spell ε: all its words were
    "shared" with itself, and the legend, the smallest-ε table and its caption named it "–"."""
    from animlib.sweeps import sweep_labels

    spelled, mine = ("PGD", "m", "pgd-eps*"), ("PGD", "m", "", "alpha=0.01")
    assert sweep_labels([spelled, spelled, mine, mine]) == ["pgd-eps*"] * 2 + ["alpha=0.01"] * 2
    two = [("PGD", "m", "", "alpha=0.01", "steps=10"), ("PGD", "m", "", "alpha=0.02", "steps=10")]
    assert sweep_labels(two) == ["alpha=0.01", "alpha=0.02"]  # what tells them apart
    assert sweep_labels([("PGD", "m", "")]) == ["no other parameter"]


def test_a_short_model_name_keeps_its_own_width():
    """The model column was 120 px for "mlp" too: with a failed experiment's status and left
    out shown, the table passed a 1280-px window's edge. Only a long name is cut to 120."""
    from animlib.experiment_columns import MODEL_WIDTH, column_config

    short = pd.DataFrame({"experiment": ["a"], "model": ["mlp"]})
    assert "model" not in column_config(short, "eps")
    long = pd.DataFrame({"experiment": ["a", "b"], "model": ["mlp", "resnet18-cifar10-robust"]})
    assert column_config(long, "eps")["model"]["width"] == MODEL_WIDTH


def page_after_checks(root: Path, runs: int) -> AppTest:
    """The experiments page once the background check of ``runs`` sample runs' arrays is done:
    its first run counts what is known and says it checks the rest (it took up to 3 s of each
    page run), the page runs again once the check is done."""
    from animlib.index import open_index
    from animlib.index.checks import checking

    at = experiments_page()
    assert not at.exception, at.exception
    assert any(f"checking the arrays of {runs} sample runs" in c.value for c in at.caption)
    deadline = time.monotonic() + 60
    while checking(open_index(str(root))) and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception
    assert not any("checking the arrays" in c.value for c in at.caption)
    return at


def test_the_experiments_table_downloads_as_csv_with_every_column(demo_env, tmp_path):
    """The table's CSV came only through Streamlit's own toolbar (cells as shown: formulas
    run; hidden by client.disableDataExport): the page's button writes the rows shown."""
    from animlib.experiment_columns import table_csv

    at = experiments_page(q="fgsm")
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download 3 experiments (CSV)" in labels
    x = np.zeros((2, 4, 4, 1), np.float32)
    with animlib.BatchWriter(tmp_path, experiment="e1", attack="=HYPERLINK(1)", model="m\r=1",
                             class_names=["a", "b"], true_labels=[0, 1], originals=x,
                             params={"eps": 0.1, "alpha": 0.01}) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.1, 0.9], [0.9, 0.1]]))
    from animlib.experiment_views import experiment_table
    from animlib.index import open_index
    from animlib.index.experiments import experiment_summary, experiments

    index = open_index(tmp_path)
    index.refresh()
    shown = experiment_table(experiments(index), experiment_summary(index))
    rows = list(csv.DictReader(io.StringIO(table_csv(shown.assign(runs="x")).decode())))
    assert len(rows) == 1 and "runs" not in rows[0]
    row = rows[0]
    assert row["attack"] == "'=HYPERLINK(1)" and row["model"] == "m\n=1"
    assert row["success_rate"] == "1.0" and row["status"] == "finished"
    assert "alpha=0.01" in row["params"] and row["created"].endswith("+00:00")


def test_grid_columns_say_the_model_when_the_experiments_attacked_several(tmp_path, monkeypatch):
    """Experiments named alike on three models were titled by their ids (pgd, pgd-2, pgd-3)
    only: the grid could not be read against the chart above it ("PGD · cnn-at")."""
    from animlib import experiment_grid as grid

    x = np.zeros((1, 4, 4), np.float32)
    for model in ("cnn", "cnn-at", None):
        with animlib.BatchWriter(tmp_path, experiment="pgd", model=model) as w:
            w.log(images=x)
    exps = animlib.list_experiments(tmp_path)
    assert grid.column_titles(exps, ["pgd", "pgd-2", "pgd-3"]) == {
        "pgd": "pgd · cnn",
        "pgd-2": "pgd-2 · cnn-at",
        "pgd-3": "pgd-3 · –",
    }
    assert grid.column_titles(exps, ["pgd"]) == {}  # (one model: the ids)
    _, page = grid_page(tmp_path, monkeypatch, "pgd,pgd-2")
    assert "<th>pgd · cnn</th>" in page and "<th>pgd-2 · cnn-at</th>" in page


def test_the_chart_names_a_run_without_a_model_as_the_grid_does():
    """The chart's series read "PGD · " (nothing after the dot) where the grid's title above
    read "pgd-3 · –" for the same experiment."""
    from animlib.experiment_views import robust_curve

    frame = pd.DataFrame(
        {
            "experiment": ["a", "b"], "attack": ["PGD", "PGD"], "model": ["cnn", ""],
            "eps": [0.1, 0.1], "robust_acc": [0.5, 0.25], "n": [4, 4],
        }
    )  # fmt: skip
    assert sorted(set(robust_curve(frame)["series"])) == ["PGD · cnn", "PGD · –"]


def test_names_whose_middle_cuts_read_alike_are_cut_where_they_differ():
    """The runs page cut every name to 28 cells in its middle: samples of two sweeps that
    differ in their ε read alike ("pgd-linf-eps0.…-cifar10-0000" twice), the id hidden."""
    from animlib.text import display_width, distinct_clipped

    names = [f"pgd-linf-eps{e}-resnet18-cifar10-{s:04d}" for e in ("0.0157", "0.0314")
             for s in range(2)]  # fmt: skip
    shown = distinct_clipped([*names, "short", "short"], 28)
    assert len(set(shown[:4])) == 4 and shown[4:] == ["short", "short"], shown
    assert all(display_width(s) <= 28 for s in shown)
    assert [s[-4:] for s in shown[:4]] == ["0000", "0001", "0000", "0001"]
    assert all(e in s for s, e in zip(shown, ("0157", "0157", "0314", "0314"), strict=False))
    alike = ["x" * 40 + "a", "x" * 40 + "b"]  # (differing at the very end: the plain cut)
    assert distinct_clipped(alike, 28) == [n[:14] + "…" + n[-13:] for n in alike]
