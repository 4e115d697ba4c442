"""ART adapter: per-iteration logging of an ART evasion attack through its summary_writer hook."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import RunInputError
from ._recorder import StepRecorder, as_array, patched


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
    """
    x = as_array(images)
    y = None if labels is None else as_array(labels)
    estimator = attack.estimator
    rec = StepRecorder(writer, len(x), classify=lambda v: estimator.predict(v, batch_size=len(v)))
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
    if not hook.calls:  # (its iterations, if any, came through the gradients it asked for)
        parts = rec.logged > 2
        why = "works on part of the batch at a time" if parts else "calls no summary writer"
        rec.warn_few_steps(type(attack).__name__, why)
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
            rec.observe(x)  # (copied if logged: the attack may change x in place)
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
        ``batch_size`` below B) are gathered per iteration and logged once all of B arrived.
        ART never hands it the images ``generate`` returns (the last update's result): log them
        with :meth:`log_returned` (a warning at the end of ``generate`` says so), or use
        :func:`run`, which does.

        Args:
            writer: A :class:`~animlib.BatchWriter`.
            recorder: The step recorder to log through (``run`` shares one with the clean and
                final steps); a new one for ``writer`` by default.
        """

        _summary_writer = None  # ART's tensorboardX writer: never created here

        def __init__(self, writer: Any, recorder: StepRecorder | None = None) -> None:
            # ART's base __init__ would import tensorboardX: deliberately not called
            self.writer = writer
            self.recorder = recorder
            self.by_run = recorder is not None  # run() logs the returned images itself
            self.calls = 0  # how often the attack called update
            self._pending: dict[int, list[np.ndarray]] = {}
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
                rec.observe(x)
                return
            parts = self._pending.setdefault(int(global_step), [])
            parts.append(x)
            if sum(len(p) for p in parts) >= rec.batch_size:
                rec.observe(np.concatenate(self._pending.pop(int(global_step))))

        def reset(self) -> None:
            """Called by ART at the end of ``generate``: drop incomplete iterations (and, used
            on its own, warn once that the returned images are not logged yet)."""
            self._pending.clear()
            _tell_once(self)

        def log_returned(self, adversarial: Any) -> None:
            """Log the images ``generate`` returned as the last step (confidences from the
            estimator the iterations used)."""
            _started(self.recorder).observe(np.array(as_array(adversarial), copy=True))

        def _recorder(self, estimator: Any) -> StepRecorder:
            if self.recorder is None:
                size = self.writer.batch_size
                if size is None:
                    raise RunInputError(
                        "the BatchWriter needs its batch size (true_labels, originals or "
                        "sample_ids) before ART's first iteration",
                        field="batch_size",
                    )
                self.recorder = StepRecorder(self.writer, size, classify=None)
            if self.recorder.classify is None:
                self.recorder.classify = lambda v: estimator.predict(v, batch_size=len(v))
            return self.recorder

    SummaryWriter.__qualname__ = "SummaryWriter"
    SummaryWriter.__module__ = __name__
    return SummaryWriter


def _tell_once(hook: Any) -> None:
    """Warn once that a summary writer used on its own has not logged the returned images."""
    if hook.calls and not hook.by_run and not hook.told:
        hook.told = True
        warnings.warn(
            f"experiment {getattr(hook.writer, 'experiment', '?')!r}: ART gives its summary "
            "writer each iteration's input, never the images generate returns: log those with "
            "summary_writer.log_returned(adv) (or use animlib.integrations.art.run, which "
            "does), or the last step is not the attack's result",
            stacklevel=3,
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
