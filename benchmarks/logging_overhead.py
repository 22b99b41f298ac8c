"""Logging overhead: epoch time with the side-by-side logger (TensorBoard + MLflow) against
no logging, same model and data, in one process, alternating epochs.

    nice -n 10 python benchmarks/logging_overhead.py [--epochs 8] [--train-size 12000]

One model is trained on a Fashion-MNIST subset (/usr/share/datasets/fashion-mnist; digits
when it is missing); each round trains one epoch without callbacks and one epoch with
``SideBySideLogger`` (per-epoch scalars to TensorBoard and to an MLflow SQLite store), in
alternating order. Reports the median epoch time of each and the overhead ratio; writes
benchmarks/out/logging_overhead.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed_logger_class():
    """SideBySideLogger that also adds up the seconds spent in its own hooks."""
    from callbacks.logger import SideBySideLogger

    class TimedLogger(SideBySideLogger):
        seconds = 0.0

        def _timed(self, hook, *args):
            start = time.perf_counter()
            hook(*args)
            type(self).seconds += time.perf_counter() - start

        def on_train_begin(self, logs=None):
            self._timed(super().on_train_begin, logs)

        def on_train_batch_end(self, batch, logs=None):
            self._timed(super().on_train_batch_end, batch, logs)

        def on_epoch_end(self, epoch, logs=None):
            self._timed(super().on_epoch_end, epoch, logs)

        def on_train_end(self, logs=None):
            self._timed(super().on_train_end, logs)

    return TimedLogger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="epoch pairs (8)")
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--log-every-n-steps", type=int, default=None)
    args = parser.parse_args()

    import keras

    import zoo
    from zoo.tracking import client, experiment_id, mlflow_run

    tmp = Path(tempfile.mkdtemp(prefix="zoo-overhead-"))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    try:
        data = zoo.datasets.load(
            "fashion_mnist", batch_size=args.batch_size, train_size=args.train_size
        )
        name = "fashion_mnist"
    except zoo.ZooError:
        data = zoo.datasets.load("digits", batch_size=args.batch_size)
        name = "digits"
    keras.utils.set_random_seed(0)
    model = zoo.build(
        "cnn", input_shape=data.input_shape, classes=data.num_outputs, filters=[32, 64]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.train, epochs=1, verbose=0)  # warm-up: tracing, caches

    TimedLogger = timed_logger_class()
    experiment_id(client(uri), "overhead")
    times = {"none": [], "logger": []}
    in_hooks: list[float] = []  # seconds inside the logger's hooks, per logged epoch
    with mlflow_run("overhead", "overhead", uri=uri) as handle:
        logger = TimedLogger(
            tmp / "tensorboard",
            handle.client,
            handle.run_id,
            hparams={"batch_size": args.batch_size},
            operative_config="cnn.filters = [32, 64]",
            model_summary="cnn",
            log_every_n_steps=args.log_every_n_steps,
        )
        epoch = 1
        for r in range(args.rounds):
            order = ["none", "logger"] if r % 2 == 0 else ["logger", "none"]
            for mode in order:
                cbs = [logger] if mode == "logger" else []
                before = TimedLogger.seconds
                start = time.perf_counter()
                model.fit(
                    data.train,
                    validation_data=data.validation,
                    initial_epoch=epoch,
                    epochs=epoch + 1,
                    callbacks=cbs,
                    verbose=0,
                )
                times[mode].append(time.perf_counter() - start)
                if mode == "logger":
                    in_hooks.append(TimedLogger.seconds - before)
                epoch += 1
        logger.close()

    none, logged = statistics.median(times["none"]), statistics.median(times["logger"])
    overhead = logged / none - 1
    best_overhead = min(times["logger"]) / min(times["none"]) - 1
    in_logger = statistics.median(in_hooks)
    print(f"data {name}, {args.train_size} examples, batch {args.batch_size}, {args.rounds} rounds")
    print(f"median epoch without logging: {none:.3f} s")
    print(f"median epoch with the logger: {logged:.3f} s")
    print(f"overhead of the medians: {overhead:+.2%}, of the fastest epochs: {best_overhead:+.2%}")
    print(
        f"time inside the logger: median {in_logger * 1000:.1f} ms per epoch = "
        f"{in_logger / none:.2%} of the median epoch (goal <= 3%); first epoch (header: "
        f"HParams, config, summary artifacts) {in_hooks[0] * 1000:.0f} ms"
    )
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with open(out / "logging_overhead.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["round", "mode", "seconds", "seconds_in_logger"])
        for mode, values in times.items():
            for i, value in enumerate(values):
                inside = f"{in_hooks[i]:.4f}" if mode == "logger" else ""
                writer.writerow([i, mode, f"{value:.4f}", inside])


if __name__ == "__main__":
    main()
