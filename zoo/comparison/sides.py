"""Reading one run twice: its TensorBoard event files and its MLflow run."""

from __future__ import annotations

from pathlib import Path

from zoo.comparison.discover import RunInfo
from zoo.errors import ZooError


def check_store(uri: str) -> None:
    """Fail in one line, and fast, when the MLflow store cannot be reached."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            raise ZooError(f"The MLflow store {uri} does not exist: pass --tracking-uri.")
    elif uri.startswith(("http://", "https://")):
        from zoo.tracking import server_problem

        problem = server_problem(uri, timeout=10)
        if problem:
            raise ZooError(
                f"The MLflow server {uri} does not answer ({problem}): start it (zoo ui) or pass "
                "--tracking-uri."
            )


def read_sides(run: RunInfo) -> tuple[dict, dict, dict[str, str]]:
    """The run's series from TensorBoard and from MLflow, and its MLflow params."""
    from zoo.tracking.readers import read_mlflow, read_tensorboard

    tb_dir = run.run_dir / "tensorboard"
    if not tb_dir.is_dir():
        raise ZooError(
            f"{run.run_dir} has no tensorboard/ folder (trained with tensorboard=False): "
            "nothing to compare MLflow with."
        )
    if not run.run_id or not run.tracking_uri:
        raise ZooError(
            f"{run.run_dir} has no MLflow run (trained with mlflow=False or --no-mlflow): "
            "nothing to compare TensorBoard with."
        )
    check_store(run.tracking_uri)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        params = dict(MlflowClient(tracking_uri=run.tracking_uri).get_run(run.run_id).data.params)
        ml = read_mlflow(run.run_id, run.tracking_uri)
    except MlflowException as exc:
        raise ZooError(
            f"MLflow run {run.run_id} of {run.run_dir} is not in {run.tracking_uri}: pass the "
            "right --tracking-uri."
        ) from exc
    return read_tensorboard(tb_dir), ml, params
