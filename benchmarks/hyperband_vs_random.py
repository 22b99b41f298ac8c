"""Hyperband against random search at the same total epoch budget (keras-tuner, zoo.tune).

Both search the same space over the quickstart CNN on a Fashion-MNIST subset. Hyperband with
R = max_epochs and factor eta spends a budget fixed by its brackets (Li et al., JMLR 2018);
random search gets as many full-length trials as fit in that budget. Reported: the best
validation accuracy each reached, the epochs each trained, and the wall time.

    nice -n 10 python benchmarks/hyperband_vs_random.py            # defaults below
    nice -n 10 python benchmarks/hyperband_vs_random.py --train-size 6000 --max-epochs 9

Writes benchmarks/out/hyperband_vs_random.csv and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPACE = """{
    'train.learning_rate': ('log', 1e-4, 3e-1),
    'cnn.filters': ('choice', [[8, 16], [16, 32], [32, 64]]),
    'cnn.dense_units': ('choice', [[32], [128]]),
    'cnn.dense_dropout': ('float', 0.0, 0.6, 0.1),
    'train.optimizer': ('choice', ['adam', 'sgd']),
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--validation", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-tune-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    os.chdir(work)
    import zoo
    from tuners.space import hyperband_brackets

    brackets = hyperband_brackets(args.max_epochs, args.factor)
    budget = sum(b.epochs for b in brackets)
    random_trials = budget // args.max_epochs
    common = [
        f"fashion_mnist.train_size = {args.train_size}",
        f"fashion_mnist.validation_split = {args.validation}",
        f"train.epochs = {args.max_epochs}",
        "train.precision = 'mixed_bfloat16'",
        "train.experiment = 'bench-tune'",
        f"tune.space = {SPACE}",
        "tune.heatmap = ('train.learning_rate', 'cnn.filters')",
        f"tune.factor = {args.factor}",
    ]
    rows = []
    for seed in args.seeds:
        for algorithm in ("hyperband", "random"):
            started = time.perf_counter()
            result = zoo.tune(
                "fashion_cnn",
                [*common, f"tune.seed = {seed}"],
                algorithm=algorithm,
                name=f"{algorithm}-{seed}",
                max_trials=random_trials,
                verbose=0,
            )
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "seed": seed,
                    "algorithm": algorithm,
                    "configurations": len({repr(sorted(r.values.items())) for r in result.records}),
                    "trials": len(result.records),
                    "epochs": sum(r.epochs for r in result.records),
                    "best_val_accuracy": round(result.best.objective, 4),
                    "best_epochs": result.best.total_epochs,
                    "time_s": round(seconds, 1),
                }
            )
            print(rows[-1], flush=True)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "hyperband_vs_random.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"\nbudget: {budget} epochs (Hyperband R={args.max_epochs}, eta={args.factor}); "
        f"random search: {random_trials} trials x {args.max_epochs} epochs"
    )
    print(
        "| seed | algorithm | configurations | trials | epochs trained | best val accuracy | time (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['seed']} | {r['algorithm']} | {r['configurations']} | {r['trials']} | "
            f"{r['epochs']} | {r['best_val_accuracy']:.4f} | {r['time_s']} |"
        )
    print(f"\nfolders: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
