"""The demo's experiment sweep: test digits x three L-inf attacks x three eps, via BatchWriter."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import MLPClassifier

# (slug, attack name in run.json, random start)
ATTACKS = (("fgsm", "FGSM", False), ("bim", "BIM", False), ("pgd-linf", "PGD-Linf", True))
DEMO_TAG = "demo"  # every demo run carries this tag; a rebuild replaces only such runs
SWEEP_TAGS = [DEMO_TAG, "digits", "sweep", "untargeted", "white-box"]

Step = tuple[np.ndarray, np.ndarray]  # images (B, H, W, C), probabilities (B, K)


@dataclass(frozen=True)
class SweepPlan:
    """One experiment of the sweep: an attack at one eps."""

    slug: str
    attack: str
    eps: float
    steps: int
    random_start: bool

    @property
    def alpha(self) -> float:
        """Step size: one step of eps for FGSM, else 2.5 eps spread over the steps."""
        return self.eps if self.slug == "fgsm" else 2.5 * self.eps / self.steps

    @property
    def experiment(self) -> str:
        return f"sweep-{self.slug}-eps{self.eps:.2f}"


def plans(eps: Sequence[float], steps: int) -> list[SweepPlan]:
    """Every attack at every eps (FGSM takes one step whatever ``steps`` is)."""
    return [
        SweepPlan(slug, name, float(e), 1 if slug == "fgsm" else steps, start)
        for slug, name, start in ATTACKS
        for e in eps
    ]


def batch_attack(
    plan: SweepPlan, model: MLPClassifier, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> Iterator[Step]:
    """Run ``plan`` on the batch ``x`` (B, H, W, C); yield the clean batch, then every update.

    Untargeted signed-gradient steps on the cross-entropy of the true labels ``y``, projected to
    the L-inf ball of radius eps and to [0, 1]; PGD starts from a uniform random point of the
    ball (the start itself is not a step: step 0 is always the clean batch).
    """
    x = x.astype(np.float32)
    yield x, model.predict_proba(x)
    x_adv = x
    if plan.random_start:
        noise = rng.uniform(-plan.eps, plan.eps, x.shape).astype(np.float32)
        x_adv = np.clip(x + noise, 0.0, 1.0)
    for _ in range(plan.steps):
        _, grad = model.loss_and_input_grad(x_adv, y)
        step = x_adv + plan.alpha * np.sign(grad)
        x_adv = np.clip(np.clip(step, x - plan.eps, x + plan.eps), 0.0, 1.0).astype(np.float32)
        yield x_adv, model.predict_proba(x_adv)


def write_sweep(
    out: str,
    model: MLPClassifier,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: list[str],
    *,
    samples: int,
    eps: Sequence[float],
    steps: int,
    seed: int,
    replace: bool,
    log: Callable[[str], None],
) -> dict[str, list[str]]:
    """Attack the first ``samples`` test digits with every plan; one experiment per plan.

    Args:
        out: Results folder.
        model: The trained digits MLP.
        x_test: Test images (N, H, W, 1); the first ``samples`` are attacked.
        y_test: Their labels.
        class_names: The model's class names.
        samples: B, the number of digits per experiment.
        eps: The L-inf budgets.
        steps: Iterations of BIM and PGD.
        seed: Seed of PGD's random starts.
        replace: Replace the runs of an earlier build of the same experiment (else a new id).
        log: Progress printer.

    Returns:
        Experiment id -> its run ids, in the order written.
    """
    import animlib

    x, y = x_test[:samples], y_test[:samples]
    written: dict[str, list[str]] = {}
    for n, plan in enumerate(plans(eps, steps)):
        rng = np.random.default_rng(seed * 7919 + n)
        params = {
            "dataset": "digits",
            "eps": plan.eps,
            "alpha": round(plan.alpha, 6),
            "steps": plan.steps,
            "norm": "linf",
            "random_start": plan.random_start,
        }
        experiment = demo_experiment_id(out, plan.experiment) if replace else plan.experiment
        if replace:
            drop_demo_copies(out, plan.experiment, keep=experiment)
        if experiment != plan.experiment:
            log(f"  {plan.experiment}: left as it is (not the demo's runs, or files of yours in "
                f"them); written beside it as {experiment}")  # fmt: skip
        with animlib.BatchWriter(
            out,
            experiment=experiment,
            attack=plan.attack,
            model="mlp-digits",
            class_names=class_names,
            true_labels=y,
            params=params,
            originals=x,
            sample_ids=np.arange(len(x)),
            tags=list(SWEEP_TAGS),
            if_exists="overwrite" if replace else "new",
        ) as w:
            for images, probs in batch_attack(plan, model, x, y, rng):
                w.log(images=images, confidences=probs)
        written[w.experiment] = w.run_ids
        log(f"  {w.experiment:<40} {len(x)} runs, {len(w)} steps each")
    return written


def added_files(out: str, name: str) -> list[str]:
    """The files in the run folder ``out/name`` that its writer did not make (a user's notes,
    their own renders): a rebuild never removes such a folder. [] if it cannot be listed."""
    from .. import run_folder
    from ..errors import AnimlibError
    from ..store import open_store

    try:
        return run_folder.added_files(open_store(out).child(name))
    except AnimlibError:
        return []


def demo_experiment_id(out: str, experiment: str) -> str:
    """The id a rebuild writes ``experiment`` under, replacing what is there: ``experiment``
    itself, unless a folder named like one of its samples in ``out`` is not an earlier demo
    build's run (tagged :data:`DEMO_TAG`), or cannot be read as a run; then ``experiment-2``,
    ``-3``, ... the first that holds nothing or the demo's own runs only. A user's experiment
    of the same id, a folder of theirs, a damaged run (whose it is cannot be told) or a demo
    run the user added files to (:func:`added_files`) is never replaced: the rebuild goes
    beside it."""
    from ..experiment_ids import named_like_samples

    for n in range(1, 10_000):
        candidate = experiment if n == 1 else f"{experiment}-{n}"
        found = named_like_samples(out, candidate)
        if _replaceable(out, found):
            return candidate
    raise RuntimeError(f"no free experiment id for {experiment!r} in {out}")


def _replaceable(out: str, found: Sequence[Any]) -> bool:
    """Whether the run folders ``found`` are all an earlier demo build's own: readable, tagged
    :data:`DEMO_TAG`, and holding no file the user added (:func:`added_files`)."""
    ours = all(i.ok and DEMO_TAG in (i.get("tags") or []) for i in found)
    return ours and not any(added_files(out, i.id) for i in found)


def drop_demo_copies(out: str, experiment: str, *, keep: str) -> None:
    """Delete the copies of ``experiment`` earlier builds wrote beside a kept one
    (``experiment-2``, ...) but ``keep``, the id this build writes: those whose sample runs
    are all the demo's, with no file of the user's in them."""
    from ..experiment_ids import named_like_samples
    from ..store import open_store

    store = open_store(out)
    ids = re.compile(rf"({re.escape(experiment)}-[0-9]+)-[0-9]{{4,}}")
    for copy in sorted({m[1] for n in store.folder_names() if (m := ids.fullmatch(n))} - {keep}):
        found = named_like_samples(out, copy)
        if found and _replaceable(out, found):
            for info in found:
                store.child(info.id).remove(recursive=True)


def write_demo_sweep(
    out: str, ds: Any, config: Any, seed: int, replace: bool, log: Callable[[str], None]
) -> dict[str, list[str]]:
    """The sweep of the demo build for the digits dataset ``ds`` (none if sweep_samples is 0)."""
    if config.sweep_samples <= 0:
        return {}
    return write_sweep(
        out,
        ds.model,
        ds.x_test,
        ds.y_test,
        ds.class_names,
        samples=config.sweep_samples,
        eps=config.sweep_eps,
        steps=config.sweep_steps,
        seed=seed,
        replace=replace,
        log=log,
    )
