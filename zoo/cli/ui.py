"""``zoo ui``: MLflow's UI and TensorBoard on this project's runs (the servers: :mod:`zoo.tracking.servers`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zoo.errors import ZooError
from zoo.tracking.servers import (
    experiment_url,
    mark_training_experiments,
    most_recent_experiment,
    serving,
    store_uri,
)


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default="runs", help="TensorBoard's log folder (runs)")
    parser.add_argument("--experiment", help="show this experiment only")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    parser.add_argument("--mlflow-port", type=int, help="default: a free port")
    parser.add_argument("--tensorboard-port", type=int, help="default: a free port")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for both to answer (180)"
    )


def ui_main(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir)
    logdir = runs_dir / args.experiment if args.experiment else runs_dir
    if not logdir.is_dir():
        raise ZooError(f"No runs in {logdir}: train one first (zoo train RECIPE).")
    uri = store_uri(args.tracking_uri)
    print(f"starting MLflow ({uri}) and TensorBoard ({logdir}) ...", flush=True)
    from zoo.training.stops import StopGuard

    try:
        with (
            # SIGINT, SIGTERM and SIGHUP stop zoo ui and both servers, whatever disposition
            # it inherited (a shell's background job starts with SIGINT ignored)
            StopGuard(keep_ignored=False),
            serving(
                uri,
                logdir,
                mlflow_port=args.mlflow_port,
                tensorboard_port=args.tensorboard_port,
                timeout=args.timeout,
            ) as (ml, tb),
        ):
            experiment = args.experiment
            if not experiment:  # zoo's experiments are the folders of runs_dir
                names = sorted(p.name for p in runs_dir.iterdir() if p.is_dir())
                mark_training_experiments(uri, names)
                experiment = most_recent_experiment(uri, names)
                if experiment:
                    print(f"experiment:  {experiment} (the most recently active one)", flush=True)
            print(f"MLflow:      {experiment_url(ml, uri, experiment)}", flush=True)
            print(f"TensorBoard: {tb.url}/", flush=True)
            print("Ctrl-C (or SIGTERM) stops both.", flush=True)
            while True:
                for server in (ml, tb):
                    if server.process is not None and server.process.poll() is not None:
                        print(
                            f"zoo ui: {server.name} exited with code "
                            f"{server.process.returncode}; stopping the other. Its log ends "
                            f"with:\n{server.log_tail()}",
                            file=sys.stderr,
                        )
                        return 1
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped MLflow and TensorBoard.", flush=True)
        return 0
