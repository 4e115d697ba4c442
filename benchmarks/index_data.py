"""Benchmark data for the run index: one real run cloned into a folder of 100,000 varied runs."""

from __future__ import annotations

import json
import os
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common as C
import numpy as np

import animlib

ATTACKS = ["FGSM", "PGD", "CW", "Square", "DeepFool", "AutoAttack"]
MODELS = ["resnet18", "resnet50", "vit-b16", "wrn-28-10", "mlp-digits"]
START = datetime(2024, 1, 1, tzinfo=UTC)
LINKS_PER_COPY = 50_000  # clones sharing one copy of the template's files (hard links)
BROKEN_EVERY = 5000  # one run.json in this many is truncated (listed as broken)


def template() -> Path:
    """One small real run (32x32 RGB, 4 steps, 10 classes) written through ``RunWriter``."""

    def build(folder: Path) -> None:
        rng = np.random.default_rng(0)
        x0 = rng.random((32, 32, 3), dtype=np.float32)
        with animlib.RunWriter(
            folder,
            name="template",
            attack="PGD",
            model="resnet18",
            class_names=C.CLASSES,
            true_label=3,
            params={"eps": 8 / 255},
            original=x0,
        ) as w:
            for s in range(4):
                p = rng.random(10).astype(np.float32)
                w.log(image=np.clip(x0 + 0.01 * s, 0, 1), confidences=p / p.sum())

    folder, _ = C.cached_dataset("index-template", build)
    return folder / "template"


def varied_meta(base: dict, i: int, rng: random.Random) -> dict:
    """The run.json of clone ``i``: its own name, attack, model, status, summary, times, tags."""
    attack, model = ATTACKS[i % len(ATTACKS)], MODELS[(i // 7) % len(MODELS)]
    image = i % 997
    created = START + timedelta(seconds=37 * i + rng.randrange(30))
    roll = rng.random()
    status = "finished" if roll < 0.95 else "failed" if roll < 0.98 else "running"
    success = None if rng.random() < 0.05 else rng.random() < 0.6
    meta = dict(base)
    meta.update(
        name=f"{attack.lower()}-{model}-img{image:03d}-{i:06d}",
        attack=attack,
        model=model,
        status=status,
        created=created.isoformat(),
        updated=(created + timedelta(seconds=90)).isoformat(),  # old: running ones are stale
        tags=["bench", f"source:img{image:03d}", f"seed{i % 3}"],
        params={"eps": [2, 4, 8, 16][i % 4] / 255, "seed": i},
        summary=dict(
            base.get("summary") or {},
            success=success,
            flip_step=rng.randrange(4) if success else None,
            final_true_conf=round(rng.random(), 6),
            linf=round(rng.random() * 0.1, 6),
            l2=round(rng.random() * 3, 6),
        ),
    )
    return meta


def clone(source: Path, dst: Path, meta: dict, *, broken: bool = False) -> None:
    """A copy of the run folder ``source`` (arrays hard-linked) with its own run.json."""
    for top, _dirs, files in os.walk(source):
        rel = Path(top).relative_to(source)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name != "run.json" and not name.startswith("."):
                os.link(Path(top) / name, dst / rel / name)
    text = json.dumps(meta, indent=2) + "\n"
    (dst / "run.json").write_text(text[: len(text) // 2] if broken else text)


def results_folder(n: int) -> tuple[Path, float | None]:
    """A folder of ``n`` runs cloned from :func:`template` (made once, then reused); returns
    the folder and the seconds it took to make (None when reused)."""
    source = template()
    base = json.loads((source / "run.json").read_text())

    def build(folder: Path) -> None:
        rng = random.Random(0)
        copies = folder.parent / f"{folder.name}-sources"  # a file takes at most 65,000 links
        for i in range(n):
            k = i // LINKS_PER_COPY
            src = copies / f"t{k}"
            if i % LINKS_PER_COPY == 0:
                shutil.rmtree(src, ignore_errors=True)
                shutil.copytree(source, src)
            meta = varied_meta(base, i, rng)
            clone(src, folder / f"run-{i:06d}", meta, broken=i % BROKEN_EVERY == 1)
            if (i + 1) % 10_000 == 0:
                print(f"    ... {i + 1:,}/{n:,} runs cloned", flush=True)

    folder, built = C.cached_dataset(f"index-{n}", build)
    return folder, built


def add_runs(folder: Path, count: int, tag: str) -> list[str]:
    """Clone ``count`` more runs into ``folder`` (ids ``new-<tag>-<k>``); return their ids."""
    source = template()
    base = json.loads((source / "run.json").read_text())
    rng = random.Random(tag)
    ids = []
    for k in range(count):
        run_id = f"new-{tag}-{k}"
        meta = varied_meta(base, 10_000_000 + k, rng)
        meta["created"] = datetime.now(UTC).isoformat()
        meta["name"] = run_id
        clone(source, folder / run_id, meta)
        ids.append(run_id)
    return ids


def touch_runs(folder: Path, run_ids: list[str], tag: str) -> None:
    """Rewrite the run.json of each run (new tags), atomically like a writer does."""
    for run_id in run_ids:
        path = folder / run_id / "run.json"
        meta = json.loads(path.read_text())
        meta["tags"] = [*meta.get("tags", []), f"changed-{tag}"]
        tmp = path.with_name(f".tmp-{tag}-run.json")
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, path)
