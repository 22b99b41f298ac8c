"""Training throughput of zoo's resnet50 and vgg16 against keras.applications' ResNet50, VGG16.

Both models of a pair are built in this process at the same input size, batch size, number of
classes and precision, compiled the same way (SGD, sparse cross entropy, no XLA), warmed up,
then timed in alternating rounds (zoo, keras, zoo, keras, ...) so that a load change on the
machine hits both. The ratio is zoo's median images/s over keras.applications'.

    nice -n 10 python benchmarks/zoo_vs_applications.py             # 64x64, batch 16
    python benchmarks/zoo_vs_applications.py --input 96 --batch 32 --rounds 5 --no-append

The networks are not identical: keras.applications' ResNet50 is the original Caffe layout
(stride on the first 1x1 conv, conv biases before batch norm), zoo's follows torchvision
(stride on the 3x3 conv, no biases), which costs more multiply-adds; both counts are printed.
VGG16 is the same network, except zoo's dropout 0.5 after fc1 and fc2 (the paper's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PAIRS = {"resnet50": "ResNet50", "vgg16": "VGG16"}


def build_pair(name: str, size: int, classes: int):
    import keras

    import zoo

    ours = zoo.build(name, input_shape=(size, size, 3), classes=classes)
    theirs = getattr(keras.applications, PAIRS[name])(
        weights=None, input_shape=(size, size, 3), classes=classes
    )
    return ours, theirs


def compile_for_training(model):
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    return model


def images_per_second(model, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * len(x) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", type=int, default=64, help="square input size (default 64)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--steps", type=int, default=8, help="timed training steps per round")
    p.add_argument("--rounds", type=int, default=4, help="alternating rounds per pair")
    p.add_argument("--precision", default="mixed_bfloat16")
    p.add_argument("--models", default="resnet50,vgg16")
    p.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    from vision_report import append_to_section, machine, write_csv

    from zoo.models.stats import count_macs, count_params

    keras.mixed_precision.set_global_policy(args.precision)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, args.input, args.input, 3)).astype("float32")
    y = rng.integers(0, args.classes, args.batch)
    rows = []
    for name in args.models.split(","):
        keras.utils.set_random_seed(0)
        ours, theirs = build_pair(name, args.input, args.classes)
        models = {"zoo": compile_for_training(ours), "keras": compile_for_training(theirs)}
        for model in models.values():  # trace the train function, warm the caches
            for _ in range(2):
                model.train_on_batch(x, y)
        speeds: dict[str, list[float]] = {"zoo": [], "keras": []}
        for r in range(args.rounds):
            order = ("zoo", "keras") if r % 2 == 0 else ("keras", "zoo")
            for who in order:
                speeds[who].append(images_per_second(models[who], x, y, args.steps))
        med = {who: statistics.median(v) for who, v in speeds.items()}
        row = {
            "model": name,
            "peer": f"keras.applications.{PAIRS[name]}",
            "input": args.input,
            "batch": args.batch,
            "precision": args.precision,
            "zoo_params": count_params(ours)[0],
            "keras_params": count_params(theirs)[0],
            "zoo_macs": count_macs(ours),
            "keras_macs": count_macs(theirs),
            "zoo_img_s": round(med["zoo"], 2),
            "keras_img_s": round(med["keras"], 2),
            "ratio": round(med["zoo"] / med["keras"], 3),
            "zoo_rounds": " ".join(f"{v:.1f}" for v in speeds["zoo"]),
            "keras_rounds": " ".join(f"{v:.1f}" for v in speeds["keras"]),
        }
        rows.append(row)
        print(
            f"{name}: zoo {row['zoo_img_s']} img/s vs {row['peer']} {row['keras_img_s']} img/s "
            f"-> ratio {row['ratio']}  (MACs {row['zoo_macs'] / 1e6:.0f}M vs "
            f"{row['keras_macs'] / 1e6:.0f}M; rounds zoo [{row['zoo_rounds']}] "
            f"keras [{row['keras_rounds']}])",
            flush=True,
        )
        del ours, theirs, models
        keras.backend.clear_session()
    path = write_csv("zoo_vs_applications", rows)
    print(f"wrote {path}")
    if not args.no_append:
        table = [
            f"### Training throughput against keras.applications ({machine()})",
            "",
            f"`nice -n 10 python benchmarks/zoo_vs_applications.py --input {args.input} "
            f"--batch {args.batch} --steps {args.steps} --rounds {args.rounds}`: "
            f"{args.input}x{args.input}x3 random images, batch {args.batch}, {args.classes} "
            f"classes, {args.precision}, SGD, median of {args.rounds} alternating rounds of "
            f"{args.steps} `train_on_batch` steps, one process. The machine was shared with "
            "other jobs while measuring.",
            "",
            "| model | peer | zoo img/s | peer img/s | ratio | zoo / peer params | zoo / peer mult-adds |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            table.append(
                f"| {row['model']} | {row['peer']} | {row['zoo_img_s']} | {row['keras_img_s']} | "
                f"**{row['ratio']}** | {row['zoo_params']:,} / {row['keras_params']:,} | "
                f"{row['zoo_macs'] / 1e6:.0f}M / {row['keras_macs'] / 1e6:.0f}M |"
            )
        append_to_section("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
