"""The command line: fast paths without TensorFlow, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoo.cli import main


def zoo_cmd(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=timeout
    )


def test_list_and_help_do_not_import_tensorflow():
    code = (
        "import sys, contextlib, io\n"
        "from zoo.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['list']) == 0\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0\n"
        "assert 'cnn' in out.getvalue()\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_list_patterns_and_recipes(capsys):
    assert main(["list", "ml*"]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out and "cnn " not in out
    assert main(["list", "--recipes"]) == 0
    assert {"fashion_cnn", "digits_cnn"} <= set(capsys.readouterr().out.split())


def test_info_counts_at_two_input_sizes(capsys):
    assert main(["info", "mlp", "--input-shape", "28,28,1", "--input-shape", "8,8,1"]) == 0
    out = capsys.readouterr().out
    assert f"{784 * 256 + 256 + 256 * 128 + 128 + 1290:,} trainable" in out
    assert f"{64 * 256 + 256 + 256 * 128 + 128 + 1290:,} trainable" in out


def _one_line_error(done):
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("zoo")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_unknown_model_exits_2_with_suggestion():
    line = _one_line_error(zoo_cmd("info", "cnnn"))
    assert "Unknown model 'cnnn'" in line and "'cnn'" in line


def test_unknown_model_in_training_exits_2(tmp_path):
    line = _one_line_error(zoo_cmd("train", "digits_cnn", "--bind", "train.model='resnet9000'"))
    assert "Unknown model 'resnet9000'" in line


@pytest.mark.parametrize(
    "binding, expected",
    [
        ("cnn.filterz=[8]", "parameter of cnn 'filterz'"),
        ("cnnz.filters=[8]", "Unknown gin configurable 'cnnz'"),
        ("train.epochs", "not of the form KEY=VALUE"),
        ("train.test_time_augment='crop'", "Unknown test_time_augment 'crop'"),
    ],
)
def test_bad_binding_exits_2_in_one_line(binding, expected):
    line = _one_line_error(zoo_cmd("train", "digits_cnn", "--bind", binding))
    assert expected in line


def test_bad_model_knob_exits_2_in_one_line():
    bindings = ["train.model='resnet50'", "resnet50.stride_at='2x2'"]
    args = [a for b in bindings for a in ("--bind", b)]
    line = _one_line_error(zoo_cmd("train", "digits_cnn", "--check", *args))
    assert "resnet50: stride_at must be one of '3x3', '1x1', not '2x2'." in line


def test_unknown_recipe_and_missing_file():
    assert "did you mean 'digits_cnn'" in _one_line_error(zoo_cmd("train", "digit_cnn"))
    assert "does not exist" in _one_line_error(zoo_cmd("train", "nowhere/x.gin"))


def test_usage_error_is_one_line():
    done = zoo_cmd("train")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_command_of_a_missing_module_is_listed_and_says_how_to_reinstall(monkeypatch, capsys):
    import zoo.cli

    commands = dict(zoo.cli.COMMANDS)
    commands["compare"] = ("zoo.not_in_this_install.cli", commands["compare"][1])
    monkeypatch.setattr(zoo.cli, "COMMANDS", commands)
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out
    assert "compare" in listed and "module 'zoo.not_in_this_install' is missing" in listed

    assert main(["compare", "runs/x", "--html", "r.html"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "zoo: error: zoo compare cannot run: module 'zoo.not_in_this_install' is missing from "
        "this install; reinstall with: pip install --force-reinstall keras-gin-zoo"
    ]
    with pytest.raises(SystemExit) as done:  # other commands still reject unknown flags
        main(["list", "--no-such-flag"])
    assert done.value.code == 2
