"""Adapters against the real torchattacks, ART and Foolbox on a small CNN trained on digits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from torch_helpers import assert_summary_matches, cnn_weights

import animlib

torch = pytest.importorskip("torch")
B = 16
EPS, ALPHA, STEPS = 0.1, 0.02, 10


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    from animlib.demo import cnn as cnn_module

    model = cnn_module.load(cnn_weights(tmp_path_factory))
    x, y = cnn_module.attack_batch(B)
    with cnn_module.one_thread():  # tiny network: one thread is as fast and spares a busy machine
        yield model, x, y


def writer(root, name, x, y, **kw):
    from animlib.demo.cnn import CLASS_NAMES

    return animlib.BatchWriter(
        root,
        experiment=name,
        attack=name,
        model="cnn-digits",
        class_names=CLASS_NAMES,
        true_labels=y,
        originals=x,
        params={"eps": EPS, "alpha": ALPHA, "steps": STEPS},
        **kw,
    )


def stored(root, w) -> list[np.ndarray]:
    """(steps, H, W, C) images of every sample run of the writer ``w``."""
    return [np.stack(list(animlib.open_run_in(root, r).images)) for r in w.run_ids]


def check_steps(root, w, x, adv, steps: int) -> None:
    """Step 0 is the clean input, the last step the returned images, no step repeats."""
    adv = adv.detach().numpy() if hasattr(adv, "detach") else np.asarray(adv)
    x = x.numpy() if hasattr(x, "numpy") else x
    for i, images in enumerate(stored(root, w)):
        assert len(images) == steps, (w.run_ids[i], len(images))
        np.testing.assert_array_equal(images[0], np.moveaxis(x[i], 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i], 0, -1))
        assert images.dtype == np.float32 == adv.dtype
        assert all(not np.array_equal(a, b) for a, b in zip(images[:-1], images[1:], strict=True))
        assert np.abs(images - images[0]).max() <= EPS + 1e-6


def test_torchattacks_pgd(cnn, tmp_path):
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    attack = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    with writer(tmp_path, "ta-pgd", x, y) as w:
        adv = adapter.run(attack, x, y, w)
    assert "get_logits" not in vars(attack)  # the wrapper is gone again
    check_steps(tmp_path, w, x, adv, STEPS + 2)  # clean, random start + 9 iterates, result
    assert_summary_matches(tmp_path, "ta-pgd", model)
    # without random start the first iterate is the clean input: logged once
    bim = torchattacks.BIM(model, eps=EPS, alpha=ALPHA, steps=STEPS)
    with writer(tmp_path, "ta-bim", x, y) as w:
        adv = adapter.run(bim, x, y, w)
    check_steps(tmp_path, w, x, adv, STEPS + 1)
    assert_summary_matches(tmp_path, "ta-bim", model)


def test_a_warning_of_a_step_logged_inside_the_attack_names_the_users_line(tmp_path):
    """The layout warning of a step the adapter logged from inside torchattacks named
    torchattacks' own line (pgd.py ``self.get_logits(...)``), besides the user's line for the
    clean step: shown twice, once at a library's line. It names the user's ``run(...)`` line."""
    import warnings

    torchattacks = pytest.importorskip("torchattacks")
    from animlib.integrations import torchattacks as ta

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
    x, y = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])  # (3, 4, 4): HWC or CHW?
    with (
        animlib.BatchWriter(tmp_path, experiment="e") as w,
        warnings.catch_warnings(record=True) as got,
    ):
        warnings.simplefilter("always")
        ta.run(torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=3), x, y, w)
    said = [m for m in got if "could be (H, W, C) or (C, H, W)" in str(m.message)]
    assert said and {m.filename for m in said} == {__file__}


def test_torchattacks_attack_working_image_by_image_logs_two_steps_and_says_so(cnn, tmp_path):
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    attack = torchattacks.DeepFool(model, steps=3)
    with writer(tmp_path, "ta-deepfool", x, y) as w:
        with pytest.warns(UserWarning, match="DeepFool works on part of the batch at a time"):
            adv = adapter.run(attack, x, y, w)
    assert [len(images) for images in stored(tmp_path, w)] == [2] * B
    assert np.array_equal(stored(tmp_path, w)[3][1], np.moveaxis(adv[3].numpy(), 0, -1))


def test_torchattacks_multiattack_logs_the_iterations_of_its_first_attack(cnn, tmp_path):
    """AutoAttack and MultiAttack run attacks on the attack object's behalf: their iterations
    on the whole batch are steps too (before, only the clean input and the result were)."""
    import torchattacks

    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    pgd = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    attack = torchattacks.MultiAttack([pgd, torchattacks.FGSM(model, eps=EPS)])
    with writer(tmp_path, "ta-multi", x, y) as w:
        with pytest.warns(UserWarning, match="MultiAttack works on part of the batch.*were not"):
            adv = adapter.run(attack, x, y, w)
    assert not any("get_logits" in vars(a) for a in (attack, pgd, *attack.attacks))
    adv = adv.detach().numpy()
    for i, images in enumerate(stored(tmp_path, w)):
        assert len(images) >= STEPS + 2, (w.run_ids[i], len(images))  # clean, PGD's, result
        np.testing.assert_array_equal(images[0], np.moveaxis(x[i].numpy(), 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i], 0, -1))
    assert_summary_matches(tmp_path, "ta-multi", model)


def _art_estimator(model):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 32, 32),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )


def test_art_pgd(cnn, tmp_path):
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    attack = ProjectedGradientDescent(
        _art_estimator(model), eps=EPS, eps_step=ALPHA, max_iter=STEPS, num_random_init=1,
        batch_size=4, verbose=False,
    )  # fmt: skip
    with writer(tmp_path, "art-pgd", x, y) as w:
        adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    assert attack.summary_writer is None  # the attack given was not changed
    check_steps(tmp_path, w, x, adv, STEPS + 2)
    assert_summary_matches(tmp_path, "art-pgd", model)
    assert "tensorboardX" not in sys.modules


@pytest.mark.parametrize(
    "name",
    ["ProjectedGradientDescentPyTorch", "ProjectedGradientDescentNumpy", "BasicIterativeMethod"],
)
def test_art_attacks_built_without_the_hook_log_every_iteration(cnn, tmp_path, name):
    """ART attacks that cannot be built again from their attack_params (an argument they do not
    take) get the hook for the call and lose it after; mini-batches (4 of 16) are gathered."""
    from art.attacks import evasion

    from animlib.integrations import art as adapter

    model, x, y = cnn
    attack = getattr(evasion, name)(
        _art_estimator(model), eps=EPS, eps_step=ALPHA, max_iter=STEPS, batch_size=4,
        verbose=False,
    )  # fmt: skip
    with writer(tmp_path, name, x, y) as w:
        adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    assert attack.summary_writer is None  # the attack given is as it was
    check_steps(tmp_path, w, x, adv, STEPS + 1)  # no random init: iterate 0 is the clean input
    assert_summary_matches(tmp_path, name, model)


@pytest.mark.parametrize("name", ["AutoProjectedGradientDescent", "DeepFool"])
def test_art_attacks_without_a_summary_writer_log_the_iterates_they_take_gradients_at(
    cnn, tmp_path, name
):
    """ART gives these no summary writer; each iterate is a batch the attack asks the
    estimator a gradient for (before, only the clean input and the result were logged)."""
    import warnings

    from art.attacks import evasion

    from animlib.integrations import art as adapter

    model, x, y = cnn
    estimator = _art_estimator(model)
    kw = {"eps": EPS, "eps_step": ALPHA, "nb_random_init": 1} if name.startswith("Auto") else {}
    attack = getattr(evasion, name)(estimator, max_iter=5, batch_size=B, verbose=False, **kw)
    with writer(tmp_path, f"art-{name}", x, y) as w:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # every iterate was a full batch
            adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    assert not {"loss_gradient", "class_gradient"} & set(vars(estimator))  # unwrapped again
    for i, images in enumerate(stored(tmp_path, w)):
        assert len(images) > 2, (w.run_ids[i], len(images))
        np.testing.assert_array_equal(images[0], np.moveaxis(x.numpy()[i], 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i], 0, -1))
    if name != "DeepFool":  # (it stops right at the boundary, where a forward pass of another
        # batch size may round to the other class: its flip steps are not recomputable)
        assert_summary_matches(tmp_path, f"art-{name}", model)


def test_art_attack_without_iterations_to_hook_logs_two_steps_and_says_so(cnn, tmp_path):
    from art.attacks.evasion import DeepFool

    from animlib.integrations import art as adapter

    model, x, y = cnn
    # one image at a time: no iterate is a batch of all B, so none can be a step
    attack = DeepFool(_art_estimator(model), max_iter=3, batch_size=1, verbose=False)
    with writer(tmp_path, "art-deepfool", x, y) as w:
        with pytest.warns(UserWarning, match="'art-deepfool': DeepFool calls no summary writer"):
            adv = adapter.run(attack, x.numpy(), y.numpy(), w)
    for i, images in enumerate(stored(tmp_path, w)):
        assert len(images) == 2
        np.testing.assert_array_equal(images[0], np.moveaxis(x.numpy()[i], 0, -1))
        np.testing.assert_array_equal(images[1], np.moveaxis(adv[i], 0, -1))


def test_art_summary_writer_with_mini_batches(cnn, tmp_path):
    """The lower-level hook, passed by hand, with ART mini-batches smaller than B. Without
    random init PGD starts at the clean input, so its first iteration is step 0; the result is
    logged by hand."""
    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    with writer(tmp_path, "art-bim", x, y) as w:
        hook = adapter.SummaryWriter(w, clean=x)
        attack = ProjectedGradientDescent(
            _art_estimator(model), eps=EPS, eps_step=ALPHA, max_iter=STEPS, num_random_init=0,
            batch_size=5, summary_writer=hook, verbose=False,
        )  # fmt: skip
        assert isinstance(hook, adapter.SummaryWriter) and attack.summary_writer is hook
        with pytest.warns(UserWarning, match="log_returned"):
            adv = attack.generate(x.numpy(), y.numpy())
        w.log(images=adv, logits=model(torch.from_numpy(adv)))
    check_steps(tmp_path, w, x, adv, STEPS + 1)
    assert_summary_matches(tmp_path, "art-bim", model)


def test_art_summary_writer_logs_the_returned_images_when_asked(cnn, tmp_path):
    """Used on its own, the hook sees each iteration's input only: log_returned adds the
    attack's result as the last step (confidences from the same estimator)."""
    import warnings

    from art.attacks.evasion import ProjectedGradientDescent

    from animlib.integrations import art as adapter

    model, x, y = cnn
    with writer(tmp_path, "art-own", x, y) as w:
        hook = adapter.SummaryWriter(w, clean=x)
        with pytest.raises(animlib.RunInputError, match="no iteration was logged yet"):
            hook.log_returned(x.numpy())
        attack = ProjectedGradientDescent(
            _art_estimator(model), eps=EPS, eps_step=ALPHA, max_iter=STEPS, num_random_init=0,
            summary_writer=hook, verbose=False,
        )  # fmt: skip
        with pytest.warns(UserWarning, match="never the images generate returns"):
            adv = attack.generate(x.numpy(), y.numpy())
        hook.log_returned(adv)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # told once
            attack.generate(x.numpy(), y.numpy())
    images = stored(tmp_path, w)
    assert all(len(steps) == STEPS + 1 + STEPS for steps in images)  # a second generate's too
    for i, steps in enumerate(images):
        np.testing.assert_array_equal(steps[STEPS], np.moveaxis(adv[i], 0, -1))
        np.testing.assert_array_equal(steps[0], np.moveaxis(x.numpy()[i], 0, -1))


def test_foolbox_linf_pgd(cnn, tmp_path):
    import foolbox

    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
    attack = foolbox.attacks.LinfPGD(steps=STEPS, abs_stepsize=ALPHA)
    with writer(tmp_path, "fb-pgd", x, y) as w:
        adv = adapter.run(attack, fmodel, x, y, EPS, w)
    assert isinstance(adv, torch.Tensor)
    check_steps(tmp_path, w, x, adv, STEPS + 2)
    assert_summary_matches(tmp_path, "fb-pgd", model)


def test_plain_pytorch_loop(cnn, tmp_path):
    model, x, y = cnn
    with writer(tmp_path, "loop", x, y) as w:
        x_adv = x.clone()
        w.log(images=x_adv, logits=model(x_adv))
        for _ in range(STEPS):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            loss = torch.nn.functional.cross_entropy(logits, y)
            grad = torch.autograd.grad(loss, x_adv)[0]
            x_adv = (x + (x_adv.detach() + ALPHA * grad.sign() - x).clamp(-EPS, EPS)).clamp(0, 1)
            w.log(images=x_adv, logits=model(x_adv), loss=loss.item())
    check_steps(tmp_path, w, x, x_adv, STEPS + 1)
    assert_summary_matches(tmp_path, "loop", model)


def test_adapters_import_no_library_until_used():
    code = (
        "import sys\n"
        "from animlib.integrations import art, foolbox, torchattacks\n"
        "assert art.__name__ == 'animlib.integrations.art'\n"
        "loaded = {'torch', 'art', 'foolbox', 'torchattacks', 'eagerpy'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_torchattacks_normalization_is_refused(cnn, tmp_path):
    import torchattacks

    from animlib.batch_input import ExperimentInputError
    from animlib.integrations import torchattacks as adapter

    model, x, y = cnn
    attack = torchattacks.FGSM(model, eps=EPS)
    attack.set_normalization_used(mean=[0.5], std=[0.5])
    with pytest.raises(ExperimentInputError, match="set_normalization_used"):
        adapter.run(attack, x, y, writer(tmp_path, "norm", x, y))


@pytest.mark.parametrize("name", ["L2CarliniWagnerAttack", "L2DeepFoolAttack", "DDNAttack"])
def test_foolbox_minimization_attack_without_epsilon(cnn, tmp_path, name):
    """Minimization attacks run unbounded with Foolbox's ``epsilons=None``; they were refused
    as "several epsilons"."""
    import foolbox

    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
    attack = getattr(foolbox.attacks, name)(steps=5)
    with writer(tmp_path, name, x, y) as w:
        adv = adapter.run(attack, fmodel, x, y, None, w)
    for i, images in enumerate(stored(tmp_path, w)):
        assert len(images) > 2, (w.run_ids[i], len(images))  # its iterations were logged
        np.testing.assert_array_equal(images[0], np.moveaxis(x[i].numpy(), 0, -1))
        np.testing.assert_array_equal(images[-1], np.moveaxis(adv[i].numpy(), 0, -1))
    assert_summary_matches(tmp_path, name, model)


def test_foolbox_with_several_epsilons_is_refused_before_anything_is_logged(cnn, tmp_path):
    """Foolbox takes a list of epsilons; one run cannot hold several: a clear error first."""
    import foolbox

    from animlib.batch_input import ExperimentInputError
    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
    with writer(tmp_path, "fb-many", x, y) as w:
        with pytest.raises(ExperimentInputError, match=r"one number \(or None\) per") as e:
            adapter.run(foolbox.attacks.LinfPGD(steps=2), fmodel, x, y, [0.1, 0.2], w)
        assert e.value.field == "epsilon" and "fb-many" in str(e.value)
        assert len(w) == 0


def test_foolbox_none_with_a_fixed_epsilon_attack_is_refused_before_anything_is_logged(
    cnn, tmp_path
):
    """``epsilon=None`` with LinfPGD raised Foolbox's NotImplementedError ("FixedEpsilonAttack
    subclasses do not yet support None in epsilons") and left the sample runs failed."""
    import foolbox

    from animlib.batch_input import ExperimentInputError
    from animlib.integrations import foolbox as adapter

    model, x, y = cnn
    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
    with writer(tmp_path, "fb-none", x, y) as w:
        with pytest.raises(ExperimentInputError, match="is a fixed-epsilon attack") as e:
            adapter.run(foolbox.attacks.LinfPGD(steps=2), fmodel, x, y, None, w)
        assert e.value.field == "epsilon" and "fb-none" in str(e.value)
        assert "LinfProjectedGradientDescentAttack is" in str(e.value) and len(w) == 0
