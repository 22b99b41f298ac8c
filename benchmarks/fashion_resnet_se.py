"""Fashion-MNIST test accuracy of resnet20 against seresnet20 after the same short budget.

Trains the bundled recipes ``fashion_resnet20`` and ``fashion_seresnet20`` (identical except
for squeeze-and-excitation) with the same seed, epochs and training subset through
``zoo.train``, then prints and records test accuracy, parameters and wall time.

    nice -n 10 python benchmarks/fashion_resnet_se.py                      # 3 epochs, 15k + 5k images
    python benchmarks/fashion_resnet_se.py --epochs 10 --train-size 0 --no-append   # full set

Runs go to ``benchmarks/out/runs`` and an MLflow store in ``benchmarks/out/mlflow.db``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-size", type=int, default=20000, help="training subset (0: all 55,000)")
    p.add_argument("--models", default="resnet20,seresnet20")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = p.parse_args(argv)

    from vision_report import OUT, append_to_section, machine, write_csv

    import zoo

    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{OUT / 'mlflow.db'}")
    rows = []
    for name in args.models.split(","):
        bindings = [
            f"train.epochs = {args.epochs}",
            f"train.seed = {args.seed}",
            f"fashion_mnist.train_size = {args.train_size or None}",
            "train.experiment = 'bench-fashion-se'",
            f"train.runs_dir = '{OUT / 'runs'}'",
        ]
        result = zoo.train(f"fashion_{name}", bindings, verbose=2)
        rows.append(
            {
                "model": name,
                "epochs": args.epochs,
                "train_images": args.train_size or 55000,
                "trainable_params": result.summary["trainable_params"],
                "test_accuracy": round(result.test_metrics["test_accuracy"], 4),
                "test_loss": round(result.test_metrics["test_loss"], 4),
                "val_accuracy": round(result.history["val_accuracy"][-1], 4),
                "wall_time_s": result.summary.get("wall_time_s"),
                "run_dir": str(result.run_dir),
            }
        )
        print(rows[-1], flush=True)
    path = write_csv("fashion_resnet_se", rows)
    print(f"wrote {path}")
    for row in rows:
        print(
            f"{row['model']:<12} test accuracy {row['test_accuracy']:.4f}  "
            f"({row['trainable_params']:,} params, {row['wall_time_s']} s)"
        )
    if not args.no_append:
        size = (
            f"seeded subset of {args.train_size:,} training images (5,000 more for validation)"
            if args.train_size
            else "55,000 training images and 5,000 for validation"
        )
        lines = [
            f"### Fashion-MNIST: resnet20 against seresnet20 ({machine()})",
            "",
            f"`nice -n 10 python benchmarks/fashion_resnet_se.py --epochs {args.epochs} "
            f"--train-size {args.train_size}`: recipes `fashion_resnet20` and "
            f"`fashion_seresnet20` (Adam 1e-3, batch 128, mixed_bfloat16, seed {args.seed}), "
            f"{args.epochs} epochs on a {size}; evaluated once on the "
            "10,000 test images. One seed and a short budget: this shows where each model stands "
            "after the same few steps, not which one is better at convergence. "
            "Wall times were measured on a machine shared with other jobs.",
            "",
            "| model | trainable params | test accuracy | val accuracy | wall time (s) |",
            "|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['model']} | {row['trainable_params']:,} | {row['test_accuracy']:.4f} | "
                f"{row['val_accuracy']:.4f} | {row['wall_time_s']} |"
            )
        append_to_section("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
