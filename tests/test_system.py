"""``zoo system``: machine facts, versions, the precision auto picks, and a short speed test."""

from __future__ import annotations

import re
import subprocess
import sys

from zoo.cli import main
from zoo.training.hardware import choose_precision


def test_system_reports_the_machine_and_the_choice(capsys):
    assert main(["system", "--seconds", "0.05", "--batch-size", "4", "--also", "float32"]) == 0
    out = capsys.readouterr().out
    picked = choose_precision("auto").policy
    assert f"precision    auto picks {picked}" in out
    assert re.search(r"why +auto: .*: " + picked, out)
    for name in ("cpu ", "gpus", "python", "tensorflow", "keras", "mlflow", "keras-tuner", "ray"):
        assert f"  {name}" in out, name
    # one timed line per distinct policy, each with a positive rate
    rates = re.findall(r"^  (\S+) +([\d.]+) img/s training", out, flags=re.M)
    assert [p for p, _ in rates] == list(dict.fromkeys(["float32", picked]))
    assert all(float(r) > 0 for _, r in rates)


def test_system_without_measuring_builds_no_model(capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("measured although --seconds 0")

    monkeypatch.setattr("zoo.cli.system.measure_model", fail)
    assert main(["system", "--seconds", "0"]) == 0
    assert "auto picks" in capsys.readouterr().out


def test_system_shows_an_active_flag_override(capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CPU_FLAGS", "-all,avx512_bf16")
    assert main(["system", "--seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"cpu flags +avx512_bf16 \(ZOO_CPU_FLAGS=-all,avx512_bf16 is active; detected:", out
    )
    if "auto picks mixed_float16" not in out:  # a CUDA GPU decides before the CPU flags
        assert "auto picks mixed_bfloat16" in out


def test_a_bad_policy_to_time_is_a_user_error(capsys):
    assert main(["system", "--seconds", "0", "--also", "bf16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: Unknown precision 'bf16'") and err.count("\n") == 1


def test_the_module_imports_no_tensorflow():
    code = (
        "import sys, zoo.cli.system, zoo.training.hardware; assert 'tensorflow' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
