"""A plain PyTorch PGD (L-inf) loop on the digits CNN; every step is logged with one call.

python examples/pytorch_loop.py RESULTS [--eps 0.05,0.1,0.2] [--n 16] [--steps 20]
"""

from __future__ import annotations

import time

import torch
from common import alpha_for, batch_writer, parse_args, report, setup

from animlib.demo.cnn import one_thread


def pgd(model, x, y, eps: float, alpha: float, steps: int, writer) -> torch.Tensor:
    """PGD from a random start, logged as the adapters log a library's attack (so flip steps
    compare across them): the clean batch, the batch each iteration evaluates (the random start
    first) with its logits and loss, then the batch returned."""
    writer.log(images=x, logits=model(x))
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        writer.log(images=x_adv.detach(), logits=logits.detach(), loss=loss.detach())
        grad = torch.autograd.grad(loss.sum(), x_adv)[0]
        x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    with torch.no_grad():
        writer.log(images=x_adv, logits=model(x_adv))
    return x_adv


def main() -> None:
    started = time.perf_counter()
    args = parse_args(__doc__)
    torch.manual_seed(0)
    with one_thread():
        model, x, y = setup(args)
        for eps in args.eps:
            alpha = alpha_for(eps, args.steps)
            with batch_writer(args, "loop-pgd", "PGD-Linf", eps, x, y, alpha=alpha) as w:
                pgd(model, x, y, eps, alpha, args.steps, w)
    report(args, started)


if __name__ == "__main__":
    main()
