"""Shared by the adapters: log each distinct full batch an attack evaluates, once, in order."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..arrays import looks_like_probabilities, sum_tolerance, to_numpy
from ..batch_input import ExperimentInputError
from ..errors import Code
from ..stepsplit import in_unit_range


def as_array(value: Any, field: str = "images") -> np.ndarray:
    """A numpy copy-free view of numpy arrays, torch tensors (detached; bfloat16 as float32)
    and eagerpy tensors (their ``.raw``), converted as the writers convert their input."""
    raw = getattr(value, "raw", None)  # eagerpy wraps the framework tensor in .raw
    return to_numpy(value if raw is None else raw, field)


def check_targets(writer: Any, targets: Any, *, what: str, how: str = "") -> None:
    """Refuse an attack whose targets are not the writer's ``target_labels``: a targeted
    attack's runs would be judged against other targets, or as untargeted (success: any wrong
    class); an untargeted attack's runs, logged with target labels, as targeted (success:
    reaching a target the attack never aimed at).

    Args:
        writer: the BatchWriter.
        targets: the attack's (B,) target classes (or (B, K) one-hot), or None for an
            untargeted attack.
        what: the attack, as the messages name it ("the attack", "the criterion").
        how: how to pass the targets, for the message ("the labels given to the attack").
    """
    held = getattr(writer, "target_labels", None)
    experiment = getattr(writer, "experiment", None)
    if targets is None:
        if held is not None:
            raise ExperimentInputError(
                f"{what} is untargeted but the writer has target labels, so its runs would be "
                "judged as targeted (success: reaching the target): leave out the "
                "BatchWriter's target_labels=",
                field="target_labels",
                code=Code.MISMATCH,
                experiment=experiment,
            )
        return
    given = as_array(targets, "target_labels")
    if given.ndim == 2 and given.shape[1] > 1:  # one-hot (a (B, 1) column: the indices)
        given = given.argmax(axis=1)
    if held != [int(v) for v in given.ravel()]:
        judged = "as untargeted (success: any wrong class)" if held is None else "against those"
        raise ExperimentInputError(
            f"{what} is targeted but the writer has {'no' if held is None else 'other'} "
            f"target labels, so its runs would be judged {judged}: pass {how} as the "
            "BatchWriter's target_labels=",
            field="target_labels",
            code=Code.MISSING if held is None else Code.MISMATCH,
            experiment=experiment,
        )


def off_range(x: np.ndarray) -> bool:
    """True for float images not all finite and in [0, 1] (no image the writers take)."""
    return x.dtype.kind == "f" and not in_unit_range(x)


def class_names(attack: Any) -> set[str]:
    """The names of ``attack``'s class and its bases (a subclass of a listed attack is one)."""
    return {cls.__name__ for cls in type(attack).__mro__}


def score_kwargs(scores: Any) -> dict[str, np.ndarray]:
    """``{"confidences": s}`` when the rows of ``s`` are probabilities (as the writers tell
    them from logits; clipped to [0, 1]: a model's softmax may round a little outside, which
    the writers refuse beyond 1e-4 and the user cannot fix inside an adapter), else
    ``{"logits": s}``."""
    s = as_array(scores)
    finite = s.ndim == 2 and s.size and np.isfinite(s).all()
    if finite and looks_like_probabilities(s.astype(np.float64), sum_tolerance(scores)):
        return {"confidences": np.clip(s, 0, 1)}
    return {"logits": s}


class StepRecorder:
    """Feeds an attack's batches to a :class:`~animlib.BatchWriter`.

    The clean input and the returned images are logged with :meth:`observe` (a bad one raises
    the writer's error). What the attack evaluates in between goes through :meth:`probe`: a
    batch is logged when ``iterates`` is on, it has the writer's batch size, it differs from
    the last batch logged (an attack that evaluates the clean input again, or the final images
    once more, logs no step twice) and it holds images (finite, in [0, 1]; an attack may
    evaluate points outside, which are no iterates). ``skipped`` counts calls on partial
    batches (attacks that work on subsets), ``strays`` those outside [0, 1].

    Args:
        writer: The BatchWriter (or anything with ``log(images=..., logits=|confidences=...)``).
        batch_size: B, the number of samples of the attack.
        classify: Computes class scores (logits or probabilities) for a batch when a caller
            gives none.
        iterates: False for an attack whose evaluations are not its iterates (input
            transformations, look-ahead points, random probes): only the clean input and the
            result are logged.
    """

    def __init__(
        self,
        writer: Any,
        batch_size: int,
        classify: Callable[[np.ndarray], Any] | None = None,
        *,
        iterates: bool = True,
    ) -> None:
        self.writer = writer
        self.batch_size = int(batch_size)
        self.classify = classify
        self.iterates = iterates
        self.skipped = 0
        self.strays = 0
        self.logged = 0
        self._last: np.ndarray | None = None

    def observe(self, images: Any, scores: Any = None) -> bool:
        """Log ``images`` (B, ...) with ``scores`` (B, K) as a step, unless it repeats the last.

        Args:
            images: The clean input or the returned images (numpy, torch or eagerpy).
            scores: Its logits or probabilities; computed with ``classify`` when None.

        Returns:
            True if a step was logged.
        """
        x = as_array(images)
        if x.ndim == 0 or x.shape[0] != self.batch_size:
            self.skipped += 1
            return False
        last = self._last
        if last is not None and last.shape == x.shape and np.array_equal(last, x):
            return False
        x = np.array(x, copy=True)  # the attack may update its tensor in place
        if scores is None and self.classify is not None:
            scores = self.classify(x)
        kwargs = {} if scores is None else score_kwargs(scores)
        self.writer.log(images=x, **kwargs)
        self._last = x
        self.logged += 1
        return True

    def probe(self, images: Any, scores: Any = None) -> bool:
        """:meth:`observe` a batch the attack evaluates during its run, if it is an iterate
        (see the class); True if a step was logged."""
        if not self.iterates:
            return False
        x = as_array(images)
        if x.ndim and x.shape[0] == self.batch_size and off_range(x):
            self.strays += 1
            return False
        return self.observe(x, scores)

    def warn_few_steps(self, attack: str, why: str) -> None:
        """Warn that iterations of ``attack`` were left out (``why``: what kept them out), naming
        the experiment: all of them (only the clean input and the result were logged), or the
        evaluations on part of the batch (attacks made of attacks that run on what is left)."""
        if self.logged > 2 and not self.skipped:
            return
        experiment = getattr(self.writer, "experiment", None)
        where = f"experiment {experiment!r}: " if experiment else ""
        if self.logged > 2:
            warnings.warn(
                f"{where}{attack} {why} ({self.skipped} evaluations on part of the batch): those "
                "were not logged, so the steps before the returned images (the last step) show "
                "only its evaluations of the whole batch",
                stacklevel=3,
            )
            return
        partial = f" ({self.skipped} evaluations on part of the batch)" if self.skipped else ""
        warnings.warn(
            f"{where}{attack} {why}{partial}: only the clean input (step 0) and the returned "
            "images (the last step) were logged",
            stacklevel=3,
        )

    def warn_strays(self, attack: str) -> None:
        """Warn that ``attack`` evaluated batches outside [0, 1], which were not logged."""
        if not self.strays:
            return
        experiment = getattr(self.writer, "experiment", None)
        where = f"experiment {experiment!r}: " if experiment else ""
        warnings.warn(
            f"{where}{attack} evaluated {self.strays} batches with values outside [0, 1] "
            "(points it probes, not images it returns): those were not logged as steps",
            stacklevel=3,
        )
