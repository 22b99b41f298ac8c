"""``train.distribution``: mirrored over logical CPUs, multi-worker over loopback, Ray Train.

Every run here is a real ``zoo train`` subprocess (logical devices and the multi-worker
runtime must be set up before TensorFlow starts) with a deadline, polled without fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import zoo
from tests.procs import TINY_DIGITS, start_zoo
from zoo.logs import read_tensorboard

TINY = TINY_DIGITS + "train.epochs = 2\n"
DEADLINE_S = 540


def recipe(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "tiny.gin"
    path.write_text(TINY + extra)
    return str(path)


def zoo_train(tmp_path, path, *bind, env=None, **popen):
    args = ["train", path]
    for b in bind:
        args += ["--bind", b]
    return start_zoo(*args, cwd=tmp_path, env=env, **popen)


def finish(proc, deadline_s: float = DEADLINE_S) -> str:
    try:
        out, _ = proc.communicate(timeout=deadline_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out


def load_weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    model = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    return [np.asarray(w) for w in model.weights]


def statuses(client: MlflowClient, experiment: str) -> list[str]:
    exp = client.get_experiment_by_name(experiment)
    return [r.info.status for r in client.search_runs([exp.experiment_id])]


# ---- validation ------------------------------------------------------------------------------


def test_bad_distribution_settings_are_one_sentence():
    with pytest.raises(zoo.ZooError, match="distribution"):
        zoo.train("digits_cnn", ["train.distribution = 'horovod'"])
    with pytest.raises(zoo.ZooError, match="train.devices counts the devices"):
        zoo.train("digits_cnn", ["train.devices = 2"])
    with pytest.raises(zoo.ZooError, match="distribute.workers must be an integer"):
        zoo.train("digits_cnn", ["train.distribution = 'mirrored'", "distribute.workers = 0"])
    with pytest.raises(zoo.ZooError, match="needs TF_CONFIG"):
        zoo.train("digits_cnn", ["train.distribution = 'multi_worker'"])
    with pytest.raises(zoo.ZooError, match="zoo tune trains each trial in one process"):
        zoo.tune("digits_cnn", ["train.distribution = 'ray'"])


def test_cli_exits_2_with_one_line(tmp_path):
    proc = zoo_train(tmp_path, recipe(tmp_path), "train.devices = 0")
    out = finish(proc, 120)
    assert proc.returncode == 2, out
    assert out.strip().splitlines()[-1].startswith("zoo: error: train.devices must be")


# ---- mirrored: two logical CPU devices == one device -----------------------------------------

# The same global batch of 256 (the whole training split): the strategy gives each replica
# 128 examples and sums their gradients. One batch per epoch makes the comparison exact up to
# summation order: tf.data re-derives a shuffled pipeline's seeds when a strategy distributes
# it, so with several batches per epoch the two runs would see the batches in another order.
# Dropout and batch norm are off (each replica draws its own masks and keeps its own batch
# statistics). float32 is pinned: 'auto' picks mixed_bfloat16 on a CPU with bf16 units, and
# bf16 rounding moves weights by about 5e-4. Measured here: largest difference 3.4e-8 after 6 steps.
MIRRORED_ATOL = 1e-6


def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path, mlflow_db):
    path = recipe(
        tmp_path,
        "train.batch_size = 256\ntrain.epochs = 6\ncnn.batch_norm = False\n"
        "cnn.block_dropout = 0.0\ncnn.dense_dropout = 0.0\ntrain.precision = 'float32'\n",
    )
    one = zoo_train(tmp_path, path, "train.run_name = 'one'")
    out_one = finish(one)
    assert one.returncode == 0, out_one[-3000:]
    two = zoo_train(
        tmp_path,
        path,
        "train.run_name = 'two'",
        "train.distribution = 'mirrored'",
        "train.devices = 2",
    )
    out_two = finish(two)
    assert two.returncode == 0, out_two[-3000:]

    runs = tmp_path / "runs" / "digits"
    for a, b in zip(load_weights(runs / "one"), load_weights(runs / "two"), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=MIRRORED_ATOL)
    summary = json.loads((runs / "two" / "summary.json").read_text())
    client = MlflowClient(tracking_uri=mlflow_db)
    params = client.get_run(summary["mlflow"]["run_id"]).data.params
    assert params["zoo.distribution"] == "mirrored" and params["zoo.replicas"] == "2"
    assert params["zoo.global_batch_size"] == "256"
    assert params["zoo.per_replica_batch_size"] == "128.0"


# ---- multi_worker: two local processes, TF_CONFIG on loopback ports ---------------------------


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_two_processes_one_run_logged_by_the_chief(tmp_path, mlflow_db):
    path = recipe(tmp_path)
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(
            zoo_train(
                tmp_path,
                path,
                "train.distribution = 'multi_worker'",
                "train.run_name = 'mw'",
                "train.experiment = 'mw'",
                env={"TF_CONFIG": json.dumps(tf_config)},
            )
        )
    outs = [finish(p) for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]

    exp_dir = tmp_path / "runs" / "mw"
    assert [d.name for d in exp_dir.iterdir()] == ["mw"]  # only the chief wrote a run
    run_dir = exp_dir / "mw"
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3
    assert sorted(read_tensorboard(run_dir / "tensorboard")["loss"]) == [0, 1]
    assert "run directory:" in outs[0] and "run directory:" not in outs[1]
    client = MlflowClient(tracking_uri=mlflow_db)
    assert statuses(client, "mw") == ["FINISHED"]  # one MLflow run for two workers
    run_id = json.loads((run_dir / "summary.json").read_text())["mlflow"]["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [0, 1]
    assert client.get_run(run_id).data.params["zoo.workers"] == "2"


# ---- ray: Ray Train workers on a local Ray ----------------------------------------------------

RAY = "train.distribution = 'ray'\ndistribute.workers = 2\ndistribute.num_cpus = 2\n"


def test_ray_two_workers_log_one_mlflow_run(tmp_path, mlflow_db):
    pytest.importorskip("ray")
    proc = zoo_train(
        tmp_path, recipe(tmp_path, RAY), "train.run_name = 'r'", "train.experiment = 'r'"
    )
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    run_dir = tmp_path / "runs" / "r" / "r"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["epochs_completed"] == 2
    client = MlflowClient(tracking_uri=mlflow_db)
    assert statuses(client, "r") == ["FINISHED"]
    run = client.get_run(summary["mlflow"]["run_id"])
    assert run.data.params["zoo.distribution"] == "ray" and run.data.params["zoo.workers"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1]


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (from /proc), to find this test's own Ray workers."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().split(") ")[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def ray_workers(pid: int) -> list[int]:
    workers = []
    for p in descendants(pid):
        try:
            if b"RayTrainWorker" in Path(f"/proc/{p}/cmdline").read_bytes():
                workers.append(p)
        except OSError:
            continue
    return workers


def test_ray_worker_killed_mid_run_ends_failed_and_says_so(tmp_path, mlflow_db):
    pytest.importorskip("ray")
    path = recipe(tmp_path, RAY + "train.epochs = 500\n")
    proc = zoo_train(tmp_path, path, "train.run_name = 'k'", "train.experiment = 'k'")
    history = tmp_path / "runs" / "k" / "k" / "history.csv"
    end = time.monotonic() + DEADLINE_S
    try:
        while not (history.is_file() and len(history.read_text().splitlines()) > 1):
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < end, "no epoch finished before the deadline"
            time.sleep(0.5)
        workers = ray_workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(max(workers), signal.SIGKILL)
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-3000:]
    assert "the run FAILED: a Ray Train worker failed" in out and "--resume" in out
    summary = json.loads((history.parent / "summary.json").read_text())
    assert summary["status"] == "FAILED" and "max_failures = 0" in summary["failure"]
    client = MlflowClient(tracking_uri=mlflow_db)
    assert statuses(client, "k") == ["FAILED"]  # nothing left RUNNING
