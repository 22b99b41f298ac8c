"""Shared by the vision-zoo benchmarks: CSV output and appending to RESULTS.md's section."""

from __future__ import annotations

import csv
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Vision zoo"


def write_csv(name: str, rows: list[dict]) -> Path:
    """Write ``rows`` to ``benchmarks/out/<name>.csv`` (ignored by git)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def machine() -> str:
    """One line describing where the numbers were measured."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )


def append_to_section(text: str, section: str = SECTION) -> None:
    """Append ``text`` at the end of ``section`` in RESULTS.md (before the next heading)."""
    lines = RESULTS.read_text().splitlines() if RESULTS.exists() else []
    if section not in lines:
        lines += ["", section]
    start = lines.index(section) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    last = end
    while last > start and not lines[last - 1].strip():
        last -= 1
    lines[last:end] = ["", *text.strip("\n").splitlines(), ""]
    RESULTS.write_text("\n".join(lines).rstrip("\n") + "\n")
