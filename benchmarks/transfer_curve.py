"""When does transfer learning pay off? Test accuracy against the number of labelled images.

A source ``cnn`` is trained on Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress,
coat). The target task is classes 5-9 (sandal, shirt, sneaker, bag, ankle boot), with only
``n`` labelled training images. For each ``n`` and seed, the same network and the same epoch
budget are trained three ways, all through ``zoo.train`` (``train.init_from`` and the
``transfer.*`` knobs, the one training path):

- ``scratch``: random initialisation, every layer trained (Adam, rate 0.002);
- ``scratch_bn09``: the same with batch-norm momentum 0.9 instead of 0.99: with 60-170
  steps in all, the moving statistics of 0.99 have not settled when the network is tested
  (a transferred base brings settled ones), which is a handicap of ``scratch``, not a
  property of training from scratch;
- ``frozen``: the source's layers up to ``fc1`` frozen, a new head trained (rate 0.01: a
  head alone on 50 images learned little at 0.002 in the same budget -- 0.42 against 0.61
  test accuracy in one probe, seed 1);
- ``fine_tune``: the head first (half the budget, rate 0.01), then everything but batch norm
  at a rate 10x lower (the other half) -- Yosinski et al. 2014; Howard & Ruder 2018.

A poor-match source shows the other side: the same ``cnn`` trained on scikit-learn's 8x8
digits, upsampled to 28x28 (``frozen`` and ``fine_tune`` from it: ``digits_frozen``,
``digits_fine_tune``).

    nice -n 10 python benchmarks/transfer_curve.py /usr/share/datasets/fashion-mnist
    python benchmarks/transfer_curve.py DATA --sizes 50 200 --seeds 1 --quick
    python benchmarks/transfer_curve.py DATA --sources runs/curve   # keep / reuse the sources
    python benchmarks/transfer_curve.py --from-csv a.csv b.csv      # merge parts, plot again

Writes ``benchmarks/results/transfer_curve.csv`` (one row per run) and
``docs/images/transfer_curve.png`` (mean and min-max over seeds).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSV_PATH = ROOT / "benchmarks" / "results" / "transfer_curve.csv"
PNG_PATH = ROOT / "docs" / "images" / "transfer_curve.png"
MODEL = [
    "train.model = 'cnn'",
    "cnn.filters = [32, 64]",
    "cnn.dense_units = [128]",
    "cnn.dense_dropout = 0.3",
    "cnn.block_dropout = 0.1",
    "train.batch_size = 32",
    "train.precision = 'float32'",
    "train.metrics = ['accuracy']",
]
SCRATCH_RATE, HEAD_RATE, FINE_TUNE_RATE = 0.002, 0.01, 0.001
METHODS = ("scratch", "scratch_bn09", "frozen", "fine_tune", "digits_frozen", "digits_fine_tune")
COLUMNS = ["method", "source", "labelled", "seed", "epochs", "test_accuracy", "seconds"]


def epochs_for(n: int, quick: bool) -> int:
    """The epoch budget for ``n`` labelled images: the same for every method at that ``n``;
    fewer images get more epochs, so that even 50 images see ~60 optimizer steps."""
    if quick:
        return 2
    return {50: 30, 200: 16, 1000: 10}.get(n, 6)


def train(bindings: list[str], **options):
    import zoo

    return zoo.train(None, MODEL + bindings, verbose=0, announce=False, **options)


def write_idx(path: Path, array) -> None:
    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def digits_as_fashion(folder: Path) -> Path:
    """scikit-learn's 8x8 digits, upsampled to 28x28 uint8 and written as Fashion-MNIST IDX
    files, so that a source trained on them has the target's input shape."""
    import numpy as np
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.stack([zoom(im, 28 / 8, order=1) for im in bunch.images])
    images = np.clip(images * 255 / 16, 0, 255).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (
        ("train-images-idx3-ubyte.gz", x_tr),
        ("train-labels-idx1-ubyte.gz", y_tr),
        ("t10k-images-idx3-ubyte.gz", x_te),
        ("t10k-labels-idx1-ubyte.gz", y_te),
    ):
        write_idx(folder / name, array)
    return folder


def train_sources(data_dir: str, work: Path, quick: bool) -> dict[str, Path]:
    """The two sources, trained once into ``work`` (reused when they are there already)."""
    trained = {
        "fashion": work / "sources" / "fashion-0to4",
        "digits": work / "sources" / "digits28",
    }
    if all((p / "checkpoints" / "best.keras").is_file() for p in trained.values()):
        print(f"reusing the sources in {work / 'sources'}", flush=True)
        return trained
    common = [
        "train.dataset = 'fashion_mnist'",
        f"train.runs_dir = '{work}'",
        "train.experiment = 'sources'",
        "train.seed = 42",
        f"train.learning_rate = {SCRATCH_RATE}",
    ]
    fashion = train(
        [
            *common,
            f"fashion_mnist.data_dir = '{data_dir}'",
            "fashion_mnist.classes = [0, 1, 2, 3, 4]",
            "fashion_mnist.validation_split = 2000",
            f"fashion_mnist.train_size = {3000 if quick else None}",
            f"train.epochs = {1 if quick else 4}",
            "train.run_name = 'fashion-0to4'",
        ],
        mlflow=False,
        tensorboard=False,
    )
    digits = train(
        [
            *common,
            f"fashion_mnist.data_dir = '{digits_as_fashion(work / 'digits28')}'",
            "fashion_mnist.validation_split = 0.15",
            f"train.epochs = {2 if quick else 15}",
            "train.run_name = 'digits28'",
        ],
        mlflow=False,
        tensorboard=False,
    )
    for result in (fashion, digits):
        acc = result.test_metrics.get("test_accuracy", float("nan"))
        print(f"source {result.run_name}: test accuracy {acc:.4f}", flush=True)
    return {"fashion": fashion.run_dir, "digits": digits.run_dir}


def method_bindings(method: str, epochs: int, sources: dict[str, Path]) -> tuple[str, list[str]]:
    """(source name, bindings) of one method at an epoch budget of ``epochs``."""
    if method.startswith("scratch"):
        lines = [f"train.epochs = {epochs}", f"train.learning_rate = {SCRATCH_RATE}"]
        if method == "scratch_bn09":  # moving statistics that settle within ~50 steps
            lines.append("cnn.batch_norm_momentum = 0.9")
        return "none", lines
    source = "digits" if method.startswith("digits") else "fashion"
    lines = [
        f"train.init_from = '{sources[source]}'",
        "transfer.freeze_up_to = 'all'",
        "transfer.dropout = 0.2",
        f"train.learning_rate = {HEAD_RATE}",
    ]
    if method.endswith("fine_tune"):
        head = max(epochs // 2, 1)
        lines += [
            f"train.epochs = {head}",
            f"transfer.fine_tune_epochs = {epochs - head}",
            f"transfer.fine_tune_learning_rate = {FINE_TUNE_RATE}",
        ]
    else:
        lines += [f"train.epochs = {epochs}", "transfer.fine_tune_epochs = 0"]
    return source, lines


def one_run(args, method: str, n: int, seed: int, sources, work: Path) -> dict:
    epochs = epochs_for(n, args.quick)
    source, lines = method_bindings(method, epochs, sources)
    started = time.perf_counter()
    result = train(
        [
            "train.dataset = 'fashion_mnist'",
            f"fashion_mnist.data_dir = '{args.data_dir}'",
            "fashion_mnist.classes = [5, 6, 7, 8, 9]",
            "fashion_mnist.validation_split = 0",
            f"fashion_mnist.train_size = {n}",
            f"train.seed = {seed}",
            f"train.runs_dir = '{work}'",
            f"train.run_name = '{method}-{n}-{seed}'",
            *lines,
        ],
        mlflow=False,
        tensorboard=False,
        checkpoints=False,
    )
    row = {
        "method": method,
        "source": source,
        "labelled": n,
        "seed": seed,
        "epochs": epochs,
        "test_accuracy": round(result.test_metrics["test_accuracy"], 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def summarize(rows: list[dict]) -> dict[tuple[str, int], tuple[float, float, float]]:
    """(method, n) -> (mean, min, max) test accuracy over seeds."""
    groups: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        groups.setdefault((row["method"], int(row["labelled"])), []).append(
            float(row["test_accuracy"])
        )
    return {k: (statistics.mean(v), min(v), max(v)) for k, v in groups.items()}


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = summarize(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"scratch_bn09": "--", "digits_frozen": ":", "digits_fine_tune": ":"}
    for method in METHODS:
        sizes = sorted(n for m, n in stats if m == method)
        if not sizes:
            continue
        mean = [stats[(method, n)][0] for n in sizes]
        low = [stats[(method, n)][1] for n in sizes]
        high = [stats[(method, n)][2] for n in sizes]
        (line,) = ax.plot(sizes, mean, styles.get(method, "-"), marker="o", label=method)
        ax.fill_between(sizes, low, high, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("labelled target images (Fashion-MNIST classes 5-9)")
    ax.set_ylabel("test accuracy (5,000 images)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    stats = summarize(rows)
    sizes = sorted({n for _, n in stats})
    lines = ["| method | " + " | ".join(f"n = {n}" for n in sizes) + " |"]
    lines.append("|---|" + "---|" * len(sizes))
    for method in METHODS:
        cells = []
        for n in sizes:
            if (method, n) in stats:
                mean, low, high = stats[(method, n)]
                cells.append(f"{mean:.3f} ({low:.3f}-{high:.3f})")
            else:
                cells.append("")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", help="folder with the Fashion-MNIST IDX .gz files")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000, 5000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--quick", action="store_true", help="1-2 epochs: a smoke test")
    parser.add_argument("--sources", type=Path, help="keep the trained sources here, or reuse them")
    parser.add_argument("--from-csv", type=Path, nargs="+", help="merge these results, run nothing")
    parser.add_argument("--csv", type=Path, default=CSV_PATH)
    parser.add_argument("--png", type=Path, default=PNG_PATH)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.from_csv:
        rows = [row for path in args.from_csv for row in csv.DictReader(open(path))]
        write_rows(args.csv, rows, mode="w")
    elif args.data_dir:
        rows = run_all(args)
    else:
        parser.error("give the Fashion-MNIST folder, or --from-csv")
    seeds = len({row["seed"] for row in rows})
    minutes = sum(float(row["seconds"]) for row in rows) / 60
    cpu = cpu_model()
    plot(
        rows,
        args.png,
        f"mean and min-max over {seeds} seeds; {cpu} (shared); the runs took {minutes:.0f} min",
    )
    print(table(rows))
    print(
        f"{cpu}; {(time.perf_counter() - started) / 60:.1f} minutes; wrote {args.csv}, {args.png}"
    )
    return 0


def write_rows(path: Path, rows: list[dict], mode: str = "a") -> None:
    """Rows to ``path`` (the header when the file is new): a run's row is kept as it ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = mode == "w" or not path.is_file() or path.stat().st_size == 0
    with open(path, mode, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def run_all(args) -> list[dict]:
    rows: list[dict] = []
    write_rows(args.csv, [], mode="w")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = train_sources(args.data_dir, args.sources or work, args.quick)
        for n in args.sizes:
            for seed in range(1, args.seeds + 1):
                for method in args.methods:
                    rows.append(one_run(args, method, n, seed, sources, work))
                    write_rows(args.csv, rows[-1:])
    return rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
