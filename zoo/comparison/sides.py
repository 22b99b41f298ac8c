"""Reading one run twice: its TensorBoard event files and its MLflow run."""

from __future__ import annotations

from zoo.comparison.discover import RunInfo
from zoo.errors import ZooError
from zoo.tracking import check_store
from zoo.tracking.rundir import RunDir


def read_sides(run: RunInfo) -> tuple[dict, dict, dict[str, str]]:
    """The run's series from TensorBoard and from MLflow, and its MLflow params."""
    from zoo.tracking.readers import read_mlflow, read_tensorboard

    tb_dir = RunDir(run.run_dir).tensorboard
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
    check_store(run.tracking_uri, option="--tracking-uri", read=True)
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
