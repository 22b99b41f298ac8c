"""Screenshots of one run's charts in MLflow's UI and in TensorBoard, with headless Chromium.

    nice -n 10 python benchmarks/ui_screenshots.py [--epochs 8] [--out benchmarks/out/screenshots]

Trains a tiny run (the ``digits_cnn`` recipe, a few epochs) into a fresh folder and SQLite
store, starts both UIs with ``zoo ui``'s machinery (loopback, free ports), and saves PNGs of
MLflow's experiment chart view (a chart per metric) and TensorBoard's time-series dashboard.
(MLflow's single-run "Model metrics" tab still showed loading spinners after 60 s of page
time in headless Chromium, so it is not captured.) Needs Debian's ``chromium`` (``apt-get install chromium``).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "screenshots")
    args = parser.parse_args()

    import zoo
    from zoo.ui import serving

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
    with serving(store, work / "runs") as (ml, tb):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=store)
        exp = client.get_experiment_by_name("digits").experiment_id
        # MLflow 3 opens an experiment in its GenAI view unless told it is model training
        client.set_experiment_tag(exp, "mlflow.experimentKind", "custom_model_development")
        pages = {
            "mlflow_experiment_charts.png": f"{ml.url}/#/experiments/{exp}/runs?compareRunsMode=CHART",
            "tensorboard_time_series.png": f"{tb.url}/?darkMode=false#timeseries",
        }
        for name, url in pages.items():
            start = time.perf_counter()
            path = screenshot(url, args.out / name)
            print(f"{path}  ({time.perf_counter() - start:.1f} s)  {url}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
