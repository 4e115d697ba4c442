"""Experiments with no value to sweep over: robust accuracy per experiment as bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_experiments import TRUE, images, onehotish
from test_experiments_page import experiments_page

import animlib
from animlib.experiment_views import robust_bar_chart, robust_bars, wilson
from animlib.views import NO_VALUE

# per experiment: the predictions of the last step (TRUE is [0, 1, 2, 0]): 4, 2, 3 and 0
# images still right, so robust accuracy 1, 0.5, 0.75, 0
FINAL = {
    "VANILA": [0, 1, 2, 0],
    "FGSM": [1, 1, 0, 0],
    "CW": [0, 1, 2, 2],
    "AutoAttack": [1, 0, 0, 1],
}


def write(root, experiment: str, final: list[int], **fields) -> None:
    with animlib.BatchWriter(
        root, experiment=experiment, class_names=["a", "b", "c"], true_labels=TRUE, **fields
    ) as w:
        w.log(images=images(0), confidences=onehotish(TRUE))
        w.log(images=images(1), confidences=onehotish(final))


@pytest.fixture
def unswept(tmp_path, monkeypatch):
    """Four experiments of torchattacks-like attacks, none with parameters."""
    root = tmp_path / "runs"
    for name, final in FINAL.items():
        write(root, name, final, attack=name)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    return root


def test_bars_are_lowest_robust_accuracy_first_with_their_interval():
    frame = pd.DataFrame(
        {
            "experiment": ["m10", "m2", "b", "none", "a"],
            "attack": ["PGD", "PGD", None, "FGSM", ""],
            "model": ["cnn", "cnn", "cnn", "cnn", None],
            "robust_acc": [0.5, 0.5, 0.25, np.nan, 1.0],
            "n": [16, 16, 8, 16, 4],
        }
    )
    bars = robust_bars(frame)
    # ties in natural order (m2 before m10); an experiment without robust accuracy has no bar
    assert bars["experiment"].tolist() == ["b", "m2", "m10", "a"]
    assert bars["attack"].tolist() == [NO_VALUE, "PGD", "PGD", NO_VALUE]
    assert bars["model"].tolist()[-1] == NO_VALUE
    low, high = wilson(np.array([0.25, 0.5, 0.5, 1.0]), np.array([8, 16, 16, 4]))
    np.testing.assert_allclose(bars["low"], low)
    np.testing.assert_allclose(bars["high"], high)
    assert robust_bars(frame, limit=2)["experiment"].tolist() == ["b", "m2"]


def test_bar_chart_colours_by_attack_only_where_that_groups_experiments():
    def spec(attacks: list[str]) -> dict:
        n = len(attacks)
        frame = pd.DataFrame(
            {
                "experiment": [f"e{i}" for i in range(n)],
                "attack": attacks,
                "model": ["m"] * n,
                "robust_acc": np.linspace(0, 1, n),
                "n": [16] * n,
            }
        )
        chart = robust_bar_chart(robust_bars(frame))
        out = chart.to_dict(validate=True)  # (Streamlit's to_dict() skips the schema check)
        assert chart.to_dict() == out
        return out

    grouped = spec(["PGD", "PGD", "FGSM", "FGSM"])
    bar, rule = grouped["layer"]
    assert bar["mark"]["type"] == "bar" and rule["mark"]["type"] == "rule"
    assert bar["encoding"]["color"]["field"] == "attack"
    assert bar["encoding"]["y"]["sort"] == ["e0", "e1", "e2", "e3"]  # lowest first
    assert rule["encoding"]["x"]["field"] == "low" and rule["encoding"]["x2"]["field"] == "high"
    assert grouped["height"] == {"step": 24}  # a band per bar, however many
    # one experiment per attack: the names on the axis say it all, one colour
    alone = spec(["PGD", "FGSM", "CW"])
    assert "field" not in alone["layer"][0]["encoding"]["color"]


def test_page_without_a_swept_parameter_shows_robust_accuracy_bars(unswept):
    at = experiments_page()
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert "Robust accuracy per experiment" in headers
    assert not any(h.startswith("Robust accuracy against") for h in headers)
    (chart,) = at.get("vega_lite_chart")
    (data,) = chart_data(chart)
    assert data["experiment"].tolist() == ["AutoAttack", "FGSM", "CW", "VANILA"]
    summary = animlib.summarize(unswept).set_index("experiment")["robust_acc"]
    assert data["robust_acc"].tolist() == [summary[e] for e in data["experiment"]]
    assert data["robust_acc"].tolist() == [0.0, 0.5, 0.75, 1.0]  # (from FINAL)
    assert any("Lowest first" in c.value for c in at.caption)


def test_the_bar_chart_is_built_again_only_when_its_bars_change(unswept, monkeypatch):
    """Every rerun of the page built the Altair chart again (as the robust-accuracy chart's
    ~28 % of a rerun): it is built once per set of bars, and a new experiment still shows."""
    import time

    import streamlit as st

    from animlib import experiment_views

    built = []
    real = experiment_views.robust_bar_chart

    def counted(bars: pd.DataFrame) -> object:
        built.append(bars["experiment"].tolist())
        return real(bars)

    monkeypatch.setattr(experiment_views, "robust_bar_chart", counted)
    st.cache_data.clear()  # (a chart of these bars cached by another test)
    at = experiments_page()
    at.run()
    at.run()
    assert not at.exception, at.exception
    assert built == [["AutoAttack", "FGSM", "CW", "VANILA"]]  # three page runs, one chart
    write(unswept, "DeepFool", [0, 0, 2, 0], attack="DeepFool")
    deadline = time.monotonic() + 30
    while (
        "DeepFool" not in chart_data(at.run().get("vega_lite_chart")[0])[0]["experiment"].tolist()
    ):
        assert time.monotonic() < deadline, "the new experiment never showed in the chart"
        time.sleep(0.5)
    assert len(built) == 2 and "DeepFool" in built[-1]


def test_page_with_a_sweep_draws_no_bars(unswept):
    write(unswept, "pgd-eps0.1", [1, 1, 2, 0], attack="PGD", params={"eps": 0.1})
    at = experiments_page()
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert "Robust accuracy per experiment" not in headers
    assert any(h.startswith("Robust accuracy against") for h in headers)


def chart_data(chart) -> list[pd.DataFrame]:
    """The data frames a chart element sends to the browser (as Arrow streams)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets]


def test_a_clicked_bar_puts_its_experiment_first_in_the_grid(unswept):
    at = experiments_page()
    before = list(at.multiselect(key="grid_ids").value)
    at.session_state["robust_bars"] = {"selection": {"point": [{"experiment": "VANILA"}]}}
    at.run()
    assert not at.exception, at.exception
    after = at.multiselect(key="grid_ids").value
    assert after == ["VANILA", *(e for e in before if e != "VANILA")][:6]
