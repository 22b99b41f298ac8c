"""The tracking store: MLflow runs that always end, found again on resume.

A run is FINISHED, FAILED (exception or NaN) or KILLED (interrupt or signal) when its
``mlflow_run`` block ends; none is left RUNNING. Every run carries the tag ``zoo.run_dir``
(its run directory), which is how ``--resume`` finds it again when ``summary.json`` is gone.
Logging goes through ``MlflowClient`` synchronously, so values are in the store when an epoch
ends (MLflow's own Keras callback logs asynchronously).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# MLflow 3 opens an experiment on its GenAI "Overview" (traces) unless the experiment says it
# holds model-training runs; with this tag its page opens on the runs table and their charts.
TRAINING_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
FAILURE_TAG = "zoo.failure"  # why a run ended FAILED
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_LENGTH = 6000


def tracking_uri(uri: str | None = None) -> str:
    """The store to use: ``uri``, else ``$MLFLOW_TRACKING_URI``, else MLflow's default.
    Nothing global changes: every client zoo makes is given its store explicitly."""
    import mlflow

    return uri or mlflow.get_tracking_uri()


def absolute_uri(uri: str) -> str:
    """``sqlite:///rel.db`` -> ``sqlite:////abs/rel.db`` so printed commands work anywhere."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


# How long MLflow's client may insist on a server that does not answer, per request. Its
# defaults (7 retries with backoff, 120 s timeouts) stall a run for minutes.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


STORE_TIMEOUT = 5.0  # seconds a server's /health may take before the store counts as dead


def check_store(uri: str | None = None, *, option: str | None = None, read: bool = False) -> str:
    """The tracking URI to use, after checking that its store answers (a server) or can be
    written (a SQLite file; ``read``: exists already); one sentence otherwise, before any work
    is done. ``option`` is how the user names another store (default: ``train.tracking_uri``)."""
    import os

    from zoo.errors import ConfigError

    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    resolved = tracking_uri(uri)
    where = option or ("train.tracking_uri" if uri else "MLFLOW_TRACKING_URI or train.tracking_uri")
    if resolved.startswith(("http://", "https://")):
        problem = server_problem(resolved, STORE_TIMEOUT)
        if problem:
            raise ConfigError(
                f"The MLflow server {resolved} does not answer ({problem}): start it, or set "
                f"{where} to a store that answers, e.g. 'sqlite:///mlflow.db'."
            )
    elif resolved.startswith("sqlite:///"):
        path = Path(resolved[len("sqlite:///") :]).expanduser().resolve()
        folder = path.parent
        if read and not path.is_file():
            raise ConfigError(
                f"The MLflow store {resolved} does not exist: set {where} to the store the "
                "runs were logged to."
            )
        if not read and (not folder.is_dir() or not os.access(folder, os.W_OK)):
            raise ConfigError(
                f"The MLflow store {resolved} cannot be written: {folder} is not a writable "
                f"folder; set {where} to a SQLite file in a folder you can write."
            )
    elif resolved.startswith("file:") and not _file_store_allowed():
        raise ConfigError(
            f"MLflow's file store ({resolved}) is in maintenance mode and refused by this "
            f"MLflow: set {where} to a SQLite file, e.g. 'sqlite:///mlflow.db' "
            "(`mlflow migrate-filestore` moves old runs), or set MLFLOW_ALLOW_FILE_STORE=true."
        )
    return resolved


def _file_store_allowed() -> bool:
    """MLflow refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` says otherwise."""
    import os

    return os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("1", "true")


def server_problem(url: str, timeout: float) -> str | None:
    """None when ``url``'s ``/health`` answers within ``timeout`` seconds, else why not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as reply:
            return None if reply.status == 200 else f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{reason} within {timeout:.0f} s" if "timed out" in str(reason) else str(reason)


def client(uri: str | None = None):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(uri))


def experiment_id(mlflow_client, name: str) -> str:
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            mlflow_client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:  # tagged as model training, so that MLflow 3's UI opens on the runs and charts
        return mlflow_client.create_experiment(name, tags={TRAINING_KIND_TAG: TRAINING_KIND})
    except Exception:  # created concurrently by another process
        return mlflow_client.get_experiment_by_name(name).experiment_id


def log_params(mlflow_client, run_id: str, params: dict[str, Any]) -> None:
    """Log params in batches of 100, values cut to MLflow's length limit."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        mlflow_client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def log_metrics(mlflow_client, run_id: str, metrics: dict[str, float], step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
    if items:
        mlflow_client.log_batch(run_id, metrics=items)


RUN_DIR_TAG = "zoo.run_dir"


def find_run_by_dir(experiment: str, run_dir: str | Path, uri: str | None = None) -> str | None:
    """The id of the newest top-level run of ``experiment`` tagged with ``run_dir``, if any."""
    mlflow_client = client(uri)
    exp = mlflow_client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    where = str(Path(run_dir).resolve()).replace("'", "\\'")
    runs = mlflow_client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{RUN_DIR_TAG}` = '{where}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


class RunHandle:
    """An open MLflow run: its client and id, and the status it will end with."""

    def __init__(self, mlflow_client, run_id: str, uri: str | None = None):
        self.client = mlflow_client
        self.run_id = run_id
        self.uri = absolute_uri(uri or mlflow_client.tracking_uri)
        self.status = "FINISHED"

    def log_params(self, params: dict[str, Any]) -> None:
        log_params(self.client, self.run_id, params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        log_metrics(self.client, self.run_id, metrics, step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def fail(self, reason: str) -> None:
        """End the run FAILED (without an exception), with the reason as a tag."""
        self.status = "FAILED"
        self.client.set_tag(self.run_id, FAILURE_TAG, reason)


@contextlib.contextmanager
def mlflow_run(
    experiment: str,
    run_name: str,
    *,
    uri: str | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[RunHandle]:
    """Create (or reopen ``run_id``) and yield a :class:`RunHandle`; always end the run.

    The status is the handle's (FINISHED unless ``fail`` was called) on success, KILLED on
    KeyboardInterrupt, FAILED on any other exception (the exception is re-raised).
    """
    uri = tracking_uri(uri)
    mlflow_client = client(uri)
    if run_id is None:
        all_tags = {"mlflow.runName": run_name, "mlflow.source.name": "zoo"}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        all_tags.update(tags or {})
        run = mlflow_client.create_run(
            experiment_id(mlflow_client, experiment), run_name=run_name, tags=all_tags
        )
        run_id = run.info.run_id
    else:
        mlflow_client.update_run(run_id, status="RUNNING")
    handle = RunHandle(mlflow_client, run_id, uri)
    status = "FAILED"
    try:
        yield handle
        status = handle.status
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        with contextlib.suppress(Exception):
            mlflow_client.set_terminated(run_id, status=status)


def ui_command(uri: str) -> str:
    """The shell command that opens MLflow's UI on this store."""
    uri = absolute_uri(uri)
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    return f"mlflow ui --backend-store-uri {uri}"
