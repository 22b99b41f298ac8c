"""Throughput of each ``train.distribution`` mode: resnet20 on Fashion-MNIST (28x28x1).

    python benchmarks/distribute.py /usr/share/datasets/fashion-mnist [--train-size 2048]

For each mode and replica count (``none``; ``mirrored`` over 1 and 2 devices; ``multi_worker``
with 1 and 2 local processes on loopback ports; ``ray`` with 1 and 2 Ray Train workers) it runs
a real ``zoo train`` (``recipes/fashion_resnet20.gin``, float32, global batch 128) and reports
training images per second from the MLflow timestamps of the epochs after the first (the
first epoch traces the step function): ``(epochs - 1) * train_size / seconds``. An epoch's
time includes its small validation pass and checkpoint. Prints a Markdown table and writes
``distribute.csv`` into the working folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = [
    ("none", 1),
    ("mirrored", 1),
    ("mirrored", 2),
    ("multi_worker", 1),
    ("multi_worker", 2),
    ("ray", 1),
    ("ray", 2),
]


def bindings(mode: str, n: int, args, name: str) -> list[str]:
    common = [
        f"fashion_mnist.data_dir = '{args.data}'",
        f"fashion_mnist.train_size = {args.train_size}",
        "fashion_mnist.validation_split = 256",
        f"train.epochs = {args.epochs}",
        "train.batch_size = 128",
        "train.precision = 'float32'",
        "train.schedule = None",
        "train.experiment = 'bench'",
        f"train.run_name = '{name}'",
        f"train.distribution = '{mode}'",
    ]
    if mode == "mirrored":
        common.append(f"train.devices = {n}")
    if mode == "ray":
        common += [f"distribute.workers = {n}", f"distribute.num_cpus = {max(n, 2)}"]
    return common


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(folder: Path, binds: list[str], env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "zoo", "train", "fashion_resnet20"]
    for b in binds:
        cmd += ["--bind", b]
    return subprocess.Popen(
        cmd,
        cwd=folder,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_one(folder: Path, mode: str, n: int, args) -> float:
    name = f"{mode}-{n}"
    binds = bindings(mode, n, args, name)
    if mode == "multi_worker":
        workers = [f"127.0.0.1:{p}" for p in free_ports(n)]
        procs = [
            start(
                folder,
                binds,
                {
                    "TF_CONFIG": json.dumps(
                        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
                    )
                },
            )
            for i in range(n)
        ]
    else:
        procs = [start(folder, binds)]
    for p in procs:
        if p.wait(timeout=args.timeout) != 0:
            raise SystemExit(f"{name}: zoo train exited with {p.returncode}")
    return images_per_second(folder, name, args)


def images_per_second(folder: Path, name: str, args) -> float:
    from mlflow.tracking import MlflowClient

    summary = json.loads((folder / "runs" / "bench" / name / "summary.json").read_text())
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    history = sorted(
        client.get_metric_history(summary["mlflow"]["run_id"], "loss"), key=lambda m: m.step
    )
    seconds = (history[-1].timestamp - history[0].timestamp) / 1000
    return (len(history) - 1) * args.train_size / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="folder with Fashion-MNIST's IDX .gz files")
    parser.add_argument("--train-size", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=1200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zoo-bench-distribute-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    rows = []
    for mode, n in CONFIGS:
        started = time.time()
        rate = run_one(folder, mode, n, args)
        rows.append({"mode": mode, "replicas": n, "images_per_s": round(rate, 1)})
        print(f"{mode} x{n}: {rate:.1f} images/s ({time.time() - started:.0f} s)", flush=True)
    base = rows[0]["images_per_s"]
    print("\n| mode | replicas / workers | images/s | vs none |\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['replicas']} | {r['images_per_s']} | {r['images_per_s'] / base:.2f} |"
        )
    with open("distribute.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
