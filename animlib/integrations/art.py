"""ART adapter: per-iteration logging of an ART evasion attack through its summary_writer hook."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import RunInputError
from ._patching import patched
from ._recorder import StepRecorder, as_array, check_targets, class_names

# gradient attacks that ask for gradients at points other than their iterates (ElasticNet's
# FISTA look-ahead, the virtual adversarial direction's probe): the clean input and result only
PROBING = frozenset({"ElasticNet", "VirtualAdversarialMethod"})
# targeted attacks that take the true labels and aim at every other class (success: any wrong
# class): their labels are no targets
TRUE_LABELS = frozenset({"AutoAttack"})


def run(attack: Any, images: Any, labels: Any, writer: Any, **kwargs: Any) -> np.ndarray:
    """Run ``attack.generate(images, labels)`` and log the clean batch, each iteration, the result.

    Iterations are logged through ART's ``summary_writer`` hook with a :class:`SummaryWriter`
    (confidences come from ``estimator.predict``; tensorboardX is not needed), set on the
    attack for the call and taken off after (ART has no setter for it: see
    :func:`_hooked`). Step 0 is the clean input, logged before the attack; the last step is
    exactly the returned array. Attacks whose iterations call no summary writer (DeepFool,
    Carlini-Wagner, ...) log those two steps only, and a warning says so.

    Args:
        attack: An ART evasion attack (PGD, BIM, FGSM, ... log every iteration).
        images: (B, C, H, W) numpy array (or tensor) in the estimator's input range.
        labels: (B,) class indices or (B, K) one-hot; targets for a targeted attack; or None.
        writer: A :class:`~animlib.BatchWriter` for B samples.
        **kwargs: Passed on to ``generate`` (e.g. ``mask``).

    Returns:
        The adversarial images ``generate`` returned.

    Raises:
        ExperimentInputError: a targeted attack whose targets (``labels``) are not the
            writer's ``target_labels``, or an untargeted one logged with target labels.
    """
    x = as_array(images)
    y = None if labels is None else as_array(labels)
    if not getattr(attack, "targeted", False) or class_names(attack) & TRUE_LABELS:
        check_targets(writer, None, what="the attack")
    elif y is not None:  # (without labels ART itself says a targeted attack needs them)
        check_targets(writer, y, what="the attack (targeted)", how="the labels given to it")
    estimator = attack.estimator
    rec = StepRecorder(
        writer,
        len(x),
        classify=lambda v: estimator.predict(v, batch_size=len(v)),
        iterates=not class_names(attack) & PROBING,
    )
    rec.observe(x)
    hook = attack.summary_writer
    if isinstance(hook, _summary_writer_class()):
        hook.recorder, hook.by_run = rec, True
        adv = attack.generate(x, y, **kwargs)
    else:
        hook = _summary_writer_class()(writer, recorder=rec)
        with _hooked(attack, hook), _gradients_logged(attack, rec):
            adv = attack.generate(x, y, **kwargs)
    rec.observe(adv)
    name = type(attack).__name__
    if not rec.iterates:
        rec.warn_few_steps(name, "asks for gradients at points that are not its iterates")
    elif not hook.calls:  # (its iterations, if any, came through the gradients it asked for)
        parts = rec.logged > 2
        why = "works on part of the batch at a time" if parts else "calls no summary writer"
        rec.warn_few_steps(name, why)
    rec.warn_strays(name)
    return adv


# what gradient attacks ask the estimator for at each iterate
_GRADIENTS = ("loss_gradient", "class_gradient")


@contextlib.contextmanager
def _gradients_logged(attack: Any, rec: StepRecorder) -> Iterator[None]:
    """For an attack that takes no summary writer (``summary_writer`` is not among its
    ``attack_params``: AutoProjectedGradientDescent, Carlini-Wagner, DeepFool, ...), log each
    full batch at which it asks its estimator for a gradient while the block runs: each is an
    iterate (mini-batches smaller than B cannot be told apart, and are not logged)."""
    estimator = getattr(attack, "estimator", None)
    if estimator is None or "summary_writer" in getattr(attack, "attack_params", ()):
        yield
        return

    def logged(inner: Any) -> Any:
        def gradient(x: Any, *args: Any, **kw: Any) -> Any:
            rec.probe(x)  # (copied if logged: the attack may change x in place)
            return inner(x, *args, **kw)

        return gradient

    with patched([(estimator, name) for name in _GRADIENTS], logged):
        yield


# ART's Attack keeps its summary writer in ``_summary_writer`` (the ``summary_writer`` property
# reads it; the constructor is the only setter), and ``ProjectedGradientDescent`` delegates to
# the framework's implementation it keeps in ``_attack``. These two names are the whole of
# what this adapter knows of ART's internals (checked on ART 1.20).
_WRITER, _DELEGATE = "_summary_writer", "_attack"


@contextlib.contextmanager
def _hooked(attack: Any, hook: Any) -> Iterator[None]:
    """``hook`` as the summary writer of ``attack`` (and of the attack it delegates to) while
    the block runs; the attack's own writers are put back after."""
    from art.attacks.attack import Attack

    chain = [attack]
    while isinstance(getattr(chain[-1], _DELEGATE, None), Attack):
        chain.append(getattr(chain[-1], _DELEGATE))
    saved = [getattr(a, _WRITER, None) for a in chain]
    try:
        for a in chain:
            setattr(a, _WRITER, hook)
        yield
    finally:
        for a, old in zip(chain, saved, strict=True):
            setattr(a, _WRITER, old)


def __getattr__(name: str) -> Any:
    # SummaryWriter subclasses ART's base class, and importing ART imports torch: build it on
    # first use so that importing this module stays cheap.
    if name == "SummaryWriter":
        return _summary_writer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _summary_writer_class() -> type:
    from art.summary_writer import SummaryWriter as ArtSummaryWriter

    class SummaryWriter(ArtSummaryWriter):
        """An ART summary writer logging each iteration into a BatchWriter (no tensorboardX).

        Pass it as ``summary_writer=`` to an ART attack. ``update`` receives the batch before
        each iteration's update and the estimator; it logs the batch with
        ``estimator.predict`` as confidences (or logits). Mini-batches smaller than B (an attack
        ``batch_size`` below B) are placed by their ``batch_id`` and logged once all of B
        arrived (each random restart of a mini-batch in turn). ART hands it neither the clean
        input (its first update comes after any random start) nor the images ``generate``
        returns: give the clean batch as ``clean`` (logged as step 0 before the first
        iteration) and log the returned images with :meth:`log_returned`, or use :func:`run`,
        which does both.

        Args:
            writer: A :class:`~animlib.BatchWriter`.
            recorder: The step recorder to log through (``run`` shares one with the clean and
                final steps); a new one for ``writer`` by default.
            clean: The clean batch the attack gets (logged as step 0 at the first update);
                None: step 0 is the attack's first iterate (a warning says so).
        """

        _summary_writer = None  # ART's tensorboardX writer: never created here

        def __init__(
            self, writer: Any, recorder: StepRecorder | None = None, clean: Any = None
        ) -> None:
            # ART's base __init__ would import tensorboardX: deliberately not called
            self.writer = writer
            self.recorder = recorder
            self.clean = None if clean is None else np.array(as_array(clean), copy=True)
            self.by_run = recorder is not None  # run() logs the clean and returned images
            self.calls = 0  # how often the attack called update
            self._parts = MiniBatches()
            self.told = False  # warned that the returned images are not logged

        def update(
            self,
            batch_id: int,
            global_step: int,
            grad: Any = None,
            patch: Any = None,
            estimator: Any = None,
            x: Any = None,
            y: Any = None,
            targeted: bool = False,
            **kwargs: Any,
        ) -> None:
            """Log ``x``, the batch of iteration ``global_step`` (of mini-batch ``batch_id``)."""
            self.calls += 1
            if x is None or estimator is None:
                return
            rec = self._recorder(estimator)
            x = np.array(as_array(x), copy=True)
            if len(x) == rec.batch_size:
                rec.probe(x)
                return
            whole = self._parts.add(int(global_step), int(batch_id), x, rec.batch_size)
            if whole is not None:
                rec.probe(whole)

        def reset(self) -> None:
            """Called by ART at the end of ``generate``: drop incomplete iterations (and, used
            on its own, warn once that the returned images are not logged yet)."""
            self._parts.clear()
            _tell_once(self)

        def log_returned(self, adversarial: Any) -> None:
            """Log the images ``generate`` returned as the last step (confidences from the
            estimator the iterations used)."""
            _started(self.recorder).observe(np.array(as_array(adversarial), copy=True))

        def _recorder(self, estimator: Any) -> StepRecorder:
            if self.recorder is None or self.recorder.classify is None:
                self.recorder = _first_update(self, estimator)
            return self.recorder

    SummaryWriter.__qualname__ = "SummaryWriter"
    SummaryWriter.__module__ = __name__
    return SummaryWriter


class MiniBatches:
    """Gathers the mini-batches of one iteration (an attack ``batch_size`` below B), placed by
    their ``batch_id``; each random restart of a mini-batch is a round of its own."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        self._rounds: dict[tuple[int, int], int] = {}  # (step, batch_id): restarts seen

    def add(self, step: int, batch_id: int, x: np.ndarray, size: int) -> np.ndarray | None:
        """Add mini-batch ``batch_id`` of iteration ``step``; the whole batch of ``size``
        images once every mini-batch of that iteration and round arrived, else None (and
        None for a round whose mini-batches do not make up the batch: not logged)."""
        self._rounds[step, batch_id] = restart = self._rounds.get((step, batch_id), -1) + 1
        parts = self._pending.setdefault((step, restart), {})
        parts[batch_id] = x
        total = sum(len(p) for p in parts.values())
        if total < size:
            return None
        del self._pending[step, restart]
        ids = sorted(parts)
        if ids != list(range(len(ids))) or total != size:
            return None
        return np.concatenate([parts[i] for i in ids])

    def clear(self) -> None:
        """Drop incomplete iterations (the end of ``generate``)."""
        self._pending.clear()
        self._rounds.clear()


def _tell_once(hook: Any) -> None:
    """Warn once that a summary writer used on its own has not logged the returned images."""
    if hook.calls and not hook.by_run and not hook.told:
        hook.told = True
        warnings.warn(
            f"experiment {getattr(hook.writer, 'experiment', '?')!r}: ART gives its summary "
            "writer each iteration's input, never the images generate returns: log those with "
            "summary_writer.log_returned(adv) after generate (or use "
            "animlib.integrations.art.run, which does), or the last step is not the attack's "
            "result",
            stacklevel=3,
        )


def _first_update(hook: Any, estimator: Any) -> StepRecorder:
    """The recorder of a summary writer at its first update (confidences from ``estimator``):
    the clean batch it was given is logged as step 0 (else a warning says step 0 is not)."""
    rec = hook.recorder
    if rec is None:
        size = hook.writer.batch_size
        if size is None:
            raise RunInputError(
                "the BatchWriter needs its batch size (true_labels, originals or sample_ids) "
                "before ART's first iteration",
                field="batch_size",
            )
        rec = StepRecorder(hook.writer, size, classify=None)
    if rec.classify is None:
        rec.classify = lambda v: estimator.predict(v, batch_size=len(v))
        if hook.clean is not None:
            rec.observe(hook.clean)  # step 0, before the first iterate
        else:
            _warn_no_clean(hook.writer)
    return rec


def _warn_no_clean(writer: Any) -> None:
    """Warn that a summary writer used on its own logs the first iterate as step 0."""
    warnings.warn(
        f"experiment {getattr(writer, 'experiment', '?')!r}: step 0 is the attack's first "
        "iterate, the clean input only without a random start: pass the clean batch as "
        "SummaryWriter(writer, clean=x) (or use animlib.integrations.art.run)",
        stacklevel=5,
    )


def _started(recorder: StepRecorder | None) -> StepRecorder:
    """The recorder of a summary writer that has logged an iteration."""
    if recorder is None:
        raise RunInputError(
            "no iteration was logged yet: pass this writer as summary_writer= to the attack "
            "and call generate first",
            field="adversarial",
        )
    return recorder
