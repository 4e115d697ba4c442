"""Real adversarial attacks as generators yielding (adversarial image, probabilities) per step."""

# Every generator first yields step 0, the clean image, then one item per attack step. Images are
# float32 in [0, 1] shaped like the input (H, W, C); probabilities are the model's softmax (K,).
# White-box attacks use the model's exact input gradient (``loss_and_input_grad``); the black-box
# Square attack only calls ``predict_proba``.

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from types import EllipsisType
from typing import Protocol

import numpy as np

Step = tuple[np.ndarray, np.ndarray]


class GradientModel(Protocol):
    """What a white-box attack needs from a classifier."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...

    def loss_and_input_grad(
        self, x: np.ndarray, label: int, targeted: bool = False
    ) -> tuple[float, np.ndarray]: ...


class ProbaModel(Protocol):
    """What a black-box attack may use: output probabilities only."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


def _project_linf(x_adv: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """Clip into the L-inf ball of radius eps around x and into [0, 1]."""
    return np.clip(np.clip(x_adv, x - eps, x + eps), 0.0, 1.0).astype(np.float32)


def _project_l2(x_adv: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """Project into the L2 ball of radius eps around x, then clip to [0, 1].

    Clipping to the box after the ball projection can only shrink the perturbation, so the result
    stays inside both sets.
    """
    delta = x_adv - x
    norm = float(np.linalg.norm(delta))
    if norm > eps:
        delta = delta * (eps / norm)
    return np.clip(x + delta, 0.0, 1.0).astype(np.float32)


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _linf_start(x: np.ndarray, eps: float, rng: np.random.Generator | int | None) -> np.ndarray:
    """A uniform random point of the L-inf ball (``rng`` None: an unseeded one)."""
    noise = _generator(rng).uniform(-eps, eps, x.shape).astype(np.float32)
    return _project_linf(x + noise, x, eps)


def _l2_start(x: np.ndarray, eps: float, rng: np.random.Generator | int | None) -> np.ndarray:
    """A random point of the L2 ball, its radius uniform in [0, eps/2] (``rng`` None: x)."""
    if rng is None:
        return x
    rng = _generator(rng)
    direction = rng.standard_normal(x.shape)
    radius = rng.uniform(0.0, eps / 2)
    return _project_l2(x + radius * direction / np.linalg.norm(direction), x, eps)


def _linf_move(
    x_adv: np.ndarray, grad: np.ndarray, *, x: np.ndarray, eps: float, alpha: float
) -> np.ndarray:
    """An L-inf step: ``alpha`` times the gradient's sign, then the projection."""
    return _project_linf(x_adv + alpha * np.sign(grad), x, eps)


def _l2_move(
    x_adv: np.ndarray, grad: np.ndarray, *, x: np.ndarray, eps: float, alpha: float
) -> np.ndarray:
    """An L2 step: length ``alpha`` along the gradient, then the projection (none for a zero
    gradient)."""
    norm = float(np.linalg.norm(grad))
    if norm > 0:
        return _project_l2(x_adv + alpha * grad / norm, x, eps)
    return x_adv


# per ball: its random start, its step, and the default ``rng`` of :func:`pgd`
_BALLS = {"linf": (_linf_start, _linf_move, 0), "l2": (_l2_start, _l2_move, None)}


def _ascend(
    model: GradientModel,
    x_adv: np.ndarray,
    cls: int,
    targeted: bool,
    steps: int,
    move: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Iterator[Step]:
    """The shared loop: ``steps`` times ``x_adv = move(x_adv, gradient)`` up the objective."""
    for _ in range(steps):
        _, grad = model.loss_and_input_grad(x_adv, cls, targeted=targeted)
        x_adv = move(x_adv, grad)
        yield x_adv, model.predict_proba(x_adv)


def bim(
    model: GradientModel, x: np.ndarray, label: int, eps: float, alpha: float, steps: int
) -> Iterator[Step]:
    """Iterative FGSM (BIM, Kurakin et al.): untargeted signed-gradient steps from the clean x."""
    x = np.asarray(x, dtype=np.float32)
    yield x.copy(), model.predict_proba(x)
    move = functools.partial(_linf_move, x=x, eps=eps, alpha=alpha)
    yield from _ascend(model, x, label, False, steps, move)


def pgd(
    model: GradientModel,
    x: np.ndarray,
    label: int,
    eps: float,
    alpha: float,
    steps: int,
    rng: np.random.Generator | int | None | EllipsisType = ...,
    target: int | None = None,
    *,
    norm: str = "linf",
) -> Iterator[Step]:
    """PGD (Madry et al.) in the L-inf or L2 ball of radius ``eps`` around ``x``.

    Each step moves ``alpha`` up the attack objective (L-inf: along the gradient's sign; L2:
    along the normalised gradient), then projects back into the ball and [0, 1]. Untargeted
    when ``target`` is None (``label`` is the true class); otherwise targeted: it descends the
    cross-entropy of ``target`` and ``label`` is ignored for the gradient.

    ``rng`` (a seed or a generator) draws the random start: uniform in the L-inf ball; in the
    L2 ball along a random direction, the radius uniform in [0, eps/2]. Without ``rng``: seed 0
    in the L-inf ball, the clean image in the L2 ball (``rng=None``: an unseeded start in the
    L-inf ball, the clean image in the L2 ball). ``norm`` is ``"linf"`` or ``"l2"``.
    """
    if norm not in _BALLS:
        raise ValueError(f"norm must be 'linf' or 'l2'; got {norm!r}")
    start, step, default_rng = _BALLS[norm]
    x = np.asarray(x, dtype=np.float32)
    yield x.copy(), model.predict_proba(x)
    x_adv = start(x, eps, default_rng if rng is ... else rng)
    cls, targeted = (label, False) if target is None else (target, True)
    move = functools.partial(step, x=x, eps=eps, alpha=alpha)
    yield from _ascend(model, x_adv, cls, targeted, steps, move)


pgd_linf = functools.partial(pgd, norm="linf")
pgd_linf.__doc__ = """PGD L-inf (Madry et al.) from a uniform random start in the eps ball:
:func:`pgd` with ``norm="linf"`` (``rng`` defaults to seed 0).

Untargeted when ``target`` is None (``label`` is the true class); otherwise targeted: it
descends the cross-entropy of ``target`` and ``label`` is ignored for the gradient."""


def pgd_linf_targeted(
    model: GradientModel,
    x: np.ndarray,
    target: int,
    eps: float,
    alpha: float,
    steps: int,
    rng: np.random.Generator | int = 0,
) -> Iterator[Step]:
    """Targeted PGD L-inf: push the prediction towards ``target`` inside the eps ball."""
    return pgd_linf(model, x, target, eps, alpha, steps, rng=rng, target=target)


pgd_l2 = functools.partial(pgd, norm="l2")
pgd_l2.__doc__ = """PGD L2: steps of length alpha along the normalised gradient, projected to the
L2 ball: :func:`pgd` with ``norm="l2"``.

With ``rng`` given, starts from a random point of the ball (radius uniform in [0, eps/2]);
otherwise from the clean image. Targeted when ``target`` is not None."""


def _margin(probs: np.ndarray, label: int, targeted: bool) -> float:
    """Black-box loss to minimise: log-probability margin of the class to move away from/to."""
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-30))
    others = np.delete(logp, label)
    if targeted:
        return float(others.max() - logp[label])
    return float(logp[label] - others.max())


def square_attack(
    model: ProbaModel,
    x: np.ndarray,
    label: int,
    eps: float,
    steps: int,
    queries_per_step: int = 10,
    p_init: float = 0.3,
    rng: np.random.Generator | int = 0,
    target: int | None = None,
    kappa: float = 0.0,
) -> Iterator[Step]:
    """Square attack, L-inf (Andriushchenko et al. 2020): gradient-free random search.

    Starts from vertical stripes of +-eps, then repeatedly proposes a random square window whose
    perturbation is reset to a random +-eps per channel, keeping it only if the margin loss
    (computed from ``predict_proba`` alone) improves. Each yielded step spends ``queries_per_step``
    model queries; the window side shrinks on the paper's schedule. Queries stop once the margin
    drops below ``-kappa`` (the image is then adversarial with a log-probability margin of kappa).
    """
    rng = _generator(rng)
    x = np.asarray(x, dtype=np.float32)
    h, w, c = x.shape
    probs = model.predict_proba(x)
    yield x.copy(), probs
    cls, targeted = (label, False) if target is None else (target, True)
    stripes = rng.choice([-eps, eps], size=(1, w, c)).astype(np.float32)
    x_adv = _project_linf(x + stripes, x, eps)
    probs = model.predict_proba(x_adv)
    best = _margin(probs, cls, targeted)
    total = steps * queries_per_step
    for step in range(steps):
        for q in range(queries_per_step):
            if best < -kappa:  # adversarial with margin: stop spending queries
                break
            i = step * queries_per_step + q
            # Fraction of pixels changed halves at fixed fractions of the query budget.
            frac = p_init / 2 ** int(np.searchsorted([0.02, 0.1, 0.25, 0.5, 0.8], i / total))
            side = int(max(1, min(h - 1, round(np.sqrt(frac * h * w)))))
            r0, c0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            candidate = x_adv.copy()
            patch = rng.choice([-eps, eps], size=(1, 1, c)).astype(np.float32)
            window = x[r0 : r0 + side, c0 : c0 + side] + patch
            candidate[r0 : r0 + side, c0 : c0 + side] = window
            candidate = _project_linf(candidate, x, eps)
            cand_probs = model.predict_proba(candidate)
            loss = _margin(cand_probs, cls, targeted)
            if loss < best:
                best, x_adv, probs = loss, candidate, cand_probs
        yield x_adv, probs
