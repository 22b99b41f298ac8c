"""A real two-node Ray cluster on loopback, and zoo's two ways of using one.

Starts an ``mlflow server`` (the tracking store a lab shares: the nodes of a real cluster
share no file, so a ``sqlite:///`` path would split the runs) and a Ray cluster of two nodes
with one CPU each, each node with its own temp dir::

    ray start --head --port P --num-cpus 1 --temp-dir ROOT/head
    ray start --address 127.0.0.1:P --num-cpus 1 --temp-dir ROOT/node2

then, all logging to the server:

1. ``zoo tune`` of a tiny digits recipe with ``tune.backend = 'ray'`` and ``tune.address``
   pointing at the head: two trials at once, one CPU each, so one on each node;
2. ``zoo train`` with ``train.distribution = 'ray'``, ``distribute.address`` and two
   workers: one Ray Train worker on each node, one MLflow run;
3. the same run with many epochs, and the second node killed (SIGKILL of its processes)
   after the first epoch: the run must end FAILED (``distribute.max_failures = 0``) with
   nothing left RUNNING in MLflow.

Which node ran what comes from Ray's actor table (node ids: on one machine both nodes have
the same address and host name). The cluster and the server are stopped whatever happens
(only the processes this script started: ``ray stop`` would stop every Ray on the machine).
The run directories are on the one disk both nodes see; a real cluster needs them on shared
storage (the chief worker writes the run directory, the driver reads its summary).

    python benchmarks/ray_cluster.py            # prints the checks and times, writes JSON
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results" / "ray_cluster.json"
DIGITS = """
include 'digits_cnn.gin'
digits.train_size = 300
cnn.filters = [8]
cnn.dense_units = [16]
train.batch_size = 32
train.epochs = 2
train.precision = 'float32'
"""
TUNE = """
tune.backend = 'ray'
tune.search = 'random'
tune.scheduler = 'fifo'
tune.objective = 'val_accuracy'
tune.space = {'train.learning_rate': ('log', 1e-3, 1e-2)}
tune.max_trials = 2
tune.max_concurrent_trials = 2
tune.cpus_per_trial = 1
"""
RAY_TRAIN = """
train.distribution = 'ray'
distribute.workers = 2
distribute.cpus_per_worker = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.5)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def processes_under(marker: str) -> list[int]:
    """This script's Ray processes: those whose command line names ``marker`` (a temp dir
    of ours), and everything they started."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().split(") ")[1].split()[1])
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    found = {pid for pid, cmd in commands.items() if marker in cmd and pid != os.getpid()}
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        for pid, pp in parents.items():
            if pp == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return sorted(found)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def zoo(*args: str, env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "zoo"), *args],
        cwd=cwd,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def actors_by_node(address: str, env: dict) -> dict[str, set[str]]:
    """Ray's actor table (from the GCS, no dashboard needed): class name -> node ids."""
    code = (
        "import json, ray, ray._private.state as s\n"
        f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
        "print(json.dumps([[a['ActorClassName'], (a.get('Address') or {}).get('NodeID')]"
        " for a in s.actors().values()]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env
    )
    if done.returncode:
        raise RuntimeError(f"reading Ray's actor table failed:\n{done.stderr[-3000:]}")
    table: dict[str, set[str]] = {}
    for name, node in json.loads(done.stdout.strip().splitlines()[-1]):
        if node:
            table.setdefault(name, set()).add(node)
    return table


def mlflow_runs(uri: str) -> list[dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = []
    for exp in client.search_experiments():
        for r in client.search_runs([exp.experiment_id], max_results=1000):
            runs.append(
                {
                    "experiment": exp.name,
                    "name": r.info.run_name,
                    "status": r.info.status,
                    "parent": r.data.tags.get("mlflow.parentRunId"),
                    "id": r.info.run_id,
                }
            )
    return runs


def run(command: list[str], env: dict) -> None:
    """A command that must succeed; its output is the error when it does not."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def main() -> dict:
    root = Path(tempfile.mkdtemp(prefix="zoo-ray-cluster-"))
    work = root / "work"
    work.mkdir()
    (work / "tiny.gin").write_text(DIGITS)
    (work / "tune.gin").write_text("include 'tiny.gin'\n" + TUNE)
    (work / "train.gin").write_text("include 'tiny.gin'\n" + RAY_TRAIN)
    head_port, mlflow_port = free_port(), free_port()
    address = f"127.0.0.1:{head_port}"
    uri = f"http://127.0.0.1:{mlflow_port}"
    token = root / "auth_token"  # Ray's token authentication, with a token of this cluster's
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PYTHONUNBUFFERED": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
    }
    times: dict[str, float] = {}
    report: dict = {"cpu": "AMD EPYC, avx512_bf16", "times_s": times}
    started = time.monotonic()
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(mlflow_port),
        ],
        cwd=root,
        stdout=open(root / "mlflow.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ray = str(BIN / "ray")
        common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
        t = time.monotonic()
        run(
            [ray, "start", "--head", "--port", str(head_port), "--include-dashboard", "false"]
            + common
            + ["--temp-dir", str(root / "head")],
            env,
        )
        run([ray, "start", "--address", address, *common, "--temp-dir", str(root / "node2")], env)
        times["cluster_start"] = round(time.monotonic() - t, 1)
        wait_for(lambda: healthy(f"{uri}/health"), "mlflow server /health", 300)
        times["mlflow_ready"] = round(time.monotonic() - started, 1)

        t = time.monotonic()
        tune = zoo(
            "tune", "tune.gin", "--bind", f"tune.address = '{address}'",
            env=env, cwd=work, log=root / "tune.log",
        )  # fmt: skip
        report["tune_exit"] = tune.wait(timeout=900)
        times["zoo_tune"] = round(time.monotonic() - t, 1)

        t = time.monotonic()
        train = zoo(
            "train", "train.gin",
            "--bind", f"distribute.address = '{address}'",
            "--bind", "train.run_name = 'ray2'",
            env=env, cwd=work, log=root / "train.log",
        )  # fmt: skip
        report["train_exit"] = train.wait(timeout=900)
        times["zoo_train_ray_2_workers"] = round(time.monotonic() - t, 1)
        report["train_console_tail"] = (root / "train.log").read_text().splitlines()[-4:]
        table = actors_by_node(address, env)
        report["nodes"] = {name: len(nodes) for name, nodes in table.items()}

        t = time.monotonic()
        doomed = zoo(
            "train", "train.gin",
            "--bind", f"distribute.address = '{address}'",
            "--bind", "train.run_name = 'killed'",
            "--bind", "train.epochs = 500",
            env=env, cwd=work, log=root / "killed.log",
        )  # fmt: skip
        history = work / "runs" / "digits" / "killed" / "history.csv"
        wait_for(
            lambda: history.is_file() and len(history.read_text().splitlines()) > 1,
            "the first epoch of the run to be killed",
            600,
        )
        kill_all(processes_under(str(root / "node2")))
        report["killed_exit"] = doomed.wait(timeout=600)
        times["zoo_train_node_killed"] = round(time.monotonic() - t, 1)
        report["killed_console_tail"] = (root / "killed.log").read_text().splitlines()[-2:]
        summary = json.loads((history.parent / "summary.json").read_text())
        report["killed_status"] = summary["status"]

        runs = mlflow_runs(uri)
        report["mlflow_runs"] = [
            {k: v for k, v in r.items() if k != "id"} | {"nested": r["parent"] is not None}
            for r in runs
        ]
        parents = {r["id"] for r in runs if r["parent"] is None}
        report["checks"] = {
            "tune exit 0": report["tune_exit"] == 0,
            "ray train exit 0": report["train_exit"] == 0,
            "trials on both nodes": any(
                count == 2
                for name, count in report["nodes"].items()
                if "trainable" in name or name == "ImplicitFunc"
            ),
            "Ray Train workers on both nodes": report["nodes"].get("RayTrainWorker", 0) == 2,
            "one MLflow tree: every nested run under a top-level run": all(
                r["parent"] in parents for r in runs if r["parent"] is not None
            ),
            "two nested trial runs": sum(r["parent"] is not None for r in runs) == 2,
            "killed run exit 1": report["killed_exit"] == 1,
            "killed run FAILED": report["killed_status"] == "FAILED",
            "nothing RUNNING in MLflow": all(r["status"] != "RUNNING" for r in runs),
        }
    finally:
        kill_all(processes_under(str(root)))
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        times["total"] = round(time.monotonic() - started, 1)
        report["logs"] = str(root)
    return report


if __name__ == "__main__":
    result = main()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(result.get("checks", {0: False}).values()) else 1)
