"""What a newcomer reads: no TensorFlow start-up lines in a command's output, and
``verbose=0`` prints nothing but warnings."""

from __future__ import annotations

import os
import subprocess
import sys

import zoo
from zoo.cli.startup import START_UP_NOISE, is_noise

TINY = [
    "digits.train_size = 300",
    "cnn.filters = [8]",
    "cnn.dense_units = [16]",
    "train.epochs = 1",
]


def _zoo(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_tensorflow_start_up_lines_are_kept_off_the_output():
    quiet = _zoo("info", "cnn")
    assert quiet.returncode == 0, quiet.stderr
    assert "oneDNN" not in quiet.stderr and "absl" not in quiet.stderr, quiet.stderr
    assert not any(is_noise(line, gpu_found=False) for line in quiet.stderr.splitlines())
    assert quiet.stdout.splitlines()[1].split() == ["family", "cnn"]
    # a log level the user chose is theirs: TensorFlow then says what it says (here: the lines
    # the quiet run kept off, which shows that they are there to be kept off)
    chosen = _zoo("info", "cnn", TF_CPP_MIN_LOG_LEVEL="0")
    assert chosen.returncode == 0 and chosen.stdout == quiet.stdout
    noisy = [line for line in chosen.stderr.splitlines() if is_noise(line)]
    assert any(START_UP_NOISE[1] in line for line in noisy), chosen.stderr


def test_other_stderr_lines_pass_through(capfd):
    from zoo.cli.startup import filtered_stderr

    with filtered_stderr():
        os.write(2, f"WARNING: {START_UP_NOISE[0]}\n".encode())
        os.write(2, b"a real warning\n")
        os.write(2, f"I0000 port.cc:153] {START_UP_NOISE[1]}. You may see...\n".encode())
        os.write(2, b"another\n")
    assert capfd.readouterr().err == "a real warning\nanother\n"


def test_a_failed_cuda_start_is_noise_only_where_no_gpu_was_found(capfd):
    from zoo.cli.startup import filtered_stderr

    line = b"E0000 cuda_platform.cc:52] failed call to cuInit: CUDA error (303)\n"
    for gpus, expected in (([], ""), (["GPU:0"], line.decode())):
        found: list = []
        with filtered_stderr(found):
            os.write(2, line)
            found.extend(gpus)
        assert capfd.readouterr().err == expected


def test_verbose_0_prints_nothing(capsys):
    result = zoo.train("digits_cnn", [*TINY, "train.run_name = 'quiet'"], verbose=0)
    assert result.status == "FINISHED"
    assert capsys.readouterr().out == ""
    zoo.train("digits_cnn", [*TINY, "train.run_name = 'told'"])
    out = capsys.readouterr().out
    assert "dataset digits" in out and "run directory: runs/digits/told" in out
