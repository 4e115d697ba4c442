"""ART's ProjectedGradientDescent on the digits CNN, logged through ART's summary_writer hook.

python examples/art_pgd.py RESULTS [--eps 0.05,0.1,0.2] [--n 16] [--steps 20]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from common import alpha_for, batch_writer, parse_args, report, setup

from animlib.demo.cnn import one_thread
from animlib.integrations import art as adapter


def main() -> None:
    started = time.perf_counter()
    args = parse_args(__doc__)
    np.random.seed(0)  # ART draws its random start from numpy
    with one_thread():
        model, x, y = setup(args)
        estimator = PyTorchClassifier(
            model,
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=10,
            clip_values=(0.0, 1.0),
        )
        for eps in args.eps:
            alpha = alpha_for(eps, args.steps)
            attack = ProjectedGradientDescent(
                estimator,
                eps=eps,
                eps_step=alpha,
                max_iter=args.steps,
                num_random_init=1,
                verbose=False,
            )
            with batch_writer(args, "art-pgd", "PGD-Linf", eps, x, y, alpha=alpha) as w:
                adapter.run(attack, x.numpy(), y.numpy(), w)
    report(args, started)


if __name__ == "__main__":
    main()
