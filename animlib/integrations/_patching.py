"""Methods of an attack's objects wrapped while an adapter runs, for the calling thread only."""

# Two attacks running at once in two threads may share one object (an ART estimator, a model):
# wrapping its method for one run wrapped it for the other too, and each run then logged the
# other's batches (and the last to finish put back a wrapper). So the object gets one
# dispatcher per method while any run wraps it: a call goes to the calling thread's wrappers
# (nested runs in one thread compose, innermost first), else to the method itself: a call from
# a thread that runs no logged attack is logged by none (an attack that evaluates in worker
# threads of its own logs its clean input and result only; no attack of the three libraries
# does). A warning for such calls was tried: the adapters' own calls after their run ended,
# while another thread's run on the same object went on, set it off.

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["patched"]

_LOCK = threading.Lock()
_PATCHES: dict[tuple[int, str], _Patch] = {}


class _Patch:
    """One wrapped method of one object: what it was, and each thread's wrappers."""

    def __init__(self, obj: Any, name: str) -> None:
        self.obj, self.name = obj, name
        self.own, self.had_own = vars(obj).get(name), name in vars(obj)
        self.method = getattr(obj, name)
        self.stacks: dict[int, list[Callable[..., Any]]] = {}

        @functools.wraps(self.method)
        def dispatch(*args: Any, **kwargs: Any) -> Any:
            return self.target()(*args, **kwargs)

        setattr(obj, name, dispatch)

    def target(self) -> Callable[..., Any]:
        stack = self.stacks.get(threading.get_ident())
        return stack[-1] if stack else self.method

    def push(self, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        stack = self.stacks.setdefault(threading.get_ident(), [])
        stack.append(wrap(stack[-1] if stack else self.method))

    def pop(self) -> bool:
        """Drop this thread's innermost wrapper; True when no thread wraps the method now
        (it is then put back: an attribute the object had of its own is restored, one it took
        from its class is deleted again)."""
        me = threading.get_ident()
        stack = self.stacks[me]
        stack.pop()
        if not stack:
            del self.stacks[me]
        if self.stacks:
            return False
        if self.had_own:
            setattr(self.obj, self.name, self.own)
        else:
            vars(self.obj).pop(self.name, None)
        return True


@contextlib.contextmanager
def patched(
    targets: Iterable[tuple[Any, str]], wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """Each method ``obj.name`` of ``targets`` replaced by ``wrap(obj.name)`` for calls from
    this thread while the block runs, then put back."""
    held: list[tuple[int, str]] = []
    try:
        for obj, name in targets:
            key = (id(obj), name)
            with _LOCK:
                patch = _PATCHES.get(key)  # (it holds obj: no other object has its id)
                if patch is None:
                    patch = _PATCHES[key] = _Patch(obj, name)
                patch.push(wrap)
            held.append(key)
        yield
    finally:
        with _LOCK:
            for key in reversed(held):
                if _PATCHES[key].pop():
                    del _PATCHES[key]
