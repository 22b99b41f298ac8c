"""Helpers shared by tests that start real processes, and the tiny recipe they train."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

# digits_cnn cut down to seconds: 300 images, one 8-filter conv, a 16-unit head
TINY_DIGITS = """
include 'digits_cnn.gin'
digits.train_size = 300
cnn.filters = [8]
cnn.dense_units = [16]
train.batch_size = 32
"""


def default_signals() -> None:
    """In a child process: the default dispositions of SIGINT, SIGTERM and SIGHUP, whatever
    the test runner inherited (a shell's background job ignores SIGINT; nohup ignores SIGHUP)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def start_zoo(*args: str, cwd, env: dict | None = None, **popen) -> subprocess.Popen:
    """``python -m zoo ARGS`` in ``cwd``, unbuffered, stdout and stderr as one text pipe,
    with default signal dispositions (``preexec_fn`` in ``popen`` replaces them)."""
    popen.setdefault("preexec_fn", default_signals)
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )
