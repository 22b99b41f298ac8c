"""The catalogue of bad inputs: each one through the real CLI, with its exit code and message.

    python benchmarks/bad_inputs.py            # writes benchmarks/results/bad_inputs.md

Every case runs ``python -m zoo ...`` in a scratch folder with its own SQLite store; a case
passes when the exit code is 2 and stderr is one line without a traceback.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

TINY = ["--bind", "digits.train_size = 200", "--bind", "cnn.filters = [4]"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cases(scratch: Path) -> list[tuple[str, list[str]]]:
    dead = f"http://127.0.0.1:{_free_port()}"
    broken = scratch / "broken.gin"
    broken.write_text("include 'digits_cnn.gin'\ntrain.epochs = [\n")
    return [
        ("unknown model", ["train", "digits_cnn", "--bind", "train.model = 'resnet21'"]),
        ("unknown recipe", ["train", "fashion_cnm"]),
        ("missing recipe file", ["train", "nowhere/recipe.gin"]),
        ("unknown knob", ["train", "digits_cnn", "--bind", "cnn.filterz = [8]"]),
        ("binding without =", ["train", "digits_cnn", "--bind", "train.epochs"]),
        ("unclosed bracket", ["train", "digits_cnn", "--bind", "train.epochs = ["]),
        ("recipe that does not parse", ["train", str(broken)]),
        ("wrong type", ["train", "digits_cnn", "--bind", "train.epochs = 2.5"]),
        ("unquoted string", ["train", "digits_cnn", "--bind", "train.optimizer = 3"]),
        ("list of the wrong type", ["train", "digits_cnn", "--bind", "cnn.filters = ['a']"]),
        ("out of range", ["train", "digits_cnn", "--bind", "train.epochs = 0"]),
        ("negative learning rate", ["train", "digits_cnn", "--bind", "train.learning_rate = -1"]),
        (
            "value Keras refuses",
            ["train", "digits_cnn", "--check", "--bind", "cnn.kernel_size = 0"],
        ),
        ("unknown schedule", ["train", "digits_cnn", "--bind", "train.schedule = 'cosine'"]),
        ("unknown precision", ["train", "digits_cnn", "--bind", "train.precision = 'bf16'"]),
        (
            "dead tracking server",
            ["train", "digits_cnn", "--bind", f"train.tracking_uri = '{dead}'"],
        ),
        (
            "unwritable tracking store",
            ["train", "digits_cnn", "--bind", "train.tracking_uri = 'sqlite:////proc/x/m.db'"],
        ),
        (
            "unwritable runs directory",
            ["train", "digits_cnn", "--bind", "train.runs_dir = '/proc/r'"],
        ),
        ("nothing to resume", ["train", "digits_cnn", "--resume", *TINY]),
        ("folds on an image dataset", ["train", "digits_cnn", "--folds", "3"]),
        ("unknown command option", ["train", "digits_cnn", "--epochs", "3"]),
        ("unknown model for info", ["info", "vgg17"]),
        ("tuning without a space", ["tune", "digits_cnn", "--dry-run"]),
    ]


def run_case(argv: list[str], scratch: Path) -> tuple[int, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "zoo", *argv],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stderr.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/bad_inputs.md")
    args = parser.parse_args()
    rows = ["| input | command | exit | message |", "|---|---|---|---|"]
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for name, argv in cases(scratch):
            code, err = run_case(argv, scratch)
            lines = err.splitlines()
            ok = code == 2 and len(lines) == 1 and "Traceback" not in err
            failures += not ok
            shown = " ".join(a if " " not in a else repr(a) for a in argv).replace(folder, "TMP")
            message = (lines[-1] if lines else "").replace(folder, "TMP").replace("|", "\\|")
            rows.append(f"| {name} | `zoo {shown}` | {code}{'' if ok else ' (!)'} | {message} |")
            print(f"{'ok ' if ok else 'BAD'} {code} {name}: {message}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(rows) + "\n")
    print(f"{len(rows) - 2} cases, {failures} not exit 2 with one line; table: {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
