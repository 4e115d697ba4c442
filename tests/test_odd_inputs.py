"""Inputs users pass that the writers took wrongly: long scalar names, rounding below 0, lists
of tensors that require grad."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import animlib

IMG = np.zeros((5, 5, 3), np.float32)


def test_a_scalar_name_too_long_for_a_folder_is_an_input_error(tmp_path):
    """It passed the check, then every flush failed with the file system's error: the steps
    were lost and the experiment could not be closed."""
    name = "a" * 300
    with pytest.raises(animlib.ExperimentInputError, match="scalar names are at most 200") as e:
        with animlib.BatchWriter(tmp_path, experiment="long") as w:
            w.log(images=np.stack([IMG, IMG]), **{name: [1.0, 2.0]})
    assert e.value.field == name
    with pytest.raises(animlib.RunInputError, match="scalar names are at most 200"):
        with animlib.RunWriter(tmp_path, name="long-run") as w:
            w.log(image=IMG, **{"é" * 101: 1.0})  # 202 bytes
    assert animlib.list_runs(tmp_path) == [] or all(
        not r.ok or r.get("status") == "failed" for r in animlib.list_runs(tmp_path)
    )


def test_a_refused_scalar_name_says_what_is_valid(tmp_path):
    """TensorBoard-style names (``loss/ce``, ``acc.top1``) were refused with "is not a valid
    scalar name" and no rule."""
    rule = "use letters, digits and _ (a Python identifier, not starting with a digit)"
    w = animlib.RunWriter(tmp_path, name="r")
    for name, like in (
        ("loss/ce", "loss_ce"),
        ("acc.top1", "acc_top1"),
        ("margin loss", "margin_loss"),
    ):
        with pytest.raises(animlib.RunInputError) as e:
            w.log(image=IMG, **{name: 1.0})
        assert str(e.value) == f"run 'r': {name}: is not a valid scalar name: {rule}, e.g. {like}"
        assert e.value.field == name
    with pytest.raises(animlib.RunInputError, match="it is reserved"):
        w.log(image=IMG, images=1.0)
    w.log(image=IMG, loss_ce=1.0)
    w.finish()
    with pytest.raises(animlib.ExperimentInputError, match=rf"1top: .*{re.escape(rule)}, e.g. "):
        with animlib.BatchWriter(tmp_path, experiment="b") as b:
            b.log(images=np.stack([IMG, IMG]), **{"1top": [1.0, 2.0]})


def test_probabilities_a_rounding_below_zero_are_probabilities(tmp_path):
    """[.5, .5, -1e-12] was refused as "these look like logits" (1e-6 of slack above 1, none
    below 0); they are stored clipped to 0."""
    with animlib.RunWriter(tmp_path, name="r", class_names=["a", "b", "c"]) as w:
        w.log(image=IMG, confidences=[0.5, 0.5, -1e-12])
    np.testing.assert_array_equal(animlib.open_run_in(tmp_path, "r").confidences[0], [0.5, 0.5, 0])
    with animlib.BatchWriter(tmp_path, experiment="b") as w:
        w.log(images=np.stack([IMG, IMG]), confidences=[[1.0, -1e-9], [0.2, 0.8]])
    assert animlib.open_run_in(tmp_path, "b-0000").confidences[0].tolist() == [1.0, 0.0]
    with pytest.raises(animlib.RunInputError, match="look like logits"):
        with animlib.RunWriter(tmp_path, name="r2") as w:
            w.log(image=IMG, confidences=[1.01, -0.01])


def test_lists_of_tensors_that_require_grad_are_taken(tmp_path):
    """A list of such tensors raised torch's RuntimeError, naming no run or field."""
    torch = pytest.importorskip("torch")
    a = torch.rand(5, 5, 3, requires_grad=True)
    b = torch.rand(5, 5, 3, requires_grad=True)
    logits = [torch.tensor([2.0, 0.0], requires_grad=True), torch.tensor([0.0, 1.0])]
    with animlib.BatchWriter(tmp_path, experiment="l") as w:
        w.log(images=[a, b], logits=logits, loss=[torch.tensor(1.0, requires_grad=True), 2.0])
    run = animlib.open_run_in(tmp_path, "l-0001")
    np.testing.assert_array_equal(run.images[0], b.detach().numpy())
    assert run.scalars["loss"][0] == 2.0


def test_an_image_shape_either_layout_could_mean_is_said(tmp_path):
    """(3, 4, 4) CHW was stored as a 3x4 RGBA image without a word (layout="auto"). The
    warning names the user's log line (it named a line of animlib's writer.py)."""
    with pytest.warns(
        UserWarning, match=r"shape \(3, 4, 4\) could be \(H, W, C\) or \(C, H, W\)"
    ) as said:
        with animlib.RunWriter(tmp_path, name="a") as w:
            here = inspect.currentframe().f_lineno
            w.log(image=np.zeros((3, 4, 4), np.float32))
    assert [(m.filename, m.lineno) for m in said] == [(__file__, here + 1)]
    with pytest.warns(UserWarning, match=r"shape \(1, 3, 3\) could be") as said:
        with animlib.BatchWriter(tmp_path, experiment="b") as w:
            here = inspect.currentframe().f_lineno
            w.log(images=np.zeros((2, 1, 3, 3), np.float32))
    assert [(m.filename, m.lineno) for m in said] == [(__file__, here + 1)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plain shapes, or a layout given: nothing to say
        with animlib.RunWriter(tmp_path, name="c") as w:
            w.log(image=np.zeros((3, 32, 32), np.float32))
        with animlib.RunWriter(tmp_path, name="d", layout="CHW") as w:
            w.log(image=np.zeros((3, 4, 4), np.float32))
    assert animlib.open_run_in(tmp_path, "d").images[0].shape == (4, 4, 3)


def test_logits_errors_name_logits_and_huge_logits_warn_nothing(tmp_path, monkeypatch):
    import warnings

    monkeypatch.setenv("ANIMLIB_MAX_CLASSES", "5")
    with pytest.raises(animlib.RunInputError) as err:
        with animlib.RunWriter(tmp_path, name="many") as w:
            w.log(image=IMG, logits=np.zeros(6))
    assert err.value.field == "logits"  # (it said confidences)
    monkeypatch.delenv("ANIMLIB_MAX_CLASSES")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # softmax's overflow RuntimeWarning leaked
        with animlib.RunWriter(tmp_path, name="huge") as w:
            w.log(image=IMG, logits=[1.7e308, -1.7e308, 0.0])
    assert animlib.open_run_in(tmp_path, "huge").confidences[0].tolist() == [1.0, 0.0, 0.0]


def test_a_bool_tensor_is_no_class_index(tmp_path):
    """RunWriter refused True and np.True_ but took torch.tensor(True) as class 1."""
    torch = pytest.importorskip("torch")
    for label in (True, np.True_, torch.tensor(True)):
        with pytest.raises(animlib.RunInputError, match="must be an integer class index"):
            animlib.RunWriter(tmp_path, name="b", true_label=label)
    assert animlib.list_runs(tmp_path) == []


def test_a_uint8_original_of_float_steps_says_how_to_pass_it(tmp_path):
    x0 = np.full((4, 4, 3), 128, np.uint8)
    with animlib.RunWriter(tmp_path, name="r", original=x0) as w:
        with pytest.raises(animlib.RunInputError, match=r"original / 255") as info:
            w.log(image=x0.astype(np.float32) / 255, confidences=[0.5, 0.5])
        assert info.value.field == "image"
        w.log(image=x0, confidences=[0.5, 0.5])  # the run takes its own dtype


def test_a_step_index_that_is_no_integer_is_refused(tmp_path):
    """``images[1.7]`` and ``images["1"]`` read step 1."""
    with animlib.RunWriter(tmp_path, name="r") as w:
        for i in range(3):
            w.log(image=np.full((4, 4), i, np.uint8))
    images = animlib.open_run(tmp_path / "r").images
    for bad in (1.7, "1", True, None):
        with pytest.raises(animlib.StepIndexError, match="index with an int") as e:
            images[bad]
        assert e.value.field == "step" and e.value.run == "r"
    assert images[np.int64(2)][0, 0, 0] == 2 and images[-1][0, 0, 0] == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: animlib.open_run(""),
        lambda: animlib.list_runs(""),
        lambda: animlib.RunWriter("", name="x"),
        lambda: animlib.BatchWriter("", experiment="e"),
    ],
)
def test_an_empty_path_is_refused_not_taken_as_the_current_folder(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(animlib.StoreError, match="the path is empty") as e:
        call()
    assert e.value.field == "url" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field", ["attack", "model"])
def test_an_attack_or_model_that_is_no_text_is_refused_before_writing(tmp_path, field):
    """model=3 (an index) or attack=["PGD"] was written, and every reader then called the run
    broken ("model: must be a string or null")."""
    with pytest.raises(animlib.RunInputError, match="must be a string or null; got 3") as one:
        animlib.RunWriter(tmp_path, name="r", **{field: 3})
    assert (one.value.field, one.value.run) == (field, "r")
    with pytest.raises(animlib.ExperimentInputError, match="must be a string or null") as batch:
        animlib.BatchWriter(tmp_path, experiment="e", true_labels=[0], **{field: ["PGD"]})
    assert batch.value.field == field
    assert list(tmp_path.iterdir()) == []  # (nothing written)


@pytest.mark.parametrize("field", ["image", "confidences", "loss"])
def test_a_tensor_without_data_is_an_input_error_naming_the_field(tmp_path, field):
    """A tensor on torch's "meta" device raised a bare NotImplementedError from ``.cpu()``."""
    torch = pytest.importorskip("torch")
    given = {"image": IMG, "confidences": [0.5, 0.5], "loss": 1.0}
    shape = {"image": (5, 5, 3), "confidences": (2,), "loss": ()}[field]
    given[field] = torch.empty(shape, device="meta")
    with pytest.raises(animlib.RunInputError, match="meta tensor") as e:
        with animlib.RunWriter(tmp_path, name="meta", class_names=["a", "b"]) as w:
            w.log(**given)
    assert e.value.field == field


def test_a_bfloat16_softmax_is_taken_by_run_writer(tmp_path):
    """Refused as "not summing to 1" (sum 0.998), bfloat16's rounding."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(10, generator=gen).to(torch.bfloat16) * 3, -1)
    assert abs(float(p.float().sum()) - 1) > 1e-3
    with animlib.RunWriter(tmp_path, name="bf", class_names=list("abcdefghij")) as w:
        w.log(image=IMG, confidences=p)
    np.testing.assert_array_equal(animlib.open_run(w.path).confidences[0], p.float().numpy())
    with animlib.RunWriter(tmp_path, name="bf-list", class_names=list("abcdefghij")) as w:
        w.log(image=IMG, confidences=list(p))  # (a list of bfloat16 tensors)
    # logits in bfloat16 that lie in [0, 1] summing to 1 within its rounding are still logits
    # (refused as probabilities when given as logits only if they sum to 1 within 1e-3)
    small = torch.tensor([0.5, 0.497], dtype=torch.bfloat16)
    with animlib.RunWriter(tmp_path, name="bf-logits", class_names=list("ab")) as w:
        w.log(image=IMG, logits=small)


@pytest.mark.parametrize("value", [1e300, -1e300])
def test_a_finite_float64_beyond_float32_is_out_of_range_not_nan(tmp_path, value):
    """float64 values past float32's range became inf in the cast, and the message spoke of
    NaN/inf: a user hunting a NaN in a diverging attack looked in the wrong place."""
    image = np.full((4, 4, 3), 0.5)
    image[1, 2, 0] = value
    with animlib.RunWriter(tmp_path, name="r", class_names=["a", "b"]) as w:
        w.log(image=np.zeros((4, 4, 3)), confidences=[0.5, 0.5], layout="HWC")
        with pytest.raises(animlib.RunInputError, match=r"must lie in \[0, 1\]; got values in"):
            w.log(image=image, confidences=[0.5, 0.5], layout="HWC")
    batch = np.full((3, 4, 4, 3), 0.5)
    batch[2, 0, 0, 1] = value
    with animlib.BatchWriter(tmp_path, experiment="b", class_names=["a", "b"]) as w:
        with pytest.raises(animlib.RunInputError, match=r"sample 2: images: float images must"):
            w.log(images=batch, confidences=np.full((3, 2), 0.5), layout="HWC")


def test_writer_meta_holds_params_as_given_and_its_docstring_says_so(tmp_path):
    """``RunWriter.meta`` said "as last written to run.json", but its params and fields are
    the values as given (``json.dumps(w.meta)`` failed on a tensor); run.json has them encoded."""
    doc = " ".join(animlib.RunWriter.meta.__doc__.split())
    assert "as last written to run.json" not in doc
    assert "``params`` and ``fields`` hold the values as given" in doc and "encoded" in doc
    eps, seed = np.float32(0.1), np.int64(3)
    with animlib.RunWriter(tmp_path, name="p", params={"eps": eps}, fields={"seed": seed}) as w:
        w.log(image=IMG)
        assert w.meta["params"]["eps"] is eps and w.meta["seed"] is seed  # (as given)
        assert w.meta["steps"] == 1
    stored = animlib.open_run(w.url).meta
    assert (stored["params"], stored["seed"]) == ({"eps": 0.1}, 3)
    assert type(stored["params"]["eps"]) is float and type(stored["seed"]) is int
