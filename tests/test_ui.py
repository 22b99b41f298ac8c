"""`zoo ui`'s machinery with stand-in servers (fast): waiting, failing, stopping whole groups."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

import zoo.tracking.servers as ui
from zoo.cli import main as cli
from zoo.errors import ZooError

# A stand-in server: starts a worker process of its own, then serves HTTP 200 on PORT.
SERVER = """
import http.server, subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[2], "w").write(str(worker.pid))
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

# A stand-in that answers for two seconds, then exits with code 0.
BRIEF_SERVER = """
import http.server, sys, time
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
s.timeout = 0.1
end = time.time() + 2
while time.time() < end:
    s.handle_request()
"""


def stand_in(tmp_path: Path, name: str = "fake", code: str = SERVER) -> tuple[ui.Server, Path]:
    port = ui.free_port()
    pid_file = tmp_path / f"{name}.pid"
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", code, str(port), str(pid_file)]
    return ui._spawn(name, command, url, url + "/", tmp_path), pid_file


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = Path(f"/proc/{pid}/stat")
        if status.is_file() and status.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True  # a zombie waiting to be reaped: it no longer runs
        time.sleep(0.1)
    return False


def test_wait_then_stop_ends_the_server_and_its_workers(tmp_path):
    server, pid_file = stand_in(tmp_path)
    try:
        assert ui.wait_until_up([server], timeout=60) < 60
        assert ui.answers(server.health_url)
        worker = int(pid_file.read_text())
    finally:
        ui.stop(server)
    assert server.process.returncode == -signal.SIGTERM
    assert not ui.answers(server.health_url)
    assert gone(worker)


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    server, _ = stand_in(tmp_path, "broken", "import sys; print('port in use'); sys.exit(3)")
    with pytest.raises(ZooError, match=r"broken exited with code 3 .*port in use"):
        ui.wait_until_up([server], timeout=60)


def test_timeout_is_reported(tmp_path):
    server, _ = stand_in(tmp_path, "slow", "import time; time.sleep(60)")
    try:
        with pytest.raises(ZooError, match="slow did not answer within 1 s"):
            ui.wait_until_up([server], timeout=1)
    finally:
        ui.stop(server)


def test_zoo_ui_stops_the_other_server_when_one_fails(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").mkdir()
    started = {}

    def fake_mlflow(uri, **kw):
        started["mlflow"], started["pid_file"] = stand_in(tmp_path, "mlflow")
        return started["mlflow"]

    def fake_tensorboard(logdir, **kw):
        code = BRIEF_SERVER  # answers for two seconds, then exits 0
        started["tensorboard"], _ = stand_in(tmp_path, "tensorboard", code)
        return started["tensorboard"]

    monkeypatch.setattr(ui, "start_mlflow", fake_mlflow)
    monkeypatch.setattr(ui, "start_tensorboard", fake_tensorboard)
    assert cli(["ui", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]) == 1
    captured = capsys.readouterr()
    assert "MLflow:      http://127.0.0.1:" in captured.out
    assert "zoo ui: tensorboard exited with code 0; stopping the other." in captured.err
    assert started["mlflow"].process.returncode == -signal.SIGTERM
    assert gone(int(started["pid_file"].read_text()))


def test_user_errors(tmp_path, capsys):
    assert cli(["ui", "--runs-dir", "nowhere"]) == 2
    assert "No runs in nowhere: train one first" in capsys.readouterr().err
    with pytest.raises(ZooError, match="loopback only"):
        ui.start_tensorboard(tmp_path, host="0.0.0.0")


def test_store_uri_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert ui.store_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert ui.store_uri() == "http://127.0.0.1:5000"


def test_experiments_are_tagged_so_mlflow_opens_their_training_runs(mlflow_db):
    """MLflow 3 opens an experiment on its GenAI overview unless its ``mlflow.experimentKind``
    tag says ``custom_model_development`` (the values MLflow's UI knows)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_db)
    ours = client.create_experiment("ui-tag-ours")
    theirs = client.create_experiment(
        "ui-tag-theirs", tags={ui.TRAINING_KIND_TAG: "genai_development"}
    )
    names = ["ui-tag-ours", "ui-tag-theirs", "ui-tag-missing"]
    assert ui.mark_training_experiments(mlflow_db, names) == ["ui-tag-ours"]
    assert client.get_experiment(ours).tags[ui.TRAINING_KIND_TAG] == "custom_model_development"
    assert client.get_experiment(theirs).tags[ui.TRAINING_KIND_TAG] == "genai_development"
    assert ui.mark_training_experiments(mlflow_db, names) == []  # already tagged: left alone

    server = ui.Server("mlflow", "http://127.0.0.1:5000", "")
    url = ui.experiment_url(server, mlflow_db, "ui-tag-ours")
    query = "workflowType=machine_learning&compareRunsMode=CHART"  # no metrics yet: no view
    assert url == f"http://127.0.0.1:5000/#/experiments/{ours}/runs?{query}"
    assert ui.runs_path(ours) == f"/#/experiments/{ours}/runs?workflowType=machine_learning"
    with pytest.raises(ZooError, match="MLflow has no experiment 'nope'"):
        ui.experiment_url(server, mlflow_db, "nope")


def test_the_chart_view_puts_the_training_curves_first():
    keys = ["test_f1/cat", "accuracy", "wall_time_s", "val_loss", "learning_rate", "loss",
            "system/cpu_utilization_percentage", "test_accuracy", "evaluation/x", "val_accuracy"]  # fmt: skip
    assert ui.chart_order(keys) == [
        ("Model metrics", ["loss", "accuracy", "learning_rate", "val_loss", "val_accuracy",
                           "test_accuracy", "wall_time_s"]),
        ("evaluation", ["evaluation/x"]),
        ("test_f1", ["test_f1/cat"]),
        ("System metrics", ["system/cpu_utilization_percentage"]),
    ]  # fmt: skip
    view = ui.chart_view(["loss", "test_f1/cat"], stepped={"loss"})
    sections = {s["name"]: s["uuid"] for s in view["compareRunSections"]}
    assert list(sections) == ["Model metrics", "test_f1"] and view["isAccordionReordered"]
    loss, f1 = view["compareRunCharts"]
    assert (loss["metricKey"], loss["type"], loss["metricSectionId"]) == (
        "loss", "LINE", sections["Model metrics"],
    )  # fmt: skip
    assert (f1["type"], f1["displayName"], f1["metricSectionId"]) == (
        "BAR",
        "cat",
        sections["test_f1"],
    )


def test_zoo_ui_opens_the_most_recent_experiment_in_its_saved_chart_view(mlflow_db):
    import json

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_db)
    ids = {}
    for name, started in (
        ("ui-recent-old", 1_000),
        ("ui-recent-new", 2_000),
        ("ui-recent-none", 0),
    ):
        ids[name] = client.create_experiment(name)
        if started:
            run = client.create_run(ids[name], start_time=started).info.run_id
            for step, value in enumerate((0.9, 0.5)):
                client.log_metric(run, "loss", value, step=step)
            client.log_metric(run, "test_f1/cat", 0.7, step=1)
            client.set_terminated(run)
    names = list(ids)
    assert ui.most_recent_experiment(mlflow_db, names) == "ui-recent-new"
    assert ui.most_recent_experiment(mlflow_db, ["ui-recent-none", "missing"]) is None

    server = ui.Server("mlflow", "http://127.0.0.1:5000", "")
    url = ui.experiment_url(server, mlflow_db, "ui-recent-new")
    exp = ids["ui-recent-new"]
    query = "workflowType=machine_learning&compareRunsMode=CHART&viewStateShareKey="
    assert url == f"http://127.0.0.1:5000/#/experiments/{exp}/runs?{query}{ui.VIEW_KEY}"
    tag = client.get_experiment(exp).tags[ui.VIEW_TAG_PREFIX + ui.VIEW_KEY]
    envelope = json.loads(tag)
    assert envelope["name"] == ui.VIEW_NAME and isinstance(envelope["createdAt"], int)
    state = json.loads(envelope["state"])
    charts = [(c["metricKey"], c["type"]) for c in state["compareRunCharts"]]
    assert charts == [("loss", "LINE"), ("test_f1/cat", "BAR")]
