"""``zoo system``: this machine, the library versions, and the precision ``auto`` picks here.

It also times a few seconds of training of the quickstart model (``cnn`` as configured by
``recipes/fashion_cnn.gin``, on random 28x28x1 images) under float32 and under the picked
policy, so the choice is shown, not only asserted. TensorFlow is imported inside functions.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable, Sequence
from importlib import metadata

# (shown name, distributions that provide it, first found wins)
PACKAGES = [
    ("tensorflow", ("tensorflow", "tensorflow-cpu", "tf-nightly")),
    ("keras", ("keras",)),
    ("mlflow", ("mlflow", "mlflow-skinny")),
    ("keras-tuner", ("keras-tuner",)),
    ("ray", ("ray",)),
    ("gin-config", ("gin-config",)),
]
QUICKSTART = "fashion_cnn"
QUICKSTART_INPUT = (28, 28, 1)


def add_system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="seconds of timed training per policy, after a warm-up (0: no measurement)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="batch size (default: the recipe's)"
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="POLICY",
        help="time this policy too (e.g. mixed_bfloat16, to see what auto avoided); repeatable",
    )


def versions() -> dict[str, str]:
    """Python's and the stack's versions, read from the installed distributions (no imports)."""
    found = {"python": platform.python_version()}
    for shown, dists in PACKAGES:
        found[shown] = "not installed"
        for dist in dists:
            try:
                found[shown] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def timed_steps(step: Callable[[], object], seconds: float, warmup: int = 2) -> tuple[int, float]:
    """Call ``step`` ``warmup`` times untimed, then until ``seconds`` pass (at least twice).

    Returns (timed steps, elapsed seconds).
    """
    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps, time.perf_counter() - start


def measure_model(
    build: Callable[[], object],
    input_shape: tuple,
    classes: int,
    batch_size: int,
    policy: str,
    seconds: float,
    *,
    optimizer: str = "adam",
    inference: bool = False,
    warmup: int = 2,
) -> dict:
    """Training (and optionally inference) images per second of ``build()`` under ``policy``.

    Random inputs and labels; the model is compiled as the runner compiles a sparse-label
    classifier. The global policy is restored afterwards.
    """
    import keras
    import numpy as np

    previous = keras.mixed_precision.global_policy().name
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build()
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.random((batch_size, *input_shape), dtype=np.float32)
        y = rng.integers(0, classes, size=(batch_size,)).astype("int32")
        steps, elapsed = timed_steps(lambda: model.train_on_batch(x, y), seconds, warmup)
        result = {"train_img_s": steps * batch_size / elapsed, "train_steps": steps}
        if inference:
            steps, elapsed = timed_steps(lambda: model.predict_on_batch(x), seconds, warmup)
            result.update(infer_img_s=steps * batch_size / elapsed, infer_steps=steps)
        return result
    finally:
        keras.mixed_precision.set_global_policy(previous)


def recipe_builder(
    recipe: str, input_shape: tuple, classes: int, bindings: Sequence[str] = ()
) -> tuple[Callable[[], object], int, str]:
    """A recipe's model as a builder (its gin bindings frozen), its batch size and optimizer.

    Parses the recipe into gin's global config and clears it again afterwards.
    """
    import gin

    from zoo._compat import gin_bindings
    from zoo.config import parse
    from zoo.models import registry
    from zoo.training.settings import read_settings

    parse(recipe, bindings)
    try:
        train = read_settings().train
        model, batch_size, optimizer = train.model, train.batch_size, train.optimizer
        knobs = {
            k: v
            for (scope, selector), values in gin_bindings().items()
            if not scope and selector.split(".")[-1] == model
            for k, v in values.items()
        }
    finally:
        gin.clear_config()

    def build():
        return registry.build(model, input_shape=input_shape, classes=classes, **knobs)

    return build, batch_size, optimizer


def _machine_lines(choice, cpu: dict, gpus: list[dict]) -> list[str]:
    gpu_text = (
        ", ".join(
            f"{g['name']} (compute capability {'.'.join(map(str, g['compute_capability']))})"
            if g.get("compute_capability")
            else str(g["name"])
            for g in gpus
        )
        or "none"
    )
    flags = " ".join(cpu["flags"]) or "none of the relevant ones"
    if cpu.get("override"):
        detected = " ".join(cpu["detected"]) or "none of the relevant ones"
        flags += f" (ZOO_CPU_FLAGS={cpu['override']} is active; detected: {detected})"
    lines = [
        f"  cpu          {cpu['model']} ({cpu['cores']} usable cores)",
        f"  cpu flags    {flags}",
        f"  gpus         {gpu_text}",
    ]
    lines += [f"  {name:<12} {version}" for name, version in versions().items()]
    lines.append(f"  precision    auto picks {choice.policy}")
    lines.append(f"  why          {choice.reason}")
    return lines


def _measure_lines(
    policy: str, also: list[str], seconds: float, batch_size: int | None
) -> list[str]:
    build, recipe_batch, optimizer = recipe_builder(QUICKSTART, QUICKSTART_INPUT, 10)
    batch = batch_size or recipe_batch
    lines = [
        f"quickstart model: cnn as in recipes/{QUICKSTART}.gin, {optimizer}, batch {batch}, "
        f"random {'x'.join(map(str, QUICKSTART_INPUT))} images, {seconds:g} s per policy:"
    ]
    policies = list(dict.fromkeys(["float32", policy, *also]))
    speeds = {}
    for p in policies:
        m = measure_model(build, QUICKSTART_INPUT, 10, batch, p, seconds, optimizer=optimizer)
        speeds[p] = m["train_img_s"]
        lines.append(f"  {p:<15} {m['train_img_s']:9.1f} img/s training ({m['train_steps']} steps)")
    if policy == "float32":
        lines.append("  auto picks float32 here, so float32 and auto are one measurement")
    for p in policies[1:]:
        lines.append(f"  {p} / float32 = {speeds[p] / speeds['float32']:.2f}x")
    return lines


def system_main(args: argparse.Namespace) -> int:
    from zoo.errors import ConfigError
    from zoo.training.hardware import choose_precision, cpu_info, gpu_info

    if args.seconds < 0 or (args.batch_size is not None and args.batch_size < 1):
        raise ConfigError("--seconds must be 0 or more and --batch-size at least 1.")
    also = [choose_precision(p).policy for p in args.also]  # validates each name
    cpu, gpus = cpu_info(), gpu_info()
    choice = choose_precision("auto", gpus=gpus)
    print("\n".join(["zoo system", *_machine_lines(choice, cpu, gpus)]), flush=True)
    if args.seconds > 0:
        print("\n".join(_measure_lines(choice.policy, also, args.seconds, args.batch_size)))
    return 0
