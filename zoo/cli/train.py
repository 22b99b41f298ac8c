"""The ``zoo train`` and ``zoo find-lr`` commands: a recipe's run, or its learning-rate sweep."""

from __future__ import annotations

import argparse

from zoo.cli.args import add_recipe_arguments
from zoo.errors import ConfigError


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    add_recipe_arguments(p, optional=True)
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN_DIR",
        help="continue a stopped run with its own settings: RUN_DIR (zoo train --resume "
        "runs/fashion/r1), or the recipe's train.run_name, else its experiment's newest run",
    )
    p.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="k-fold cross-validation: one nested run per fold, mean and std in the parent "
        "(same as --bind train.folds=K)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the recipe, load the data and build the model; train nothing",
    )


def train_main(args: argparse.Namespace) -> int:
    from zoo.training.api import check, train

    bindings = list(args.bind)
    if args.recipe is None and not isinstance(args.resume, str):
        raise ConfigError(
            "zoo train needs a recipe (zoo list --recipes), or --resume RUN_DIR to continue a run."
        )
    if args.check:
        setup = check(args.recipe, bindings)
        print(f"recipe OK: {setup.settings.model} on {setup.settings.dataset}; nothing trained.")
        return 0
    if args.folds:
        bindings.append(f"train.folds = {int(args.folds)}")
    result = train(args.recipe, bindings, resume=args.resume)
    return 0 if result.status == "FINISHED" else 1


def add_find_lr_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``zoo find-lr``."""
    add_recipe_arguments(p)
    p.add_argument("--min-lr", type=float, default=1e-7, help="first rate of the sweep (1e-7)")
    p.add_argument("--max-lr", type=float, default=10.0, help="last rate of the sweep (10)")
    p.add_argument("--steps", type=int, default=100, help="training steps of the sweep (100)")
    p.add_argument(
        "--smoothing", type=float, default=0.98, help="moving-average factor of the loss (0.98)"
    )
    p.add_argument(
        "--diverge",
        type=float,
        default=4.0,
        help="stop when the smoothed loss exceeds this many times its minimum (4)",
    )
    p.add_argument("--run-name", help="run folder and MLflow run name (find-lr-MODEL-TIME)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def find_lr_main(args: argparse.Namespace) -> int:
    """``zoo find-lr``: run the sweep, print the suggestion and where the plot is."""
    if not 0.0 <= args.smoothing < 1.0:
        raise ConfigError(f"--smoothing must lie in [0, 1), not {args.smoothing}.")
    if args.diverge <= 1.0:
        raise ConfigError(f"--diverge must be greater than 1, not {args.diverge}.")
    from zoo.training.lr_sweep import find_lr

    result = find_lr(
        args.recipe,
        args.bind,
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        steps=args.steps,
        beta=args.smoothing,
        diverge=args.diverge,
        run_name=args.run_name,
        mlflow=not args.no_mlflow,
    )
    stop = "diverged" if result.diverged else "reached --max-lr"
    print(
        f"swept {len(result.losses)} steps from {result.learning_rates[0]:.2e} to "
        f"{result.learning_rates[-1]:.2e} ({stop}) in {result.seconds:.1f} s"
    )
    if result.suggestion is None:
        print("no suggestion: the loss did not decrease; widen the range or add --steps.")
    else:
        print(f"suggested learning rate (steepest descent): {result.suggestion:.3g}")
        print(f"minimum of the smoothed loss at:             {result.min_loss_learning_rate:.3g}")
        print(f"  use it: --bind train.learning_rate={result.suggestion:.3g}")
    print(f"plot:          {result.plot}")
    print(f"TensorBoard:   tensorboard --logdir {result.run_dir}")
    if result.mlflow_run_id:
        from zoo.tracking import ui_command

        print(f"MLflow:        {ui_command(result.extras['tracking_uri'])}")
    return 0
