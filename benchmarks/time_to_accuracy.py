"""Minutes to a good model: test accuracy against wall time, epoch by epoch.

Trains a recipe through ``zoo.train`` (the one training path) and, at the end of every
epoch, scores the Fashion-MNIST test split three times: the model as it is (``plain``), and
with each test-time augmentation (``flip``: two views; ``flip_translate``: six); ``tta`` names
the recipe's own (``train.test_time_augment``), which the plot and the tables use. With ``optimizer.ema_momentum`` the scores are the averaged weights',
which is what the run tests and saves at its end. The time axis is the run's own time
(start-up, data, model, every epoch with its validation) without this script's per-epoch
scoring, which is timed and subtracted, so a point at 6.0 minutes is where a plain
``zoo train`` of the same recipe would have been. ``cpu_minutes`` is the process's CPU time
(every thread, the scoring's subtracted) over the cores it may use: what the minutes would
be on a machine that gave it every core all the time. On a shared virtual machine, where
another tenant can take the cores for a minute, the two differ, and both are recorded.

    nice python benchmarks/time_to_accuracy.py /usr/share/datasets/fashion-mnist \\
        --recipe fashion_fast --name fast
    python benchmarks/time_to_accuracy.py DATA --recipe fashion_fast --name no-smoothing \\
        --bind train.label_smoothing=0.0
    python benchmarks/time_to_accuracy.py --plot        # the plot and tables from the CSV

Every run appends its epochs to ``benchmarks/results/time_to_accuracy.csv`` with the CPU
model, the precision and the bindings; ``--plot`` draws ``docs/images/time_to_accuracy.png``
(one curve per run name, plain dashed, test-time augmented solid) and prints the minutes
each run took to reach 0.93 and 0.94. Run it on a quiet machine: the minutes are wall time.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSV_PATH = ROOT / "benchmarks" / "results" / "time_to_accuracy.csv"
PNG_PATH = ROOT / "docs" / "images" / "time_to_accuracy.png"
COLUMNS = [
    "name",
    "recipe",
    "bindings",
    "cpu",
    "precision",
    "epoch",
    "minutes",
    "cpu_minutes",
    "val_accuracy",
    "test_plain",
    "test_flip",
    "test_flip_translate",
    "tta",
    "learning_rate",
]
TARGETS = (0.93, 0.94)
MODES = ("flip", "flip_translate")
CORES = len(os.sched_getaffinity(0))


def tta(row: dict) -> float:
    """The row's score with the run's own test-time augmentation (plain without one)."""
    return float(row["test_plain" if row["tta"] == "plain" else f"test_{row['tta']}"])


def callback(x_test, y_test, tta_mode: str, started, rows: list[dict], info: dict):
    import keras
    import numpy as np

    from zoo.datasets.augment import test_time_views

    started, started_cpu = started

    class Scorer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scoring = 0.0  # seconds spent here, left out of the time axis
            self.scoring_cpu = 0.0  # and the CPU seconds
            self.views = None

        def _accuracy(self, net) -> float:
            prob = net.predict(x_test, batch_size=1000, verbose=0)
            return float(np.mean(np.argmax(prob, axis=-1) == y_test))

        def on_epoch_end(self, epoch, logs=None):
            now, cpu = time.perf_counter(), time.process_time()
            net, optimizer = self.model, self.model.optimizer
            variables = list(net.trainable_variables)
            kept = None
            if getattr(optimizer, "use_ema", False):  # score the average, as the run will
                kept = [v.numpy() for v in variables]
                optimizer.finalize_variable_values(variables)
            if self.views is None:
                self.views = {mode: test_time_views(net, mode) for mode in MODES}
            plain = self._accuracy(net)
            scores = {mode: self._accuracy(views) for mode, views in self.views.items()}
            if kept is not None:
                for variable, value in zip(variables, kept, strict=True):
                    variable.assign(value)
            rate = float(np.asarray(optimizer.learning_rate))  # where the schedule is now
            rows.append(
                {
                    **info,
                    "epoch": epoch + 1,
                    "minutes": round((now - started - self.scoring) / 60, 4),
                    # CPU time of every thread over the cores: the minutes on a quiet machine
                    "cpu_minutes": round((cpu - started_cpu - self.scoring_cpu) / CORES / 60, 4),
                    "val_accuracy": round(float((logs or {}).get("val_accuracy", "nan")), 4),
                    "test_plain": round(plain, 4),
                    **{f"test_{mode}": round(scores[mode], 4) for mode in MODES},
                    "tta": tta_mode,
                    "learning_rate": f"{rate:.3g}",
                }
            )
            self.scoring += time.perf_counter() - now
            self.scoring_cpu += time.process_time() - cpu
            print(
                f"  [{rows[-1]['minutes']:.2f} min] epoch {epoch + 1}: test {plain:.4f}, "
                f"with flip {scores['flip']:.4f}, flip_translate {scores['flip_translate']:.4f}",
                flush=True,
            )

    return Scorer()


def test_split(data_dir: str):
    """Fashion-MNIST's 10,000 test images, scaled to [0, 1] as the loader scales them."""
    import numpy as np

    from zoo.datasets.images import read_fashion_mnist

    (_, _), (x_test, y_test) = read_fashion_mnist(data_dir, download=False)
    x = (np.asarray(x_test, dtype="float32") / 255.0).reshape(-1, 28, 28, 1)
    return x, np.asarray(y_test).reshape(-1)


def one_run(args) -> list[dict]:
    import zoo
    from zoo.config import parse
    from zoo.training.hardware import choose_precision

    started = time.perf_counter(), time.process_time()
    bindings = [b.replace("=", " = ", 1) for b in args.bind]
    bindings.append(f"fashion_mnist.data_dir = {args.data_dir!r}")
    parse(args.recipe, bindings, clear=True)
    settings = zoo.training.TrainSettings()
    tta_mode = settings.test_time_augment or "plain"
    x_test, y_test = test_split(args.data_dir)
    info = {
        "name": args.name,
        "recipe": args.recipe,
        "bindings": " ; ".join(args.bind),
        "cpu": cpu_model(),
        "precision": choose_precision(settings.precision).policy,
    }
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        result = zoo.train(
            args.recipe,
            # both trackers on, as in a user's run, into the temporary folder
            [
                *bindings,
                f"train.runs_dir = {tmp!r}",
                f"train.tracking_uri = 'sqlite:///{tmp}/mlflow.db'",
            ],
            extra_callbacks=[callback(x_test, y_test, tta_mode, started, rows, info)],
        )
    total = (time.perf_counter() - started[0]) / 60
    print(
        f"{args.name}: test {result.test_metrics} after {total:.2f} min in all "
        f"(with this script's per-epoch scoring); {info['cpu']}, {info['precision']}",
        flush=True,
    )
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_rows(path: Path) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            runs.setdefault(row["name"], []).append(row)
    return runs


def minutes_to(rows: list[dict], score, target: float, clock: str) -> float | None:
    """The ``clock`` minutes at the first epoch whose ``score(row)`` reached ``target``."""
    for row in rows:
        if score(row) >= target:
            return float(row[clock])
    return None


def plain(row: dict) -> float:
    return float(row["test_plain"])


def clocks(rows: list[dict], score, target: float) -> str:
    """'cpu / wall' minutes to ``target``, '-' when the run never reached it."""
    cpu, wall = (minutes_to(rows, score, target, c) for c in ("cpu_minutes", "minutes"))
    return "-" if cpu is None else f"{cpu:.1f} / {wall:.1f}"


def table(runs: dict[str, list[dict]]) -> str:
    """One line per run: its final scores and its minutes (CPU time over the cores / wall)
    to each target, plainly and with the run's own test-time augmentation."""
    head = ["run", "epochs", "minutes (cpu / wall)", "plain", "flip", "flip_translate"]
    for target in TARGETS:
        head += [f"to {target} plain", f"to {target}, own TTA"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rows in runs.items():
        last = rows[-1]
        cells = [
            name,
            last["epoch"],
            f"{float(last['cpu_minutes']):.1f} / {float(last['minutes']):.1f}",
            last["test_plain"],
            last["test_flip"],
            last["test_flip_translate"],
        ]
        for target in TARGETS:
            cells += [clocks(rows, plain, target), clocks(rows, tta, target)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], path: Path, names: list[str] | None, clock: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    cpus = set()
    for k, (name, rows) in enumerate(runs.items()):
        if names and name not in names:
            continue
        minutes = [float(r[clock]) for r in rows]
        color = f"C{k % 10}"
        label = f"{name} ({rows[0]['tta']} at test)"
        ax.plot(minutes, [tta(r) for r in rows], "-o", ms=3, color=color, label=label)
        ax.plot(minutes, [plain(r) for r in rows], "--", color=color, alpha=0.6)
        cpus.add(f"{rows[0]['cpu']}, {rows[0]['precision']}")
    for target in TARGETS:
        ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.axvline(10, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0.88, 0.95)
    what = "CPU time over the 2 cores" if clock == "cpu_minutes" else "wall time, 2 cores"
    ax.set_xlabel(f"minutes of zoo train ({what})")
    ax.set_ylabel("Fashion-MNIST test accuracy")
    ax.set_title("Time to accuracy (solid: the run's test-time augmentation, dashed: plain)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "; ".join(sorted(cpus)), fontsize=7, color="grey")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu_model() -> str:
    """The CPU's model name, as ``zoo system`` reports it."""
    from zoo.training.hardware import cpu_info

    return cpu_info()["model"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", help="the Fashion-MNIST folder (idx .gz files)")
    parser.add_argument("--recipe", default="fashion_fast")
    parser.add_argument("--name", help="the run's name in the CSV and the plot")
    parser.add_argument("--bind", action="append", default=[], metavar="K=V")
    parser.add_argument("--csv", type=Path, default=CSV_PATH)
    parser.add_argument("--png", type=Path, default=PNG_PATH)
    parser.add_argument("--plot", action="store_true", help="plot and tabulate the CSV")
    parser.add_argument("--only", nargs="*", help="the run names to plot (default: all)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="the plot's time axis: CPU time over the cores (default; what a machine nobody "
        "else uses takes) or wall time",
    )
    args = parser.parse_args(argv)
    if args.data_dir:
        args.name = args.name or args.recipe
        write_rows(args.csv, one_run(args))
    elif not args.plot:
        parser.error("give the Fashion-MNIST folder, or --plot")
    runs = read_rows(args.csv)
    plot(runs, args.png, args.only, "cpu_minutes" if args.clock == "cpu" else "minutes")
    print(table(runs))
    print(f"wrote {args.csv}, {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
