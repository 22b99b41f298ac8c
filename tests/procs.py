"""Helpers for tests that start real processes."""

from __future__ import annotations

import signal


def default_signals() -> None:
    """In a child process: the default dispositions of SIGINT, SIGTERM and SIGHUP, whatever
    the test runner inherited (a shell's background job ignores SIGINT; nohup ignores SIGHUP)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
