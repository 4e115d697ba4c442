"""torchattacks' PGD on the digits CNN, every iteration logged through the adapter.

    python examples/torchattacks_pgd.py RESULTS [--eps 0.05,0.1,0.2] [--n 16] [--steps 20]

Install torchattacks with ``pip install --no-deps torchattacks`` (its torchvision dependency
would replace a CPU torch with a CUDA build).
"""

from __future__ import annotations

import time

import torch
import torchattacks
from common import alpha_for, batch_writer, parse_args, report, setup

from animlib.demo.cnn import one_thread
from animlib.integrations import torchattacks as adapter


def main() -> None:
    started = time.perf_counter()
    args = parse_args(__doc__)
    torch.manual_seed(0)
    with one_thread():
        model, x, y = setup(args)
        for eps in args.eps:
            alpha = alpha_for(eps, args.steps)
            attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps)
            with batch_writer(args, "torchattacks-pgd", "PGD-Linf", eps, x, y, alpha=alpha) as w:
                adapter.run(attack, x, y, w)
    report(args, started)


if __name__ == "__main__":
    main()
