"""The examples run as scripts (a PyTorch loop, torchattacks, ART, Foolbox) and log experiments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest
from torch_helpers import cnn_weights

import animlib

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "pytorch_loop.py": "loop-pgd-eps0.1",
    "torchattacks_pgd.py": "torchattacks-pgd-eps0.1",
    "art_pgd.py": "art-pgd-eps0.1",
    "foolbox_pgd.py": "foolbox-pgd-eps0.1",
}


def test_examples_log_their_experiments(tmp_path, tmp_path_factory):
    weights = cnn_weights(tmp_path_factory)  # trained once per session, loaded by every script
    results = tmp_path / "results"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    procs = {}
    for script in SCRIPTS:  # all at once: mostly imports, which use both cores this way
        cmd = [sys.executable, str(ROOT / "examples" / script), str(results)]
        cmd += ["--cache", weights, "--eps", "0.1", "--n", "8", "--steps", "6"]
        procs[script] = subprocess.Popen(cmd, env=env, stdout=PIPE, stderr=PIPE, text=True)
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{script}:\n{out}\n{err}"
        assert "robust_acc" in out, out
    exps = {e.id: e for e in animlib.list_experiments(results)}
    assert sorted(exps) == sorted(SCRIPTS.values())
    for exp in exps.values():
        assert exp.get("n_runs") == 8 and exp.get("status") == "finished"
        assert exp.get("params")["eps"] == 0.1 and exp.get("attack") == "PGD-Linf"
        # logged alike (clean, every iteration's input from the random start, the result), so
        # flip steps compare across libraries
        assert len(animlib.open_run(results / f"{exp.id}-0000")) == 6 + 2, exp.id
    table = animlib.summarize(results, by=["experiment", "params.eps"]).set_index("experiment")
    assert (table["n"] == 8).all() and (table["params.eps"] == 0.1).all()
    assert (table["clean_acc"] >= 0.75).all() and (table["success_rate"] > 0).all()
    assert (table["median_linf"] <= 0.1 + 1e-6).all()
    # rerunning an example replaces its experiment (the examples pass if_exists="overwrite")
    cmd = [sys.executable, str(ROOT / "examples" / "pytorch_loop.py"), str(results)]
    cmd += ["--cache", weights, "--eps", "0.1", "--n", "4", "--steps", "3"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    assert [
        e.get("n_runs") for e in animlib.list_experiments(results) if e.id.startswith("loop")
    ] == [4]
