"""``train.distribution = 'ray'``: the same run on the workers of Ray Train's
``TensorflowTrainer``.

The process that runs ``zoo train`` (the *driver*) creates the run directory (or finds it for
``--resume``), then starts ``distribute.workers`` Ray Train workers on a local Ray or the
cluster at ``distribute.address``. Ray Train sets ``TF_CONFIG`` on each worker; each worker
parses the same gin configuration again (gin lives in one process, as in a Ray Tune trial)
and calls :func:`zoo.training.run.run`, the function ``zoo train`` calls, under
``tf.distribute.MultiWorkerMirroredStrategy``. Worker 0 is the chief and alone writes the run
directory, TensorBoard and MLflow. The driver shows the chief's console and nothing else: the
chief prints into ``console.log`` in the run directory, which the driver follows (Ray's own
log streaming is off), so each line appears once and the run's summary comes last.

When a worker dies, Ray Train stops the others. With ``distribute.max_failures = 0`` (the
default) the run ends FAILED: the driver writes the status into ``summary.json`` and ends the
MLflow run FAILED, so nothing stays RUNNING, and prints the command that resumes it. With
``max_failures = k > 0`` Ray Train restarts the workers up to k times and they continue from
the last complete epoch's checkpoint (the run directory must be on storage every worker sees).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from zoo.tracking.rundir import RunDir, write_json
from zoo.training.distribute import DistributeSettings
from zoo.training.record import RunResult
from zoo.training.rundir import create, find_for_resume
from zoo.training.settings import RunOptions, Settings, TrainSettings

# what Ray's workers (Ray Train's and Ray Tune's) inherit from the process that starts Ray
ENV_PASSED = (
    "PYTHONPATH",
    "KERAS_BACKEND",
    "TF_CPP_MIN_LOG_LEVEL",
    "ZOO_DATA_DIR",
    "MLFLOW_TRACKING_URI",
)


class _Tail:
    """Print the lines appended to ``path`` while the block runs (the chief's console):
    the driver shows each line of the chief once, and nothing of Ray's own processes."""

    def __init__(self, path: Path):
        import threading

        self.path, self.offset = path, path.stat().st_size if path.is_file() else 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="zoo-console", daemon=True)

    def __enter__(self) -> _Tail:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self.done.set()
        self.thread.join()
        return False

    def _follow(self) -> None:
        while not self.done.wait(0.2):
            self._print_new()
        self._print_new()

    def _print_new(self) -> None:
        if not self.path.is_file():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # whole lines only
        if end:
            self.offset += end
            sys.stdout.write(data[:end].decode(errors="replace"))
            sys.stdout.flush()


def launch(run_settings: Settings, options: RunOptions) -> RunResult:
    """Run ``run_settings`` on Ray Train workers; the result is the chief's run."""
    import gin

    from zoo.tracking import absolute_uri, tracking_uri

    knobs = run_settings.distribute
    settings = run_settings.train.replace(
        runs_dir=str(Path(run_settings.train.runs_dir).resolve()),
        tracking_uri=absolute_uri(tracking_uri(run_settings.train.tracking_uri)),
    )
    run_dir = _run_dir(settings, options)
    config = {
        "gin": gin.config_str(),
        "settings": dataclasses.asdict(settings) | {"run_name": run_dir.name},
        "resume": options.resume,
        "recipe": options.recipe,
        "verbose": options.verbose,
    }
    print(
        f"Ray Train: {knobs.workers} worker(s), {knobs.cpus_per_worker} CPU and "
        f"{knobs.gpus_per_worker} GPU each; run directory {run_dir.path}",
        flush=True,
    )
    with _Tail(run_dir.console):
        error = _fit(config, knobs)
    return _result(settings, run_dir, options, error, knobs)


def _run_dir(settings: TrainSettings, options: RunOptions) -> RunDir:
    name = options.run_name or settings.run_name
    if options.resume:
        return find_for_resume(settings.runs_dir, settings.experiment, name)
    return create(settings.runs_dir, settings.experiment, name, settings.model)


def _fit(config: dict[str, Any], knobs: DistributeSettings) -> BaseException | None:
    """Start the workers and wait for them; the error that ended them, if any."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    started = start_ray(knobs.address, knobs.num_cpus)
    storage = tempfile.mkdtemp(prefix="zoo-ray-train-")
    resources = {"CPU": knobs.cpus_per_worker}
    if knobs.gpus_per_worker:
        resources["GPU"] = knobs.gpus_per_worker
    trainer = TensorflowTrainer(
        worker_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=knobs.workers,
            use_gpu=bool(knobs.gpus_per_worker),
            resources_per_worker=resources,
        ),
        run_config=RunConfig(
            name="zoo",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=knobs.max_failures),
        ),
    )
    try:
        trainer.fit()
        return None
    except Exception as exc:  # ray.train.TrainingFailedError and what Ray raises on the way
        return exc
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if started:
            ray.shutdown()


def start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Join the Ray cluster at ``address``, or start a local Ray with ``num_cpus``; True when
    this call started it. Ray Train and Ray Tune both start Ray here: the workers get the same
    environment (:data:`ENV_PASSED`), and Ray's own log streaming stays off (a run's chief
    prints into its console file, a trial reports through Tune)."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "runtime_env": {"env_vars": env},
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    return True


def worker_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: gin parsed again, then :func:`zoo.training.run.run`."""
    import gin
    import ray.train

    from zoo.config import parse
    from zoo.training.run import run
    from zoo.training.settings import read_settings

    parse(None, [], clear=True)
    gin.parse_config(config["gin"])
    settings = read_settings(**config["settings"])  # this worker's settings phase
    train = settings.train
    checkpoint = RunDir(Path(train.runs_dir) / train.experiment / train.run_name)
    restarted = not config["resume"] and checkpoint.last.is_file()
    resume = config["resume"] or restarted
    options = RunOptions(
        recipe=config["recipe"],
        resume=resume,
        run_dir=None if resume else checkpoint.path,  # the driver made it (its console is there)
        verbose=config["verbose"],
        handle_signals=False,  # Ray Train owns the worker processes
    )
    chief = ray.train.get_context().get_world_rank() == 0
    console = open(checkpoint.console, "a", buffering=1) if chief else open(os.devnull, "w")
    with console, contextlib.redirect_stdout(console):
        if restarted:
            print("Ray Train restarted the workers: continuing from the last checkpoint")
        result = run(settings, options)
    ray.train.report({"status": result.status, "epochs": len(result.history.get("loss", []))})


def _result(
    settings: TrainSettings,
    run_dir: RunDir,
    options: RunOptions,
    error: BaseException | None,
    knobs: DistributeSettings,
) -> RunResult:
    """The chief's run as it ended; after a failure, FAILED on both sides (never RUNNING)."""
    import json

    from zoo.tracking.rundir import read_history

    summary = json.loads(run_dir.summary.read_text()) if run_dir.summary.is_file() else {}
    if error is not None or summary.get("status", "RUNNING") == "RUNNING":
        reason = _first_line(error) if error is not None else "no worker finished the run"
        summary.update(
            run_name=run_dir.name,
            experiment=settings.experiment,
            status="FAILED",
            failure=f"a Ray Train worker failed ({reason}); Ray Train restarts workers "
            f"distribute.max_failures = {knobs.max_failures} time(s)",
        )
        run_id = _fail_mlflow_run(settings, run_dir, summary["failure"])
        if run_id is not None:
            summary["mlflow"] = {"tracking_uri": settings.tracking_uri, "run_id": run_id}
        write_json(run_dir.summary, summary)
        print(
            f"the run FAILED: {summary['failure']}; to continue: zoo train "
            f"{options.recipe or 'RECIPE'} --bind \"train.run_name='{run_dir.name}'\" --resume",
            flush=True,
        )
    return RunResult.of(
        run_dir.path,
        summary,
        run_name=run_dir.name,
        experiment=settings.experiment,
        history=read_history(run_dir.history),
    )


def _fail_mlflow_run(settings: TrainSettings, run_dir: RunDir, reason: str) -> str | None:
    """End the chief's MLflow run FAILED if its worker died with it RUNNING; its id."""
    from zoo.tracking import FAILURE_TAG, client, find_run_by_dir

    run_id = find_run_by_dir(settings.experiment, run_dir.path, settings.tracking_uri)
    if run_id is None:
        return None
    mlflow_client = client(settings.tracking_uri)
    if mlflow_client.get_run(run_id).info.status == "RUNNING":
        mlflow_client.set_tag(run_id, FAILURE_TAG, reason[:500])
        mlflow_client.set_terminated(run_id, status="FAILED")
    return run_id


def _first_line(error: BaseException) -> str:
    """What went wrong, in one line: the first failed worker's own error when Ray Train
    says which (``WorkerGroupError.worker_failures``), else the error's first line."""
    failures = getattr(error, "worker_failures", None)
    if failures:
        rank, cause = min(failures.items(), key=lambda item: item[0])
        return f"worker {rank}: {_named_error(cause)}"[:300]
    return _named_error(error)[:300]


def _named_error(error: BaseException) -> str:
    """The last ``SomeError: what`` line of an error's text (a worker's traceback ends on
    it), else its type and first line."""
    import re

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b.*: ", line)]
    if named:
        return named[-1]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
