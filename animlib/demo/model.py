"""A small pure-numpy MLP image classifier with real input gradients for the demo attacks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MLPClassifier:
    """ReLU multilayer perceptron on flattened images, trained with mini-batch Adam.

    Inputs are images shaped (H, W, C) or batches (N, H, W, C) with values in [0, 1]. The first
    operation is a fixed standardisation ``(x - mean) / std`` learned from the training set, so
    every gradient returned by :meth:`loss_and_input_grad` is with respect to the raw image.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (128,),
        class_names: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.hidden = tuple(int(h) for h in hidden)
        self.class_names = list(class_names) if class_names is not None else None
        self.seed = int(seed)
        self.input_shape: tuple[int, ...] | None = None
        self.mean: np.ndarray | None = None
        self.std: np.float32 = np.float32(1.0)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []

    # ------------------------------------------------------------------ core maths
    @property
    def n_classes(self) -> int:
        return int(self.biases[-1].shape[0])

    def _as_batch(self, x: np.ndarray) -> tuple[np.ndarray, bool]:
        """Flatten x to (N, D) (float64 stays float64, else float32); flag a single image."""
        if self.input_shape is None:
            raise RuntimeError("model is not fitted")
        x = np.asarray(x)
        x = x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)
        single = x.shape == self.input_shape
        if single:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"expected images of shape {self.input_shape}, got {x.shape}")
        return x.reshape(len(x), -1), single

    def _forward(self, flat: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Return the post-activation of every layer (input first) and the output logits."""
        h = (flat - self.mean) / self.std
        acts = [h]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
            acts.append(h)
        logits = h @ self.weights[-1] + self.biases[-1]
        return acts, logits

    def _backward(
        self, acts: list[np.ndarray], dlogits: np.ndarray, need_params: bool
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Backpropagate d(loss)/d(logits); return weight grads, bias grads and input grad."""
        gw: list[np.ndarray] = []
        gb: list[np.ndarray] = []
        delta = dlogits
        for layer in range(len(self.weights) - 1, -1, -1):
            if need_params:
                gw.append(acts[layer].T @ delta)
                gb.append(delta.sum(axis=0))
            delta = delta @ self.weights[layer].T
            if layer > 0:
                delta = delta * (acts[layer] > 0)
        gw.reverse()
        gb.reverse()
        return gw, gb, delta / self.std

    @staticmethod
    def _softmax(logits: np.ndarray) -> np.ndarray:
        z = logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    # ------------------------------------------------------------------ public API
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        n_classes: int | None = None,
    ) -> MLPClassifier:
        """Train on images x (N, H, W, C) in [0, 1] and integer labels y (N,); deterministic."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        rng = np.random.default_rng(self.seed)
        self.input_shape = tuple(x.shape[1:])
        flat = x.reshape(len(x), -1)
        self.mean = flat.mean(axis=0)
        self.std = np.float32(max(float(flat.std()), 1e-6))
        k = int(n_classes if n_classes is not None else y.max() + 1)
        sizes = [flat.shape[1], *self.hidden, k]
        self.weights = [
            (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
        params = self.weights + self.biases
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        t = 0
        onehot = np.eye(k, dtype=np.float32)
        for _ in range(epochs):
            order = rng.permutation(len(flat))
            for start in range(0, len(flat), batch_size):
                idx = order[start : start + batch_size]
                acts, logits = self._forward(flat[idx])
                probs = self._softmax(logits).astype(np.float32)
                dlogits = (probs - onehot[y[idx]]) / len(idx)
                gw, gb, _ = self._backward(acts, dlogits, need_params=True)
                grads = [g + weight_decay * w for g, w in zip(gw, self.weights, strict=True)] + gb
                t += 1
                lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
                for p, g, m_i, v_i in zip(params, grads, m, v, strict=True):
                    m_i *= beta1
                    m_i += (1 - beta1) * g
                    v_i *= beta2
                    v_i += (1 - beta2) * g * g
                    p -= (lr_t * m_i / (np.sqrt(v_i) + eps)).astype(np.float32)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities: (K,) float32 for one image, (N, K) for a batch."""
        flat, single = self._as_batch(x)
        _, logits = self._forward(flat)
        probs = self._softmax(logits).astype(np.float32)
        return probs[0] if single else probs

    def predict(self, x: np.ndarray) -> np.ndarray | int:
        """Arg-max class: an int for one image, an (N,) array for a batch."""
        probs = self.predict_proba(x)
        return int(np.argmax(probs)) if probs.ndim == 1 else probs.argmax(axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of images in x whose predicted class equals y."""
        return float(np.mean(self.predict(x) == np.asarray(y)))

    def loss_and_input_grad(
        self, x: np.ndarray, label: int | np.ndarray, targeted: bool = False
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """Attack objective and its exact gradient with respect to the input image(s).

        Untargeted: the cross-entropy ``-log p[label]``. Targeted (``label`` is the target class):
        the negated cross-entropy ``+log p[label]``. Either way, *ascending* the returned loss is
        the attack direction. For one image (H, W, C) this returns ``(float, (H, W, C))``; for a
        batch it returns per-image losses ``(N,)`` and per-image gradients ``(N, H, W, C)``, i.e.
        ``grad[i] = d loss[i] / d x[i]``. Float64 input is computed in float64 throughout (handy
        for finite-difference checks); the gradient is returned as float32.
        """
        flat, single = self._as_batch(x)
        labels = np.broadcast_to(np.asarray(label, dtype=np.int64), (len(flat),))
        acts, logits = self._forward(flat)
        z = logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(len(flat))
        loss = -log_probs[rows, labels]
        dlogits = np.exp(log_probs)
        dlogits[rows, labels] -= 1.0
        if targeted:
            loss, dlogits = -loss, -dlogits
        _, _, grad = self._backward(acts, dlogits.astype(flat.dtype), need_params=False)
        grad = grad.reshape((len(flat), *self.input_shape)).astype(np.float32)
        if single:
            return float(loss[0]), grad[0]
        return loss, grad

    # ------------------------------------------------------------------ persistence
    def save(self, path: str) -> None:
        """Write all parameters to an ``.npz`` file (plain arrays only, no pickles)."""
        if self.input_shape is None:
            raise RuntimeError("model is not fitted")
        arrays: dict[str, np.ndarray] = {
            "hidden": np.asarray(self.hidden, dtype=np.int64),
            "input_shape": np.asarray(self.input_shape, dtype=np.int64),
            "mean": self.mean,
            "std": np.asarray(self.std, dtype=np.float32),
            "seed": np.asarray(self.seed, dtype=np.int64),
            "class_names": np.asarray(self.class_names or [], dtype=np.str_),
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str) -> MLPClassifier:
        """Read a model written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as data:
            names = [str(s) for s in data["class_names"]]
            model = cls(
                hidden=data["hidden"].tolist(),
                class_names=names or None,
                seed=int(data["seed"]),
            )
            model.input_shape = tuple(int(s) for s in data["input_shape"])
            model.mean = data["mean"].astype(np.float32)
            model.std = np.float32(data["std"])
            n_layers = len(model.hidden) + 1
            model.weights = [data[f"w{i}"].astype(np.float32) for i in range(n_layers)]
            model.biases = [data[f"b{i}"].astype(np.float32) for i in range(n_layers)]
        return model
