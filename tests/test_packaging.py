"""The wheel holds every package of the source tree: an editable install would hide a gap."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("zoo", "tuners", "callbacks")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """File names in a wheel built from a copy of the sources (the checkout stays untouched)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in (*TOPS, "recipes"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", out, src],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (path,) = out.glob("keras_gin_zoo-*.whl")
    return zipfile.ZipFile(path)


def test_every_package_and_recipe_is_in_the_wheel(wheel):
    packages = {
        p.relative_to(ROOT).as_posix() for t in TOPS for p in (ROOT / t).rglob("__init__.py")
    }
    recipes = {f"zoo/recipes/{p.name}" for p in (ROOT / "recipes").glob("*.gin")}
    assert "zoo/comparison/__init__.py" in packages and "zoo/recipes/fashion_cnn.gin" in recipes
    assert sorted((packages | recipes | {"zoo/recipes/__init__.py"}) - set(wheel.namelist())) == []


def test_every_module_of_the_tree_is_in_the_wheel(wheel):
    """A folder of modules without ``__init__.py`` imports from a checkout (a namespace
    package) but package discovery leaves it out of the wheel."""
    modules = {
        p.relative_to(ROOT).as_posix()
        for t in TOPS
        for p in (ROOT / t).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    missing = sorted(modules - set(wheel.namelist()))
    assert not missing, f"not in the wheel (a folder without __init__.py?): {missing}"


def test_the_wheel_holds_only_the_packages_and_the_zoo_command(wheel):
    import zoo

    info = f"keras_gin_zoo-{zoo.__version__}.dist-info"
    assert {n.split("/")[0] for n in wheel.namelist()} == {*TOPS, info}
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "zoo = zoo.cli:main" in entry_points
