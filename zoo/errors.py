"""Errors a user can cause. Each carries one sentence: what was wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """Base class of every error that a user of zoo can cause (CLI exit code 2)."""


class UnknownNameError(ZooError, KeyError):
    """A name (model, dataset, loss, schedule, recipe...) that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text.
        return str(self.args[0]) if self.args else ""


class ConfigError(ZooError, ValueError):
    """A gin recipe or binding that cannot be applied."""


class ShapeError(ZooError, ValueError):
    """An input shape that the chosen architecture cannot process."""


class DataError(ZooError, FileNotFoundError):
    """Data that is missing or malformed."""


def first_line(exc: BaseException) -> str:
    """The message of ``exc`` without the lines gin appends ("In call to configurable ...")."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unknown(kind: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """Build an UnknownNameError that suggests the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        hint = f"known {kind}s: {shown}."
    return UnknownNameError(f"Unknown {kind} {name!r}: {hint}")
