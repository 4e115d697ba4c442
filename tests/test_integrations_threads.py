"""Adapters in threads: two attacks at once on one shared object log only their own batches.

(Two ART attacks on one shared ``PyTorchClassifier`` logged each other's images; they are not
run here: torch itself may crash when two threads take gradients of one module at once.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from animlib.integrations._patching import patched


class Model:
    def score(self, x: int) -> int:
        return x


def test_a_method_is_wrapped_for_the_calling_thread_only():
    model, barrier = Model(), threading.Barrier(2)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def job(name: str, values: list[int]) -> None:
        def wrap(method):
            def logged(x):
                seen[name].append(x)
                return method(x)

            return logged

        with patched([(model, "score")], wrap):
            barrier.wait()  # both wrapped now
            for v in values:
                assert model.score(v) == v
            barrier.wait()  # neither unwrapped yet
        assert model.score(-1) == -1  # (the other thread's wrapper may still be on)

    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(job, "a", [1, 2, 3]), pool.submit(job, "b", [10, 20])]:
            f.result()
    assert seen == {"a": [1, 2, 3], "b": [10, 20]}
    assert "score" not in vars(model)  # the class's method again


def test_nested_wrappers_in_one_thread_compose_and_unwind():
    model, calls = Model(), []

    def tagged(tag):
        def wrap(method):
            return lambda x: calls.append(tag) or method(x)

        return wrap

    model.score = model.score  # an attribute of its own: put back as it was
    own = vars(model)["score"]
    with patched([(model, "score")], tagged("outer")):
        with patched([(model, "score")], tagged("inner")):
            model.score(1)
        model.score(2)
    model.score(3)
    assert calls == ["inner", "outer", "outer"]
    assert vars(model)["score"] is own
