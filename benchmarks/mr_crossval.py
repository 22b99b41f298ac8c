"""10-fold cross-validation of the text models on Movie Review polarity (Pang & Lee 2005).

    nice -n 10 python benchmarks/mr_crossval.py --models kim_cnn
    nice -n 10 python benchmarks/mr_crossval.py --models embedding_bag,onehot,gru --folds 10

Each model runs ``zoo.train(recipe, bindings, folds=K)``: one nested run per fold and a parent
run with the mean and standard deviation of the test accuracy. Prints one line per model and
appends it to ``benchmarks/out/mr_crossval.csv``. Reference (Kim 2014, Table 2, MR):
CNN-rand 76.1, CNN-static 81.0, CNN-non-static 81.5, CNN-multichannel 81.1.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from datetime import datetime
from pathlib import Path

# model -> (recipe, extra bindings); each recipe documents its settings.
SETUPS = {
    "kim_cnn": ("mr_kim_cnn", []),
    "embedding_bag": ("mr_embedding_bag", []),
    "onehot": ("mr_embedding_bag", ["train.model = 'onehot'"]),
    "gru": ("mr_gru", []),
    "lstm": (
        "mr_gru",
        ["train.model = 'lstm'", "lstm.embedding_dim = 128", "lstm.units = [64]"],
    ),
    "transformer": (
        "mr_gru",
        [
            "train.model = 'transformer'",
            "transformer.embedding_dim = 64",
            "transformer.heads = 2",
            "transformer.ff_dim = 128",
        ],
    ),
}


def append_row(out: Path, row: dict) -> None:
    """Add ``row`` to the CSV at ``out``, widening its header when the columns differ."""
    rows = []
    if out.is_file():
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
    fields = list(row)
    for old in rows:
        fields += [k for k in old if k not in fields]
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows([*rows, row])


def first_folds(recipe: str, bindings: list[str], folds: int, n: int):
    """Folds 0..n-1 of a ``folds``-way split as separate runs (no parent run)."""
    import zoo
    from zoo.training.crossval import fold_statistics

    runs = []
    name = next(b for b in bindings if b.startswith("train.run_name")).split("'")[1]
    for i in range(n):
        t0 = time.time()
        fold_bindings = [*bindings, f"train.run_name = '{name}/fold-{i + 1:02d}'"]
        result = zoo.train(recipe, fold_bindings, folds=folds, fold=i, verbose=0)
        runs.append(
            {
                "test_metrics": result.test_metrics,
                "epochs_completed": result.summary.get("epochs_completed"),
                "wall_time_s": round(time.time() - t0, 2),
            }
        )
    cv = fold_statistics([r["test_metrics"] for r in runs])["test_accuracy"]
    return cv, runs, Path("runs") / "mr-crossval" / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="kim_cnn", help="comma-separated: " + ",".join(SETUPS))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, help="override the recipe's train.epochs")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("ZOO_DATA_DIR"),
        help="folder holding mr/ (default: $ZOO_DATA_DIR, else the mr loader's own search)",
    )
    parser.add_argument("--bind", action="append", default=[], help="extra gin bindings")
    parser.add_argument("--out", default="benchmarks/out/mr_crossval.csv")
    parser.add_argument(
        "--first-folds",
        type=int,
        help="run only the first N folds of the --folds split (for slow models; said in the CSV)",
    )
    args = parser.parse_args()

    import zoo

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for model in args.models.split(","):
        recipe, bindings = SETUPS[model]
        bindings = [
            *bindings,
            *([f"mr.directory = '{Path(args.data_dir) / 'mr'}'"] if args.data_dir else []),
            "train.experiment = 'mr-crossval'",
            f"train.run_name = '{model}-cv{args.folds}-{stamp}'",
            *args.bind,
        ]
        if args.epochs:
            bindings.append(f"train.epochs = {args.epochs}")
        started = time.time()
        if args.first_folds:
            cv, runs, run_dir = first_folds(recipe, bindings, args.folds, args.first_folds)
        else:
            result = zoo.train(recipe, bindings, folds=args.folds, verbose=0)
            cv = result.summary["cv"]["test_accuracy"]
            runs = result.summary["fold_runs"]
            run_dir = result.run_dir
        row = {
            "model": model,
            "folds": args.folds,
            "folds_run": len(runs),
            "mean_accuracy": round(cv["mean"], 4),
            "std_accuracy": round(cv["std"], 4),
            "min_accuracy": round(cv["min"], 4),
            "max_accuracy": round(cv["max"], 4),
            "mean_fold_time_s": round(sum(r["wall_time_s"] for r in runs) / len(runs), 1),
            "mean_epochs": sum(r["epochs_completed"] or 0 for r in runs) / len(runs),
            "total_time_s": round(time.time() - started, 1),
            # per fold, for paired comparisons: runs are deterministic for a given seed
            "fold_accuracies": " ".join(
                f"{100 * r['test_metrics']['test_accuracy']:.2f}" for r in runs
            ),
            "run_dir": str(run_dir),
        }
        print(
            f"{model}: {len(runs)} of {args.folds} folds, test accuracy {100 * cv['mean']:.2f} +- "
            f"{100 * cv['std']:.2f} (min {100 * cv['min']:.2f}, max {100 * cv['max']:.2f}), "
            f"{row['mean_fold_time_s']:.0f} s per fold, {row['mean_epochs']:.1f} epochs",
            flush=True,
        )
        print(f"  per fold: {row['fold_accuracies']}", flush=True)
        append_row(out, row)


if __name__ == "__main__":
    main()
