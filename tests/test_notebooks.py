"""Every lesson notebook in notebooks/ runs from top to bottom on its small default budget.

Each jupytext source (``notebooks/*.py``, percent format) is converted to a notebook and
executed by nbclient in a fresh kernel, in a temporary folder, with MLflow on a temporary
SQLite store. A cell that raises fails the test. The executed notebook, outputs included, is
written to ``docs/notebooks/`` (or ``$ZOO_NOTEBOOKS_OUT``), where ``make docs`` renders it:
CI executes each notebook once, for the test and the site together.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT_S = 900  # one cell on a loaded 2-core machine; a whole notebook takes 1-3 min


def out_dir() -> Path:
    return Path(os.environ.get("ZOO_NOTEBOOKS_OUT", ROOT / "docs" / "notebooks"))


def images(nb) -> int:
    """How many outputs of the notebook are pictures (matplotlib figures, PNG files)."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def texts(nb) -> str:
    """The text the notebook shows: streams, and results that have no picture."""
    return "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" not in output.get("data", {})
    )


def drop_start_up_noise(nb) -> None:
    """Remove TensorFlow's start-up lines from stderr outputs, as the ``zoo`` command does."""
    from zoo.cli.startup import is_noise

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output["text"].splitlines(keepends=True)
                output["text"] = "".join(line for line in lines if not is_noise(line, False))
                if not output["text"].strip():
                    continue
            kept.append(output)
        cell["outputs"] = kept


def test_there_are_eight_lessons():
    assert [p.name[:2] for p in SOURCES] == [f"{i:02d}" for i in range(1, 9)]
    assert sorted(IMAGES) == [p.stem for p in SOURCES]


# Two notebooks at a time: each runs in its own kernel, and much of a lesson is single-threaded
# (imports, Ray's start-up, the first epoch's tracing), so two share the 2 cores of CI well.
PARALLEL = int(os.environ.get("ZOO_NOTEBOOKS_PARALLEL", "2"))


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory) -> dict[str, object]:
    """Every selected notebook executed once (two at a time): its stem -> the notebook or the
    error."""
    from concurrent.futures import ThreadPoolExecutor

    def one(source: Path):
        tmp = tmp_path_factory.mktemp(source.stem)
        # the notebook's working folder goes here; a short path, as Ray's sockets need one
        work = Path(tempfile.mkdtemp(prefix="zoo-nb-"))
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "TMPDIR": str(work),
        }
        try:
            return run_notebook(source, tmp, env)
        except Exception as exc:  # reported by the notebook's own test
            return exc
        finally:
            shutil.rmtree(work, ignore_errors=True)

    selected = [
        item.callspec.params["source"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_notebook_runs"
    ]
    with ThreadPoolExecutor(max_workers=max(1, PARALLEL)) as pool:
        results = list(pool.map(one, selected))
    return {source.stem: result for source, result in zip(selected, results, strict=True)}


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs(source: Path, executed):
    result = executed[source.stem]
    if isinstance(result, BaseException):
        raise result
    nb = result
    text = texts(nb)
    # a figure that did not render shows as its repr instead of a picture
    assert "<Figure size" not in text and "<matplotlib.figure" not in text
    assert "Traceback" not in text
    assert images(nb) == IMAGES[source.stem], f"{source.name}: not the pictures it shows"
    out = out_dir()
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / f"{source.stem}.ipynb")
    print(f"{source.name}: {nb.metadata['zoo']['seconds']:.1f} s")


def run_notebook(source: Path, tmp_path: Path, env: dict[str, str]):
    """Execute ``source`` in a fresh kernel whose environment is ``env``; the executed notebook."""
    nb = jupytext.read(source)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute(env=env)  # raises CellExecutionError, naming the cell, when one fails
    nb.metadata["zoo"] = {"seconds": round(time.perf_counter() - start, 1)}
    drop_start_up_noise(nb)
    return nb


# The pictures each lesson shows (figures, and PNGs a run wrote): one that stops rendering
# inline, or a plot added without a line here, fails the test.
IMAGES = {
    "01_losses": 0,
    "02_images_and_convolutions": 3,  # the images, the scaling plot, the confusion matrix
    "03_architectures": 1,  # learning curves
    "04_overfitting": 1,  # learning curves
    "05_embeddings": 0,
    "06_hyperparameter_search": 2,  # parallel coordinates, heatmap
    "07_schedules": 2,  # the range test, learning curves
    "08_transfer_learning": 2,  # learning curves, accuracy against examples
}
