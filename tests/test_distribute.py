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
from zoo.tracking.readers import read_tensorboard

# float32 whatever the CPU: bf16 rounds differently with each replica's share of a batch
TINY = TINY_DIGITS + "train.epochs = 2\ntrain.precision = 'float32'\n"
DEADLINE_S = 540
SAME_COUNT = 1e-6  # accuracies in float32: equal counts of examples agree to 1e-7


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


def assert_scored_once(run_dir: Path, recipe_path: str) -> None:
    """The run's logged test metrics and last validation metrics equal one process's
    evaluation of its checkpoint on the same splits: each example scored once, by the
    model that was saved."""
    import keras

    from zoo import datasets
    from zoo.config import parse
    from zoo.tracking.rundir import read_history

    parse(recipe_path)
    data = datasets.load("digits", batch_size=32, target="sparse", seed=42)
    model = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    test = model.evaluate(data.test, return_dict=True, verbose=0)
    validation = model.evaluate(data.validation, return_dict=True, verbose=0)
    logged = json.loads((run_dir / "summary.json").read_text())["test_metrics"]
    history = read_history(run_dir / "history.csv")
    assert logged["test_accuracy"] == pytest.approx(test["accuracy"], abs=SAME_COUNT)
    assert logged["test_loss"] == pytest.approx(test["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(validation["accuracy"], abs=SAME_COUNT)
    assert history["val_loss"][-1] == pytest.approx(validation["loss"], rel=1e-6)
    per_class = (run_dir / "evaluation" / "per_class.csv").read_text().splitlines()
    recall = [float(row.split(",")[2]) for row in per_class[1:-1]]
    support = [int(row.split(",")[4]) for row in per_class[1:-1]]
    hits = sum(round(r * n) for r, n in zip(recall, support, strict=True))
    assert hits / sum(support) == pytest.approx(test["accuracy"], abs=SAME_COUNT)


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
        "digits.train_size = 256\ntrain.batch_size = 256\ntrain.epochs = 6\ncnn.batch_norm = False\n"
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


def test_mirrored_with_batch_norm_scores_each_example_once(tmp_path):
    """Each replica updates its own copy of the moving batch-norm statistics; they are
    averaged before validation and the checkpoint, so every split is scored by one model."""
    path = recipe(tmp_path)
    proc = zoo_train(
        tmp_path,
        path,
        "train.distribution = 'mirrored'",
        "train.devices = 2",
        "train.run_name = 'm'",
    )
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    assert_scored_once(tmp_path / "runs" / "digits" / "m", path)


# ---- multi_worker: two local processes, TF_CONFIG on loopback ports ---------------------------


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def multi_worker(tmp_path, path, *bind, indices=(0, 1), **popen):
    """``zoo train`` as the workers ``indices`` of one two-worker cluster on loopback;
    the processes and the cluster's worker addresses."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in indices:
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(
            zoo_train(
                tmp_path,
                path,
                "train.distribution = 'multi_worker'",
                *bind,
                env={"TF_CONFIG": json.dumps(tf_config)},
                **popen,
            )
        )
    return procs, workers


def test_multi_worker_two_processes_one_run_logged_by_the_chief(tmp_path, mlflow_db):
    path = recipe(tmp_path)
    procs, _ = multi_worker(tmp_path, path, "train.run_name = 'mw'", "train.experiment = 'mw'")
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
    assert outs[0].count("macro mean") == 1 and "macro mean" not in outs[1]  # the chief's table
    assert_scored_once(run_dir, path)


def lone_worker(tmp_path, *bind, **popen):
    """Worker 0 of a two-worker cluster whose other worker never starts."""
    procs, workers = multi_worker(
        tmp_path, recipe(tmp_path), "train.run_name = 'lone'", *bind, indices=(0,), **popen
    )
    return procs[0], workers[1]


def test_worker_whose_peer_never_starts_says_so_and_exits_2(tmp_path):
    proc, peer = lone_worker(tmp_path, "distribute.peer_timeout = 3")
    out = finish(proc, 180)
    assert proc.returncode == 2, out[-3000:]
    assert out.strip().splitlines()[-1] == (
        f"zoo: error: worker 0 waited distribute.peer_timeout = 3 s for its peers, and {peer} "
        "never answered: start every task TF_CONFIG lists (or raise distribute.peer_timeout)."
    )
    assert not (tmp_path / "runs" / "digits" / "lone").exists()  # no empty run folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_a_worker_waiting_for_its_peers(tmp_path, signum):
    proc, peer = lone_worker(tmp_path)  # the default timeout: minutes
    lines = []
    end = time.monotonic() + DEADLINE_S
    try:
        while not lines or f"waiting for {peer}" not in lines[-1]:
            line = proc.stdout.readline()
            assert line and time.monotonic() < end, "".join(lines)[-3000:]
            lines.append(line)
        proc.send_signal(signum)
        out = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, "".join(lines) + out
    assert not (tmp_path / "runs" / "digits" / "lone").exists()


def test_sigterm_stops_a_training_worker_and_its_peer_ends_too(tmp_path):
    """TensorFlow's coordination service takes SIGTERM over; the run takes it back: the
    chief stops at the next batch (KILLED, resumable) and the other worker, whose peer is
    gone, ends with an error instead of waiting for ever."""
    path = recipe(tmp_path, "train.epochs = 500\n")
    procs, _ = multi_worker(tmp_path, path, "train.run_name = 'term'")
    history = tmp_path / "runs" / "digits" / "term" / "history.csv"
    end = time.monotonic() + DEADLINE_S
    try:
        while not (history.is_file() and len(history.read_text().splitlines()) > 1):
            assert all(p.poll() is None for p in procs), "a worker ended before epoch 1"
            assert time.monotonic() < end, "no epoch finished before the deadline"
            time.sleep(0.5)
        procs[0].send_signal(signal.SIGTERM)
        outs = [finish(p, 180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[0].returncode == 128 + signal.SIGTERM, outs[0][-3000:]
    assert procs[1].returncode not in (0, None), outs[1][-3000:]
    summary = json.loads((history.parent / "summary.json").read_text())
    assert summary["status"] == "KILLED" and summary["failure"] == "stopped by SIGTERM"
    assert "--resume" in outs[0]


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
    assert out.count("macro mean") == 1 and out.count("Epoch 2/2") == 1  # the chief's, once
    for ray_process in ("RayTrainWorker", "TrainController", "PlacementGroupCleaner"):
        assert ray_process not in out
    assert out.strip().splitlines()[-1].startswith("MLflow:")  # the run's summary comes last
    assert_scored_once(run_dir, recipe(tmp_path, RAY))


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


def test_a_failed_ray_run_names_the_workers_own_error():
    pytest.importorskip("ray")
    from ray.train.v2.api.exceptions import WorkerGroupError

    from zoo.training.ray_train import _first_line

    traceback = "Traceback (most recent call last):\n  ...\nzoo.errors.ConfigError: bad value."
    error = WorkerGroupError(
        "[Rank 0] ...", {1: RuntimeError("actor died\ndetails"), 0: RuntimeError(traceback)}
    )
    assert _first_line(error) == "worker 0: zoo.errors.ConfigError: bad value."
    assert _first_line(RuntimeError("boom\nmore")) == "RuntimeError: boom"
