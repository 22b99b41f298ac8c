"""Training and inference images/s of every registered vision model, float32 and ``auto``.

Like timm's benchmark CSVs: one row per model and precision, with parameters and
multiply-adds, in ``benchmarks/results/throughput.csv``. Each model is built at its default
input (``zoo list``), fed random images and labels, compiled as the runner compiles a
sparse-label classifier (Adam, no XLA), warmed up (tracing excluded), then timed for
``--seconds``. ImageNet-size models (input >= 128 px) use ``--big-batch`` to stay short.
keras.applications' ResNet50 and VGG16 are measured the same way at the same precision
and batch as zoo's resnet50 and vgg16; their rows carry ``peer`` and zoo's the ratio. For
those ratios the models are built side by side and their training steps timed in
alternating windows (``--rounds`` each), so that a change of load hits both: the ratio is
the median of the rounds' paired ratios (``ratio_range``: their smallest and largest).
zoo's ResNet-50 is also timed in the peer's layout (``stride_at='1x1'``, the same
multiply-adds), since its default (torchvision's) does 6% more work.

``auto`` is :func:`zoo.training.hardware.choose_precision`: where it picks float32 the float32 row is
the auto row (``auto_picks`` says so), so no model is measured twice for nothing.

    nice -n 10 python benchmarks/throughput.py                       # the whole table
    python benchmarks/throughput.py --models 'resnet*' --seconds 5
    python benchmarks/throughput.py --pipeline                       # input vs training
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import fnmatch
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
PEERS = {"resnet50": "ResNet50", "vgg16": "VGG16"}
# zoo's layouts timed against the peer besides the default: (row suffix, build arguments)
PEER_LAYOUTS = {"resnet50": [("[stride_at=1x1]", {"stride_at": "1x1"})]}


def measure_row(name, family, build, shape, batch, policy, seconds, auto_policy, cpu):
    """One CSV row: images/s of ``build()`` under ``policy``, and its size.

    One warm-up step at ImageNet sizes (the first call traces; a second costs seconds)."""
    from zoo.cli.system import measure_model

    warmup = 1 if shape[0] >= 128 else 2
    m = measure_model(build, shape, 10, batch, policy, seconds, inference=True, warmup=warmup)
    import keras

    keras.backend.clear_session()
    rates = (m["train_img_s"], m["infer_img_s"])
    return make_row(name, family, build(), shape, batch, policy, rates, auto_policy, cpu)


def make_row(name, family, model, shape, batch, policy, rates, auto_policy, cpu) -> dict:
    """The CSV row of ``model`` measured at ``rates`` = (training, inference) img/s."""
    from zoo.models.stats import count_macs, count_params

    train, infer = rates
    return {
        "model": name,
        "family": family,
        "input": "x".join(map(str, shape)),
        "batch": batch,
        "precision": policy,
        "auto_picks": policy == auto_policy,
        "train_img_s": round(train, 1),
        "train_step_ms": round(1000 * batch / train, 1),
        "infer_img_s": round(infer, 1),
        "infer_step_ms": round(1000 * batch / infer, 1),
        "params": sum(count_params(model)),
        "macs": count_macs(model),
        "peer": "",
        "ratio_to_peer": "",
        "ratio_range": "",
        "cpu": cpu,
        "date": datetime.date.today().isoformat(),
    }


def zoo_builder(name, shape, **arguments):
    import zoo

    return lambda: zoo.build(name, input_shape=shape, classes=10, **arguments)


def keras_builder(app, shape):
    import keras

    return lambda: getattr(keras.applications, app)(weights=None, input_shape=shape, classes=10)


def table(args, cpu: str, auto_policy: str, out: Path) -> None:
    """Measure the models matching ``--models``, each in a process of its own (TensorFlow
    keeps memory from model to model: 30 ImageNet-size models in one process exhaust 24 GiB);
    each row is appended to ``out`` as soon as it is measured."""
    import subprocess

    import zoo

    patterns = args.models.split(",")
    names = [
        n for n in zoo.list_models(task="vision") if any(fnmatch.fnmatch(n, p) for p in patterns)
    ]
    if not args.append:
        out.unlink(missing_ok=True)
    if args.in_process:
        measure_models(names, args, cpu, auto_policy, out)
        return
    options = ["--seconds", str(args.seconds), "--batch", str(args.batch)]
    options += ["--big-batch", str(args.big_batch), "--rounds", str(args.rounds)]
    for name in names:
        child = [sys.executable, __file__, "--models", name, "--out", str(out), "--append"]
        done = subprocess.run([*child, *options, "--in-process"], check=False)
        if done.returncode:
            print(f"{name}: the measuring process failed ({done.returncode})", flush=True)


def measure_models(names, args, cpu: str, auto_policy: str, out: Path) -> None:
    """Measure ``names`` in this process under float32 and ``auto``'s policy."""
    import zoo

    policies = list(dict.fromkeys(["float32", auto_policy]))
    for name in names:
        spec = zoo.models.registry.get_spec(name)
        shape = tuple(spec.default_input)
        batch = args.big_batch if shape[0] >= 128 else args.batch
        for policy in policies:
            if name in PEERS:
                found = peer_rows(name, spec.family, shape, batch, policy, args, auto_policy, cpu)
            else:
                build = zoo_builder(name, shape)
                row = measure_row(
                    name, spec.family, build, shape, batch, policy, args.seconds, auto_policy, cpu
                )
                found = [row]
            for r in found:
                append(r, out, first=not out.exists())
                print(_line(r), flush=True)


def peer_rows(name, family, shape, batch, policy, args, auto_policy, cpu) -> list[dict]:
    """zoo's ``name`` (each layout) and its keras.applications peer, built side by side and
    timed in alternating windows; the ratios pair each round's windows."""
    peer = f"keras.applications.{PEERS[name]}"
    builds = {name: (family, zoo_builder(name, shape))}
    for suffix, arguments in PEER_LAYOUTS.get(name, []):
        builds[name + suffix] = (family, zoo_builder(name, shape, **arguments))
    builds[peer] = ("keras.applications", keras_builder(PEERS[name], shape))
    rows = {}
    with side_by_side({label: build for label, (_, build) in builds.items()}, policy) as models:
        train = alternating_rates(models, shape, batch, args.seconds, args.rounds)
        infer = alternating_rates(models, shape, batch, args.seconds, 1, inference=True)
        for label, model in models.items():
            rates = (statistics.median(train[label]), infer[label][0])
            kind = builds[label][0]
            rows[label] = make_row(
                label, kind, model, shape, batch, policy, rates, auto_policy, cpu
            )
    for label, row in rows.items():
        if label == peer:
            row["peer"] = name
        else:
            # paired: each round's two windows ran seconds apart, under the same load
            pairs = [a / b for a, b in zip(train[label], train[peer], strict=True)]
            row["peer"] = peer
            row["ratio_to_peer"] = round(statistics.median(pairs), 3)
            row["ratio_range"] = f"{min(pairs):.3f}-{max(pairs):.3f}"
    return list(rows.values())


@contextlib.contextmanager
def side_by_side(builds, policy):
    """The models of ``builds`` built under ``policy`` and compiled as a run compiles a
    sparse-label classifier; the global policy is restored afterwards."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    try:
        models = {label: build() for label, build in builds.items()}
        for model in models.values():
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        yield models
    finally:
        keras.mixed_precision.set_global_policy(previous)
        keras.backend.clear_session()


def alternating_rates(models, shape, batch, seconds, rounds, inference=False):
    """img/s of each model in each round (training steps, or inference with ``inference``):
    timed in turn ``rounds`` times for ``seconds`` each, after one untimed step each
    (tracing is not timed)."""
    import numpy as np

    from zoo.cli.system import timed_steps

    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, size=(batch,)).astype("int32")
    steps = {
        label: (lambda m=m: m.predict_on_batch(x)) if inference else (
            lambda m=m: m.train_on_batch(x, y)
        )
        for label, m in models.items()
    }  # fmt: skip
    for step in steps.values():
        step()
    samples: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, step in steps.items():
            n, elapsed = timed_steps(step, seconds, warmup=0)
            samples[label].append(n * batch / elapsed)
    return samples


def _line(row: dict) -> str:
    return (
        f"{row['model']:<32} {row['input']:>10} b{row['batch']:<4} {row['precision']:<15} "
        f"train {row['train_img_s']:>8} img/s  infer {row['infer_img_s']:>8} img/s"
    )


def pipeline_rows(args, cpu: str) -> list[dict]:
    """Input pipeline alone (Fashion-MNIST, augmented) against the train step it feeds.

    The step is fashion_fast's model and batch in float32; the pipeline is timed on its
    second pass (the first fills the cache), with each augmentation setting. On a shared
    machine the load changes by the minute, so the step is timed again right before each
    pass, and each row's ratio compares two measurements taken seconds apart.
    """
    import time

    from zoo import datasets
    from zoo.cli.system import measure_model, recipe_builder

    build, batch, optimizer = recipe_builder("fashion_fast", (28, 28, 1), 10)
    rows = []
    for augment, target in (
        ([], "sparse"), (["crop", "flip"], "sparse"), (["crop", "flip", "mixup"], "onehot"),
        (["crop", "flip", "cutmix"], "onehot"), (["randaugment"], "sparse"),
    ):  # fmt: skip
        data = datasets.load(
            "fashion_mnist", batch_size=batch, target=target, augment=augment, data_dir=args.data
        )
        for _ in data.train:  # the first pass fills the cache
            pass
        step = measure_model(
            build, (28, 28, 1), 10, batch, "float32", args.seconds, optimizer=optimizer
        )["train_img_s"]
        images, start = 0, time.perf_counter()
        for x, _ in data.train:
            images += int(x.shape[0])
        rate = images / (time.perf_counter() - start)
        rows.append(
            {
                "augment": "+".join(augment) or "none",
                "batch": batch,
                "input_img_s": round(rate, 1),
                "train_step_img_s": round(step, 1),
                "input_over_train": round(rate / step, 2),
                "cpu": cpu,
                "date": datetime.date.today().isoformat(),
            }
        )
        print(rows[-1], flush=True)
    return rows


def append(row: dict, path: Path, first: bool) -> None:
    """Write ``row`` to the CSV at ``path`` (a new file with its header when ``first``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w" if first else "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if first:
            writer.writeheader()
        writer.writerow(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="*", help="comma-separated shell patterns over zoo's vision models"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measure")
    parser.add_argument("--batch", type=int, default=64, help="batch of the small-input models")
    parser.add_argument("--big-batch", type=int, default=4, help="batch at ImageNet sizes")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating windows per model against a peer"
    )
    parser.add_argument("--pipeline", action="store_true", help="input pipeline vs train step")
    parser.add_argument("--data", default=None, help="Fashion-MNIST folder (default: search)")
    parser.add_argument("--out", default=None, help="CSV path (default: benchmarks/results/)")
    parser.add_argument("--append", action="store_true", help="add rows to an existing CSV")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from zoo.training.hardware import choose_precision, cpu_info

    info = cpu_info()
    cpu = f"{info['model']} ({info['cores']} cores; {' '.join(info['flags'])})"
    choice = choose_precision("auto")
    if not args.in_process:
        print(f"{cpu}\n{choice.reason}", flush=True)
    if args.pipeline:
        out = Path(args.out or RESULTS / "pipeline.csv")
        for i, row in enumerate(pipeline_rows(args, cpu)):
            append(row, out, first=i == 0)
    else:
        out = Path(args.out or RESULTS / "throughput.csv")
        table(args, cpu, choice.policy, out)
    if not args.in_process:
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
