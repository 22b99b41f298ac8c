"""The ``zoo`` command. Exit codes: 0 success, 2 user error (one line on stderr), 1 internal.

Each command group is a module of this package (``models``: list and info; ``train``: train
and find-lr; ``tune``; ``analysis``: summary, scaling, show and nearest; ``compare``; ``ui``;
``system``) with ``add_<command>_arguments(parser)`` and ``<command>_main(args) -> int``;
those modules import nothing heavy at import time, so ``zoo --help`` and ``zoo list`` stay
fast and never import TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

# command -> (module, one-line help). Modules are imported to build their parsers.
COMMANDS = {
    "list": ("zoo.cli.models", "list registered models (shell-style PATTERN), datasets or recipes"),
    "info": ("zoo.cli.models", "family, paper, parameters and multiply-adds of a model"),
    "train": ("zoo.cli.train", "train a recipe (file or bundled name) with --bind overrides"),
    "tune": ("zoo.cli.tune", "search hyperparameters of a recipe with keras-tuner or Ray Tune"),
    "find-lr": ("zoo.cli.train", "learning-rate range test: sweep, plot, suggested rate"),
    "compare": ("zoo.cli.compare", "compare runs as read from TensorBoard and from MLflow"),
    "ui": ("zoo.cli.ui", "start TensorBoard and MLflow's UI on this project's runs"),
    "nearest": ("zoo.cli.analysis", "a text run's nearest words by embedding cosine similarity"),
    "summary": ("zoo.cli.analysis", "per layer: shape, params, mult-adds, receptive field"),
    "scaling": ("zoo.cli.analysis", "params and mult-adds of mlp and cnn as the input grows"),
    "show": ("zoo.cli.analysis", "a trained CNN's first-layer filters and feature maps"),
    "system": (
        "zoo.cli.system",
        "CPU, GPUs, versions, the precision 'auto' picks and why, a speed test",
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


REINSTALL = "pip install --force-reinstall keras-gin-zoo"


def _missing_module(name: str, exc: ModuleNotFoundError):
    """Handlers of a command whose module cannot be imported: it runs, says so, exits 1.

    A broken install (a subpackage left out of the wheel, a dependency removed) must not make a
    command vanish from ``zoo --help``: the user would see "invalid choice", not the cause.
    """
    missing = exc.name or str(exc)
    message = (
        f"zoo {name} cannot run: module {missing!r} is missing from this install; "
        f"reinstall with: {REINSTALL}"
    )

    def run(args: argparse.Namespace) -> int:
        print(f"zoo: error: {message}", file=sys.stderr)
        return 1

    return (lambda parser: parser.set_defaults(_broken=True)), run, missing


def _handlers(name: str):
    """``(add_arguments, main, missing module or None)`` of a command."""
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        return _missing_module(name, exc)
    func = name.replace("-", "_")
    add = getattr(module, f"add_{func}_arguments", None)
    run = getattr(module, f"{func}_main", None)
    if add is None or run is None:
        raise RuntimeError(f"{module_name} has no add_{func}_arguments/{func}_main for zoo {name}")
    return add, run, None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zoo",
        description="Gin-configurable Keras model zoo with TensorBoard + MLflow logging side by side.",
    )
    from zoo import __version__

    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_, help_text) in COMMANDS.items():
        add, run, missing = _handlers(name)
        if missing:
            help_text = f"{help_text} [broken install: module {missing!r} is missing]"
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from zoo.cli.startup import quiet_tensorflow_start
    from zoo.errors import ZooError, first_line

    quiet_tensorflow_start()

    parser = build_parser()
    # A broken command takes any arguments: it only says what is missing.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_broken", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ZooError as exc:
        print(f"zoo: error: {first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        code = getattr(exc, "exit_code", 130)
        print(
            f"zoo: {first_line(exc) or 'interrupted'}; logs and checkpoints were kept.",
            file=sys.stderr,
        )
        return code
    except BrokenPipeError:
        return 0
    except Exception:
        traceback.print_exc()
        print("zoo: internal error (the traceback above is worth a bug report).", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
