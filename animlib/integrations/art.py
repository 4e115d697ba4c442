"""ART adapter: per-iteration logging of an ART evasion attack through its summary_writer hook."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import Code, RunInputError
from ._recorder import StepRecorder, as_array


def run(attack: Any, images: Any, labels: Any, writer: Any, **kwargs: Any) -> np.ndarray:
    """Run ``attack.generate(images, labels)`` and log the clean batch, each iteration, the result.

    Iterations are logged through ART's ``summary_writer`` hook with a :class:`SummaryWriter`
    (confidences come from ``estimator.predict``; tensorboardX is not needed). ART has no
    setter for an attack's summary writer, so unless ``attack`` was built with
    ``summary_writer=SummaryWriter(writer)``, a copy of it is built with the same parameters
    (``attack.attack_params``) and that summary writer, and with ``batch_size`` at least B. Step
    0 is the clean input, logged before the attack; the last step is exactly the returned array.

    Args:
        attack: An ART evasion attack whose iterations call the summary writer (PGD, BIM,
            FGSM, ... on any framework).
        images: (B, C, H, W) numpy array (or tensor) in the estimator's input range.
        labels: (B,) class indices or (B, K) one-hot; targets for a targeted attack; or None.
        writer: A :class:`~animlib.BatchWriter` for B samples.
        **kwargs: Passed on to ``generate`` (e.g. ``mask``).

    Returns:
        The adversarial images ``generate`` returned.

    Raises:
        RunInputError: (code UNSUPPORTED) the attack cannot be rebuilt with a summary writer.
    """
    x = as_array(images)
    y = None if labels is None else as_array(labels)
    estimator = attack.estimator
    rec = StepRecorder(writer, len(x), classify=lambda v: estimator.predict(v, batch_size=len(v)))
    rec.observe(x)
    hook = attack.summary_writer
    if isinstance(hook, _summary_writer_class()):
        hook.recorder = rec
    else:
        attack = _rebuild(attack, _summary_writer_class()(writer, recorder=rec), len(x))
    adv = attack.generate(x, y, **kwargs)
    rec.observe(adv)
    return adv


def _rebuild(attack: Any, hook: Any, batch_size: int) -> Any:
    """A copy of ``attack`` with the same parameters and ``hook`` as its summary writer."""
    names = [p for p in getattr(attack, "attack_params", []) if p != "summary_writer"]
    params = {p: getattr(attack, p) for p in names if hasattr(attack, p)}
    if isinstance(params.get("batch_size"), int):
        params["batch_size"] = max(params["batch_size"], batch_size)
    try:
        return type(attack)(attack.estimator, summary_writer=hook, **params)
    except (TypeError, ValueError) as exc:
        raise RunInputError(
            f"cannot rebuild {type(attack).__name__} with a summary writer ({exc}); build it "
            "with summary_writer=animlib.integrations.art.SummaryWriter(writer) instead",
            field="attack",
            code=Code.UNSUPPORTED,
        ) from None


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
            self._pending: dict[int, list[np.ndarray]] = {}

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
            """Called by ART at the end of ``generate``: drop incomplete iterations."""
            self._pending.clear()

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
