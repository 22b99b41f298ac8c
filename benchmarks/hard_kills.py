"""SIGKILL a real ``zoo train`` at random moments, resume it, and count every epoch's records.

Each try starts ``zoo train fashion_cnn`` (tiny data made here, a warm-up + cosine schedule,
float32), waits for its "training epochs" line, sleeps a seeded random delay drawn over the
time the epochs take (so kills land between batches, during checkpoint writes, between the
history row and the trackers' writes, and in the evaluation), sends SIGKILL, then runs the
shortest resume command (``zoo train --resume RUN_DIR``) in a fresh process. A try is exact
when ``history.csv`` holds every epoch once, the raw TensorBoard event files hold each
(metric, epoch) once, MLflow holds each (metric, epoch) once, the experiment holds one MLflow
run of that name, and it is FINISHED.

    python benchmarks/hard_kills.py --kills 20 --seed 0
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 4


def make_fashion(folder: Path, n_train: int = 1600, n_test: int = 50) -> None:
    """A learnable fake Fashion-MNIST: each class lights up its own band of rows."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import write_idx

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)

    def make(n):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, c * 2 : c * 2 + 4, :] = 250
        return images, labels.astype(np.uint8)

    (xa, ya), (xt, yt) = make(n_train), make(n_test)
    write_idx(folder / "train-images-idx3-ubyte.gz", xa)
    write_idx(folder / "train-labels-idx1-ubyte.gz", ya)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", xt)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt)


def bindings(data: Path, name: str) -> list[str]:
    binds = [
        f"fashion_mnist.data_dir = '{data}'",
        "fashion_mnist.validation_split = 100",
        "cnn.filters = [8]",
        "cnn.dense_units = [16]",
        "train.batch_size = 16",
        f"train.epochs = {EPOCHS}",
        "train.precision = 'float32'",
        f"train.run_name = '{name}'",
    ]
    return [arg for b in binds for arg in ("--bind", b)]


def zoo(*args: str, cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen, text: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    return lines


def raw_tensorboard_counts(log_dir: Path) -> Counter:
    """(tag, step) -> how many events of the raw files hold it (no reader's de-duplication)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    counts: Counter = Counter()
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                counts[(value.tag, int(event.step))] += 1
    return counts


def check(run_dir: Path, uri: str) -> dict:
    from mlflow.tracking import MlflowClient

    with open(run_dir / "history.csv", newline="") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    with open(run_dir / "history.csv", newline="") as f:
        keys = [k for k in next(csv.reader(f)) if k != "epoch"] + ["learning_rate"]
    board = raw_tensorboard_counts(run_dir / "tensorboard")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fashion")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.runName = '{run_dir.name}'"
    )
    flow: Counter = Counter()
    if len(runs) == 1:
        for key in keys:
            for m in client.get_metric_history(runs[0].info.run_id, key):
                flow[(key, int(m.step))] += 1
    want = {(k, s) for k in keys for s in range(EPOCHS)}
    return {
        "history_exact": epochs == list(range(EPOCHS)),
        "tensorboard_exact": all(board[p] == 1 for p in want),
        "mlflow_exact": all(flow[p] == 1 for p in want) and set(flow) == want,
        "mlflow_runs": len(runs),
        "status": runs[0].info.status if runs else "-",
        "tb_dups": sorted(p for p in want if board[p] > 1),
        "tb_missing": sorted(p for p in want if board[p] == 0),
        "mlflow_bad": sorted(p for p in want if flow[p] != 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "hard_kills.csv"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from zoo.training.rundir import saved_epochs

    work = Path(tempfile.mkdtemp(prefix="zoo-kills-"))
    make_fashion(work / "data")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(ROOT),
    }
    # how long the epochs take, uninterrupted: the range the kill delays are drawn from
    proc = zoo("train", "fashion_cnn", *bindings(work / "data", "reference"), cwd=work, env=env)
    wait_for_line(proc, "training epochs")
    started = time.monotonic()
    history = work / "runs" / "fashion" / "reference" / "history.csv"
    while not (history.is_file() and history.read_text().count("\n") > EPOCHS):
        time.sleep(0.05)
    span = (time.monotonic() - started) * 1.1  # and a little of the evaluation after them
    proc.communicate()
    print(f"uninterrupted: {span / 1.1:.1f} s of epochs after 'training epochs'", flush=True)
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.kills):
        name = f"k{i:02d}"
        delay = rng.uniform(0, span)
        proc = zoo("train", "fashion_cnn", *bindings(work / "data", name), cwd=work, env=env)
        wait_for_line(proc, "training epochs")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        run_dir = work / "runs" / "fashion" / name
        history = run_dir / "history.csv"
        state = max(history.read_text().count("\n") - 1, 0) if history.is_file() else 0
        last = run_dir / "checkpoints" / "last.keras"
        checkpointed = saved_epochs(last) if last.is_file() else 0
        resumed = zoo("train", "--resume", f"runs/fashion/{name}", cwd=work, env=env)
        text, _ = resumed.communicate()
        result = check(run_dir, uri)
        exact = (
            resumed.returncode == 0
            and result["history_exact"]
            and result["tensorboard_exact"]
            and result["mlflow_exact"]
            and result["mlflow_runs"] == 1
            and result["status"] == "FINISHED"
        )
        filled = [line.strip() for line in text.splitlines() if line.startswith("resume: wrote")]
        row = {
            "try": i,
            "delay_s": round(delay, 2),
            "rows_at_kill": state,
            "checkpoint_at_kill": checkpointed,
            "resume_rc": resumed.returncode,
            **{k: v for k, v in result.items() if not isinstance(v, list)},
            "filled": " | ".join(filled),
            "exact": exact,
        }
        rows.append(row)
        print(row, flush=True)
        if not exact:
            print(result, text[-2000:], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    exact = sum(r["exact"] for r in rows)
    print(f"{exact} of {len(rows)} kills resumed exactly; rows in {args.out}")
    return 0 if exact == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
