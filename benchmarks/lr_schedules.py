"""Learning-rate schedules on a Fashion-MNIST subset: the range test, then short runs.

    nice -n 10 python benchmarks/lr_schedules.py [--train-size 10000] [--validation 2000] [--epochs 6]

1. ``find_lr`` on ``fashion_cnn`` (Adam): the suggested rate and how long the sweep took.
2. The same model trained for ``--epochs`` epochs with: a constant 1e-3 (the recipe's
   rate), warm-up + cosine peaking at 1e-3, a constant rate at the finder's suggestion, and
   one-cycle peaking at the suggestion. Same seed, data and model; one process, in turn.
Prints a table and writes ``benchmarks/out/lr_schedules.csv``. Runs go to
``benchmarks/out/lr_runs/`` (TensorBoard and a local MLflow store there).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train-size", type=int, default=10000, help="training images (after the validation)"
    )
    parser.add_argument("--validation", type=int, default=2000, help="validation images")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100, help="steps of the range test")
    args = parser.parse_args()

    work = OUT / "lr_runs"
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    stamp = time.strftime("%H%M%S")

    import zoo
    from zoo.training.lr_sweep import find_lr

    data = [
        f"fashion_mnist.train_size = {args.train_size}",
        f"fashion_mnist.validation_split = {args.validation}",
    ]
    started = time.time()
    sweep = find_lr(
        "fashion_cnn", data, min_lr=1e-6, max_lr=1.0, steps=args.steps, run_name=f"find-lr-{stamp}"
    )
    sweep_s = time.time() - started
    best = sweep.suggestion
    print(
        f"range test: {len(sweep.losses)} steps in {sweep_s:.1f} s (sweep alone "
        f"{sweep.seconds:.1f} s); suggestion {best:.3g}, minimum of the smoothed loss at "
        f"{sweep.min_loss_learning_rate:.3g}, diverged: {sweep.diverged}"
    )

    variants = {
        "constant 1e-3": ["train.learning_rate = 0.001"],
        "warmup_cosine 1e-3": [
            "train.learning_rate = 0.001",
            "train.schedule = 'warmup_cosine'",
            "warmup_cosine.warmup_epochs = 1",
        ],
        f"constant {best:.2g} (finder)": [f"train.learning_rate = {best}"],
        f"one_cycle {best:.2g} (finder)": [
            f"train.learning_rate = {best}",
            "train.schedule = 'one_cycle'",
        ],
    }
    rows = []
    for label, extra in variants.items():
        name = label.split()[0] + "-" + stamp + "-" + str(len(rows))
        t0 = time.time()
        result = zoo.train(
            "fashion_cnn",
            [*data, f"train.epochs = {args.epochs}", f"train.run_name = '{name}'", *extra],
            verbose=0,
        )
        seconds = time.time() - t0
        h = result.history
        rows.append(
            {
                "variant": label,
                "epochs": args.epochs,
                "train_examples": args.train_size,
                "validation_examples": args.validation,
                "best_val_loss": round(min(h["val_loss"]), 4),
                "final_val_loss": round(h["val_loss"][-1], 4),
                "final_val_accuracy": round(h["val_accuracy"][-1], 4),
                "test_accuracy": round(result.test_metrics.get("test_accuracy", float("nan")), 4),
                "seconds": round(seconds, 1),
            }
        )
        print(rows[-1], flush=True)

    OUT.mkdir(exist_ok=True)
    with open(OUT / "lr_schedules.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"\nrange test: suggestion {best:.3g} in {sweep_s:.1f} s")
    print(f"{'variant':<30} {'best val_loss':>13} {'val acc':>8} {'test acc':>8} {'s':>6}")
    for r in rows:
        print(
            f"{r['variant']:<30} {r['best_val_loss']:>13.4f} {r['final_val_accuracy']:>8.4f} "
            f"{r['test_accuracy']:>8.4f} {r['seconds']:>6.1f}"
        )


if __name__ == "__main__":
    main()
