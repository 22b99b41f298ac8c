"""Nothing a user types or a machine does loses a run: dead or unwritable stores, corrupt
checkpoints, a tracking server that dies mid-run, runs started in the same second, a tuning
run stopped with SIGTERM, and determinism."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import zoo
from tests.procs import start_zoo
from zoo.cli import main
from zoo.tracking.readers import read_tensorboard
from zoo.training import rundir

TINY = ["digits.train_size = 300", "cnn.filters = [8]", "cnn.dense_units = [16]"]


def _one_line_exit_2(capsys, argv: list[str]) -> str:
    capsys.readouterr()  # what ran before (a store's first use logs to stderr) is not main's
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_unreachable_tracking_server_is_one_sentence_before_any_work(tmp_path, capsys):
    from zoo.tracking.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    argv = ["train", "digits_cnn", "--bind", f"train.tracking_uri = '{url}'"]
    line = _one_line_exit_2(capsys, [*argv, *sum([["--bind", b] for b in TINY], [])])
    assert f"The MLflow server {url} does not answer" in line
    assert not (tmp_path / "runs").exists()  # no run directory for a run that never started


def test_unwritable_stores_and_runs_directory_are_one_sentence(tmp_path, capsys):
    line = _one_line_exit_2(
        capsys, ["train", "digits_cnn", "--bind", "train.tracking_uri = 'sqlite:////proc/x/m.db'"]
    )
    assert "cannot be written" in line
    line = _one_line_exit_2(
        capsys, ["train", "digits_cnn", "--bind", "train.runs_dir = '/proc/zoo-runs'"]
    )
    assert "Cannot create the runs directory /proc/zoo-runs/digits" in line


def test_compare_with_a_missing_store_is_one_sentence(tmp_path, capsys):
    # the store check of zoo train, asked for a store to read: the SQLite file must exist
    run = tmp_path / "runs" / "x" / "r"
    (run / "tensorboard").mkdir(parents=True)
    store = f"sqlite:///{tmp_path / 'gone.db'}"
    summary = {
        "run_name": "r",
        "experiment": "x",
        "mlflow": {"run_id": "01", "tracking_uri": store},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    line = _one_line_exit_2(capsys, ["compare", str(run)])
    assert f"The MLflow store {store} does not exist: set --tracking-uri" in line
    assert not (tmp_path / "gone.db").exists()  # reading never creates a store


def test_corrupt_checkpoint_on_resume_is_one_sentence(tmp_path, capsys):
    result = zoo.train("digits_cnn", [*TINY, "train.epochs = 1", "train.run_name = 'c'"])
    last = result.run_dir / "checkpoints" / "last.keras"
    last.write_bytes(last.read_bytes()[:100])  # a truncated file
    line = _one_line_exit_2(capsys, ["train", "--resume", str(result.run_dir)])
    assert "Cannot resume from" in line and "unreadable" in line


def test_resume_rebuilds_the_run_from_its_own_settings(tmp_path, capsys, mlflow_db):
    """The run directory alone resumes with the run's settings; the old form (recipe, run
    name, --resume) too; only train.epochs may differ, anything else is one sentence."""
    first = zoo.train("digits_cnn", [*TINY, "train.epochs = 1", "train.run_name = 'own'"])
    line = _one_line_exit_2(
        capsys, ["train", "--resume", str(first.run_dir), "--bind", "cnn.filters = [16]"]
    )
    assert "cnn.filters = [16] (the run has [8])" in line
    assert f"zoo train --resume {first.run_dir}" in line
    line = _one_line_exit_2(
        capsys, ["train", "digits_cnn", "--bind", "train.run_name='own'", "--resume"]
    )
    assert "cnn.filters = [32, 64] (the run has [8])" in line
    line = _one_line_exit_2(capsys, ["train", "--resume", str(tmp_path / "nothing")])
    assert "--resume takes a run directory" in line

    second = zoo.train(resume=first.run_dir, epochs=2)  # the Python run-directory form
    assert second.status == "FINISHED" and second.mlflow_run_id == first.mlflow_run_id
    assert second.summary["trainable_params"] == first.summary["trainable_params"]
    third = zoo.train("digits_cnn", [*TINY, "train.run_name = 'own'"], resume=True, epochs=3)
    assert len(third.history["loss"]) == 3 and third.mlflow_run_id == first.mlflow_run_id
    steps = [
        m.step for m in MlflowClient(mlflow_db).get_metric_history(third.mlflow_run_id, "loss")
    ]
    assert sorted(steps) == [0, 1, 2]


def test_checkpoints_are_replaced_whole(tmp_path):
    """A save writes a temporary file and renames it: no half-written last.keras appears."""
    result = zoo.train("digits_cnn", [*TINY, "train.epochs = 2", "train.run_name = 'w'"])
    names = sorted(p.name for p in (result.run_dir / "checkpoints").iterdir())
    assert names == ["best.keras", "last.json", "last.keras"]
    assert json.loads((result.run_dir / "checkpoints" / "last.json").read_text()) == {"epochs": 2}


def test_tracking_server_dying_mid_run_does_not_stop_training(tmp_path, capsys):
    import keras

    from zoo.tracking.servers import start_mlflow, stop, wait_until_up

    server = start_mlflow(f"sqlite:///{tmp_path / 'server.db'}", log_dir=tmp_path / "server")
    try:
        wait_until_up([server], timeout=300)

        class KillServer(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    stop(server)

        result = zoo.train(
            "digits_cnn",
            [*TINY, "train.epochs = 3", "train.run_name = 'gone'"],
            tracking_uri=server.url,
            extra_callbacks=[KillServer()],
        )
    finally:
        stop(server)
    assert result.status == "FINISHED"
    assert sorted(read_tensorboard(result.run_dir / "tensorboard")["loss"]) == [0, 1, 2]
    assert len(result.history["loss"]) == 3
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "FINISHED"
    assert summary["mlflow"]["unsent"]["steps"] == [1, 2]  # epoch 0 got there; 1, 2 did not
    assert "MLflow did not answer at step 1" in capsys.readouterr().out
    # zoo compare, reading the server's own store, reports the gap instead of failing
    table = zoo.compare(result.run_dir, tracking_uri=f"sqlite:///{tmp_path / 'server.db'}")
    gap = table[(table["metric"] == "loss") & (table["status"] == "missing in MLflow")]
    assert sorted(gap["step"]) == [1, 2]


def test_runs_started_in_the_same_second_get_distinct_names(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "default_run_name", lambda model: f"{model}-20261123-120000")
    made: list[Path] = []

    def start():
        made.append(rundir.create(tmp_path / "runs", "exp", None, "cnn").path)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.name for p in made}) == 6
    assert "cnn-20261123-120000" in {p.name for p in made}


def test_deterministic_runs_give_the_same_metrics(tmp_path):
    bindings = [*TINY, "train.epochs = 2", "train.deterministic = True"]
    first = zoo.train("digits_cnn", [*bindings, "train.run_name = 'd1'"])
    second = zoo.train("digits_cnn", [*bindings, "train.run_name = 'd2'"])
    assert first.history == second.history
    assert first.test_metrics == second.test_metrics


def test_tuning_run_stopped_by_sigterm_resumes_without_redoing_trials(tmp_path, mlflow_db):
    path = tmp_path / "tune.gin"
    path.write_text(
        "include 'digits_cnn.gin'\n"
        + "\n".join(TINY)
        + """
train.epochs = 1
tune.space = {'train.learning_rate': ('log', 1e-3, 3e-2)}
tune.algorithm = 'random'
tune.max_trials = 4
"""
    )
    tune_dir = tmp_path / "runs" / "digits" / "tune-random"
    proc = start_zoo("tune", str(path), cwd=tmp_path)
    try:
        end = time.monotonic() + 600
        while len(list(tune_dir.glob("trials/*/record.json"))) < 2:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < end, "two trials did not finish in 600 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    state = json.loads((tune_dir / "tune.json").read_text())
    client = MlflowClient(tracking_uri=mlflow_db)
    assert client.get_run(state["mlflow_run_id"]).info.status == "KILLED"

    # finished: keras-tuner marked it COMPLETED (a SIGTERM can land between the trial's own
    # record.json and keras-tuner's trial.json; that trial then runs again, as it should)
    def completed(trial: str) -> bool:
        state = tune_dir / f"trial_{trial}" / "trial.json"
        text = state.read_text() if state.is_file() else ""
        return bool(text) and json.loads(text).get("status") == "COMPLETED"

    done = {
        p.parent.name: p.stat().st_mtime_ns
        for p in tune_dir.glob("trials/*/record.json")
        if completed(p.parent.name)
    }
    assert len(done) >= 1

    assert len(done) < 4, "the search finished before the signal: nothing to resume"
    result = zoo.tune(str(path), verbose=0)
    assert len(result.records) == 4
    for trial, mtime in done.items():  # finished trials were not trained again
        assert (tune_dir / "trials" / trial / "record.json").stat().st_mtime_ns == mtime
    assert result.mlflow_run_id == state["mlflow_run_id"]
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"
    running = client.search_runs(
        [client.get_run(result.mlflow_run_id).info.experiment_id],
        filter_string="attributes.status = 'RUNNING'",
    )
    assert not running


def test_resume_fills_in_what_a_hard_kill_kept_from_the_trackers(tmp_path, mlflow_db):
    """Killed after the checkpoint of epoch 2 but before the trackers' writes: the resume
    writes epoch 2 into both from history.csv, with the learning rate where the checkpoint
    stopped, and writes nothing a tracker already holds."""
    from callbacks.logger import SideBySideLogger
    from tests.test_lifecycle import raw_tensorboard_steps

    client = MlflowClient(tracking_uri=mlflow_db)
    run_id = client.create_run(client.create_experiment("kill")).info.run_id
    board = tmp_path / "tensorboard"
    first = SideBySideLogger(board, client, run_id)
    first.log({"loss": 0.9, "learning_rate": 0.01}, 0)  # epoch 1 reached both trackers
    first.close()
    history = [{"loss": 0.9}, {"loss": 0.7}]  # history.csv: two rows, the checkpoint: two
    resumed = SideBySideLogger(board, client, run_id)
    assert resumed.reconcile(history, last_learning_rate=0.005) == {
        "tensorboard": [1],
        "mlflow": [1],
    }
    resumed.log({"loss": 0.9}, 0)  # e.g. test metrics logged again after a kill: skipped
    resumed.log({"loss": 0.5}, 2)
    resumed.close()
    assert raw_tensorboard_steps(board, "loss") == [0, 1, 2]
    assert raw_tensorboard_steps(board, "learning_rate") == [0, 1]
    assert sorted(m.step for m in client.get_metric_history(run_id, "loss")) == [0, 1, 2]
    rates = {m.step: m.value for m in client.get_metric_history(run_id, "learning_rate")}
    assert rates == {0: pytest.approx(0.01), 1: pytest.approx(0.005)}
