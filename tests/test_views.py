"""Streamlit-free presenters: tables and CSV exports of a run."""

from __future__ import annotations

import csv
import io

import numpy as np

import animlib
from animlib.views import confidence_csv, confidence_frame

HOSTILE = ['=HYPERLINK("http://x";"click")', "+SUM(1,2)", "-2+3", "@SUM(1)", "\tTAB", "plain"]
HOSTILE += ["cat\r=cmd|' /C calc'!A0", "\r@SUM(1+1)"]  # (a lone CR ended the row: a new one began)


def test_confidence_csv_neutralises_formulas(tmp_path):
    probs = np.full(len(HOSTILE), 1 / len(HOSTILE))
    with animlib.RunWriter(tmp_path, name="csv", class_names=HOSTILE, true_label=0) as w:
        for _ in range(2):
            w.log(image=np.zeros((4, 4, 3), np.uint8), confidences=probs)
    run = animlib.open_run(tmp_path / "csv")
    rows = list(csv.reader(io.StringIO(confidence_csv(run).decode())))
    header = rows[0]
    assert len(rows) == 3 and header[0] == "step"
    for cell in header[1:]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), cell
    assert "cat\n=cmd|' /C calc'!A0" in header  # (one cell, quoted: not a row of its own)
    assert '\'=HYPERLINK("http://x";"click")' in header and "plain" in header
    assert np.float32(rows[1][1]) == np.float32(1 / len(HOSTILE))
    assert list(confidence_frame(run).columns) == sorted(HOSTILE, key=HOSTILE.index)


def test_matching_rows_ands_the_chosen_values_and_every_word():
    import pandas as pd

    from animlib.table_filter import matching_rows

    frame = pd.DataFrame(
        {
            "id": ["r1", "r2", "r3", "r4"],
            "attack": ["PGD", "FGSM", "PGD", "PGD"],
            "model": ["mlp", "mlp", "cnn", "mlp"],
            "note": ["Fast Run", "fast", "slow", "7"],
        },
        index=[10, 11, 12, 13],
    )

    def rows(chosen, text="", searched=("id", "note")):
        mask = matching_rows(frame, chosen, text, searched)
        assert mask.dtype == bool and list(mask.index) == list(frame.index)
        return frame.index[mask].tolist()

    assert rows({}) == [10, 11, 12, 13]
    assert rows({"attack": [], "model": ()}) == [10, 11, 12, 13]  # an empty filter: no constraint
    assert rows({"attack": ["PGD"]}) == [10, 12, 13]
    assert rows({"attack": ["PGD"], "model": ["mlp"]}) == [10, 13]
    assert rows({}, "FAST") == [10, 11]  # words are compared lower-cased
    frame.loc[13, "note"] = "cafe\u0301"  # decomposed (NFD): found as typed composed (NFC)
    assert rows({}, "caf\u00e9") == rows({}, "CAFE\u0301") == [13]
    frame.loc[13, "note"] = "7"
    assert rows({}, "fast run") == [10]  # every word must appear
    assert rows({}, '"fast run"') == [10] and rows({}, '"run fast"') == []  # quoted: as one
    assert rows({}, "r3 slow") == [12]  # in any searched column
    assert rows({}, "pgd") == []  # not in a column that is not searched
    assert rows({}, "pgd", ("attack",)) == [10, 12, 13]
    assert rows({"note": ["7"]}, "R4") == [13]
    assert rows({}, "a.t") == []  # a word is plain text, not a pattern


def test_page_filters_use_the_shared_row_filter():
    import pandas as pd
    from pandas_runs import filter_runs

    from animlib.experiment_views import filter_experiments

    exps = pd.DataFrame(
        {
            "experiment": ["e1", "e2"],
            "attack": ["PGD", "FGSM"],
            "model": ["mlp", "cnn"],
            "params": ["eps=0.1 norm=linf", "eps=0.15 norm=l2"],
        }
    )
    assert filter_experiments(exps, attacks=["FGSM"])["experiment"].tolist() == ["e2"]
    assert filter_experiments(exps, text="E1 pgd")["experiment"].tolist() == ["e1"]
    assert filter_experiments(exps, text="norm=l2")["experiment"].tolist() == ["e2"]
    assert filter_experiments(exps, text="eps=0.1")["experiment"].tolist() == ["e1"]
    assert filter_experiments(exps, text="EPS=0.10")["experiment"].tolist() == ["e1"]
    assert filter_experiments(exps, text="eps=0.15")["experiment"].tolist() == ["e2"]
    assert filter_experiments(exps, text="eps=0.")["experiment"].tolist() == []  # 0, whole
    runs = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["x", "y", "z"],
            "attack": ["PGD", "PGD", "FGSM"],
            "model": ["mlp", "cnn", "mlp"],
            "status": ["done", "running", "done"],
            "success": pd.array([True, None, False], dtype="boolean"),
            "tags": ["t1", "", "t2"],
            "source": ["s", "s", ""],
        }
    )
    assert filter_runs(runs, statuses=["done"], text="mlp")["id"].tolist() == ["a", "c"]
    assert filter_runs(runs, success=["n/a", "failed"])["id"].tolist() == ["b", "c"]
    assert filter_runs(runs, attacks=["PGD"], text="RUNNING")["id"].tolist() == ["b"]


def test_a_number_typed_as_the_experiments_table_shows_it_finds_the_value():
    """The table shows numbers to 4 significant digits (alpha = 0.03 / 1.32 reads 0.02273),
    the search matched at 6 (0.0227273): typing what the page shows found nothing. A word
    finds the values that round to it at its own digits, at least 4, on both search paths
    (pandas and the run index's Arrow), and no other value."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from animlib.experiment_views import filter_experiments
    from animlib.params import index_text, search_text, word_pattern

    values = [0.03 / 1.32, 0.1, 0.15, 0.10004, 0.0227249, 0.0227349, -0.5, 1e-5, 20]
    words = [search_text(index_text({"alpha": v})[0]) for v in values]
    exps = pd.DataFrame(
        {
            "experiment": [f"e{i}" for i in range(len(values))],
            "attack": ["PGD"] * len(values),
            "model": ["m"] * len(values),
            "params": words,
        }
    )
    cases = {
        f"alpha={0.03 / 1.32:.4g}": ["e0", "e5"],  # 0.02273: what the table shows of each
        "alpha=0.1": ["e1", "e3"],
        "alpha=0.10": ["e1", "e3"],
        "alpha=0.15": ["e2"],  # and eps=0.1 is not 0.15, nor 0.15 0.1
        "alpha=0.1500": ["e2"],
        "alpha=0.02273": ["e0", "e5"],
        "alpha=0.0227273": ["e0"],  # more digits: rounding at those
        "alpha=0.0227249": ["e4"],
        "alpha=0.02272": ["e4"],
        "alpha=-0.5": ["e6"],
        "alpha=0.5": [],
        "alpha=1e-5": ["e7"],
        "alpha=0.00001": ["e7"],
        "alpha=20": ["e8"],
        "alpha=2": [],
        "alpha=0.": [],
        "0.02273": ["e0", "e5"],  # a bare number as the alpha column shows it
        "0.0227": ["e0", "e4", "e5"],  # (as text: the start of 0.0227273 and 0.0227249)
        "alpha=1e999999": [],  # (a float's inf: it raised decimal.Overflow)
        "alpha=1e-3000000": [],  # (0: it raised decimal.InvalidOperation)
    }
    haystack = pa.array([w.lower() for w in words])
    for text, expected in cases.items():
        assert filter_experiments(exps, text=text)["experiment"].tolist() == expected, text
        found = pc.match_substring_regex(haystack, pattern=word_pattern(text)).to_pylist()
        assert [f"e{i}" for i, f in enumerate(found) if f] == expected, text


def test_run_titles_tell_apart_names_that_read_the_same():
    """Two compared runs named "café" (composed and decomposed) or "zerowidth" with and without
    a zero-width space were both titled alike, with no id to tell them apart."""
    from types import SimpleNamespace

    from animlib.text import run_titles

    def run(name, run_id):
        return SimpleNamespace(name=name, id=run_id)

    nfc, nfd = "caf\u00e9", "cafe\u0301"
    assert run_titles([run(nfc, "cafe"), run(nfd, "cafe-2")]) == [
        f"{nfc} (cafe)",
        f"{nfd} (cafe-2)",
    ]
    assert run_titles([run("zero\u200bwidth", "z"), run("zerowidth", "zerowidth")]) == [
        "zero\u200bwidth (z)",
        "zerowidth",  # (its id is its name)
    ]
    assert run_titles([run(nfc, "a"), run("cafe", "b")]) == [nfc, "cafe"]


def test_compare_params_lists_the_differing_ones_first():
    from types import SimpleNamespace

    from animlib.params import PARAM_CHARS
    from animlib.views import NO_VALUE, compare_params

    a = SimpleNamespace(name="pgd", id="pgd", params={"eps": 0.1, "alpha": 0.01, "norm": "linf",
                                            "opt": {"lr": 0.5, "betas": [0.9, 0.99]},
                                            "random_start": True, "seed": None})  # fmt: skip
    b = SimpleNamespace(name="pgd", id="pgd-2", params={"eps": 8 / 255, "alpha": 0.01,
                                            "norm": "linf",
                                            "opt": {"lr": 0.25, "betas": [0.9, 0.99]},
                                            "steps": 40, "random_start": True})  # fmt: skip
    table, differ = compare_params([a, b])
    # as the metrics table and the player title the runs (it read "pgd" twice)
    assert list(table.columns) == ["pgd", "pgd (pgd-2)"]
    assert differ == 4
    assert list(table.index[:4]) == ["eps", "opt.lr", "seed", "steps"]  # in the runs' order
    assert list(table.index[4:]) == ["alpha", "norm", "opt.betas", "random_start"]
    assert list(table.loc["eps"]) == ["0.1", "0.0313725"]
    assert list(table.loc["seed"]) == ["null", NO_VALUE]
    assert list(table.loc["steps"]) == [NO_VALUE, "40"]
    assert table.loc["random_start", "pgd"] == "true"
    assert table.loc["opt.betas", "pgd"] == "[0.9, 0.99]"
    long = SimpleNamespace(name="w", id="w", params={"weights": list(range(100))})
    cell = compare_params([long, a])[0].loc["weights", "w"]
    assert len(cell) == PARAM_CHARS and cell.endswith("…") and cell.startswith("[0, 1, 2")
    assert compare_params([SimpleNamespace(name="x", id="x", params={})] * 2)[0].empty


def test_metric_cards_say_what_a_run_has_and_dash_what_it_has_not(tmp_path):
    from animlib.metrics import run_metrics
    from animlib.views import NO_VALUE, metric_cards

    clean = np.zeros((4, 4, 1), np.uint8)
    kw = dict(class_names=["a", "b"], true_label=0, original=clean)
    with animlib.RunWriter(tmp_path, name="m", **kw) as w:
        w.log(image=clean, confidences=[0.9, 0.1])
        w.log(image=np.full((4, 4, 1), 2, np.uint8), confidences=[0.2, 0.8])
    with animlib.RunWriter(tmp_path, name="edit") as w:  # no confidences: an image edit
        for _ in range(2):
            w.log(image=np.zeros((4, 4, 1), np.uint8))
    attacked = metric_cards(run_metrics(animlib.open_run(tmp_path / "m")))
    assert attacked[:3] == [
        ("success", "yes", None),
        ("flip step", "1", None),
        ("final true conf", "0.200", "-0.700"),
    ]
    assert attacked[5] == ("L0 (pixels)", "16", None)
    assert attacked[3:5] == [("L∞", f"{2 / 255:.4f}", None), ("L2", f"{8 / 255:.3f}", None)]
    edit = metric_cards(run_metrics(animlib.open_run(tmp_path / "edit")))
    assert [value for _, value, _ in edit] == ["n/a", *[NO_VALUE] * 5]
    assert [delta for _, _, delta in edit] == [None] * 6


def test_a_change_that_rounds_to_zero_shows_no_delta():
    from animlib.views import metric_cards

    m = dict.fromkeys(["success", "flip_step", "linf", "l2", "l0"])
    one_step = metric_cards({**m, "initial_true_conf": 0.0731, "final_true_conf": 0.0733})
    assert one_step[2] == ("final true conf", "0.073", None)  # not a red "+0.000"
    moved = metric_cards({**m, "initial_true_conf": 0.0731, "final_true_conf": 0.0741})
    assert moved[2][2] == "+0.001"


def test_a_confidence_that_would_read_zero_is_shown_in_powers_of_ten(tmp_path):
    """After an attack the true class is often at 1e-9: the tables and cards showed 0.0000 /
    0.000, hiding how far it fell (the browser player's table writes the same: fmtConf)."""
    from animlib.views import compare_metrics, metric_cards, styled_confidences

    m = dict.fromkeys(["success", "flip_step", "linf", "l2", "l0"])
    card = metric_cards({**m, "initial_true_conf": 0.99, "final_true_conf": 1.993814e-09})
    assert card[2] == ("final true conf", "2.0e-9", "-0.990")
    with animlib.RunWriter(tmp_path, name="r", class_names=["a", "b"], true_label=0) as w:
        w.log(image=np.zeros((4, 4), np.uint8), confidences=[0.9, 0.1])
        w.log(image=np.zeros((4, 4), np.uint8), confidences=[2.5e-9, 1 - 2.5e-9])
    run = animlib.open_run(tmp_path / "r")
    html = styled_confidences(run).to_html()
    assert "2.5e-9" in html and "0.9000" in html and "1.0000" in html and "0.0000" not in html
    # the true class's pale tint keeps dark text in the dark theme (white text: unreadable)
    assert "background-color: #d9f2d9;\n  color: #1b1b1b;" in html
    table = compare_metrics([run, run])
    assert table.loc["final true conf"].tolist() == ["2.5e-9", "2.5e-9"]


def test_the_steps_by_classes_table_puts_the_true_and_target_classes_first(tmp_path):
    """With 1,000 classes the top-k columns came in class order and long names: the true
    class and the argmax needed a sideways scroll."""
    import animlib

    k = 40
    names = [f"n{i:08d} a long class name" for i in range(k)]
    with animlib.RunWriter(
        tmp_path, name="many", class_names=names, true_label=30, target_label=35
    ) as w:
        for step in range(3):
            p = np.full(k, 0.01)
            p[30], p[12 + step], p[5] = 0.5 - 0.1 * step, 0.2 + 0.1 * step, 0.05
            w.log(image=np.zeros((4, 4, 3), np.float32), confidences=p / p.sum())
    run = animlib.open_run(tmp_path / w.run_id)
    columns = list(confidence_frame(run, top_k=5).columns)
    assert columns[:2] == [names[30], names[35]]  # true, target
    # then the top 5 by their highest value (the true class among them: once)
    assert columns[2:] == [names[14], names[13], names[12], names[5]]
    assert list(confidence_frame(run).columns) == names  # every class: in class order (CSV)


def test_the_left_out_note_names_every_gap_and_maps_the_flip_step():
    from animlib.views import left_out_note

    meta = {"experiment_index": [[0, 0, 3], [7, 3, 2], [12, 5, 3]]}
    note = left_out_note(meta, 6)
    assert "experiment steps 3–6 and 9–11" in note
    assert "step 3 here is experiment step 7" in note
    assert "its flip step 6 is experiment step 13" in note
    one = left_out_note({"experiment_index": [[0, 0, 3], [4, 3, 2]]}, 1)
    assert "experiment step 3 (" in one and "flip step" not in one  # (flip step 1 = step 1)
    assert left_out_note({"experiment_index": [[0, 0, 5]]}, 2) is None  # no gap
    assert left_out_note({}, 2) is None and left_out_note({"experiment_index": "x"}, 2) is None


def test_confidence_csv_keeps_class_names_that_differ_by_cr_or_lf_apart(tmp_path):
    names = ["a\rb", "a\nb", "c"]
    with animlib.RunWriter(tmp_path, name="crlf", class_names=names, true_label=2) as w:
        w.log(image=np.zeros((4, 4, 3), np.uint8), confidences=[0.2, 0.3, 0.5])
    text = confidence_csv(animlib.open_run(tmp_path / "crlf")).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert len(set(header)) == 4 and header[3] == "c"
