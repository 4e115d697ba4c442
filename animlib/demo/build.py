"""Build the demo: train two small classifiers, attack them for real, and log the runs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import AnimlibError
from ..run_folder import check_root
from ..store import open_store
from ..store.paths import contained
from ..text import natural_key
from . import attacks
from .data import load_digits_images, make_shapes, train_test_split
from .image_edits import channel_split, progressive_blur
from .model import MLPClassifier
from .sweep import DEMO_TAG, added_files, write_demo_sweep

MAX_SOURCE_CANDIDATES = 60  # test images tried per dataset before giving up


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults give the shipped demo (well under a minute on 2 cores)."""

    digits_size: int = 16
    digits_epochs: int = 20
    n_shapes: int = 6000
    shapes_epochs: int = 10
    hidden: tuple[int, ...] = (128,)
    test_fraction: float = 0.2
    min_accuracy: float = 0.9
    steps_scale: float = 1.0  # multiplies every run's step count (tests use < 1)
    min_source_conf: float = 0.95  # source images are classified correctly at least this surely
    sweep_samples: int = 16  # test digits per experiment of the BatchWriter sweep (0: no sweep)
    sweep_eps: tuple[float, ...] = (0.05, 0.1, 0.2)  # FGSM, BIM and PGD at each of these
    sweep_steps: int = 10  # iterations of BIM and PGD in the sweep


@dataclass(frozen=True)
class PlannedRun:
    """One attack (or image edit) to run on a source image, with its intended outcome."""

    slug: str  # e.g. "pgd-linf"; the run name is built from it
    attack: str  # the "attack" field in run.json
    kind: str  # bim | pgd-linf | pgd-linf-targeted | pgd-l2 | square | blur | channel-split
    steps: int
    eps: float | None = None
    alpha: float | None = None
    expect_success: bool | None = None  # None for image edits (no classifier)
    extra: dict = field(default_factory=dict)


@dataclass
class DemoRun:
    """What was written for one run."""

    run_id: str
    name: str
    dataset: str
    attack: str
    source: str
    source_index: int
    true_label: int | None
    target_label: int | None
    expect_success: bool | None
    success: bool | None  # measured on the model's predictions at the last step
    steps: int


@dataclass
class DemoResult:
    """The demo's trained models, their accuracies and the runs written (in order)."""

    out: str
    models: dict[str, MLPClassifier]
    accuracies: dict[str, float]
    runs: list[DemoRun]
    model_paths: dict[str, str]
    seconds: float
    test_sets: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    experiments: dict[str, list[str]] = field(default_factory=dict)  # sweep: id -> run ids

    @property
    def sweep_run_ids(self) -> list[str]:
        return [r for ids in self.experiments.values() for r in ids]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    @property
    def shapes_model(self) -> MLPClassifier:
        return self.models["shapes"]


def _plans(dataset: str) -> tuple[list[PlannedRun], list[PlannedRun], list[PlannedRun]]:
    """Attacks for the first and second source image of a dataset, then its image edits."""
    if dataset == "digits":  # 16x16 gray, 256 inputs
        big, tiny, l2_big, l2_tiny = 0.15, 0.01, 2.0, 0.1
    else:  # 32x32 RGB, 3072 inputs; the MLP is far less robust here
        big, tiny, l2_big, l2_tiny = 12 / 255, 0.5 / 255, 1.5, 0.05
    first = [
        PlannedRun("bim", "BIM", "bim", 30, big, big / 8, True),
        PlannedRun("pgd-linf", "PGD-Linf", "pgd-linf", 50, big, big / 10, True),
        PlannedRun(
            "pgd-linf-tgt", "PGD-Linf", "pgd-linf-targeted", 60, 4 / 3 * big, big / 10, True
        ),
        PlannedRun("square", "Square", "square", 80, 4 / 3 * big, None, True, {"queries": 12}),
        PlannedRun("pgd-linf", "PGD-Linf", "pgd-linf", 30, tiny, tiny / 6, False),
    ]
    second = [
        PlannedRun("pgd-l2", "PGD-L2", "pgd-l2", 50, l2_big, l2_big / 12, True),
        PlannedRun("pgd-linf-tgt", "PGD-Linf", "pgd-linf-targeted", 50, 4 / 3 * big, big / 8, True),
        PlannedRun("pgd-l2", "PGD-L2", "pgd-l2", 30, l2_tiny, l2_tiny / 6, False),
        PlannedRun("bim", "BIM", "bim", 30, tiny, tiny / 6, False),
    ]
    sigma = 1.5 if dataset == "digits" else 3.0  # digits are only 16 px wide
    edits = [PlannedRun("blur", "blur", "blur", 30, extra={"max_sigma": sigma})]
    if dataset == "shapes":
        edits.append(
            PlannedRun(
                "channel-split", "channel-split", "channel-split", 36, extra={"max_shift": 6}
            )
        )
    return first, second, edits


def _scaled(plan: PlannedRun, config: DemoConfig) -> PlannedRun:
    """Apply config.steps_scale: fewer steps, proportionally larger step size (capped at eps)."""
    if config.steps_scale == 1.0:
        return plan
    steps = max(2, int(round(plan.steps * config.steps_scale)))
    alpha = plan.alpha
    if alpha is not None and plan.eps is not None:
        alpha = min(plan.eps, alpha * plan.steps / steps)
    return dataclasses.replace(plan, steps=steps, alpha=alpha)


def _target_for(probs: np.ndarray, true_label: int) -> int:
    """A deliberately hard target: the class the model considers least likely."""
    order = np.argsort(probs, kind="stable")
    return int(order[0]) if int(order[0]) != true_label else int(order[1])


def _generate(
    plan: PlannedRun,
    model: MLPClassifier,
    x0: np.ndarray,
    label: int,
    target: int | None,
    seed: int,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Run one planned attack/edit; yields (image, probabilities or None)."""
    rng = np.random.default_rng(seed)
    k, steps = plan.kind, plan.steps
    if k == "bim":
        yield from attacks.bim(model, x0, label, plan.eps, plan.alpha, steps)
    elif k == "pgd-linf":
        yield from attacks.pgd_linf(model, x0, label, plan.eps, plan.alpha, steps, rng=rng)
    elif k == "pgd-linf-targeted":
        assert target is not None
        yield from attacks.pgd_linf_targeted(
            model, x0, target, plan.eps, plan.alpha, steps, rng=rng
        )
    elif k == "pgd-l2":
        yield from attacks.pgd_l2(model, x0, label, plan.eps, plan.alpha, steps, rng=rng)
    elif k == "square":
        q = int(plan.extra["queries"])
        yield from attacks.square_attack(
            model, x0, label, plan.eps, steps, queries_per_step=q, rng=rng, kappa=2.0
        )
    elif k == "blur":
        for img in progressive_blur(x0, steps, plan.extra["max_sigma"]):
            yield img, None
    elif k == "channel-split":
        for img in channel_split(x0, steps, plan.extra["max_shift"]):
            yield img, None
    else:
        raise ValueError(f"unknown plan kind {k!r}")


def _outcome(
    seq: list[tuple[np.ndarray, np.ndarray | None]], label: int, target: int | None
) -> tuple[bool, bool]:
    """(succeeded at the last step, succeeded at any step) judged from the model's probabilities."""
    preds = np.array([int(np.argmax(p)) for _, p in seq])
    hits = preds == target if target is not None else preds != label
    return bool(hits[-1]), bool(hits.any())


def _matches(success_last: bool, success_any: bool, expect: bool) -> bool:
    """A 'success' run ends adversarial; a 'failure' run never flips at any step."""
    return success_last if expect else not success_any


@dataclass
class _Dataset:
    name: str
    model: MLPClassifier
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    model_path: str | None = None


def _train(config: DemoConfig, seed: int, log: Callable[[str], None]) -> list[_Dataset]:
    digits_x, digits_y, digits_names = load_digits_images(config.digits_size)
    shapes_x, shapes_y, shapes_names = make_shapes(config.n_shapes, seed)
    out = []
    specs = [
        ("digits", digits_x, digits_y, digits_names, config.digits_epochs),
        ("shapes", shapes_x, shapes_y, shapes_names, config.shapes_epochs),
    ]
    for i, (name, x, y, names, epochs) in enumerate(specs):
        x_tr, y_tr, x_te, y_te = train_test_split(x, y, config.test_fraction, seed + i)
        t0 = time.perf_counter()
        model = MLPClassifier(config.hidden, names, seed=seed + i)
        model.fit(x_tr, y_tr, epochs=epochs, n_classes=len(names))
        acc = model.accuracy(x_te, y_te)
        log(
            f"{name}: MLP {config.hidden} on {len(x_tr)} images {x.shape[1:]}; "
            f"held-out accuracy {acc:.2%} on {len(x_te)} images ({time.perf_counter() - t0:.1f} s)"
        )
        if acc < config.min_accuracy:
            raise AssertionError(
                f"{name} model accuracy {acc:.2%} is below the required {config.min_accuracy:.0%}"
            )
        out.append(_Dataset(name, model, x_te, y_te, names))
    return out


def _eps_text(eps: float) -> str:
    return f"{eps:.2f}" if eps >= 0.01 else f"{eps:.3f}"


def _run_name(plan: PlannedRun, dataset: str, index: int, target: int | None) -> str:
    parts = [plan.slug]
    if target is not None:
        parts[0] = plan.slug.replace("-tgt", f"-tgt{target}")
    if plan.eps is not None:
        parts.append(f"eps{_eps_text(plan.eps)}")
    parts.append(f"{dataset}{index}")
    return "-".join(parts)


def _pick_sources(
    ds: _Dataset, config: DemoConfig, seed: int
) -> list[tuple[int, list[tuple[PlannedRun, int | None, list]]]]:
    """Choose two test images (different classes) on which every planned outcome holds.

    Candidates are taken in test-set order among images the model classifies correctly with
    probability >= min_source_conf; each plan is dry-run and kept only if success runs succeed
    and failure runs never flip. Returns (test index, [(plan, target, steps yielded)]) per source.
    """
    probs = ds.model.predict_proba(ds.x_test)
    first, second, _ = ([_scaled(p, config) for p in plans] for plans in _plans(ds.name))
    chosen: list[tuple[int, list]] = []
    used_labels: set[int] = set()
    tried = 0
    for idx in range(len(ds.x_test)):
        label = int(ds.y_test[idx])
        if int(probs[idx].argmax()) != label or probs[idx][label] < config.min_source_conf:
            continue
        if label in used_labels:
            continue
        tried += 1
        if tried > MAX_SOURCE_CANDIDATES:
            break
        plans = first if not chosen else second
        results = []
        for j, plan in enumerate(plans):
            target = _target_for(probs[idx], label) if "targeted" in plan.kind else None
            run_seed = seed * 1_000_003 + idx * 101 + j
            seq = list(_generate(plan, ds.model, ds.x_test[idx], label, target, run_seed))
            last, any_ = _outcome(seq, label, target)
            if not _matches(last, any_, bool(plan.expect_success)):
                break
            results.append((plan, target, seq))
        else:
            chosen.append((idx, results))
            used_labels.add(label)
            if len(chosen) == 2:
                return chosen
    raise RuntimeError(
        f"{ds.name}: no source images among {MAX_SOURCE_CANDIDATES} candidates on which the "
        "planned attacks behave as intended"
    )


def _remove_previous(out: str, name: str) -> str | None:
    """Make room for the demo run ``name``: delete every earlier build's run of that name
    (tagged demo) in ``out``, at ``name`` or beside a kept run at ``name-2``, ``name-3``, ...;
    a run of the user's, a damaged one, or a demo run the user added files to (notes,
    renders) is kept, and the new run takes the first free id. Returns why the folder at
    ``name`` itself was kept (the log names it), else None."""
    store, why = open_store(out), None
    copies = re.compile(rf"{re.escape(name)}(?:-[0-9]+)?")
    try:
        names = sorted(filter(copies.fullmatch, store.folder_names()), key=natural_key)
    except AnimlibError:  # (no folder yet)
        return None
    for candidate in names:
        folder = store.child(candidate)
        try:
            meta = json.loads(folder.read("run.json"))
        except (AnimlibError, ValueError):
            meta = None
        ours = isinstance(meta, dict) and meta.get("name") == name
        ours = ours and DEMO_TAG in (meta.get("tags") or [])
        added = added_files(out, candidate) if ours else []
        if ours and not added:
            folder.remove(recursive=True)
        elif candidate == name and added:
            files = ", ".join(added[:3]) + (", ..." if len(added) > 3 else "")
            why = f"it holds files of yours ({files})"
        elif candidate == name:
            why = "not the demo's run (a run of yours, or a folder that is no readable run)"
    return why


def _write_run(
    out: str,
    name: str,
    plan: PlannedRun,
    ds: _Dataset,
    source: str,
    label: int,
    target: int | None,
    seq: list[tuple[np.ndarray, np.ndarray | None]],
) -> str:
    import animlib

    x0 = seq[0][0]
    with_model = plan.expect_success is not None
    params: dict = {"source": source, "dataset": ds.name, "steps": len(seq) - 1}
    if plan.eps is not None:
        params["eps"] = round(float(plan.eps), 6)
        params["norm"] = "l2" if plan.kind == "pgd-l2" else "linf"
    if plan.alpha is not None:
        params["alpha"] = round(float(plan.alpha), 6)
    if plan.kind in ("pgd-linf", "pgd-linf-targeted", "pgd-l2"):
        params["random_start"] = True
    if plan.kind == "square":
        params["queries_per_step"] = int(plan.extra["queries"])
        params["kappa"] = 2.0
    for key in ("max_sigma", "max_shift"):
        if key in plan.extra:
            params[key] = plan.extra[key]
    tags = [DEMO_TAG, ds.name, f"source:{source}"]
    if with_model:
        tags.append("targeted" if target is not None else "untargeted")
        tags.append("black-box" if plan.kind == "square" else "white-box")
    else:
        tags.append("image-edit")
    with animlib.RunWriter(
        out,
        name=name,
        attack=plan.attack,
        model=f"mlp-{ds.name}" if with_model else None,
        class_names=ds.class_names if with_model else None,
        true_label=label if with_model else None,
        target_label=target,
        params=params,
        tags=tags,
        original=x0,
    ) as w:
        for img, probs in seq:
            if probs is None:
                w.log(image=img)
                continue
            # Cross-entropy of the class the attack works on (true class, or the target).
            # Perturbation norms are left to the dashboard, which computes them from the images.
            cls = target if target is not None else label
            w.log(image=img, confidences=probs, loss=float(-np.log(max(float(probs[cls]), 1e-30))))
        return w.run_id


def build_demo(
    out: str,
    seed: int = 0,
    quiet: bool = False,
    *,
    model_dir: str | None = None,
    config: DemoConfig | None = None,
    replace: bool = True,
) -> DemoResult:
    """Train the digits and shapes MLPs, attack them and write 21 runs into ``out``, then the
    experiment sweep (``config.sweep_*``: 16 digits x FGSM/BIM/PGD x 3 eps, via BatchWriter).

    ``out`` receives run folders only. Trained models are saved as ``.npz`` into ``model_dir``
    when given (it must not be inside ``out``). With ``replace`` (the default), a run folder left
    by an earlier demo build under the same name (tagged ``demo``) is replaced, so building twice
    into one folder does not duplicate runs, unless files were added to it (then it is kept and
    the demo's run is written beside it, as beside a run not the demo's; the log names either);
    nothing else in ``out`` is touched. Deterministic
    for a given ``seed``. Raises AssertionError if a model's held-out accuracy is below
    ``config.min_accuracy`` (90% by default).
    """
    config = config or DemoConfig()
    t_start = time.perf_counter()
    log: Callable[[str], None] = (lambda _msg: None) if quiet else print
    if model_dir is not None and contained(os.path.realpath(model_dir), os.path.realpath(out)):
        raise AnimlibError("must not be inside the runs folder", field="model_dir")
    check_root(open_store(out), "demo")  # before minutes of training

    # The matrices here are small: one BLAS thread is as fast as two on an idle machine and far
    # faster on a busy one (threads spin-waiting on each other); results are identical.
    with _blas_threads(1):
        datasets = _train(config, seed, log)
        runs = _attack_and_write(out, datasets, config, seed, model_dir, replace, log)
        experiments = write_demo_sweep(out, datasets[0], config, seed, replace, log)
    seconds = time.perf_counter() - t_start
    return DemoResult(
        out=out,
        models={ds.name: ds.model for ds in datasets},
        accuracies={ds.name: ds.model.accuracy(ds.x_test, ds.y_test) for ds in datasets},
        runs=runs,
        model_paths={ds.name: ds.model_path for ds in datasets if ds.model_path},
        seconds=seconds,
        test_sets={ds.name: (ds.x_test, ds.y_test) for ds in datasets},
        experiments=experiments,
    )


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """Limit BLAS threads (via threadpoolctl, a scikit-learn dependency) if it is available."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _attack_and_write(
    out: str,
    datasets: list[_Dataset],
    config: DemoConfig,
    seed: int,
    model_dir: str | None,
    replace: bool,
    log: Callable[[str], None],
) -> list[DemoRun]:
    """Save the models, pick source images, run every planned attack and log it as a run."""
    runs: list[DemoRun] = []
    for ds in datasets:
        if model_dir is not None:
            os.makedirs(model_dir, exist_ok=True)
            ds.model_path = os.path.join(model_dir, f"mlp-{ds.name}.npz")
            ds.model.save(ds.model_path)
        sources = _pick_sources(ds, config, seed)
        edits = [_scaled(p, config) for p in _plans(ds.name)[2]]
        for n_source, (idx, results) in enumerate(sources):
            label = int(ds.y_test[idx])
            source = f"{ds.name}-test-{idx}"
            todo = list(results)
            if n_source == 0:
                todo += [(e, None, None) for e in edits[:1]]
            else:
                todo += [(e, None, None) for e in edits[1:]]
            for plan, target, seq in todo:
                if seq is None:
                    seq = list(_generate(plan, ds.model, ds.x_test[idx], label, None, seed))
                name = _run_name(plan, ds.name, idx, target)
                kept = _remove_previous(out, name) if replace else None
                run_id = _write_run(out, name, plan, ds, source, label, target, seq)
                if kept and run_id != name:  # (as sweep.py says it of an experiment)
                    log(f"  {name}: left as it is, {kept}; written beside it as {run_id}")
                success = None
                if plan.expect_success is not None:
                    success = _outcome(seq, label, target)[0]
                runs.append(
                    DemoRun(
                        run_id=run_id,
                        name=name,
                        dataset=ds.name,
                        attack=plan.attack,
                        source=source,
                        source_index=idx,
                        true_label=label if plan.expect_success is not None else None,
                        target_label=target,
                        expect_success=plan.expect_success,
                        success=success,
                        steps=len(seq),
                    )
                )
                shown = "-" if success is None else ("yes" if success else "no")
                log(f"  {run_id:<40} steps {len(seq):>4}  success {shown}")
    return runs
