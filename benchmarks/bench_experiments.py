"""The experiments page's data at 100,000 sample runs: from run-index columns vs every run.json.

    python benchmarks/bench_experiments.py [--images 5000] [--no-browser]

The results folder holds 20 experiments (5 attacks x 4 eps) of ``--images`` samples each: one
sample run written through ``BatchWriter``, cloned (arrays hard-linked, each clone with its own
run.json: experiment, sample, true label, eps, summary) into ``$ANIMLIB_BENCH_DATA`` once and
reused. Each way runs in a fresh process whose run index is on disk and up to date (a
dashboard after a restart, or after the folder changed: what the page computes then):

* the experiments table: the experiments and their summary (``list_experiments`` and
  ``summarize`` by experiment), from the index's columns (:mod:`animlib.index.experiments`
  and :mod:`animlib.index.grid`) against the same from every run.json
  (:func:`animlib.experiments.group_experiments` and ``summarize_runs``, as the page did before);
* the grid of 3 experiments: its rows and its outcomes (the CSV, the flip-step table), both
  ways; the two ways must give equal results, or the benchmark fails;
* a step change of the grid: its first page's cells (16 images x 3) at another step, each run
  opened again (as the page did) against runs opened once and kept (as it does now);
* the page in headless Chromium (a new browser session per load): the first load after the
  server starts (index on disk) and warm loads, from navigation to the grid's cells shown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import _common as C
import index_data as D
import numpy as np

import animlib
from animlib.index import open_index

ATTACKS = ["FGSM", "PGD-Linf", "BIM", "CW", "Square"]
EPS = [0.02, 0.05, 0.1, 0.2]
GRID = ["bim-eps0.1", "cw-eps0.1", "fgsm-eps0.1"]
READY_JS = """() => {
  const cells = document.querySelectorAll("[data-testid='animlib-grid-cell']");
  const busy = document.querySelector("[data-testid='stStatusWidget']");
  if (cells.length === 0 || busy) return false;
  window.__ready = window.__ready || performance.now();
  return true;
}"""


def template() -> Path:
    """One sample run of a real ``BatchWriter`` experiment (16x16 gray, 11 steps, 10 classes)."""

    def build(folder: Path) -> None:
        rng = np.random.default_rng(0)
        x0 = rng.random((1, 16, 16, 1), dtype=np.float32)
        with animlib.BatchWriter(
            folder,
            experiment="template",
            attack="PGD-Linf",
            model="mlp-digits",
            class_names=[str(d) for d in range(10)],
            true_labels=[3],
            params={"eps": 0.05, "steps": 10},
            originals=x0,
        ) as w:
            for s in range(11):
                p = rng.random((1, 10)).astype(np.float32)
                w.log(images=np.clip(x0 + 0.005 * s, 0, 1), confidences=p / p.sum(1, keepdims=True))

    folder, _ = C.cached_dataset("experiment-template", build)
    return folder / "template-0000"


def sample_meta(base: dict, attack: str, eps: float, sample: int, rng: random.Random) -> dict:
    """The run.json of one clone: its experiment, sample, true label, eps and outcome."""
    exp = f"{attack.lower()}-eps{eps}"
    true = sample % 10
    success = rng.random() < min(0.95, eps * 5 * (1 + ATTACKS.index(attack) / 5))
    final = (true + 1 + rng.randrange(9)) % 10 if success else true
    summary = dict(base["summary"], success=success, final_pred=final, linf=eps)
    summary["flip_step"] = rng.randrange(1, 10) if success else None
    summary["l2"] = round(rng.random() * 3, 4)
    meta = dict(base, name=f"{exp}-{sample:04d}", attack=attack, experiment=exp, sample=sample)
    meta.update(true_label=true, params=dict(base["params"], eps=eps), summary=summary)
    meta["initial_pred"] = true if rng.random() < 0.97 else (true + 1) % 10
    return meta


def results_folder(images: int) -> Path:
    """20 experiments of ``images`` samples (made once, then reused)."""
    source = template()
    base = json.loads((source / "run.json").read_text())

    def build(folder: Path) -> None:
        rng = random.Random(0)
        copies = folder.parent / f"{folder.name}-sources"  # a file takes at most 65,000 links
        i = 0
        for attack in ATTACKS:
            for eps in EPS:
                for sample in range(images):
                    src = copies / f"t{i // D.LINKS_PER_COPY}"
                    if i % D.LINKS_PER_COPY == 0:
                        shutil.rmtree(src, ignore_errors=True)
                        shutil.copytree(source, src)
                    meta = sample_meta(base, attack, eps, sample, rng)
                    D.clone(src, folder / meta["name"], meta)
                    i += 1
                    if i % 20_000 == 0:
                        print(f"    ... {i:,} runs cloned", flush=True)

    folder, _ = C.cached_dataset(f"experiments-{len(ATTACKS) * len(EPS) * images}", build)
    return folder


# ------------------------------------------------------------------------ in a fresh process
def child(way: str, folder: str) -> dict:
    from animlib import experiment_grid as grid
    from animlib.experiments import group_experiments, indexed_runs, summarize_runs
    from animlib.index import experiments as indexed
    from animlib.index import grid as indexed_grid
    from animlib.index import open_index

    index = open_index(folder)
    index.refresh()  # (on disk and up to date: nothing is read)
    t = time.perf_counter()
    if way == "index":
        exps, summary = indexed.experiments(index), indexed.experiment_summary(index)
    else:
        runs = indexed_runs(index, experiments_only=True)
        exps, summary = group_experiments(runs), summarize_runs(runs, ["experiment"])
    table = time.perf_counter() - t
    t = time.perf_counter()
    if way == "index":
        rows, outcomes = indexed_grid.grid_rows(index, GRID), indexed_grid.outcomes(index, GRID)
    else:
        rows, outcomes = grid.grid_rows(index.infos(), GRID), grid.outcomes(index.infos(), GRID)
    grid_s = time.perf_counter() - t
    # a step change of the grid: its 48 cells (16 images x 3) at a new step, each run opened
    # again (as the page did) or opened once per version and kept (as it does now)
    from animlib.experiment_grid import cell_for
    from animlib.reader import open_run_in

    cells = [run_id for row in rows[:16] for run_id in row.runs.values()]
    kept = {run_id: open_run_in(folder, run_id) for run_id in cells}
    t = time.perf_counter()
    if way == "index":
        shown = [cell_for(kept[run_id], 4) for run_id in cells]
    else:
        shown = [cell_for(open_run_in(folder, run_id), 4) for run_id in cells]
    step_s = time.perf_counter() - t
    digest = json.dumps(
        [
            [(e.id, e.meta, e.run_ids) for e in exps],
            summary.to_json(),
            [(r.key, r.label, r.runs, r.fooled, r.judged) for r in rows],
            outcomes.to_json(),
            [(c.run_id, c.step, c.pred, c.fooled, len(c.png)) for c in shown],
        ],
        default=str,
    )
    out = {"table": table, "grid": grid_s, "step": step_s, "cells": len(cells)}
    return {**out, "experiments": len(exps), "digest": hash(digest)}


def in_child(way: str, folder: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(C.ROOT), PYTHONHASHSEED="0")
    return C.child_json([sys.executable, __file__, "--child", way, str(folder)], env)


def page_loads(folder: Path, cache: Path, loads: int = 4) -> list[float]:
    """Seconds from navigation to the grid shown: the first load after the server starts,
    then loads in new browser sessions."""
    out = []
    with C.served_chromium(folder, cache) as (server, browser):
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            out.append(
                C.ready_after(context.new_page(), server.url + "/experiments", READY_JS, 600_000)
            )
            context.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000, help="samples per experiment (20 of them)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print(f"bench_experiments: {C.machine()}")
    cache = C.data_dir() / "experiments-page-cache"  # the index lives there (for the server too)
    os.environ["ANIMLIB_CACHE"] = str(cache)
    folder = results_folder(args.images)
    runs = len(ATTACKS) * len(EPS) * args.images
    t = time.perf_counter()
    animlib.list_runs(folder)  # the index on disk, up to date (built once, then refreshed)
    open_index(folder).flush()
    print(f"  {runs:,} sample runs in {folder} (index ready in {time.perf_counter() - t:.1f} s)")
    times: dict[str, list[dict]] = {"index": [], "run.json": []}
    for _ in range(args.rounds):  # interleaved: load that changes between rounds cancels out
        for way in times:
            times[way].append(in_child(way, folder))
    digests = {r["digest"] for rs in times.values() for r in rs}
    if len(digests) != 1:
        raise SystemExit("the two ways gave different experiments, summaries or grids")
    rows = []
    cells = times["index"][0]["cells"]
    for what, key in (
        ("experiments table (20 rows)", "table"),
        ("grid of 3 experiments", "grid"),
        (f"grid step change ({cells} cells)", "step"),
    ):
        ours = statistics.median(r[key] for r in times["index"])
        theirs = statistics.median(r[key] for r in times["run.json"])
        rows.append([what, C.fmt_seconds(theirs), C.fmt_seconds(ours), C.fmt_ratio(theirs / ours)])
    C.print_table(
        f"Experiments page data, {runs:,} sample runs, fresh process, index on disk (median of "
        f"{args.rounds})",
        [
            "what",
            "before: run.json, runs reopened",
            "now: index columns, runs kept",
            "speed-up",
        ],
        rows,
    )
    print("  (both ways gave equal experiments, summaries, grid rows and outcomes)")
    if not args.no_browser:
        loads = page_loads(folder, cache)
        warm = statistics.median(loads[1:])
        print(
            f"\nExperiments page in Chromium, {runs:,} sample runs: first load after the server "
            f"starts {loads[0]:.2f} s, later loads {warm:.2f} s (median of {len(loads) - 1}: "
            + ", ".join(f"{s:.2f}" for s in loads[1:])
            + " s)"
        )


if __name__ == "__main__":
    main()
