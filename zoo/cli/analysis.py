"""The ``zoo summary``, ``zoo scaling`` and ``zoo show`` commands (no TensorFlow at import time)."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.args import input_shape
from zoo.errors import ConfigError


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a registered model name (zoo list) or a run directory")
    p.add_argument(
        "--input-shape",
        type=input_shape,
        action="append",
        help="input size to show, e.g. 28,28,1 (repeat to put sizes side by side)",
    )
    p.add_argument(
        "--checkpoint",
        choices=("last", "best"),
        default="last",
        help="which checkpoint of a run directory (last)",
    )


def summary_main(args: argparse.Namespace) -> int:
    from zoo.analysis.summary import layer_table, load_run_model

    source = args.model
    if Path(source).is_dir():
        source = load_run_model(source, args.checkpoint)
    elif "/" in source or source.endswith(".keras"):
        raise ConfigError(f"{source} is not a run directory (runs/<experiment>/<run>).")
    print(layer_table(source, args.input_shape))
    return 0


def add_scaling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[28, 56, 112, 224],
        metavar="N",
        help="input sides in pixels (28 56 112 224)",
    )
    p.add_argument("--channels", type=int, default=1, help="input channels (1)")
    p.add_argument("--png", type=Path, default=Path("scaling.png"), help="the plot (scaling.png)")


def scaling_main(args: argparse.Namespace) -> int:
    from zoo.analysis.scaling import measure, plot, reading, table

    sizes = sorted(set(args.sizes))
    if len(sizes) < 2 or sizes[0] < 8 or args.channels < 1:
        raise ConfigError("Give at least two --sizes of 8 pixels or more, and --channels >= 1.")
    rows = measure(sizes, channels=args.channels)
    print(table(rows))
    print()
    print(reading(rows))
    print(f"plot: {plot(rows, args.png)}")
    return 0


def add_show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run directory: runs/<experiment>/<run>")
    p.add_argument("--filters", action="store_true", help="the first convolution's filters")
    p.add_argument(
        "--feature-maps",
        nargs="+",
        default=[],
        metavar="LAYER",
        help="layer names (zoo summary RUN lists them), e.g. block1_relu1 block2_relu1",
    )
    p.add_argument("--images", type=int, default=4, help="how many test images (4)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last")
    p.add_argument(
        "--no-log", action="store_true", help="PNGs only: nothing to TensorBoard or MLflow"
    )


def show_main(args: argparse.Namespace) -> int:
    from zoo.analysis.show import show_run

    if args.images < 1:
        raise ConfigError(f"--images must be at least 1, not {args.images}.")
    written = show_run(
        args.run,
        filters=args.filters,
        layers=args.feature_maps,
        count=args.images,
        checkpoint=args.checkpoint,
        log=not args.no_log,
    )
    for path in written.values():
        print(path)
    return 0


def add_nearest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        help="a text run's directory: runs/<experiment>/<run>, or a fold-NN folder of a k-fold run",
    )
    p.add_argument("words", nargs="+", help="the word(s) to look up")
    p.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")


def nearest_main(args: argparse.Namespace) -> int:
    from zoo.analysis.embeddings import load_model_and_vocabulary, nearest

    if args.k < 1:
        raise ConfigError(f"-k must be at least 1, not {args.k}.")
    model, vocabulary = load_model_and_vocabulary(args.run)  # once for all the words
    if vocabulary is None:
        raise ConfigError(
            f"{args.run} has no vocabulary.txt beside it: give a text run's directory."
        )
    found = {w: nearest(model, w, k=args.k, vocabulary=vocabulary) for w in args.words}
    for word, neighbours in found.items():
        print(word)
        for neighbour, score in neighbours:
            print(f"  {score:6.3f}  {neighbour}")
    return 0
