"""Adapters and attacks that evaluate points other than their iterates, targets, odd dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from test_integrations import (
    EPS,
    STEPS,
    B,
    _art_estimator,
    check_steps,
    cnn,  # noqa: F401 -- the fixture
    stored,
    writer,
)

import animlib
from animlib.batch_input import ExperimentInputError

torch = pytest.importorskip("torch")


def _two_steps(root, w, x, adv) -> None:
    """The clean input and the returned images, nothing between."""
    adv = adv.detach().numpy() if hasattr(adv, "detach") else np.asarray(adv)
    x = x.numpy() if hasattr(x, "numpy") else x
    assert not np.array_equal(x, adv)  # (else the result repeats step 0: one step)
    for i, images in enumerate(stored(root, w)):
        assert len(images) == 2, (w.run_ids[i], len(images))
        np.testing.assert_array_equal(images[0], np.moveaxis(x[i], 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i], 0, -1))


@pytest.mark.parametrize("name", ["DIFGSM", "NIFGSM", "VMIFGSM"])
def test_torchattacks_probing_attacks_log_the_clean_input_and_the_result(cnn, tmp_path, name):  # noqa: F811
    """DIFGSM's transformed copies, NIFGSM's look-ahead points and VMIFGSM's neighbours were
    stored as steps (L-inf 0.875 at eps 0.05); NIFGSM's and VMIFGSM's left [0, 1] and their
    log aborted the user's attack."""
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    attack = getattr(torchattacks, name)(model, eps=EPS, alpha=0.02, steps=3)
    with writer(tmp_path, f"ta-{name}", x, y) as w:
        with pytest.warns(UserWarning, match=f"{name} evaluates points that are not its iter"):
            adv = adapter.run(attack, x, y, w)
    _two_steps(tmp_path, w, x, adv)


def test_probes_outside_the_unit_range_are_not_steps(cnn, tmp_path):  # noqa: F811
    """An attack of the user's own that evaluates a point outside [0, 1]: not logged, said."""
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    class Probing(torchattacks.PGD):
        def forward(self, images, labels):
            self.get_logits(images - 0.5)  # a probe no image can be
            return super().forward(images, labels)

    model, x, y = cnn
    attack = Probing(model, eps=EPS, alpha=0.02, steps=STEPS, random_start=True)
    with writer(tmp_path, "ta-probe", x, y) as w:
        with pytest.warns(UserWarning, match="Probing evaluated 1 batches with values outside"):
            adv = adapter.run(attack, x, y, w)
    check_steps(tmp_path, w, x, adv, STEPS + 2)


def test_a_targeted_torchattacks_attack_needs_the_writers_targets(cnn, tmp_path):  # noqa: F811
    """In random mode the targets were drawn inside the attack and never stored: the runs read
    as untargeted, success 1.0 where the targeted success was 0.875."""
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    attack = torchattacks.PGD(model, eps=EPS, alpha=0.02, steps=3)
    attack.set_mode_targeted_random(quiet=True)
    targets = (y + 1) % 10
    for given in (None, targets):  # the writer's targets cannot be those it draws either
        with writer(tmp_path, "ta-random", x, y, target_labels=given) as w:
            with pytest.raises(ExperimentInputError, match="draw them yourself") as err:
                adapter.run(attack, x, y, w)
        assert err.value.field == "target_labels" and err.value.experiment == "ta-random"
    attack.set_mode_targeted_by_label(quiet=True)
    with writer(tmp_path, "ta-label", x, y, target_labels=targets) as w:
        with pytest.raises(ExperimentInputError, match="the writer has other target labels"):
            adapter.run(attack, x, y, w)  # the true labels given as targets
    with writer(tmp_path, "ta-none", x, y) as w, pytest.raises(ExperimentInputError) as err:
        adapter.run(attack, x, targets, w)
    assert "(targeted by label) is targeted but the writer has no target labels" in str(err.value)
    with writer(tmp_path, "ta-label", x, y, target_labels=targets, if_exists="overwrite") as w:
        adv = adapter.run(attack, x, targets, w)
    assert len(stored(tmp_path, w)[0]) == 5  # clean, 3 iterates (the first: clean), result
    assert [r.get("target_label") for r in animlib.list_runs(tmp_path) if r.id.startswith(
        "ta-label")] == targets.tolist()  # fmt: skip
    assert adv.shape == x.shape
    assert not any(r.id.startswith("ta-random") for r in animlib.list_runs(tmp_path))


def test_bfloat16_tensors_are_logged_as_the_writer_takes_them(tmp_path):
    """The adapters' conversion called .numpy() on them: a bare TypeError naming nothing."""
    from animlib.integrations._recorder import StepRecorder

    x = torch.rand(2, 1, 8, 8).to(torch.bfloat16)
    with animlib.BatchWriter(tmp_path, experiment="bf16", class_names=["a", "b"]) as w:
        rec = StepRecorder(w, 2)
        rec.observe(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.bfloat16))
    run = animlib.open_run_in(tmp_path, "bf16-0000")
    np.testing.assert_array_equal(run.images[0][..., 0], x[0, 0].float().numpy())


def test_foolbox_decision_attacks_log_the_clean_input_and_the_result(cnn, tmp_path):  # noqa: F811
    """BoundaryAttack's noise start, line search and rejected proposals were 77 steps for 20
    iterations: every run flipped at step 1 (the noise)."""
    import foolbox as fb

    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    attack = fb.attacks.BoundaryAttack(steps=5)
    with writer(tmp_path, "fb-boundary", x, y) as w:
        with pytest.warns(UserWarning, match="BoundaryAttack calls the model on points that"):
            adv = adapter.run(attack, fmodel, x, y, None, w)
    _two_steps(tmp_path, w, x, adv)


def test_a_foolbox_targeted_criterion_needs_the_writers_targets(cnn, tmp_path):  # noqa: F811
    import foolbox as fb

    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    targets = (y + 1) % 10
    criterion = fb.criteria.TargetedMisclassification(targets)
    with writer(tmp_path, "fb-t", x, y) as w:
        with pytest.raises(ExperimentInputError, match="criterion.target_classes") as err:
            adapter.run(fb.attacks.LinfPGD(steps=3), fmodel, x, criterion, EPS, w)
    assert err.value.field == "target_labels"
    with writer(tmp_path, "fb-t2", x, y, target_labels=targets) as w:
        adapter.run(fb.attacks.LinfPGD(steps=3), fmodel, x, criterion, EPS, w)
    assert len(stored(tmp_path, w)[0]) >= 3


def test_an_art_targeted_attack_needs_the_writers_targets(cnn, tmp_path):  # noqa: F811
    """art.run took a targeted attack with a writer holding no targets: its runs were judged
    as untargeted (success 0.3125, any wrong class, where 4 of 16 reached their target)."""
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    targets = ((y + 1) % 10).numpy()
    attack = ProjectedGradientDescent(
        _art_estimator(model), eps=EPS, eps_step=0.02, max_iter=3, targeted=True, verbose=False
    )
    for held, problem in ((None, "no target labels"), (((y + 2) % 10).numpy(), "other target")):
        with writer(tmp_path, "art-t", x, y, target_labels=held, if_exists="overwrite") as w:
            with pytest.raises(ExperimentInputError, match=problem) as err:
                adapter.run(attack, x.numpy(), targets, w)
        assert err.value.field == "target_labels" and err.value.experiment == "art-t"
    one_hot = np.eye(10, dtype=np.float32)[targets]  # (ART takes targets one-hot too)
    with writer(tmp_path, "art-t2", x, y, target_labels=targets) as w:
        adv = adapter.run(attack, x.numpy(), one_hot, w)
    for i, images in enumerate(stored(tmp_path, w)):  # the clean input, iterates, the result
        assert len(images) >= 3
        np.testing.assert_array_equal(images[0], np.moveaxis(x[i].numpy(), 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i], 0, -1))


class _Passed(Exception):
    """Raised by a stand-in attack's estimator: the adapter's checks let the call through."""


def _stand_in(name: str) -> object:
    """An attack named ``name``, targeted, that fails with :class:`_Passed` once used."""

    class Estimator:
        def predict(self, x, batch_size=None):
            raise _Passed

    return type(name, (), {"targeted": True, "estimator": Estimator()})()


def test_art_targets_as_art_takes_them(tmp_path):
    """The target check refused ART's AutoAttack(targeted=True), which takes the true labels
    and aims at every other class (its advice, true labels as targets, would judge each run
    by whether it reached its own class), and a (B, 1) column of targets ART accepts."""
    from animlib.integrations import art as adapter

    x, y = np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 2, 3])
    names = [str(k) for k in range(10)]
    cases = [("AutoAttack", None, y), ("ProjectedGradientDescent", [1, 2, 3, 4], (y + 1)[:, None])]
    for name, targets, labels in cases:
        with animlib.BatchWriter(tmp_path, experiment=name, class_names=names, true_labels=y,
                                 target_labels=targets) as w:  # fmt: skip
            with pytest.raises(_Passed):
                adapter.run(_stand_in(name), x, labels, w)
    with animlib.BatchWriter(tmp_path, experiment="aa-t", class_names=names, true_labels=y,
                             target_labels=y + 1) as w:  # fmt: skip
        with pytest.raises(ExperimentInputError, match="is untargeted but the writer"):
            adapter.run(_stand_in("AutoAttack"), x, y, w)


def test_an_untargeted_attack_is_refused_with_a_writer_holding_targets(cnn, tmp_path):  # noqa: F811
    """An untargeted attack logged with target_labels was judged as targeted: success 0.0625
    (reaching a target it never aimed at) where 7 of 16 images were misclassified."""
    import foolbox as fb
    import torchattacks
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art, foolbox
    from animlib.integrations import torchattacks as ta

    model, x, y = cnn
    targets = (y + 1) % 10
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    art_pgd = ProjectedGradientDescent(_art_estimator(model), eps=EPS, max_iter=2, verbose=False)
    calls = {
        "ta": lambda w: ta.run(torchattacks.PGD(model, eps=EPS, steps=2), x, y, w),
        "fb": lambda w: foolbox.run(fb.attacks.LinfPGD(steps=2), fmodel, x, y, EPS, w),
        "art": lambda w: art.run(art_pgd, x.numpy(), y.numpy(), w),
    }
    for name, call in calls.items():
        with writer(tmp_path, f"untargeted-{name}", x, y, target_labels=targets) as w:
            with pytest.raises(ExperimentInputError, match="is untargeted but the writer") as e:
                call(w)
        assert e.value.field == "target_labels", name
    assert not animlib.list_runs(tmp_path)  # (nothing logged: no half-written run)


def test_torchattacks_pixle_on_one_image_logs_no_rejected_candidate(cnn, tmp_path):  # noqa: F811
    """With one image each candidate Pixle tried and threw away looked like a whole batch and
    was stored as a step (the model's score went back and forth)."""
    import torchattacks

    model, x, y = cnn
    from animlib.integrations import torchattacks as adapter

    attack = torchattacks.Pixle(model, x_dimensions=(2, 4), y_dimensions=(2, 4), max_iterations=5)
    with writer(tmp_path, "ta-pixle", x[:1], y[:1]) as w:
        with pytest.warns(UserWarning, match="Pixle evaluates points that are not its iterates"):
            adv = adapter.run(attack, x[:1], y[:1], w)
    if np.array_equal(adv.numpy(), x[:1].numpy()):
        assert len(stored(tmp_path, w)[0]) == 1  # (not fooled: the result is step 0)
    else:
        _two_steps(tmp_path, w, x[:1], adv)


def test_art_elastic_net_logs_the_clean_input_and_the_result(cnn, tmp_path):  # noqa: F811
    """ElasticNet asks for gradients at its FISTA look-ahead points, which leave [0, 1]: the
    log aborted the attack ("float images must lie in [0, 1]")."""
    from art.attacks.evasion import ElasticNet

    from animlib.integrations import art as adapter

    model, x, y = cnn
    attack = ElasticNet(
        _art_estimator(model),
        max_iter=10,
        binary_search_steps=1,
        initial_const=10.0,
        batch_size=B,
        verbose=False,
    )
    with writer(tmp_path, "art-ead", x, y) as w:
        with pytest.warns(UserWarning, match="ElasticNet asks for gradients at points that"):
            adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    _two_steps(tmp_path, w, x, adv)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (ART inside numpy 2)
def test_art_mini_batches_with_restarts_stay_with_their_samples(cnn, tmp_path):  # noqa: F811
    """With batch_size 4 of 16 and 2 random restarts, the two restarts of samples 0-3 were
    logged as one step: sample 4's run showed sample 0's digit."""
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    attack = ProjectedGradientDescent(
        _art_estimator(model), eps=EPS, eps_step=0.02, max_iter=3, num_random_init=2,
        batch_size=4, verbose=False,
    )  # fmt: skip
    with writer(tmp_path, "art-restarts", x, y) as w:
        adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    for i, images in enumerate(stored(tmp_path, w)):  # each step within eps of its own image
        assert len(images) == 2 + 2 * 3, (i, len(images))  # clean, 3 iterates per restart, result
        assert np.abs(images - np.moveaxis(x.numpy()[i], 0, -1)).max() <= EPS + 1e-6, i
    np.testing.assert_array_equal(stored(tmp_path, w)[5][-1], np.moveaxis(adv[5], 0, -1))


def test_art_summary_writer_logs_the_clean_batch_given(cnn, tmp_path):  # noqa: F811
    """Used on its own with a random start, step 0 (and the runs' original) was the random
    start: L-inf read 0.25 where it was 0.3."""
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    with animlib.BatchWriter(tmp_path, experiment="own", true_labels=y) as w:  # no originals
        hook = adapter.SummaryWriter(w, clean=x)
        attack = ProjectedGradientDescent(
            _art_estimator(model), eps=EPS, eps_step=0.02, max_iter=3, num_random_init=1,
            summary_writer=hook, verbose=False,
        )  # fmt: skip
        with pytest.warns(UserWarning, match="log_returned"):
            adv = attack.generate(x.numpy(), y.numpy())
        hook.log_returned(adv)
    for i, images in enumerate(stored(tmp_path, w)):
        np.testing.assert_array_equal(images[0], np.moveaxis(x.numpy()[i], 0, -1))
        assert len(images) == 1 + 3 + 1
    run = animlib.open_run_in(tmp_path, "own-0000")
    assert run.meta["summary"]["linf"] == pytest.approx(
        float(np.abs(adv[0] - x.numpy()[0]).max()), abs=1e-6
    )


def test_an_adapters_near_probabilities_are_clipped_not_refused():
    """A softmax rounding 2e-3 outside [0, 1] was routed to confidences= and refused mid-attack
    with advice (clip them) the user cannot apply inside an adapter."""
    from animlib.integrations._recorder import score_kwargs

    got = score_kwargs(np.array([[1.002, -0.002, 0.0], [0.5, 0.5, 0.0]], np.float32))
    assert list(got) == ["confidences"]
    np.testing.assert_array_equal(got["confidences"], [[1, 0, 0], [0.5, 0.5, 0]])
    assert list(score_kwargs(np.array([[2.0, -1.0, 0.5]]))) == ["logits"]


def test_a_bfloat16_models_softmax_is_logged_as_its_confidences():
    """Its rows sum to 1 within bfloat16's rounding only (~0.4%): taken as logits, a softmax
    of them would have flattened every confidence towards 1/K."""
    from animlib.integrations._recorder import score_kwargs

    gen = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(8, 3, generator=gen).to(torch.bfloat16) * 3, -1)
    assert (p.float().sum(-1) - 1).abs().max() > 1e-3
    assert list(score_kwargs(p)) == ["confidences"]
    assert list(score_kwargs(list(p))) == ["confidences"]  # (a list of its rows)
    assert list(score_kwargs(p.float().numpy())) == ["logits"]  # (float32 rows as far off)


def test_an_attack_updating_one_tensor_in_place_has_each_iterate_logged(tmp_path):
    """The recorder keeps a copy of the batch it logged last: holding the attack's own tensor,
    each in-place iterate (``adv.add_(...)``) equalled it and was dropped as a repeat."""
    import torch

    from animlib.integrations._recorder import StepRecorder

    x = torch.full((2, 3, 8, 8), 0.5)
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    with animlib.BatchWriter(
        tmp_path, experiment="e", class_names=["a", "b"], true_labels=[0, 0]
    ) as w:
        recorder = StepRecorder(w, 2)
        recorder.observe(x.clone(), logits)  # the clean input
        adv = x.clone()
        for _ in range(4):
            adv.add_(0.01)
            recorder.probe(adv, logits)
        recorder.observe(adv, logits)  # the result: the last iterate again
    run = animlib.open_run(tmp_path / "e-0000")
    assert len(run) == 5
    assert [round(float(run.images[s].mean()), 2) for s in range(5)] == [
        0.5,
        0.51,
        0.52,
        0.53,
        0.54,
    ]
