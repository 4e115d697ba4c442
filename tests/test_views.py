"""Streamlit-free presenters: tables and CSV exports of a run."""

from __future__ import annotations

import csv
import io

import numpy as np

import animlib
from animlib.views import confidence_csv, confidence_frame

HOSTILE = ['=HYPERLINK("http://x";"click")', "+SUM(1,2)", "-2+3", "@SUM(1)", "\tTAB", "plain"]


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
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert '\'=HYPERLINK("http://x";"click")' in header and "plain" in header
    assert np.float32(rows[1][1]) == np.float32(1 / len(HOSTILE))
    assert list(confidence_frame(run).columns) == sorted(HOSTILE, key=HOSTILE.index)
