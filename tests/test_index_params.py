"""Run parameters in the index: their names, a sort by one of them, a search by name=value."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from helpers import write_run

from animlib import runs_table
from animlib.index import Query, open_index
from animlib.params import INDEXED, decode, index_text, number, search_text


def test_index_text_flattens_sorts_and_keeps_numbers_exact():
    params = {
        "eps": 8 / 255,
        "steps": 20,
        "norm": "linf",
        "opt": {"lr": 0.5, "betas": [0.9, 0.99]},
        "flag": True,
        "none": None,
        "a=b": 1,  # cannot be told from its value: left out
        "bad\x1fname": 2,
        "note": "two\nlines\x1fand a separator",
        "long": list(range(100)),
    }
    text, names = index_text(params)
    got = decode(text)
    assert list(got) == sorted(got) == ["eps", "flag", "long", "none", "norm", "note",
                                        "opt.betas", "opt.lr", "steps"]  # fmt: skip
    assert names == "\x1f" + "\x1f".join(got) + "\x1f"
    assert float(got["eps"]) == 8 / 255  # exactly, not to 6 digits
    assert got["steps"] == "20" and got["flag"] == "true" and got["none"] == "null"
    assert got["norm"] == "linf" and got["opt.betas"] == "[0.9, 0.99]"
    assert got["note"] == "two lines and a separator"
    assert len(got["long"]) == 80 and got["long"].endswith("…")
    assert index_text(None) == index_text({}) == index_text([1, 2]) == ("", "")
    many = {"w": {f"{k:04d}": k / 7 for k in range(1000)}}  # class weights as params
    assert list(decode(index_text(many)[0])) == [f"w.{k:04d}" for k in range(INDEXED)]
    assert number("1e-3") == 0.001 and number("-2") == -2 and number("linf") is None
    assert number("nan") is None and number("true") is None
    assert search_text(text).split()[0] == "eps=0.0313725"  # as the tables show it


def params_for(i: int) -> dict | None:
    """Varied params: ``eps`` a number (missing in every 7th run), ``steps`` a number or text,
    ``norm`` text, ``opt.lr`` nested; every 11th run sets none at all."""
    if i % 11 == 5:
        return None
    params = {"norm": ["linf", "l2"][i % 2], "opt": {"lr": round(0.1 * (i % 4), 1)}}
    if i % 7:
        params["eps"] = [16 / 255, 2 / 255, 1e-5, 4 / 255][i % 4]  # 1e-05: text order differs
    params["steps"] = "auto" if i % 5 == 0 else [5, 20, 100][i % 3]  # as text: 100 < 20 < 5
    return params


@pytest.fixture
def with_params(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    template = root / write_run(root, "template", steps=3)
    base = json.loads((template / "run.json").read_text())
    for i in range(40):
        meta = dict(base, name=f"run-{i:02d}", created=f"2025-01-01T00:{i:02d}:00+00:00")
        meta["params"] = params_for(i) or {}
        folder = root / f"run-{i:02d}"
        folder.mkdir()
        for part in ("images", "confidences", "original", "zarr.json"):
            (folder / part).symlink_to(template / part)
        (folder / "run.json").write_text(json.dumps(meta))
    return root


def refreshed(root):
    index = open_index(root)
    index.refresh()
    return index


NEWEST_FIRST = ["template", *(f"run-{i:02d}" for i in range(39, -1, -1))]  # index order


def expected_order(name: str, descending: bool) -> list[str]:
    """Numbers in order, then text values in order, then runs without the parameter; ties in
    index order (newest first)."""
    rows = [("template", None)]  # (written now, with no params)
    for i in range(39, -1, -1):  # newest first
        flat = params_for(i) or {}
        flat = {**flat, **{f"opt.{k}": v for k, v in (flat.get("opt") or {}).items()}}
        rows.append((f"run-{i:02d}", flat.get(name)))
    nums = [(r, v) for r, v in rows if isinstance(v, int | float)]
    texts = [(r, v) for r, v in rows if isinstance(v, str)]
    missing = [r for r, v in rows if v is None]
    nums.sort(key=lambda rv: rv[1], reverse=descending)  # stable: ties keep index order
    texts.sort(key=lambda rv: rv[1], reverse=descending)
    return [r for r, _ in nums] + [r for r, _ in texts] + missing


@pytest.mark.parametrize("name", ["eps", "steps", "norm", "opt.lr"])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_a_parameter(with_params, name, descending):
    index = refreshed(with_params)
    got = index.query(Query(sort=f"params.{name}", descending=descending))
    assert got.rows["id"].to_pylist() == expected_order(name, descending)
    page = index.query(Query(sort=f"params.{name}", descending=descending, offset=5, limit=7))
    assert page.rows["id"].to_pylist() == expected_order(name, descending)[5:12]


def test_a_sort_by_an_unknown_parameter_keeps_the_order_and_a_bad_one_is_refused(with_params):
    index = refreshed(with_params)
    newest = index.query(Query()).rows["id"].to_pylist()
    assert newest == NEWEST_FIRST
    assert index.query(Query(sort="params.nope")).rows["id"].to_pylist() == newest
    for bad in ("params.", "paramseps", "meta"):
        with pytest.raises(ValueError, match="cannot sort"):
            index.query(Query(sort=bad))


def test_facets_list_every_parameter_name(with_params):
    assert refreshed(with_params).facets()["params"] == ["eps", "norm", "opt.lr", "steps"]


def test_search_finds_runs_by_name_and_value(with_params):
    index = refreshed(with_params)
    want = [
        f"run-{i:02d}" for i in range(39, -1, -1) if (params_for(i) or {}).get("eps") == 2 / 255
    ]
    assert want and index.query(Query(text="eps=0.00784314")).rows["id"].to_pylist() == want
    l2 = index.query(Query(text="norm=l2")).rows["id"].to_pylist()
    assert l2 == [
        f"run-{i:02d}" for i in range(39, -1, -1) if (params_for(i) or {}).get("norm") == "l2"
    ]


def test_a_whole_flattened_config_stays_searchable_and_sortable(tmp_path, monkeypatch):
    """Runs logging a training config of 73 flattened keys (W&B users log whole configs): the
    index kept the first 64 by name, so ``seed=3`` found nothing and ``params.seed`` sorted
    nothing, though every run.json held them."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    for seed in range(3):
        config = {
            "attack": {"eps": 0.03, "steps": 10},
            "data": {f"aug{k:02d}": k for k in range(30)},
            "model": {f"layer{k:02d}": 64 for k in range(40)},
            "seed": seed,
        }
        write_run(tmp_path, f"pgd-seed{seed}", steps=1, params=config)
    index = refreshed(tmp_path)
    assert index.query(Query(text="seed=1")).rows["name"].to_pylist() == ["pgd-seed1"]
    rows = index.query(Query(sort="params.seed", descending=True)).rows["name"].to_pylist()
    assert rows == ["pgd-seed2", "pgd-seed1", "pgd-seed0"]
    assert "seed" in index.facets()["params"]


def test_search_finds_a_name_however_its_accents_are_encoded(tmp_path, monkeypatch):
    """ "café" typed (NFC) did not find a run named "café" stored decomposed (NFD: a macOS file
    name, a PDF's text), and the decomposed spelling missed the composed runs."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    write_run(tmp_path, nfc, steps=1, params={"note": nfd.upper()})
    write_run(tmp_path, nfd, steps=1)
    write_run(tmp_path, "cafe", steps=1)
    index = refreshed(tmp_path)
    for word in (nfc, nfd, nfc.upper(), f"note={nfc}"):
        found = index.query(Query(text=word)).rows["name"].to_pylist()
        assert sorted(found) == ([nfc] if "=" in word else sorted([nfc, nfd])), word


def test_a_name_value_word_matches_whole_values_only(with_params):
    """``steps=10`` is not ``steps=100``, ``eps=0.0078`` not ``eps=0.00784314``; a number is
    found however it is written, a nested name by its last part; other words are substrings."""
    index = refreshed(with_params)

    def ids(text):
        return index.query(Query(text=text)).rows["id"].to_pylist()

    def where(test):
        return [f"run-{i:02d}" for i in range(39, -1, -1) if test(params_for(i) or {})]

    assert where(lambda p: p.get("steps") == 100) and ids("steps=10") == []
    assert ids("steps=100") == where(lambda p: p.get("steps") == 100)
    assert ids("eps=0.0078") == []
    assert (
        ids("EPS=0.007843140") == ids("eps=7.84314e-3") == where(lambda p: p.get("eps") == 2 / 255)
    )
    lr = where(lambda p: p.get("opt", {}).get("lr") == 0.1)
    assert lr and ids("opt.lr=0.1") == ids("lr=0.10") == lr
    assert ids("pt.lr=0.1") == []  # a name is whole too
    assert ids("eps=0.00784") == ids("eps=0.0313") == []
    assert ids("eps=0.0") == []  # a number is whole: 0.0 is 0, which no run has
    assert set(ids("eps=")) >= set(where(lambda p: "eps" in p))  # no value: a substring


def test_a_whole_value_with_a_space_is_searched_in_quotes(tmp_path, monkeypatch):
    """``opt=adam`` also found ``opt="adam w"`` (the haystack's words ended at the value's
    space), and no search could ask for "adam w" as a whole value."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    write_run(tmp_path, "plain", steps=1, params={"opt": "adam"})
    write_run(tmp_path, "spaced", steps=1, params={"opt": "adam w"})
    write_run(tmp_path, "my run", steps=1, params={"opt": "sgd"})
    index = refreshed(tmp_path)

    def names(text):
        return sorted(index.query(Query(text=text)).rows["name"].to_pylist())

    assert names("opt=adam") == ["plain"]
    assert names('opt="adam w"') == names('"opt=adam w"') == names('OPT="Adam W"') == ["spaced"]
    assert names("adam") == ["plain", "spaced"]  # (a bare word: anywhere)
    assert names('"adam w"') == ["spaced"] and names('"my run" opt=sgd') == ["my run"]


def test_page_frame_shows_parameters_as_columns(with_params):
    rows = refreshed(with_params).query(Query(sort="params.eps")).rows
    frame = runs_table.page_frame(rows, ["eps", "steps", "opt.lr", "nope"])
    assert pd.api.types.is_float_dtype(frame["params.eps"])  # every value set is a number
    assert frame["params.eps"].iloc[0] == 1e-5
    assert math.isnan(frame.set_index("id").loc["run-07", "params.eps"])  # not set
    steps = frame.set_index("id")["params.steps"]
    assert steps.dtype == object and steps["run-10"] == "auto" and steps["run-01"] == "20"
    assert frame["params.nope"].isna().all()
    order = runs_table.column_order(["eps", "steps"])
    at = order.index("model")
    assert order[at + 1 : at + 3] == ["params.eps", "params.steps"] and order[0] == "open"


def test_runs_csv_holds_every_row_given_and_every_parameter(with_params, tmp_path):
    import csv
    import io

    rows = refreshed(with_params).query(Query(sort="params.steps", descending=True)).rows
    got = list(csv.DictReader(io.StringIO(runs_table.runs_csv(rows).decode())))
    assert [r["id"] for r in got] == rows["id"].to_pylist()  # all rows, in their order
    assert list(got[0])[-4:] == ["params.eps", "params.norm", "params.opt.lr", "params.steps"]
    by_id = {r["id"]: r for r in got}
    assert by_id["run-01"]["params.steps"] == "20" and by_id["run-10"]["params.steps"] == "auto"
    assert float(by_id["run-01"]["params.eps"]) == 2 / 255  # exactly as logged
    assert by_id["run-02"]["params.eps"] == "1e-05" and by_id["template"]["params.eps"] == ""
    assert by_id["run-01"]["created"].startswith("2025-01-01T00:01:00")
    # text that a spreadsheet would run as a formula is written as text; numbers stay numbers
    (with_params / "run-03" / "run.json").write_text(
        (with_params / "run-03" / "run.json")
        .read_text()
        .replace('"norm": "l2"', '"norm": "=cmd()", "shift": -2')
    )
    rows = refreshed(with_params).query(Query(text="run-03")).rows
    (row,) = csv.DictReader(io.StringIO(runs_table.runs_csv(rows).decode()))
    assert row["params.norm"] == "'=cmd()" and row["params.shift"] == "-2"
