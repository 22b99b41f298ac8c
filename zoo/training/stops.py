"""How a run stops early, in one place: SIGINT, SIGTERM and SIGHUP become :class:`RunStopped`.

:class:`StopGuard` is the one signal handler of zoo: a run, a tuning search (its trials find
its guard with :func:`active_guard`) and ``zoo ui`` (which stops its servers) each install it.

Python raises nothing on SIGTERM or SIGHUP by default (the process dies without running a
single ``finally``), so a run installs handlers for the three signals while it lasts and
restores the previous ones after. A signal that arrives while the model trains is deferred
to the next batch boundary (or the end of the epoch's callbacks), so it never lands in the
middle of writing a checkpoint or a log line; a second signal, or one outside training,
stops at once. A signal whose disposition was inherited as *ignored* stays ignored (``nohup``
ignores SIGHUP; a shell's background job ignores SIGINT), unless the guard is told otherwise
(``zoo ui`` must stop its servers however it was started).

:class:`RunStopped` is a ``KeyboardInterrupt``: nothing that catches ``Exception`` swallows
it, and the run ends KILLED with its logs, checkpoints and ``summary.json`` kept.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class RunStopped(KeyboardInterrupt):
    """A run stopped by a signal (or by Ctrl-C)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.signal_name = signal.Signals(self.signum).name
        super().__init__(f"stopped by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number."""
        return 128 + self.signum


def stop_reason(exc: BaseException) -> str:
    """What stopped a run, in a few words."""
    if isinstance(exc, RunStopped):
        return f"stopped by {exc.signal_name}"
    return "interrupted"


_ACTIVE: list[StopGuard] = []


def active_guard() -> StopGuard | None:
    """The innermost guard in force in this process (a tuning run's, for its trials)."""
    return _ACTIVE[-1] if _ACTIVE else None


class StopGuard:
    """Install the stop handlers for a block; defer signals while the model trains.

    A signal is always remembered (``pending``) before anything is raised: an exception
    raised by a signal handler can be swallowed where Python cannot propagate it (a garbage
    collector callback prints "Exception ignored" and goes on), and the next safe point, or
    the end of the block, raises it then.
    """

    def __init__(self, enabled: bool = True, keep_ignored: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.keep_ignored = keep_ignored
        self.pending: int | None = None
        self._deferring = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopGuard:
        if not self.enabled:
            return self
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN and self.keep_ignored:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if exc_type is None and self.pending is not None:
            self.check()  # a stop that was swallowed on its way up
        return False

    def _handle(self, signum, frame) -> None:
        first = self.pending is None
        self.pending = signum
        if self._deferring and first:
            return  # raised by check() at the next safe point
        raise RunStopped(signum)

    def check(self) -> None:
        """Raise the deferred stop, if a signal came; called at safe points of training."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise RunStopped(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block, a first signal waits for :meth:`check`."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        self.check()

    def callback(self):
        """A Keras callback that calls :meth:`check` after every batch and epoch (put it
        last, so an epoch's checkpoint and logs are complete when it raises)."""
        import keras

        guard = self

        class StopAtSafePoint(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                guard.check()

            def on_test_batch_end(self, batch, logs=None):
                guard.check()

            def on_epoch_end(self, epoch, logs=None):
                guard.check()

        return StopAtSafePoint()
