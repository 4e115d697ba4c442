"""torchattacks adapter: log every iteration of a torchattacks attack into a BatchWriter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..batch_input import ExperimentInputError
from ..errors import Code
from ._patching import patched
from ._recorder import StepRecorder, check_targets, class_names

# attacks that call get_logits on points other than their iterates: transformed copies
# (DI, TI), look-ahead points (NI, SINI, EAD's FISTA), random neighbours or noise (VMI, VNI,
# PGDRS, SPSA), candidate squares or pixels (Square, Pixle, OnePixel: one image's candidates
# read as a whole batch of one): their runs hold the clean input and the result only
PROBING = frozenset(
    {"DIFGSM", "TIFGSM", "NIFGSM", "SINIFGSM", "VMIFGSM", "VNIFGSM", "EADEN", "EADL1"}
    | {"PGDRS", "PGDRSL2", "SPSA", "Square", "Pixle", "OnePixel"}
)


def run(attack: Any, images: Any, labels: Any, writer: Any, **kwargs: Any) -> Any:
    """Run ``attack(images, labels)`` and log the clean batch, every iteration and the result.

    torchattacks has no per-iteration hook; each attack calls ``get_logits`` once per iteration
    with its current adversarial batch, so this wraps ``get_logits`` on the attack object, and
    on the attacks it is made of (AutoAttack, MultiAttack), for the duration of the call (then
    restores them). Step 0 is the clean input, logged before the attack; the last step is
    exactly the returned adversarial batch. A batch the attack evaluates twice in a row (the
    clean input without random start) is logged once; calls on partial batches are not logged
    (attacks working on subsets: DeepFool image by image, or AutoAttack's later attacks, which
    run only on the images its first attack did not fool), nor batches outside [0, 1]. The
    attacks of :data:`PROBING` evaluate points that are not their iterates: for them only the
    clean input and the result are logged (a warning says so).

    Args:
        attack: A ``torchattacks.Attack`` (PGD, BIM, FGSM, CW, ...).
        images: (B, C, H, W) tensor in [0, 1].
        labels: (B,) tensor of true labels (targets in targeted-by-label mode).
        writer: A :class:`~animlib.BatchWriter` for B samples.
        **kwargs: Passed on to the attack call.

    Returns:
        The adversarial images, as the attack returned them.

    Raises:
        ExperimentInputError: the attack uses ``set_normalization_used`` (its inputs are then
            not images in [0, 1]; put the normalization inside the model instead), or it is
            targeted and the writer has no ``target_labels`` (or others than ``labels``), or
            untargeted and the writer has target labels.
    """
    _check_targets(attack, labels, writer)
    if getattr(attack, "normalization_used", None) is not None:
        raise ExperimentInputError(
            "set_normalization_used is not supported: normalize inside the model, so the "
            "attack works on images in [0, 1]",
            field="attack",
            code=Code.UNSUPPORTED,
            experiment=getattr(writer, "experiment", None),
        )
    rec = StepRecorder(writer, len(images))
    rec.observe(images, attack.get_output_with_eval_nograd(images))

    def logged(inner: Callable[..., Any]) -> Callable[..., Any]:
        def get_logits(inputs: Any, *args: Any, **kw: Any) -> Any:
            logits = inner(inputs, *args, **kw)
            rec.probe(inputs, logits)
            return logits

        return get_logits

    iterating = [atk for atk in _attack_objects(attack) if not class_names(atk) & PROBING]
    with patched([(atk, "get_logits") for atk in iterating], logged):
        adv = attack(images, labels, **kwargs)
    rec.observe(adv, attack.get_output_with_eval_nograd(adv))
    name = type(attack).__name__
    if attack not in iterating:
        rec.warn_few_steps(name, "evaluates points that are not its iterates")
    elif rec.skipped:
        rec.warn_few_steps(name, "works on part of the batch at a time")
    rec.warn_strays(name)
    return adv


def _check_targets(attack: Any, labels: Any, writer: Any) -> None:
    """Refuse an attack whose targets the writer does not hold (:func:`check_targets`); one
    that draws its targets inside (random, least likely) cannot have them held."""
    if not getattr(attack, "targeted", False):
        check_targets(writer, None, what="the attack")
        return
    mode = getattr(attack, "attack_mode", "targeted")
    if mode != "targeted(label)":  # random, least likely, a function: drawn inside the attack
        raise ExperimentInputError(
            f"the attack draws its targets inside ({mode}), so no writer can hold them: draw "
            "them yourself, pass them as the BatchWriter's target_labels= and use "
            "set_mode_targeted_by_label",
            field="target_labels",
            code=Code.UNSUPPORTED,
            experiment=getattr(writer, "experiment", None),
        )
    check_targets(
        writer, labels, what="the attack (targeted by label)", how="the labels given to it"
    )


def _attack_objects(attack: Any) -> list[Any]:
    """``attack`` and, once each, the attacks it is made of (torchattacks registers them in
    ``_attacks``, nested ones included)."""
    found = {id(attack): attack}
    # torchattacks' private registry (3.5: Attack.__setattr__ fills it; MultiAttack, AutoAttack):
    # read through vars() so an attack without one is just itself; tested with torchattacks 3.5.1
    for sub in (vars(attack).get("_attacks") or {}).values():
        found.setdefault(id(sub), sub)
    return list(found.values())
