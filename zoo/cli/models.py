"""The ``zoo list`` and ``zoo info`` commands: the model registry from the shell."""

from __future__ import annotations

import argparse

from zoo.cli.args import input_shape
from zoo.errors import ConfigError


def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet*'")
    p.add_argument("--family", help="only this family (cnn, resnet, vgg, text...)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--recipes", action="store_true", help="list the bundled recipes instead")
    what.add_argument("--datasets", action="store_true", help="list the datasets instead")
    p.add_argument(
        "--pretrained", action="store_true", help="only the models with ImageNet weights"
    )


def list_main(args: argparse.Namespace) -> int:
    import fnmatch

    if args.recipes:
        from zoo.config import list_recipes

        names = [n for n in list_recipes() if fnmatch.fnmatchcase(n, args.pattern)]
        print("\n".join(names))
        return 0
    if args.datasets:
        from zoo.datasets import list_datasets

        print("\n".join(n for n in list_datasets() if fnmatch.fnmatchcase(n, args.pattern)))
        return 0
    from zoo.models.registry import get_spec, list_models

    names = list_models(args.pattern, family=args.family)
    if names and getattr(args, "pretrained", False):
        names = pretrained_only(names)
        if not names:
            raise ConfigError(
                f"No model matching {args.pattern!r} has ImageNet weights; "
                "'zoo list --pretrained' lists those that have."
            )
    if not names:
        raise ConfigError(f"No registered model matches {args.pattern!r}; try 'zoo list' for all.")
    rows = [(n, get_spec(n)) for n in names]
    width = max(len(n) for n, _ in rows)
    fam = max(10, *(len(spec.family) for _, spec in rows))
    print(f"{'name':<{width}}  {'family':<{fam}}  {'input':<13}  description")
    for n, spec in rows:
        shape = "x".join(str(d) for d in spec.default_input) or "-"
        print(f"{n:<{width}}  {spec.family:<{fam}}  {shape:<13}  {spec.description}")
    return 0


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a registered model name (see zoo list)")
    p.add_argument(
        "--input-shape",
        type=input_shape,
        action="append",
        help="input size(s) to count at, e.g. 32,32,3 (repeat to compare sizes)",
    )
    p.add_argument("--classes", type=int, help="number of classes of the head")


def _human(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def info_main(args: argparse.Namespace) -> int:
    from zoo.models.registry import get_spec, info

    spec = get_spec(args.name)  # unknown names fail before TensorFlow is imported
    shapes = args.input_shape or [spec.default_input or None]
    overrides = {"classes": args.classes} if args.classes else {}
    print(f"{spec.name}: {spec.description}")
    print(f"  family        {spec.family}")
    if spec.paper:
        print(f"  paper         {spec.paper}")
    for shape in shapes:
        data = info(args.name, input_shape=shape, **overrides)
        print(f"  input         {data['input_shape']} -> output {data['output_shape']}")
        print(
            f"    parameters  {data['trainable_params']:,} trainable, "
            f"{data['non_trainable_params']:,} non-trainable, {data['total_params']:,} total"
        )
        print(f"    mult-adds   {data['macs']:,} ({_human(data['macs'])}) per example")
    for key, value in spec.reference.items():
        shown = f"{value:,}" if isinstance(value, int) else value
        print(f"  reference     {key}: {shown}")
    print_pretrained(spec.name)
    return 0


def pretrained_only(names: list[str]) -> list[str]:
    """The models of ``names`` that have ImageNet weights (``zoo list --pretrained``)."""
    from zoo.models.imagenet import pretrained_models

    have = set(pretrained_models())
    return [n for n in names if n in have]


def print_pretrained(name: str) -> None:
    """``zoo info``'s weights lines: source, published top-1, input, whether cached."""
    from zoo.models.imagenet import SOURCES, is_cached, weights_dir

    src = SOURCES.get(name)
    if src is None:
        print("  weights       none published (weights=None or a file of your own)")
        return
    where = f"in {weights_dir()}" if is_cached(name) else "downloaded on first use"
    print(f"  weights       imagenet: {src.origin}, {src.top1_text}")
    print(f"    file        {src.file_name} ({where})")
    print(f"    input       {src.input_size}x{src.input_size}, mean {src.mean}, std {src.std}")
