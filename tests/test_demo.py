"""Tests for animlib.demo: data, the numpy MLP, real attacks, image edits and the demo build."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from animlib.demo import attacks
from animlib.demo.build import DemoConfig, build_demo
from animlib.demo.data import (
    DIGIT_CLASSES,
    SHAPE_CLASSES,
    load_digits_images,
    make_shapes,
    resize_bilinear,
)
from animlib.demo.image_edits import channel_split, gaussian_blur, progressive_blur
from animlib.demo.model import MLPClassifier

SMALL = DemoConfig(
    n_shapes=1000,
    shapes_epochs=4,
    digits_epochs=6,
    steps_scale=0.15,
    min_accuracy=0.5,
    sweep_samples=4,
    sweep_eps=(0.1,),
    sweep_steps=3,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The full demo, built once for this module (runs + trained models)."""
    base = tmp_path_factory.mktemp("demo")
    out = base / "runs"
    result = build_demo(str(out), seed=0, quiet=True, model_dir=str(base / "models"))
    return result


def _sources(demo, dataset: str, n: int = 4):
    """A few test images of a dataset that the model classifies correctly and confidently."""
    model = demo.models[dataset]
    x, y = demo.test_sets[dataset]
    probs = model.predict_proba(x)
    ok = np.flatnonzero((probs.argmax(axis=1) == y) & (probs[np.arange(len(y)), y] > 0.9))
    return model, x[ok[:n]], y[ok[:n]]


# ---------------------------------------------------------------------------------- data
def test_digits_are_scaled_float_images():
    x, y, names = load_digits_images(16)
    assert x.shape == (1797, 16, 16, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
    assert names == DIGIT_CLASSES and set(np.unique(y)) == set(range(10))
    x8, _, _ = load_digits_images(8)
    assert x8.shape == (1797, 8, 8, 1)
    # Nearest-free bilinear resize keeps constant images constant.
    flat = np.full((1, 8, 8, 1), 0.25, np.float32)
    assert np.allclose(resize_bilinear(flat, 32), 0.25)


def test_shapes_are_deterministic_rgb_images():
    a, ya, names = make_shapes(200, seed=3)
    b, yb, _ = make_shapes(200, seed=3)
    c, _, _ = make_shapes(200, seed=4)
    assert a.shape == (200, 32, 32, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert names == SHAPE_CLASSES and set(np.unique(ya)) == set(range(len(SHAPE_CLASSES)))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)
    # Images differ in colour, i.e. the channels are not all equal.
    assert np.abs(a[..., 0] - a[..., 1]).mean() > 0.05


# ---------------------------------------------------------------------------------- model
def test_models_reach_90_percent_on_held_out_data(demo):
    for name in ("digits", "shapes"):
        model = demo.models[name]
        x, y = demo.test_sets[name]
        assert len(x) >= 300
        acc = float(np.mean(model.predict(x) == y))
        assert acc >= 0.90, (name, acc)
        assert acc == pytest.approx(demo.accuracies[name])


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
@pytest.mark.parametrize("targeted", [False, True])
def test_input_gradient_matches_finite_differences(demo, dataset, targeted):
    model = demo.models[dataset]
    x, y = demo.test_sets[dataset]
    rng = np.random.default_rng(1)
    # A mix of two images keeps the probabilities away from 0/1 (non-tiny gradient).
    x0 = (0.5 * x[0] + 0.5 * x[1]).astype(np.float64)
    label = int((y[0] + 1) % model.n_classes) if targeted else int(y[0])
    loss, grad = model.loss_and_input_grad(x0, label, targeted=targeted)
    probs = model.predict_proba(x0)
    expected = np.log(probs[label]) if targeted else -np.log(probs[label])
    assert loss == pytest.approx(float(expected), rel=1e-4, abs=1e-5)
    assert grad.shape == x0.shape
    gnorm = float(np.linalg.norm(grad))
    assert gnorm > 1e-4
    h = 1e-5  # float64 input: the model computes in float64
    directions = [grad / gnorm] + [rng.standard_normal(x0.shape) for _ in range(4)]
    for d in directions:
        d = d / np.linalg.norm(d)
        lp, _ = model.loss_and_input_grad(x0 + h * d, label, targeted=targeted)
        lm, _ = model.loss_and_input_grad(x0 - h * d, label, targeted=targeted)
        numeric = (lp - lm) / (2 * h)
        analytic = float(np.sum(grad * d))
        assert numeric == pytest.approx(analytic, abs=1e-4 * gnorm + 1e-6)
    # Per-pixel check on the largest gradient entries.
    for flat_i in np.argsort(np.abs(grad).ravel())[-3:]:
        e = np.zeros(x0.size)
        e[flat_i] = 1.0
        e = e.reshape(x0.shape)
        lp, _ = model.loss_and_input_grad(x0 + h * e, label, targeted=targeted)
        lm, _ = model.loss_and_input_grad(x0 - h * e, label, targeted=targeted)
        assert (lp - lm) / (2 * h) == pytest.approx(grad.ravel()[flat_i], rel=1e-3, abs=1e-6)


def test_batch_gradient_equals_per_image_gradients(demo):
    model, xs, ys = _sources(demo, "shapes", 3)
    losses, grads = model.loss_and_input_grad(xs, ys)
    assert losses.shape == (3,) and grads.shape == xs.shape
    for i in range(3):
        loss_i, grad_i = model.loss_and_input_grad(xs[i], int(ys[i]))
        assert losses[i] == pytest.approx(loss_i, rel=1e-5)
        np.testing.assert_allclose(grads[i], grad_i, rtol=1e-4, atol=1e-7)


def test_predict_proba_is_a_softmax(demo):
    model, xs, _ = _sources(demo, "digits", 4)
    p = model.predict_proba(xs)
    assert p.shape == (4, 10) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.predict_proba(xs[0]), p[0], rtol=1e-5, atol=1e-7)


def test_save_load_roundtrip_without_pickle(demo, tmp_path):
    model, xs, _ = _sources(demo, "shapes", 4)
    path = tmp_path / "m.npz"
    model.save(str(path))
    with np.load(path, allow_pickle=False) as data:  # would raise if anything were pickled
        assert all(data[k].dtype != object for k in data.files)
    loaded = MLPClassifier.load(str(path))
    np.testing.assert_array_equal(loaded.predict_proba(xs), model.predict_proba(xs))
    assert loaded.class_names == SHAPE_CLASSES
    # The build saved its models outside the runs folder.
    for p in demo.model_paths.values():
        assert os.path.isfile(p)
        assert not os.path.abspath(p).startswith(os.path.abspath(demo.out) + os.sep)


def test_training_is_deterministic_for_a_seed():
    x, y, names = make_shapes(300, seed=0)
    a = MLPClassifier((32,), names, seed=7).fit(x, y, epochs=2)
    b = MLPClassifier((32,), names, seed=7).fit(x, y, epochs=2)
    c = MLPClassifier((32,), names, seed=8).fit(x, y, epochs=2)
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.weights[0], c.weights[0])


# ---------------------------------------------------------------------------------- attacks
def _attack_cases(model, x, label, dataset):
    k = model.n_classes
    target = int((label + 1) % k)
    eps = 0.2 if dataset == "digits" else 0.05
    l2 = 2.0 if dataset == "digits" else 1.5
    sq = 0.2 if dataset == "digits" else 0.07  # black-box search needs a little more room
    return {
        "bim": ("linf", eps, attacks.bim(model, x, label, eps, eps / 8, 30)),
        "pgd_linf": ("linf", eps, attacks.pgd_linf(model, x, label, eps, eps / 8, 30, rng=1)),
        "pgd_linf_targeted": (
            "linf",
            eps,
            attacks.pgd_linf_targeted(model, x, target, eps, eps / 8, 30, rng=1),
        ),
        "pgd_l2": ("l2", l2, attacks.pgd_l2(model, x, label, l2, l2 / 10, 30, rng=2)),
        "pgd_l2_clean_start": ("l2", l2, attacks.pgd_l2(model, x, label, l2, l2 / 10, 30)),
        "square": ("linf", sq, attacks.square_attack(model, x, label, sq, 80, rng=3)),
    }


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
def test_attacks_respect_eps_ball_and_box(demo, dataset):
    model, xs, ys = _sources(demo, dataset, 2)
    for x, label in zip(xs, ys, strict=True):
        for name, (norm, eps, gen) in _attack_cases(model, x, int(label), dataset).items():
            steps = list(gen)
            assert len(steps) > 10, name
            np.testing.assert_array_equal(steps[0][0], x)  # step 0 is the clean image
            np.testing.assert_allclose(steps[0][1], model.predict_proba(x), atol=1e-7)
            for img, probs in steps:
                assert img.shape == x.shape and img.dtype == np.float32
                assert img.min() >= 0.0 and img.max() <= 1.0, name
                delta = (img.astype(np.float64) - x).ravel()
                size = np.abs(delta).max() if norm == "linf" else np.linalg.norm(delta)
                assert size <= eps * (1 + 1e-5) + 1e-6, (name, size, eps)
                assert probs.shape == (model.n_classes,)
                assert probs.sum() == pytest.approx(1.0, abs=1e-5)
                # The yielded probabilities are the model's on the yielded image.
                np.testing.assert_allclose(probs, model.predict_proba(img), atol=1e-6)


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
def test_attacks_lower_true_class_confidence(demo, dataset):
    model, xs, ys = _sources(demo, dataset, 3)
    for x, label in zip(xs, ys, strict=True):
        label = int(label)
        target = int((label + 1) % model.n_classes)
        for name, (_, _, gen) in _attack_cases(model, x, label, dataset).items():
            steps = list(gen)
            p0, p_end = steps[0][1], model.predict_proba(steps[-1][0])
            assert p_end[label] < p0[label] - 0.3, (name, p0[label], p_end[label])
            if name == "pgd_linf_targeted":
                assert p_end[target] > p0[target]
                assert int(np.argmax(p_end)) == target
            else:
                assert int(np.argmax(p_end)) != label, name


def test_tiny_eps_does_not_flip(demo):
    model, xs, ys = _sources(demo, "digits", 3)
    for x, label in zip(xs, ys, strict=True):
        steps = list(attacks.pgd_linf(model, x, int(label), 0.005, 0.001, 20, rng=0))
        preds = [int(np.argmax(model.predict_proba(img))) for img, _ in steps]
        assert preds == [int(label)] * len(steps)


def test_square_attack_only_queries_probabilities(demo):
    model, xs, ys = _sources(demo, "shapes", 1)

    class BlackBox:
        calls = 0

        def predict_proba(self, x):
            BlackBox.calls += 1
            return model.predict_proba(x)

    steps = list(attacks.square_attack(BlackBox(), xs[0], int(ys[0]), 0.05, 30, rng=0))
    assert len(steps) == 31 and BlackBox.calls > 1
    assert int(np.argmax(model.predict_proba(steps[-1][0]))) != int(ys[0])


def test_attacks_are_deterministic_for_a_seed(demo):
    model, xs, ys = _sources(demo, "shapes", 1)
    for make in (
        lambda: attacks.pgd_linf(model, xs[0], int(ys[0]), 0.03, 0.005, 10, rng=5),
        lambda: attacks.pgd_l2(model, xs[0], int(ys[0]), 1.0, 0.1, 10, rng=5),
        lambda: attacks.square_attack(model, xs[0], int(ys[0]), 0.03, 10, rng=5),
    ):
        a, b = list(make()), list(make())
        for (ia, pa), (ib, pb) in zip(a, b, strict=True):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_array_equal(pa, pb)


# ---------------------------------------------------------------------------------- edits
def test_progressive_blur_smooths_more_each_step():
    x, _, _ = make_shapes(1, seed=0)
    frames = list(progressive_blur(x[0], 10, max_sigma=3.0))
    assert len(frames) == 11
    np.testing.assert_array_equal(frames[0], x[0])
    roughness = [float(np.abs(np.diff(f, axis=1)).mean()) for f in frames]
    assert all(b < a for a, b in zip(roughness, roughness[1:], strict=False))
    for f in frames:
        assert f.shape == x[0].shape and f.dtype == np.float32
        assert f.min() >= 0.0 and f.max() <= 1.0
    # A blur preserves a constant image and (away from clipping) the mean brightness.
    const = np.full((8, 8, 1), 0.4, np.float32)
    np.testing.assert_allclose(gaussian_blur(const, 2.0), 0.4, atol=1e-6)
    assert gaussian_blur(x[0], 1.5).mean() == pytest.approx(float(x[0].mean()), abs=0.01)


def test_channel_split_slides_red_and_blue_apart():
    x, _, _ = make_shapes(1, seed=1)
    frames = list(channel_split(x[0], 6, max_shift=6))
    assert len(frames) == 7
    np.testing.assert_array_equal(frames[0], x[0])
    last = frames[-1]
    np.testing.assert_array_equal(last[..., 1], x[0][..., 1])  # green stays put
    # Red moved by (-6, -6): pixel (r, c) of the result is source pixel (r + 6, c + 6).
    np.testing.assert_allclose(last[:-6, :-6, 0], x[0][6:, 6:, 0], atol=1e-6)
    np.testing.assert_allclose(last[6:, 6:, 2], x[0][:-6, :-6, 2], atol=1e-6)
    gray = list(channel_split(np.zeros((8, 8, 1), np.float32), 2))
    assert gray[-1].shape == (8, 8, 3)


# ---------------------------------------------------------------------------------- build
def test_runs_folder_holds_only_run_folders(demo):
    entries = sorted(os.listdir(demo.out))
    assert sorted(demo.run_ids + demo.sweep_run_ids) == entries
    for entry in entries:
        path = os.path.join(demo.out, entry)
        assert os.path.isdir(path)
        with open(os.path.join(path, "run.json")) as fh:
            assert json.load(fh)["status"] == "finished"
    assert not any(name.endswith(".npz") for _, _, files in os.walk(demo.out) for name in files)


def test_demo_has_the_planned_mix_of_runs(demo):
    runs = demo.runs
    assert 15 <= len(runs) <= 25
    assert len(set(demo.run_ids)) == len(runs)
    for dataset in ("digits", "shapes"):
        mine = [r for r in runs if r.dataset == dataset and r.expect_success is not None]
        assert any(r.expect_success for r in mine) and any(not r.expect_success for r in mine)
        assert any(r.target_label is not None for r in mine)
        by_source: dict[str, list] = {}
        for r in mine:
            by_source.setdefault(r.source, []).append(r)
        assert len(by_source) >= 2
        assert all(len({r.attack for r in group}) >= 2 for group in by_source.values())
    assert any(r.expect_success is None for r in runs)  # image-edit runs
    for r in runs:
        assert 31 <= r.steps <= 121, (r.name, r.steps)
        assert r.success == r.expect_success


def test_stored_runs_match_the_model(demo):
    import animlib

    for info in demo.runs:
        run = animlib.open_run(os.path.join(demo.out, info.run_id))
        meta = run.meta
        for key in ("name", "attack", "true_label", "target_label", "tags", "params"):
            assert key in meta
        assert meta["name"] == info.name
        assert f"source:{info.source}" in meta["tags"] and meta["params"]["source"] == info.source
        assert info.dataset in meta["tags"]
        assert len(run) == info.steps
        images = np.stack([run.images[i] for i in range(len(run))])
        original = run.original
        assert original is not None
        np.testing.assert_array_equal(images[0], original)
        assert images.min() >= 0.0 and images.max() <= 1.0
        if info.expect_success is None:
            assert "image-edit" in meta["tags"]
            assert run.confidences is None and meta["true_label"] is None
            assert not np.array_equal(images[-1], images[0])
            continue
        model = demo.models[info.dataset]
        true, target = meta["true_label"], meta["target_label"]
        assert true == info.true_label and target == info.target_label
        assert meta["class_names"] == model.class_names
        # Recompute predictions from the stored images: never trust stored confidences.
        probs = model.predict_proba(images)
        preds = probs.argmax(axis=1)
        assert preds[0] == true
        # Also, what was stored is what the model says.
        np.testing.assert_allclose(run.confidences, probs, atol=1e-5)
        eps, norm = meta["params"]["eps"], meta["params"]["norm"]
        delta = (images.astype(np.float64) - original).reshape(len(images), -1)
        size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        assert size.max() <= eps * (1 + 1e-4) + 1e-6, info.name
        if target is not None:
            assert "targeted" in meta["tags"] and target != true
            hits = preds == target
        else:
            assert "untargeted" in meta["tags"]
            hits = preds != true
        if info.expect_success:
            assert hits[-1], f"{info.name}: expected success, final pred {preds[-1]}"
            assert probs[-1, true] < probs[0, true]
        else:
            assert not hits.any(), f"{info.name}: expected failure, preds {preds.tolist()}"


def test_build_is_deterministic_for_a_seed(tmp_path):
    a = build_demo(str(tmp_path / "a"), seed=1, quiet=True, config=SMALL)
    b = build_demo(str(tmp_path / "b"), seed=1, quiet=True, config=SMALL)
    import animlib

    assert a.run_ids == b.run_ids and a.experiments == b.experiments
    assert len(a.experiments) == 3 and len(a.sweep_run_ids) == 12
    for w_a, w_b in zip(a.shapes_model.weights, b.shapes_model.weights, strict=True):
        np.testing.assert_array_equal(w_a, w_b)
    for run_id in a.run_ids + a.sweep_run_ids:
        ra = animlib.open_run(str(tmp_path / "a" / run_id))
        rb = animlib.open_run(str(tmp_path / "b" / run_id))
        assert len(ra) == len(rb)
        for key in ("name", "params", "tags", "true_label", "target_label"):
            assert ra.meta[key] == rb.meta[key]
        np.testing.assert_array_equal(
            np.stack(list(ra.images)), np.stack(list(rb.images)), err_msg=run_id
        )
        if ra.confidences is not None:
            np.testing.assert_array_equal(ra.confidences, rb.confidences)


def test_rebuild_replaces_only_earlier_demo_runs(tmp_path):
    import animlib
    from animlib.demo.build import DEMO_TAG, _remove_previous

    img = np.zeros((4, 4, 1), np.float32)
    for name, tags in (("bim-eps0.15-digits0", [DEMO_TAG]), ("my-own-run", ["mine"])):
        with animlib.RunWriter(str(tmp_path), name=name, tags=tags) as w:
            w.log(image=img)
    _remove_previous(str(tmp_path), "bim-eps0.15-digits0")
    _remove_previous(str(tmp_path), "my-own-run")  # not a demo run: kept
    _remove_previous(str(tmp_path), "does-not-exist")
    assert sorted(os.listdir(tmp_path)) == ["my-own-run"]


def test_a_rebuild_never_replaces_a_users_experiment_of_the_same_id(demo, tmp_path):
    """`animlib demo --out` into a folder holding the user's own experiment with a demo
    experiment's id replaced it (if_exists="overwrite"): the user's runs were gone."""
    import animlib
    from animlib.demo.sweep import write_sweep

    out = str(tmp_path)
    probs = np.full((2, 10), 0.1, np.float32)
    with animlib.BatchWriter(out, experiment="sweep-bim-eps0.05", attack="MyBIM",
                             class_names=DIGIT_CLASSES, true_labels=[0, 1]) as w:  # fmt: skip
        for step in range(3):
            w.log(images=np.full((2, 16, 16, 1), step / 4, np.float32), confidences=probs)
    model, (x, y) = demo.models["digits"], demo.test_sets["digits"]
    for build in range(2):  # a first build, then a rebuild
        written = write_sweep(out, model, x, y, DIGIT_CLASSES, samples=2, eps=[0.05], steps=2,
                              seed=build, replace=True, log=lambda _: None)  # fmt: skip
        assert "sweep-bim-eps0.05-2" in written and "sweep-bim-eps0.05" not in written
    infos = {i.id: i for i in animlib.list_runs(out)}
    mine = sorted(i for i, info in infos.items() if info.get("attack") == "MyBIM")
    assert mine == ["sweep-bim-eps0.05-0000", "sweep-bim-eps0.05-0001"]
    assert len(animlib.open_run(os.path.join(out, mine[0]))) == 3
    # the rebuild replaced the demo's own runs, under the same id: none left over
    assert sorted(infos) == sorted(mine + written["sweep-bim-eps0.05-2"]
                                   + written["sweep-fgsm-eps0.05"]
                                   + written["sweep-pgd-linf-eps0.05"])  # fmt: skip
    assert infos["sweep-bim-eps0.05-2-0000"].get("params")["steps"] == 2
    # a damaged run (whose it is cannot be told) and a folder of the user's named like a
    # sample are left alone: the rebuild goes beside them (an overwrite removed both)
    (tmp_path / "sweep-fgsm-eps0.05-0001" / "run.json").write_text("{x")
    (tmp_path / "sweep-pgd-linf-eps0.05-0016").mkdir()
    (tmp_path / "sweep-pgd-linf-eps0.05-0016" / "notes.txt").write_text("mine")
    written = write_sweep(out, model, x, y, DIGIT_CLASSES, samples=2, eps=[0.05], steps=2,
                          seed=0, replace=True, log=lambda _: None)  # fmt: skip
    assert "sweep-fgsm-eps0.05-2" in written and "sweep-pgd-linf-eps0.05-2" in written
    assert (tmp_path / "sweep-fgsm-eps0.05-0001" / "run.json").read_text() == "{x"
    assert (tmp_path / "sweep-pgd-linf-eps0.05-0016" / "notes.txt").read_text() == "mine"


def test_demo_sweep_is_a_grid_of_experiments(demo):
    """16 test digits x FGSM/BIM/PGD x 3 eps, one experiment each; the stored runs agree with
    the model and stay inside their eps ball."""
    import animlib

    exps = {e.id: e for e in animlib.list_experiments(demo.out)}
    assert sorted(exps) == sorted(demo.experiments) and len(exps) == 9
    table = animlib.summarize(demo.out, by=["attack", "params.eps"])
    assert sorted(set(table["attack"])) == ["BIM", "FGSM", "PGD-Linf"]
    assert sorted(set(table["params.eps"])) == [0.05, 0.1, 0.2] and (table["n"] == 16).all()
    for attack, group in table.groupby("attack"):  # a larger eps never helps robustness
        assert group.sort_values("params.eps")["robust_acc"].is_monotonic_decreasing, attack
    model = demo.models["digits"]
    x_test, y_test = demo.test_sets["digits"]
    for exp_id in ("sweep-fgsm-eps0.10", "sweep-pgd-linf-eps0.20"):
        exp = exps[exp_id]
        assert exp.run_ids == [f"{exp_id}-{i:04d}" for i in range(16)]
        assert exp.get("model") == "mlp-digits" and "sweep" in exp.get("tags")
        for i, run_id in enumerate(exp.run_ids):
            run = animlib.open_run(os.path.join(demo.out, run_id))
            images = np.stack(list(run.images))
            assert run.meta["experiment"] == exp_id and run.meta["sample"] == i
            assert run.true_label == int(y_test[i])
            np.testing.assert_array_equal(images[0], x_test[i])
            np.testing.assert_allclose(run.confidences, model.predict_proba(images), atol=1e-5)
            eps = run.params["eps"]
            assert np.abs(images - images[0]).max() <= eps + 1e-6
            assert len(run) == (2 if "fgsm" in exp_id else 11)


def test_pgd_linf_and_pgd_l2_are_pgd_in_their_ball():
    import inspect

    x, y, names = make_shapes(40, seed=0)
    model = MLPClassifier((8,), names, seed=7).fit(x, y, epochs=1)
    xi, label = x[0], int(y[0])

    def run(attack, *args, **kw):
        return [step for step, _ in attack(model, xi, label, *args, **kw)]

    def same(a, b):
        assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))

    linf = (0.05, 0.01, 6)
    same(run(attacks.pgd_linf, *linf), run(attacks.pgd, *linf, 0))  # default: seed 0
    same(run(attacks.pgd_linf, *linf, 3), run(attacks.pgd, *linf, rng=3, norm="linf"))
    assert not np.array_equal(run(attacks.pgd_linf, *linf)[1], xi)  # a random start
    l2 = (1.0, 0.1, 6)
    plain = run(attacks.pgd_l2, *l2)
    same(plain, run(attacks.pgd_l2, *l2, None))  # default: the clean image, as rng=None
    same(plain, run(attacks.pgd, *l2, norm="l2"))
    grad = model.loss_and_input_grad(np.asarray(xi, np.float32), label)[1]
    first = np.clip(xi + 0.1 * grad / np.linalg.norm(grad), 0, 1).astype(np.float32)
    np.testing.assert_allclose(plain[1], first, atol=1e-6)  # one step from the clean image
    assert not np.array_equal(run(attacks.pgd_l2, *l2, rng=2)[1], plain[1])
    target = (label + 1) % model.n_classes
    same(run(attacks.pgd_l2, *l2, 2, target), run(attacks.pgd_l2, *l2, rng=2, target=target))
    params = list(inspect.signature(attacks.pgd_l2).parameters)
    assert params[:8] == ["model", "x", "label", "eps", "alpha", "steps", "rng", "target"]
    assert "norm" in attacks.pgd_l2.__doc__ and "L2" in attacks.pgd_l2.__doc__
    with pytest.raises(ValueError, match="norm"):
        next(attacks.pgd(model, xi, label, *l2, norm="l1"))


def test_a_rebuild_names_a_run_of_the_users_it_left_at_a_demo_id(tmp_path, capsys):
    """README: "the command's output says which runs it left as they are"; a run of the
    user's at a demo id was kept and the demo's written beside it (``-2``), and nothing said so
    (only a demo run with files added was named)."""
    import shutil

    import animlib

    out = tmp_path / "runs"
    first = build_demo(str(out), seed=1, quiet=True, config=SMALL)
    demo = first.runs[0]
    shutil.rmtree(out / demo.run_id)
    with animlib.RunWriter(out, name=demo.name, layout="HWC") as w:  # the user's run
        w.log(image=np.zeros((8, 8, 3), np.float32))
    assert w.run_id == demo.run_id
    capsys.readouterr()
    second = build_demo(str(out), seed=1, quiet=False, config=SMALL)
    said = capsys.readouterr().out
    assert (
        f"  {demo.run_id}: left as it is, not the demo's run (a run of yours, or a folder that "
        f"is no readable run); written beside it as {demo.run_id}-2\n" in said
    )
    assert f"{demo.run_id}-2" in second.run_ids and len(animlib.open_run(out / demo.run_id)) == 1
    assert said.count("left as it is") == 1  # (the runs replaced in place are not named)


def test_a_rebuild_keeps_a_demo_run_the_user_added_files_to(tmp_path, capsys):
    """A rebuild removed an earlier build's runs (tagged demo) whole: notes and renders the
    user had put in their folders were lost. Such a run is now left as it is (as a run not the
    demo's is) and the rebuild's goes beside it, saying so."""
    import animlib

    out = tmp_path / "runs"
    first = build_demo(str(out), seed=1, quiet=True, config=SMALL)
    mine, kept = first.runs[0], first.runs[1]
    assert mine.run_id == mine.name
    (out / mine.run_id / "notes.txt").write_text("mine")
    sample = first.sweep_run_ids[0]
    experiment = sample.rsplit("-", 1)[0]
    (out / sample / "images" / "my-render.mp4").write_bytes(b"mp4")
    (out / kept.run_id / ".tmp-0123abcd").write_bytes(b"")  # a kill's leftover is the run's own
    second = build_demo(str(out), seed=1, quiet=False, config=SMALL)
    said = capsys.readouterr().out
    assert (out / mine.run_id / "notes.txt").read_text() == "mine"
    assert (out / sample / "images" / "my-render.mp4").read_bytes() == b"mp4"
    assert len(animlib.open_run(out / mine.run_id)) == mine.steps  # the run, whole
    assert len(animlib.open_run(out / sample)) > 0
    assert f"{mine.run_id}-2" in second.run_ids and mine.run_id not in second.run_ids
    assert (
        f"{mine.run_id}: left as it is, it holds files of yours (notes.txt); written beside it "
        f"as {mine.run_id}-2" in said
    )
    assert f"{experiment}-2" in second.experiments and experiment not in second.experiments
    assert f"{experiment}: left as it is" in said and f"written beside it as {experiment}-2" in said
    # the runs left as built are replaced in place, as before
    assert kept.run_id in second.run_ids and not (out / f"{kept.run_id}-2").exists()
    assert not (out / kept.run_id / ".tmp-0123abcd").exists()
    others = [e for e in first.experiments if e != experiment]
    assert all(e in second.experiments for e in others)
    # a third build replaces the second's run beside the kept one: no -3, -4, ... pile-up
    third = build_demo(str(out), seed=1, quiet=True, config=SMALL)
    assert f"{mine.run_id}-2" in third.run_ids and not (out / f"{mine.run_id}-3").exists()
    assert f"{experiment}-2" in third.experiments
    assert (out / mine.run_id / "notes.txt").read_text() == "mine"
    assert len([p for p in out.iterdir() if p.name.startswith(f"{mine.run_id}-")]) == 1
    # the user's files gone, the next build replaces the runs in place and drops its copies
    (out / mine.run_id / "notes.txt").unlink()
    (out / sample / "images" / "my-render.mp4").unlink()
    fourth = build_demo(str(out), seed=1, quiet=True, config=SMALL)
    assert mine.run_id in fourth.run_ids and experiment in fourth.experiments
    assert not (out / f"{mine.run_id}-2").exists(), "the run's copy was left"
    assert not list(out.glob(f"{experiment}-2-*")), "the sweep's copy was left"
    made = first.run_ids + first.sweep_run_ids
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(made)
