"""Group values that print alike but are not one number (``eps=8/255`` beside a float32 of it,
stored as 0.03137255) get the digits that tell them apart and a note saying why they split:
``summary --by attack,params.eps`` showed two rows both labelled ``PGD 0.03137``."""

from __future__ import annotations

import numpy as np

import animlib
from animlib.cli import main


def _experiment(root, name: str, eps) -> None:
    probs = np.array([[0.8, 0.2]] * 3)
    with animlib.BatchWriter(
        root, experiment=name, attack="PGD", class_names=["a", "b"], true_labels=[0] * 3,
        params={"eps": eps},
    ) as w:  # fmt: skip
        for step in range(2):
            w.log(images=np.full((3, 6, 6, 1), 0.5 + 0.1 * step), confidences=probs)


def test_alike_group_values_are_told_apart_and_explained(tmp_path, capsys):
    _experiment(tmp_path, "script", 8 / 255)
    _experiment(tmp_path, "tensor", np.float32(8 / 255))
    _experiment(tmp_path, "wider", 16 / 255)
    _experiment(tmp_path, "text", "8/255")
    assert main(["summary", str(tmp_path), "--by", "attack,params.eps"]) == 0
    out, err = capsys.readouterr()
    labels = [line.split()[1] for line in out.splitlines()[1:]]
    assert len(labels) == len(set(labels)) == 4, out
    assert {"0.031372549", "0.03137255", "8/255"} <= set(labels), out
    assert "note: params.eps groups 0.03137254901960784 and 0.03137255 apart" in err


def test_values_that_print_apart_keep_the_short_form(tmp_path, capsys):
    _experiment(tmp_path, "a", 8 / 255)
    _experiment(tmp_path, "b", 16 / 255)
    assert main(["summary", str(tmp_path), "--by", "params.eps"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["0.03137", "0.06275"], out
    assert "groups" not in err
