"""Screenshots of one run in MLflow's UI, in TensorBoard and in zoo compare's HTML report.

    nice -n 10 python benchmarks/ui_screenshots.py [--epochs 8] [--out benchmarks/out/screenshots]

Trains a tiny run (the ``digits_cnn`` recipe, a few epochs) into a fresh folder and SQLite
store, writes its evaluation (``zoo.analysis.evaluation``), starts both UIs with ``zoo ui``'s machinery
(loopback, free ports), and saves PNGs of:

- ``mlflow_experiment_untagged.png``: the experiment's page before it is tagged as model
  training (MLflow 3 shows its GenAI overview there);
- ``mlflow_experiment_charts.png``: the page ``zoo ui`` prints (:func:`zoo.tracking.servers.experiment_url`,
  which tags the experiment ``mlflow.experimentKind = custom_model_development`` and saves
  zoo's chart view): the training runs beside a chart per metric, in the "Model training"
  view, loss, accuracy and learning rate first;
- ``mlflow_experiment_runs.png``: the same runs as a table;
- ``tensorboard_time_series.png``: TensorBoard's time-series dashboard;
- ``compare_report.png``: ``zoo compare --html`` of the run, at 1400 px, top to bottom.

(MLflow's single-run "Model metrics" tab still showed loading spinners after 60 s of page
time in headless Chromium, so it is not captured.) Needs Debian's ``chromium``
(``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def screenshot(url: str, path: Path, size: str = "1500,1000", budget_ms: int = 60000) -> Path:
    """Save a PNG of ``url`` after ``budget_ms`` of page time, in a fresh browser profile."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="zoo-chromium-") as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--virtual-time-budget={budget_ms}",
                f"--screenshot={path}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    return path


def shoot(pages: dict[str, str], out: Path, size: str = "1500,1000") -> None:
    for name, url in pages.items():
        start = time.perf_counter()
        path = screenshot(url, out / name, size)
        print(f"{path}  ({time.perf_counter() - start:.1f} s)  {url}")


def evaluate(run_dir: Path) -> None:
    """The run's evaluation on the test set, as written at the end of a classification run."""
    import keras

    import zoo
    from zoo.analysis.evaluation import EVALUATION_DIR, evaluate_classification

    model = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    data = zoo.datasets.load("digits")
    print(evaluate_classification(model, data, run_dir / EVALUATION_DIR).text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder and store")
    args = parser.parse_args()

    import zoo
    from zoo.tracking.servers import serving

    work = Path(tempfile.mkdtemp(prefix="zoo-screens-"))
    os.chdir(work)
    store = f"sqlite:///{work / 'mlflow.db'}"
    zoo.train(
        "digits_cnn",
        [
            f"train.epochs = {args.epochs}",
            "train.run_name = 'screens'",
            f"train.tracking_uri = '{store}'",
        ],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = work / "runs" / "digits" / "screens"
    evaluate(run_dir)
    report = zoo.compare(run_dir, html_path=work / "report.html").attrs["runs"]
    with serving(store, work / "runs") as (ml, tb):
        from mlflow.tracking import MlflowClient

        from zoo.tracking.servers import experiment_url, runs_path

        exp = MlflowClient(tracking_uri=store).get_experiment_by_name("digits").experiment_id
        pages = {"mlflow_experiment_untagged.png": f"{ml.url}/#/experiments/{exp}"}
        shoot(pages, args.out)
        pages = {
            "mlflow_experiment_charts.png": experiment_url(ml, store, "digits"),
            "mlflow_experiment_runs.png": ml.url + runs_path(exp),
            "tensorboard_time_series.png": f"{tb.url}/?darkMode=false#timeseries",
        }
        shoot(pages, args.out)
    shoot({"compare_report.png": (work / "report.html").as_uri()}, args.out, "1400,3200")
    print(f"report of {', '.join(report)}: {work / 'report.html'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
