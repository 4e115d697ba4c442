"""The runs page's view as link parameters: read back as written, bad values named, never used."""

from __future__ import annotations

import pytest

from animlib.link_state import RUNS_VIEW, view_from_link, view_to_link

DEFAULTS = {
    "f_text": "",
    "f_attack": [],
    "f_sort": "newest first",
    "f_desc": False,
    "f_rows": 50,
    "f_page": 1,
}
OPTIONS = {
    "f_attack": ["PGD", "CW", "A,B"],
    "f_status": ["running", "finished"],
    "f_sort": ["newest first", "name", "params.eps"],
    "f_rows": (25, 50, 100),
    "f_params": ["eps", "norm"],
}


def link_values(link: dict) -> dict[str, list[str]]:
    """What ``st.query_params.get_all`` gives for a link written as ``view_to_link`` wrote it."""
    return {k: v if isinstance(v, list) else [v] for k, v in link.items()}


def test_a_view_is_read_back_as_written():
    state = {
        "f_text": "eps=0.1 vit",
        "f_attack": ["CW", "PGD"],
        "f_status": ["running"],
        "f_sort": "params.eps",
        "f_desc": True,
        "f_rows": 25,
        "f_params": ["norm"],
        "f_page": 3,
    }
    link = view_to_link(RUNS_VIEW, state, defaults=DEFAULTS)
    assert link == {
        "q": "eps=0.1 vit",
        "attack": "CW,PGD",
        "status": "running",
        "sort": "params.eps",
        "desc": "1",
        "rows": "25",
        "params": "norm",
        "page": "3",
    }
    assert view_from_link(RUNS_VIEW, link_values(link), options=OPTIONS) == (state, [])


def test_an_untouched_view_has_a_bare_link():
    state = {**DEFAULTS, "f_attack": [], "f_params": []}
    assert view_to_link(RUNS_VIEW, state, defaults=DEFAULTS) == {}
    assert view_from_link(RUNS_VIEW, {}, options=OPTIONS) == ({}, [])


def test_a_value_with_a_comma_is_written_as_repeated_parameters():
    link = view_to_link(RUNS_VIEW, {"f_attack": ["A,B", "CW"]}, defaults=DEFAULTS)
    assert link == {"attack": ["A,B", "CW"]}
    state, _ = view_from_link(RUNS_VIEW, link_values(link), options=OPTIONS)
    assert state == {"f_attack": ["A,B", "CW"]}


def test_values_this_folder_lacks_are_named_and_left_out():
    link = {"attack": ["PGD,FGSM,,PGD"], "params": ["eps", "nope"], "status": ["finished"]}
    state, problems = view_from_link(RUNS_VIEW, link, options=OPTIONS)
    assert state == {"f_attack": ["PGD"], "f_params": ["eps"], "f_status": ["finished"]}
    assert problems == [
        "No attack FGSM in this folder (the choices: PGD, CW, A,B)",
        "No parameter nope in this folder (the choices: eps, norm)",
    ]


def test_bad_values_are_named_and_the_widget_keeps_its_default():
    link = {
        "q": ["a\x00b"],
        "sort": ["created; drop"],
        "rows": ["7"],
        "page": ["-1"],
        "desc": ["no"],
    }
    state, problems = view_from_link(RUNS_VIEW, link, options=OPTIONS)
    assert state == {"f_desc": False}
    assert problems == [
        "q=a\\x00b in the link holds control characters",
        "sort=created; drop in the link is not one of: newest first, name, params.eps",
        "rows=7 in the link is not one of: 25, 50, 100",
        "page=-1 in the link is not a page number",
    ]


def test_a_value_typed_in_another_case_is_the_folders_when_only_one_matches():
    """``attack=cw`` in a hand-typed link was "No attack cw in this folder" next to CW."""
    state, problems = view_from_link(RUNS_VIEW, {"attack": ["cw,pgd"]}, options=OPTIONS)
    assert state == {"f_attack": ["CW", "PGD"]} and problems == []
    twins = {**OPTIONS, "f_attack": ["pgd", "PGD"]}  # two match: neither is guessed
    state, problems = view_from_link(RUNS_VIEW, {"attack": ["Pgd"]}, options=twins)
    assert state == {"f_attack": []} and problems == [
        "No attack Pgd in this folder (the choices: pgd, PGD)"
    ]


@pytest.mark.parametrize("text", ["³", "٣", "--5", "1" * 40])
def test_numbers_in_a_link_are_ascii_digits_only(text):
    """``page=³`` passed str.isdigit and then crashed int() (the page's traceback)."""
    state, problems = view_from_link(RUNS_VIEW, {"page": [text]}, options=OPTIONS)
    assert state == {} and problems == [f"page={text} in the link is not a page number"]
