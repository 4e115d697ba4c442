"""Foolbox 3 adapter: log every model call of a Foolbox attack into a BatchWriter."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..batch_input import ExperimentInputError
from ._recorder import StepRecorder, check_targets, class_names

# attacks whose model calls are their iterates (gradient attacks); the others (decision-based
# attacks, noise, blur, EAD's look-ahead, ...) probe the model elsewhere: their runs hold the
# clean input and the result only
ITERATING = frozenset(
    {"BaseGradientDescent", "L2CarliniWagnerAttack", "DeepFoolAttack", "DDNAttack"}
    | {"FMNAttackLp", "NewtonFoolAttack"}
)


def run(
    attack: Any, fmodel: Any, images: Any, labels: Any, epsilon: float, writer: Any, **kwargs: Any
) -> Any:
    """Run a Foolbox 3 attack at one ``epsilon``; log the clean batch, each iteration, the result.

    The attack gets a wrapper of ``fmodel`` that logs every full batch it is called with (a
    gradient attack such as ``LinfPGD`` calls it once per iteration, inside ``value_and_grad``).
    Step 0 is the clean input, logged before the attack; the last step is exactly the clipped
    adversarial batch returned. The success check Foolbox runs on that batch is not logged twice.
    Attacks that call the model on other points than their iterates (those not in
    :data:`ITERATING`: BoundaryAttack, HopSkipJump, noise and blur attacks, EAD, ...) log the
    clean input and the result only, with a warning.

    Args:
        attack: A Foolbox attack (``fb.attacks.LinfPGD()``, ``L2PGD``, ``FGSM``, ...).
        fmodel: A Foolbox model (``fb.PyTorchModel(model, bounds=(0, 1))``).
        images: (B, C, H, W) tensor in [0, 1].
        labels: (B,) true labels, or a Foolbox criterion (``TargetedMisclassification``).
        epsilon: The perturbation budget (one value), or None for a minimization attack run
            unbounded (``L2CarliniWagnerAttack``, ``L2DeepFoolAttack``, ``DDNAttack``, ...:
            Foolbox's ``epsilons=None``, the smallest adversarials it finds).
        writer: A :class:`~animlib.BatchWriter` for B samples.
        **kwargs: Passed on to the attack call.

    Returns:
        The clipped adversarial images (Foolbox's second return value), in the input's type.

    Raises:
        ExperimentInputError: several epsilons, None with a fixed-epsilon attack
            (``LinfPGD``, ``FGSM``, ...: Foolbox's ``FixedEpsilonAttack``), a targeted
            criterion whose targets the writer does not hold as ``target_labels``, or plain
            labels (untargeted) with a writer that has target labels; raised before anything
            is logged.
    """
    _check_targets(labels, writer)
    if epsilon is not None and np.ndim(epsilon) != 0:
        raise ExperimentInputError(
            f"one number (or None) per experiment, got {epsilon!r}: the steps of several "
            "epsilons would mix in one run; use one BatchWriter per epsilon",
            field="epsilon",
            experiment=getattr(writer, "experiment", None),
        )
    if epsilon is None and "FixedEpsilonAttack" in class_names(attack):  # (Foolbox's own
        raise ExperimentInputError(  # NotImplementedError, after the clean step was logged)
            f"None is for minimization attacks (L2CarliniWagnerAttack, L2DeepFoolAttack, "
            f"DDNAttack, ...); {type(attack).__name__} is a fixed-epsilon attack: give its "
            "budget as one number",
            field="epsilon",
            experiment=getattr(writer, "experiment", None),
        )
    iterating = bool(class_names(attack) & ITERATING)
    rec = StepRecorder(writer, len(images), iterates=iterating)
    rec.observe(images, fmodel(images))
    _, clipped, _ = attack(_logging_model(fmodel, rec), images, labels, epsilons=epsilon, **kwargs)
    rec.observe(clipped, fmodel(clipped))
    name = type(attack).__name__
    if not iterating:
        rec.warn_few_steps(name, "calls the model on points that are not its iterates")
    rec.warn_strays(name)
    return clipped


def _check_targets(labels: Any, writer: Any) -> None:
    """Refuse a criterion whose targets the writer does not hold (:func:`check_targets`)."""
    targets = getattr(labels, "target_classes", None)  # TargetedMisclassification
    check_targets(writer, targets, what="the criterion", how="criterion.target_classes")


def _logging_model(fmodel: Any, recorder: StepRecorder) -> Any:
    return _model_class()(fmodel, recorder)


@functools.cache
def _model_class() -> type:
    """A ``foolbox.Model`` wrapper logging each call (built on first use: Foolbox loads eagerpy)."""
    from foolbox.models.base import Model

    class LoggingModel(Model):
        """Calls the wrapped model and logs each full batch it sees."""

        def __init__(self, inner: Any, recorder: StepRecorder) -> None:
            self.inner = inner
            self.recorder = recorder

        @property
        def bounds(self) -> Any:
            return self.inner.bounds

        def __call__(self, inputs: Any) -> Any:
            outputs = self.inner(inputs)
            self.recorder.probe(inputs, outputs)
            return outputs

    LoggingModel.__qualname__ = "LoggingModel"
    LoggingModel.__module__ = __name__
    return LoggingModel
