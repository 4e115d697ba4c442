"""A small PyTorch CNN on scikit-learn's digits at 32x32, for the examples, tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from .data import DIGIT_CLASSES, load_digits_images, train_test_split

SIZE = 32
TEST_FRACTION = 0.2


class DigitsCNN(nn.Module):
    """Two conv layers and a linear head: (N, 1, 32, 32) in [0, 1] -> (N, 10) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self.head(self.features(x))


def digits32(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits at 32x32 as (N, 1, 32, 32) float32 in [0, 1], split.

    Args:
        seed: Seed of the train/test split.

    Returns:
        ``(x_train, y_train, x_test, y_test)``.
    """
    x, y, _ = load_digits_images(SIZE)
    x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    x_tr, y_tr, x_te, y_te = train_test_split(x, y, TEST_FRACTION, seed)
    return x_tr, y_tr, x_te, y_te


def train(epochs: int = 8, seed: int = 0, quiet: bool = True) -> DigitsCNN:
    """Train the CNN on the digits training split (a few seconds on one CPU core).

    Runs on one torch thread: for a network this small a second thread gains little on an idle
    machine and costs ten times over on a busy one.

    Args:
        epochs: Passes over the training set.
        seed: Seed of the weights, the split and the batch order.
        quiet: Print nothing when True.

    Returns:
        The trained model, in eval mode.
    """
    with one_thread():
        model = _fit(epochs, seed)
    if not quiet:
        _, _, x_te, y_te = digits32(seed)
        print(f"digits CNN: test accuracy {accuracy(model, x_te, y_te):.1%}")
    return model


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (small networks, busy machines)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(epochs: int, seed: int) -> DigitsCNN:
    torch.manual_seed(seed)
    x_tr, y_tr, _, _ = digits32(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of images ``x`` the model classifies as ``y``."""
    return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def save(model: nn.Module, path: str) -> None:
    """Write the weights as a plain ``.npz`` (no pickle), atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def load(path: str) -> DigitsCNN:
    """Read weights written by :func:`save` (``allow_pickle=False``); the model is in eval mode."""
    model = DigitsCNN()
    with np.load(path, allow_pickle=False) as data:
        model.load_state_dict({k: torch.from_numpy(data[k]) for k in data.files})
    return model.eval()


def load_or_train(cache: str | None, quiet: bool = True) -> DigitsCNN:
    """The trained CNN from ``cache`` (an ``.npz``), training and saving it there when absent.

    Args:
        cache: Weights file (outside the repository), or None to always train.
        quiet: Print nothing when True.

    Returns:
        The model, in eval mode.
    """
    if cache and os.path.exists(cache):
        return load(cache)
    model = train(quiet=quiet)
    if cache:
        save(model, cache)
    return model


def attack_batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images (N, 1, 32, 32) and their labels, as tensors."""
    _, _, x_te, y_te = digits32(seed)
    return torch.from_numpy(x_te[:n]), torch.from_numpy(y_te[:n])


CLASS_NAMES = list(DIGIT_CLASSES)
