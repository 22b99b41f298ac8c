"""Command-line arguments that several ``zoo`` commands share (no TensorFlow at import time)."""

from __future__ import annotations

import argparse


def input_shape(text: str) -> tuple[int, ...]:
    """``32,32,3`` or ``32x32x3`` as a shape of positive sizes (an argparse type)."""
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 32,32,3") from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of positive sizes like 32,32,3")
    return dims


def add_recipe_arguments(p: argparse.ArgumentParser, optional: bool = False) -> None:
    """``RECIPE`` and ``--bind K=V`` (repeatable), as ``zoo train`` and ``zoo find-lr`` take
    (``optional``: ``zoo train --resume RUN_DIR`` needs no recipe)."""
    p.add_argument(
        "recipe",
        nargs="?" if optional else None,
        help="a .gin file, or the name of a bundled recipe (zoo list --recipes)",
    )
    p.add_argument(
        "--bind",
        "-b",
        action="append",
        default=[],
        metavar="K=V",
        help="gin binding that overrides the recipe, e.g. --bind train.epochs=3 (repeatable)",
    )
