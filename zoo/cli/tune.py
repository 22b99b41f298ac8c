"""``zoo tune RECIPE``: hyperparameter search from the command line (imports nothing heavy)."""

from __future__ import annotations

import argparse

from tuners.space import ALGORITHMS, BACKENDS, SCHEDULERS, SEARCHERS


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a tuning recipe: a .gin file or a bundled recipe name")
    parser.add_argument(
        "--backend", choices=BACKENDS, help="keras-tuner (default) or ray (tune.backend)"
    )
    parser.add_argument(
        "--algorithm", choices=ALGORITHMS, help="keras-tuner algorithm (tune.algorithm)"
    )
    parser.add_argument("--scheduler", choices=SCHEDULERS, help="Ray scheduler (tune.scheduler)")
    parser.add_argument("--search", choices=SEARCHERS, help="Ray search algorithm (tune.search)")
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a gin binding that overrides the recipe (repeatable)",
    )
    parser.add_argument("--max-trials", type=int, help="trials to run (tune.max_trials)")
    parser.add_argument(
        "--max-epochs", type=int, help="Hyperband's R / Ray's max_t (tune.max_epochs)"
    )
    parser.add_argument("--name", help="the tuning run's name: runs/<experiment>/tune-<name>/")
    parser.add_argument(
        "--address", help="a Ray cluster to join, e.g. 10.0.0.1:6379 or 'auto' (tune.address)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh instead of resuming the folder"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the size of the space and the algorithm's budget; train nothing",
    )


def tune_main(args: argparse.Namespace) -> int:
    from tuners.api import tune

    overrides = {
        "backend": args.backend,
        "algorithm": args.algorithm,
        "scheduler": args.scheduler,
        "search": args.search,
        "max_trials": args.max_trials,
        "max_epochs": args.max_epochs,
        "name": args.name,
        "address": args.address,
        "overwrite": True if args.overwrite else None,
    }
    result = tune(args.recipe, args.bind, dry_run=args.dry_run, **overrides)
    if args.dry_run:
        print(result)
    return 0
