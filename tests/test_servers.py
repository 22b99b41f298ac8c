"""Real components: `zoo ui` starts a real MLflow server (SQLite) and a real TensorBoard on
loopback; a tiny run logs to that server; MLflow's REST API and TensorBoard's HTTP data API
then serve the same values. Both servers are stopped at the end, also when the test fails.

Slow (the servers take 10-30 s to answer on a loaded 2-core machine): marked ``slow``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import zoo
from tests.procs import default_signals
from zoo.tracking.servers import STOP_TIMEOUT, answers

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "digits.train_size = 300",
    "cnn.filters = [8]",
    "cnn.dense_units = [16]",
    "train.batch_size = 32",
    "train.epochs = 3",
    "train.run_name = 'served'",
]
EPOCH_KEYS = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _sigint_ignored() -> None:
    """In zoo ui: as a shell's background job starts, with SIGINT ignored."""
    default_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def zoo_ui(tmp_path, request):
    """`python -m zoo ui` on a fresh SQLite store and ./runs; yields the URLs it printed."""
    (tmp_path / "runs").mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'server.db'}",
    }
    ui = subprocess.Popen(
        [sys.executable, "-m", "zoo", "ui", "--runs-dir", "runs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=getattr(request, "param", default_signals),
    )
    server_groups: list[int] = []
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(ui.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any("Ctrl-C" in line for line in lines):
            assert ui.poll() is None, "zoo ui exited: " + "".join(lines)
            assert time.monotonic() < deadline, "zoo ui did not start: " + "".join(lines)
            time.sleep(0.2)
        urls = {}
        for line in lines:
            name, _, url = line.partition(":")
            if name in ("MLflow", "TensorBoard"):
                urls[name] = url.strip().rstrip("/")
        # each server leads its own process group (the other children are their watchdogs)
        server_groups = [pid for pid in children(ui.pid) if not is_watchdog(pid)]
        yield ui, urls, server_groups, lines, reader
    finally:
        if ui.poll() is None:
            ui.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                ui.wait(timeout=60)
        if ui.poll() is None:
            ui.kill()
        for group in server_groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def is_watchdog(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"sys.stdin.buffer.read()" in (Path("/proc") / str(pid) / "cmdline").read_bytes()
    return False


def live_members(group: int) -> list[int]:
    """Processes of a process group that are still running (zombies awaiting reaping by
    the sandbox's init do not count: they hold no port and run no code)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def wait_group_gone(group: int, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (members := live_members(group)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return members


def get_json(url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_real_servers_serve_the_same_values(zoo_ui, monkeypatch):
    import mlflow.tracking._tracking_service.utils as tracking_utils

    ui, urls, groups, lines, reader = zoo_ui
    ml_url, tb_url = urls["MLflow"], urls["TensorBoard"]
    assert ml_url.startswith("http://127.0.0.1:") and tb_url.startswith("http://127.0.0.1:")
    assert len(groups) == 2
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)  # undone after the test

    result = zoo.train("digits_cnn", [*TINY, f"train.tracking_uri = '{ml_url}'"])
    assert result.status == "FINISHED" and result.tracking_uri == ml_url

    # MLflow's REST API: the run, its params, and each metric's history
    api = f"{ml_url}/api/2.0/mlflow"
    experiment = get_json(f"{api}/experiments/get-by-name?experiment_name=digits")["experiment"]
    found = get_json(
        f"{api}/runs/search",
        {
            "experiment_ids": [experiment["experiment_id"]],
            "filter": "attributes.run_name = 'served'",
        },
    )["runs"]
    assert len(found) == 1
    run = found[0]
    assert run["info"]["run_id"] == result.mlflow_run_id
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["train.epochs"] == "3" and params["cnn.filters"] == "[8]"
    ml = {}
    for key in EPOCH_KEYS:
        query = urllib.parse.urlencode({"run_id": result.mlflow_run_id, "metric_key": key})
        history = get_json(f"{api}/metrics/get-history?{query}")["metrics"]
        ml[key] = {m["step"]: m["value"] for m in history}

    # TensorBoard's HTTP data API (the scalars plugin serves TF2 tensor summaries)
    tb_run = "digits/served/tensorboard"
    tb: dict[str, dict[int, float]] = {}
    deadline = time.monotonic() + 60
    while len(tb.get("learning_rate", {})) < 3:  # new event files are read on its next reload
        assert time.monotonic() < deadline, f"TensorBoard never served 3 epochs: {tb}"
        time.sleep(1)
        for key in EPOCH_KEYS:
            query = urllib.parse.urlencode({"run": tb_run, "tag": key})
            with contextlib.suppress(urllib.error.HTTPError):
                points = get_json(f"{tb_url}/data/plugin/scalars/scalars?{query}")
                tb[key] = {int(step): value for _, step, value in points}
    tags = get_json(f"{tb_url}/data/plugin/scalars/tags")[tb_run]
    assert set(EPOCH_KEYS) <= set(tags)

    for key in EPOCH_KEYS:
        assert sorted(tb[key]) == sorted(ml[key]) == [0, 1, 2], key
        assert tb[key] == ml[key], key  # the same float32 on both sides
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # history.csv has no rate
        assert [ml[key][s] for s in range(3)] == pytest.approx(result.history[key], rel=1e-6)

    # zoo compare reads the same run through the server
    table = zoo.compare(result.run_dir)
    assert set(table["status"]) == {"ok"} and len(table) == 5 * 3 + 2 + 10 * 3 + 3

    # Ctrl-C stops zoo ui and both servers
    ui.send_signal(signal.SIGINT)
    # stop() may take 2 * STOP_TIMEOUT per server on a loaded machine; allow both, and margin
    assert ui.wait(timeout=4 * STOP_TIMEOUT + 30) == 0
    reader.join(timeout=10)
    assert "stopped MLflow and TensorBoard.\n" in lines
    assert not answers(f"{ml_url}/health") and not answers(f"{tb_url}/data/logdir")
    for group in groups:
        assert wait_group_gone(group) == [], f"process group {group} still running"


@pytest.mark.slow
@pytest.mark.parametrize(
    "zoo_ui, signame",
    [(_sigint_ignored, "SIGINT"), (default_signals, "SIGTERM"), (default_signals, "SIGKILL")],
    indirect=["zoo_ui"],
)
def test_zoo_ui_stops_its_servers_however_it_is_stopped(zoo_ui, signame):
    """SIGINT (even inherited as ignored) and SIGTERM stop zoo ui and both servers; after a
    SIGKILL, which zoo ui cannot handle, its watchdogs end the servers within seconds."""
    ui, urls, groups, lines, reader = zoo_ui
    assert len(groups) == 2
    ui.send_signal(getattr(signal, signame))
    code = ui.wait(timeout=4 * STOP_TIMEOUT + 30)
    assert code == (-signal.SIGKILL if signame == "SIGKILL" else 0), "".join(lines)
    for group in groups:
        assert wait_group_gone(group, timeout=60) == [], f"process group {group} still running"
    assert not answers(f"{urls['MLflow']}/health")
