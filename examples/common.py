"""Shared by the examples: command line, the digits CNN (cached outside the repo), a BatchWriter."""

from __future__ import annotations

import argparse
import os
import time

import animlib
from animlib.cli_args import int_at_least
from animlib.demo import cnn

DEFAULT_CACHE = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "animlib", "digits_cnn.npz"
)


def parse_args(description: str) -> argparse.Namespace:
    """RESULTS folder, --cache, --eps (comma-separated), --n images, --steps, --if-exists."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("results", help="results folder to log the experiments into")
    p.add_argument("--cache", default=DEFAULT_CACHE, help=f"CNN weights (default {DEFAULT_CACHE})")
    p.add_argument("--eps", default="0.05,0.1,0.2", help="L-inf budgets, one experiment each")
    at_least_1 = int_at_least(1)
    p.add_argument("--n", type=at_least_1, default=16, help="test images to attack (default 16)")
    p.add_argument("--steps", type=at_least_1, default=20, help="attack iterations (default 20)")
    p.add_argument("--if-exists", default="overwrite", choices=["new", "overwrite", "error"])
    args = p.parse_args()
    try:
        args.eps = [float(e) for e in args.eps.split(",") if e.strip()]
    except ValueError:
        p.error(f"--eps: comma-separated numbers, e.g. 0.05,0.1; got {args.eps!r}")
    if not args.eps or not all(0 < e <= 1 for e in args.eps):
        p.error(f"--eps: budgets in (0, 1], e.g. 0.05,0.1; got {args.eps}")
    return args


def setup(args: argparse.Namespace):
    """The trained CNN (loaded from the cache, or trained and cached) and the images to attack."""
    model = cnn.load_or_train(args.cache, quiet=False)
    images, labels = cnn.attack_batch(args.n)
    return model, images, labels


def batch_writer(args, experiment: str, attack: str, eps: float, images, labels, **params):
    """A BatchWriter for one attack at one eps, on the examples' digits CNN."""
    return animlib.BatchWriter(
        args.results,
        experiment=f"{experiment}-eps{eps:g}",
        attack=attack,
        model="cnn-digits32",
        class_names=cnn.CLASS_NAMES,
        true_labels=labels,
        originals=images,
        params={"eps": eps, "steps": args.steps, **params},
        tags=["example", "digits"],
        if_exists=args.if_exists,
    )


def alpha_for(eps: float, steps: int) -> float:
    """Step size letting the attack travel 2.5 eps over its steps."""
    return 2.5 * eps / steps


def report(args: argparse.Namespace, started: float) -> None:
    """Print the summary of every experiment in the results folder."""
    table = animlib.summarize(args.results, by=["experiment", "attack", "params.eps"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"done in {time.perf_counter() - started:.1f} s")
