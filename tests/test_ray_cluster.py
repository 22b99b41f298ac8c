"""A real two-node Ray cluster on loopback (``benchmarks/ray_cluster.py``): ``zoo tune`` and
``train.distribution = 'ray'`` across both nodes, one MLflow server, a node killed mid-run.

Several minutes on a 2-core machine, so it runs only when asked:
``ZOO_RAY_CLUSTER=1 python -m pytest tests/test_ray_cluster.py``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("ZOO_RAY_CLUSTER") != "1", reason="set ZOO_RAY_CLUSTER=1 to start a cluster"
    ),
]


def test_two_node_cluster_tune_train_and_a_killed_node():
    pytest.importorskip("ray")
    path = Path(__file__).parents[1] / "benchmarks" / "ray_cluster.py"
    spec = importlib.util.spec_from_file_location("ray_cluster", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main()
    failed = [name for name, ok in report.get("checks", {}).items() if not ok]
    assert report.get("checks") and not failed, (failed, report)
    assert report["train_console_tail"][-1].startswith("MLflow:")
