"""The quick array check of sample runs, paid once per run by all the processes sharing a cache.

Review 133 (21,005 runs, freshly written): every ``summary`` spent its whole 10-s budget checking
~1,000 runs, about 20 times over; the dashboard's background check saved its verdicts once, after
the last run, so a summary meanwhile checked the same runs again and a server stopped mid-check
lost them all; and a final save overwrote the verdicts another process had saved meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import animlib
from animlib import experiments as ex
from animlib.cli import main
from animlib.index import checks, open_index

N = 12  # sample runs


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Twelve sample runs, one with a truncated chunk; this test's own cache folder (no
    verdicts from another test) and a fresh process's verdicts in memory."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(checks, "_held", {})
    root = tmp_path / "runs"
    x = np.full((N, 6, 6, 3), 0.5, np.float32)
    with animlib.BatchWriter(
        root, experiment="pgd", attack="PGD", class_names=["a", "b"], true_labels=[0] * N,
        params={"eps": 0.1}, originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.8, 0.2]] * N))
        w.log(images=x + 0.05, confidences=np.array([[0.3, 0.7]] * N))
    chunk = next(p for p in sorted((root / "pgd-0010" / "images").rglob("c*")) if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    return root


def _index(root: Path):
    index = open_index(str(root))
    index.refresh()
    return index


def _ids() -> list[str]:
    return [f"pgd-{i:04d}" for i in range(N)]


def _on_disk(index) -> dict:
    try:
        with open(checks.checks_path(index), encoding="utf-8") as file:
            return json.load(file)["runs"]
    except FileNotFoundError:
        return {}


def _counting(monkeypatch) -> list[str]:
    checked: list[str] = []
    real = checks._check
    monkeypatch.setattr(checks, "_check", lambda i, r: checked.append(r) or real(i, r))
    return checked


def test_a_check_saves_its_verdicts_as_it_goes(folder, monkeypatch):
    """Before: the file was written once, after the last run (a summary started meanwhile
    found nothing of the dashboard's work). Now every SAVE_EVERY_S (here: every batch)."""
    index = _index(folder)
    monkeypatch.setattr(checks, "BATCH", 2)
    monkeypatch.setattr(checks, "SAVE_EVERY_S", 0.0, raising=False)
    seen = []
    real = checks._check

    def check(i, run_id):
        seen.append(len(_on_disk(index)))  # what another process would find now
        return real(i, run_id)

    monkeypatch.setattr(checks, "_check", check)
    damaged, unchecked = checks.damaged_sample_runs(index)
    assert (sorted(damaged), unchecked) == (["pgd-0010"], 0)
    assert max(seen) == N - 2  # (the last batch's checks saw all the others saved)
    assert sorted(_on_disk(index)) == _ids()


def test_a_check_stopped_midway_keeps_what_it_found(folder, tmp_path, monkeypatch):
    """A dashboard process killed while checking (Ctrl-C of the server, a SIGKILL): its
    verdicts so far stay on disk, and the next process checks only the runs left."""
    index = _index(folder)
    ready = tmp_path / "ready"
    child = textwrap.dedent(
        f"""
        import os, sys, time
        from animlib.index import checks, open_index
        checks.BATCH, checks.WORKERS, checks.SAVE_EVERY_S = 1, 1, 0.0
        real, done = checks._check, []
        def check(index, run_id):
            if len(done) == 6:  # (six checked and saved: wait to be killed)
                open({str(ready)!r}, "w").close()
                time.sleep(600)
            done.append(run_id)
            return real(index, run_id)
        checks._check = check
        index = open_index({str(folder)!r})
        index.refresh()
        checks.damaged_sample_runs(index)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", child], env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the checking process did not get to its seventh run"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert sorted(_on_disk(index)) == _ids()[:6]
    assert not checks.being_checked(index)  # (its heartbeat names a process gone)
    checked = _counting(monkeypatch)
    damaged, unchecked = checks.damaged_sample_runs(index)
    assert sorted(checked) == _ids()[6:]  # (not the six the killed process found)
    assert (sorted(damaged), unchecked) == (["pgd-0010"], 0)


def _verdicts_of(index, run_ids: list[str]) -> bytes:
    """The verdicts file another process leaves after checking ``run_ids`` alone."""
    held = checks._held
    checks._held = {}
    try:
        checks.damaged_runs(index, run_ids)
        return Path(checks.checks_path(index)).read_bytes()
    finally:
        checks._held = held
        os.unlink(checks.checks_path(index))


def _saving_theirs_on_first_check(index, monkeypatch, theirs: bytes) -> list[str]:
    """Checks saving after every batch; the other process saves ``theirs`` as this one
    checks its first run. Returns the runs this one checks."""
    monkeypatch.setattr(checks, "BATCH", 2)
    monkeypatch.setattr(checks, "WORKERS", 1)
    monkeypatch.setattr(checks, "SAVE_EVERY_S", 0.0, raising=False)
    checked: list[str] = []
    real = checks._check

    def check(i, run_id):
        if not checked:
            Path(checks.checks_path(index)).write_bytes(theirs)
        checked.append(run_id)
        return real(i, run_id)

    monkeypatch.setattr(checks, "_check", check)
    return checked


def test_a_save_keeps_the_verdicts_another_process_saved_meanwhile(folder, monkeypatch):
    """Two processes checking at once (a dashboard, a summary): the last one to save wrote
    only its own verdicts, so the other's were checked again by the next summary. Each save
    now re-reads the file and writes the union."""
    index = _index(folder)
    theirs = _verdicts_of(index, _ids()[6:])  # (pgd-0010, the damaged run, among them)
    checked = _saving_theirs_on_first_check(index, monkeypatch, theirs)
    assert checks.damaged_runs(index, _ids()[:6]) == ({}, 0)
    assert checked == _ids()[:6]
    assert sorted(_on_disk(index)) == _ids()  # (before: the first six only)
    checks._held = {}  # the next process checks none
    assert sorted(checks.damaged_sample_runs(index)[0]) == ["pgd-0010"]
    assert checked == _ids()[:6]


def test_a_check_skips_the_runs_another_process_judged_meanwhile(folder, monkeypatch):
    index = _index(folder)
    theirs = _verdicts_of(index, _ids()[6:])
    checked = _saving_theirs_on_first_check(index, monkeypatch, theirs)
    damaged, unchecked = checks.damaged_sample_runs(index)
    assert checked == _ids()[:6]  # (before: all twelve)
    assert (sorted(damaged), unchecked) == (["pgd-0010"], 0)  # (its verdict: the other's)
    assert sorted(_on_disk(index)) == _ids()


def test_a_process_reads_the_verdicts_another_one_saved_after_it_started(folder, monkeypatch):
    """A dashboard (or notebook) that read the verdicts file once kept checking the runs a
    CLI summary had checked since: the file is read again when it changed."""
    index = _index(folder)
    assert checks.damaged_sample_runs(index, budget_s=0) == ({}, N)  # (this process: none)
    mine = checks._held
    checks._held = {}  # another process checks every run and saves
    try:
        checks.damaged_sample_runs(index)
    finally:
        checks._held = mine
    checked = _counting(monkeypatch)
    damaged, unchecked = checks.damaged_sample_runs(index)
    assert (checked, sorted(damaged), unchecked) == ([], ["pgd-0010"], 0)


def _beat(index, pid: int) -> None:
    path = checks.checks_path(index).removesuffix(".checks.json") + ".checking.json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"host": socket.gethostname(), "pid": pid, "token": "other"}, file)


def test_a_summary_checks_for_a_moment_while_another_check_is_under_way(
    folder, monkeypatch, capsys
):
    """With the dashboard checking every run, a summary spent its 10 s checking the same runs:
    while another live process's check beats, a summary checks for SHARED_BUDGET_S only
    and says why runs are left."""
    index = _index(folder)
    monkeypatch.setattr(ex, "CHECK_BUDGET_S", 60.0)
    monkeypatch.setattr(checks, "SHARED_BUDGET_S", -1.0)  # (no time: nothing checked)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        _beat(index, other.pid)
        assert checks.being_checked(index)
        table = animlib.summarize(folder)
        assert table.attrs[ex.UNCHECKED] == N and table.attrs[ex.CHECKED_ELSEWHERE]
        assert main(["summary", str(folder)]) == 0
        assert "another process is checking them now" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()
    assert not checks.being_checked(index)  # (its process is gone: the heartbeat is void)
    table = animlib.summarize(folder)
    assert table.attrs[ex.UNCHECKED] == 0 and not table.attrs[ex.CHECKED_ELSEWHERE]
    assert table.set_index("experiment").loc["pgd", ["n", "left_out"]].tolist() == [N - 1, 1]


def test_a_check_beats_while_it_runs_and_stops_beating_after(folder, monkeypatch):
    index = _index(folder)
    beating = []
    real = checks._check
    monkeypatch.setattr(checks, "_check", lambda i, r: beating.append(checks.being_checked(i))
                        or real(i, r))  # fmt: skip
    checks.damaged_sample_runs(index)
    assert beating == [True] * N
    assert not checks.being_checked(index)
    assert not list(Path(checks.checks_path(index)).parent.glob("*.checking.json"))
