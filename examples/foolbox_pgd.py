"""Foolbox 3's LinfPGD on the digits CNN, every model call of the attack logged by the adapter.

python examples/foolbox_pgd.py RESULTS [--eps 0.05,0.1,0.2] [--n 16] [--steps 20]
"""

from __future__ import annotations

import time

import foolbox
import torch
from common import alpha_for, batch_writer, parse_args, report, setup

from animlib.demo.cnn import one_thread
from animlib.integrations import foolbox as adapter


def main() -> None:
    started = time.perf_counter()
    args = parse_args(__doc__)
    torch.manual_seed(0)
    with one_thread():
        model, x, y = setup(args)
        fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
        for eps in args.eps:
            alpha = alpha_for(eps, args.steps)
            attack = foolbox.attacks.LinfPGD(steps=args.steps, abs_stepsize=alpha)
            with batch_writer(args, "foolbox-pgd", "PGD-Linf", eps, x, y, alpha=alpha) as w:
                adapter.run(attack, fmodel, x, y, eps, w)
    report(args, started)


if __name__ == "__main__":
    main()
