"""The run directory has one owner: zoo.tracking.rundir.RunDir names every file in it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from zoo.tracking.rundir import RunDir, checkpointed_epochs, read_history

ROOT = Path(__file__).resolve().parent.parent
OWNER = ROOT / "zoo" / "tracking" / "rundir.py"
FILES = (
    "summary.json",
    "history.csv",
    "last.keras",
    "best.keras",
    "export.keras",
    "last.json",
    "operative_config.gin",
    "console.log",
    "vocabulary.txt",
    "lr_finder.csv",
    "lr_finder.png",
    "tune.json",
    "record.json",
)


def _spelled(package: str, names: tuple[str, ...]) -> list[str]:
    """Where a module of ``package`` spells one of ``names`` as a path: a string constant
    without spaces (sentences, help strings and docstrings have spaces and may name files)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path == OWNER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and not re.search(r"\s", node.value)
                and any(name in node.value for name in names)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_only_the_owner_spells_a_run_directory_path():
    assert _spelled("zoo", FILES) == []
    assert _spelled("tuners", FILES) == []
    # callbacks import nothing from zoo: the training path gives them their paths
    assert _spelled("callbacks", ("summary.json", "history.csv", ".keras")) == []


def test_run_dir_layout(tmp_path):
    run = RunDir(tmp_path / "exp" / "r1")
    assert (run.experiment, run.name) == ("exp", "r1")
    assert run.last == tmp_path / "exp" / "r1" / "checkpoints" / "last.keras"
    assert run.checkpoint("best") == run.best == run.checkpoints / "best.keras"
    assert run.history.name == "history.csv" and run.summary.name == "summary.json"
    assert run.show_log == run.tensorboard / "show"
    trial = RunDir(tmp_path / "tune-x").trial("0003")
    assert trial.path == tmp_path / "tune-x" / "trials" / "0003"
    assert trial.trial_record == trial.path / "record.json"


def test_readers_of_a_run_directory(tmp_path):
    run = RunDir(tmp_path / "r")
    run.checkpoints.mkdir(parents=True)
    assert run.read_summary() == {} and run.existing_checkpoint() is None
    run.summary.write_text("{broken")
    assert run.read_summary() == {}
    run.summary.write_text(json.dumps({"status": "KILLED"}))
    assert run.read_summary() == {"status": "KILLED"}
    run.history.write_text("epoch,loss,val_loss\n0,1.5,NA\n1,0.5,0.75\n")
    assert read_history(run.history) == {"loss": [1.5, 0.5], "val_loss": [0.75]}
    run.last.write_bytes(b"not a zip")  # a checkpoint that does not say its epochs
    assert checkpointed_epochs(run) == 2  # the rows of history.csv
    run.last_state.write_text(json.dumps({"epochs": 1}))
    assert checkpointed_epochs(run) == 1  # last.json, written with it
    assert run.existing_checkpoint() == run.last
    run.best.write_bytes(b"")
    assert run.existing_checkpoint() == run.best
