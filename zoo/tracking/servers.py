"""``zoo ui``: MLflow's UI and TensorBoard on this project's runs, side by side, on loopback.

Starts ``mlflow server`` on the project's store (``$MLFLOW_TRACKING_URI``, else
``sqlite:///mlflow.db``; when that is already an http server, it is only checked and shown)
and ``tensorboard --logdir runs`` (or ``runs/<experiment>``), both on 127.0.0.1 on free ports.
MLflow's link opens the experiment (``--experiment``, else the most recently active one) on
its training runs as charts, loss, accuracy and learning rate first (a saved view).
It waits until both answer (MLflow's ``/health``, TensorBoard's ``/data/logdir``: polled,
since a start takes from seconds to half a minute), prints both URLs, and stops both on
Ctrl-C, or when either one exits. Each server runs in its own process group, so that stopping
it also stops the workers it started.

The pieces (:func:`start_mlflow`, :func:`start_tensorboard`, :func:`wait_until_up`,
:func:`stop`, :func:`serving`) are used by the tests and benchmarks too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import ZooError
from zoo.tracking import TRAINING_KIND, TRAINING_KIND_TAG

HOST = "127.0.0.1"
DEFAULT_STORE = "sqlite:///mlflow.db"


@dataclass
class Server:
    """A server process started by zoo (``process`` is None for one that was already running)."""

    name: str
    url: str
    health_url: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    watchdog: subprocess.Popen | None = None

    def log_tail(self, lines: int = 8) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_loopback(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ZooError(f"zoo ui serves on loopback only, not on {host!r}.")


def _spawn(
    name: str,
    command: Sequence[str],
    url: str,
    health_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: stop() ends its workers too
        )
    return Server(name, url, health_url, process, log_path, watchdog=_watchdog(process.pid))


# A process that ends a server's group when zoo ui dies, however it dies (SIGKILL included):
# it blocks reading a pipe that only zoo ui holds open, and the kernel closes it at its death.
_WATCHDOG = """
import os, signal, sys, time
group = int(sys.argv[1])
sys.stdin.buffer.read()
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        break
    time.sleep(3)
"""


def _watchdog(group: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(group)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the way of the terminal's Ctrl-C
    )


def store_uri(uri: str | None = None) -> str:
    """The project's MLflow store: ``uri``, ``$MLFLOW_TRACKING_URI``, else sqlite:///mlflow.db,
    with a relative SQLite path made absolute."""
    from zoo.tracking import absolute_uri

    return absolute_uri(uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE)


def start_mlflow(
    backend_store_uri: str,
    *,
    port: int | None = None,
    host: str = HOST,
    log_dir: str | Path | None = None,
    artifacts_destination: str | Path | None = None,
) -> Server:
    """Start ``mlflow server`` on ``backend_store_uri`` (not waiting for it to answer).

    MLflow's background job runner (GenAI jobs) is switched off unless
    ``$MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` says otherwise: it starts a dozen workers that
    this project does not use.
    """
    args = ["server", "--backend-store-uri", backend_store_uri, "--workers", "1"]
    if artifacts_destination:
        args += ["--artifacts-destination", str(artifacts_destination)]
    env = {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get(
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"
        )
    }
    return _start("mlflow", "mlflow", args, host, port, log_dir, "/health", env, in_log_dir=True)


def start_tensorboard(
    logdir: str | Path,
    *,
    port: int | None = None,
    host: str = HOST,
    log_dir: str | Path | None = None,
    reload_interval: float = 5.0,
) -> Server:
    """Start ``tensorboard --logdir logdir`` (not waiting for it to answer)."""
    args = ["--logdir", str(Path(logdir).resolve()), "--reload_interval", str(reload_interval)]
    return _start("tensorboard", "tensorboard.main", args, host, port, log_dir, "/data/logdir")


def _start(
    name: str,
    module: str,
    args: list[str],
    host: str,
    port: int | None,
    log_dir: str | Path | None,
    health: str,
    env: dict[str, str] | None = None,
    in_log_dir: bool = False,
) -> Server:
    """Start ``python -m module args --host host --port port`` on a loopback address (a free
    port unless given), its output in ``log_dir`` (a new folder unless given); ``health`` is
    the path that answers once it serves."""
    _check_loopback(host)
    port = port or free_port(host)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="zoo-ui-"))
    command = [sys.executable, "-m", module, *args, "--host", host, "--port", str(port)]
    url = f"http://{host}:{port}"
    cwd = log_dir if in_log_dir else None
    return _spawn(name, command, url, url + health, log_dir, env, cwd=cwd)


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_up(servers: Sequence[Server], timeout: float = 180.0, poll: float = 0.25) -> float:
    """Poll each server's health URL until all answer; the seconds it took.

    Raises :class:`ZooError` (with the end of its log) when a server exits first, or when
    ``timeout`` seconds pass.
    """
    started = time.monotonic()
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.process is not None and server.process.poll() is not None:
                raise ZooError(
                    f"{server.name} exited with code {server.process.returncode} before it "
                    f"answered; its log ({server.log_path}) ends with: "
                    + server.log_tail().replace("\n", " | ")
                )
            if answers(server.health_url):
                waiting.remove(server)
        if not waiting:
            break
        if time.monotonic() - started > timeout:
            names = ", ".join(s.name for s in waiting)
            raise ZooError(f"{names} did not answer within {timeout:.0f} s; see its log.")
        time.sleep(poll)
    return time.monotonic() - started


STOP_TIMEOUT = 15.0  # seconds a server gets after SIGTERM, then again after SIGKILL


def stop(server: Server, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop a server and every process of its group: SIGTERM, then SIGKILL after ``timeout``.

    At worst this takes ``2 * timeout`` (a process that outlives SIGKILL's wait too).
    """
    process = server.process
    if process is None:
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    # workers of the group that outlive their parent
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if server.watchdog is not None:  # its job is done: let it go
        with contextlib.suppress(OSError):
            server.watchdog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.watchdog.wait(timeout=10)
    return process.returncode


@contextlib.contextmanager
def serving(
    store: str | None = None,
    logdir: str | Path = "runs",
    *,
    host: str = HOST,
    mlflow_port: int | None = None,
    tensorboard_port: int | None = None,
    log_dir: str | Path | None = None,
    reload_interval: float = 5.0,
    timeout: float = 180.0,
) -> Iterator[tuple[Server, Server]]:
    """Start MLflow's server and TensorBoard, wait until both answer, yield them, stop both.

    Both are stopped on leaving the block, whatever happens inside it (an exception, Ctrl-C)
    or while starting (one of them failing).
    """
    uri = store_uri(store)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="zoo-ui-"))
    started: list[Server] = []
    try:
        if uri.startswith(("http://", "https://")):
            ml = Server("mlflow", uri.rstrip("/"), uri.rstrip("/") + "/health")
        else:
            ml = start_mlflow(
                uri,
                port=mlflow_port,
                host=host,
                log_dir=log_dir,
                artifacts_destination=log_dir / "mlartifacts",
            )
            started.append(ml)
        ml.extra["store"] = uri
        tb = start_tensorboard(
            logdir,
            port=tensorboard_port,
            host=host,
            log_dir=log_dir,
            reload_interval=reload_interval,
        )
        started.append(tb)
        wait_until_up([ml, tb], timeout=timeout)
        yield ml, tb
    finally:
        for server in reversed(started):
            stop(server)


def mark_training_experiments(store: str, names: Sequence[str]) -> list[str]:
    """Tag the named experiments of ``store`` as model training (where not tagged yet), so
    that MLflow's UI shows their runs; the names of the experiments it tagged."""
    if not names:
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    tagged = []
    for name in names:
        found = client.get_experiment_by_name(name)
        if found is not None and TRAINING_KIND_TAG not in found.tags:
            client.set_experiment_tag(found.experiment_id, TRAINING_KIND_TAG, TRAINING_KIND)
            tagged.append(name)
    return tagged


# MLflow's UI draws one chart per metric, in sections named by the part of the key before the
# last "/" (test_f1/..., test_recall/...), sorted by name, with the unprefixed metrics ("Model
# metrics": loss, accuracy...) last. A saved view (an experiment tag that MLflow's "share"
# button also writes) holds the chart layout; zoo's view puts the training curves first.
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_KEY = "zoo-training-curves"
VIEW_NAME = "zoo: loss, accuracy and learning rate first"
MODEL_SECTION, SYSTEM_SECTION = "Model metrics", "System metrics"
FIRST_CHARTS = ("loss", "accuracy", "learning_rate", "val_loss", "val_accuracy")


def chart_order(keys) -> list[tuple[str, list[str]]]:
    """``[(section, [metric keys])]`` in the order zoo's view shows them: the unprefixed metrics
    first (loss, accuracy, learning rate, their validation twins, then the rest by name), then
    the prefixed sections by name, then MLflow's system metrics."""
    sections: dict[str, list[str]] = {}
    for key in keys:
        head = key.rpartition("/")[0]
        name = MODEL_SECTION if not head else SYSTEM_SECTION if head == "system" else head
        sections.setdefault(name, []).append(key)

    def rank(key: str) -> tuple[int, str]:
        return (FIRST_CHARTS.index(key) if key in FIRST_CHARTS else len(FIRST_CHARTS), key)

    names = sorted(sections, key=lambda n: (n != MODEL_SECTION, n == SYSTEM_SECTION, n))
    return [(n, sorted(sections[n], key=rank)) for n in names]


def _chart(key: str, section: str, line: bool) -> dict:
    """One chart card as MLflow's UI serializes it (a line over steps, or a bar)."""
    card = {
        "uuid": f"zoo-chart-{key}",
        "type": "LINE" if line else "BAR",
        "runsCountToCompare": 10,
        "metricSectionId": section,
        "deleted": False,
        "isGenerated": True,
        "displayName": key.rpartition("/")[2],
        "metricKey": key,
    }
    if line:
        card.update(
            lineSmoothness=0,
            xAxisScaleType="linear",
            scaleType="linear",
            range={},
            xAxisKey="step",
            selectedXAxisMetricKey="",
            yAxisKey="metric",
            yAxisExpressions=[],
            ignoreOutliers=False,
            useGlobalXaxisKey=True,
            useGlobalLineSmoothing=True,
        )
    return card


def chart_view(keys, stepped) -> dict:
    """MLflow's chart state for ``keys`` in :func:`chart_order`; a line for the keys in
    ``stepped`` (logged at several steps), a bar for the others (logged once)."""
    charts, sections = [], []
    for name, members in chart_order(keys):
        uuid = f"zoo-section-{name}"
        sections.append(
            {"uuid": uuid, "name": name, "display": True, "isReordered": True,
             "deleted": False, "isGenerated": True}
        )  # fmt: skip
        charts += [_chart(key, uuid, key in stepped) for key in members]
    return {
        "compareRunCharts": charts,
        "compareRunSections": sections,
        "isAccordionReordered": True,
        "hideEmptyCharts": True,
    }


def save_chart_view(store: str, experiment_id: str) -> bool:
    """Write zoo's chart view of the experiment's metrics as an MLflow saved view (the
    experiment tag ``mlflow.sharedViewState.zoo-training-curves``); False without metrics."""
    import json

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])
    keys = sorted({k for r in runs for k in r.data.metrics})
    if not keys:
        return False
    newest = runs[0].info.run_id
    stepped = {key for key in keys if len(client.get_metric_history(newest, key)) > 1}
    now = int(time.time() * 1000)
    envelope = {
        "name": VIEW_NAME,
        "createdAt": now,
        "updatedAt": now,
        "state": json.dumps(chart_view(keys, stepped)),
    }
    client.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + VIEW_KEY, json.dumps(envelope))
    return True


def runs_path(experiment_id: str, charts: bool = False, view: bool = False) -> str:
    """The path (after the server's URL) of an experiment's training runs in MLflow's UI, with
    the side bar switched to "Model training" (``workflowType``), optionally as charts, and
    in zoo's saved chart view."""
    query = "workflowType=machine_learning" + ("&compareRunsMode=CHART" if charts else "")
    if view:
        query += f"&viewStateShareKey={VIEW_KEY}"
    return f"/#/experiments/{experiment_id}/runs?{query}"


def most_recent_experiment(store: str, names: Sequence[str]) -> str | None:
    """The name, among ``names``, of the experiment whose newest run started last."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    found = [e for e in (client.get_experiment_by_name(n) for n in names) if e is not None]
    if not found:
        return None
    newest = client.search_runs(
        [e.experiment_id for e in found], order_by=["attributes.start_time DESC"], max_results=1
    )
    if not newest:
        return None
    return next(e.name for e in found if e.experiment_id == newest[0].info.experiment_id)


def experiment_url(server: Server, store: str, experiment: str | None) -> str:
    """MLflow's page of ``experiment``'s training runs as charts, loss, accuracy and learning
    rate first (its id looked up in ``store``; the experiment tagged as model training and
    given zoo's chart view), else the home page."""
    if not experiment:
        return server.url + "/"
    from mlflow.tracking import MlflowClient

    found = MlflowClient(tracking_uri=store).get_experiment_by_name(experiment)
    if found is None:
        raise ZooError(f"MLflow has no experiment {experiment!r} in {store}: train a run first.")
    mark_training_experiments(store, [experiment])
    view = save_chart_view(store, found.experiment_id)
    return server.url + runs_path(found.experiment_id, charts=True, view=view)
