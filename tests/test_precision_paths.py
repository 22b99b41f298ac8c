"""Both branches of ``train.precision = 'auto'`` on the CPU, on any CI machine.

``ZOO_CPU_FLAGS`` shows or hides the bf16 units, so a real ``zoo train`` runs under
``mixed_bfloat16`` and under float32 whatever CPU runs the suite (on a CPU without bf16 units
the bf16 arithmetic is emulated: slower, same path).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.procs import TINY_DIGITS, start_zoo
from zoo import datasets
from zoo.analysis import evaluation
from zoo.tracking.readers import read_mlflow, read_tensorboard

EPOCHS = 2


def gpu_decides() -> bool:
    from zoo.training.hardware import gpu_info

    return bool(gpu_info())


def history(run_dir: Path) -> dict[str, list[float]]:
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows] for key in rows[0]}


def has_float32_digits(value: float) -> bool:
    """True when ``value`` needs more mantissa than bfloat16's 8 bits: computed in float32."""
    bits = int(np.array(value, dtype=np.float32).view(np.uint32))
    return bits & 0xFFFF != 0


@pytest.mark.parametrize(
    ("flags", "policy"),
    [("-all,avx2,avx512_bf16", "mixed_bfloat16"), ("-avx512_bf16,-amx_bf16", "float32")],
    ids=["bf16-shown", "bf16-hidden"],
)
def test_zoo_train_under_the_policy_auto_picks(tmp_path, mlflow_db, flags, policy):
    if gpu_decides():
        pytest.skip("a CUDA GPU decides 'auto' before the CPU flags")
    import keras

    recipe = tmp_path / "tiny.gin"
    recipe.write_text(TINY_DIGITS + f"train.epochs = {EPOCHS}\ntrain.precision = 'auto'\n")
    proc = start_zoo(
        "train", str(recipe), "--bind", "train.run_name = 'p'", cwd=tmp_path,
        env={"ZOO_CPU_FLAGS": flags},
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-3000:]
    run_dir = tmp_path / "runs" / "digits" / "p"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["precision"] == policy
    assert summary["precision_reason"].endswith(f"(flags edited by ZOO_CPU_FLAGS={flags})")

    # the losses are finite and kept in float32 even where the layers compute in bfloat16
    rows = history(run_dir)
    losses = rows["loss"] + rows["val_loss"]
    assert len(rows["loss"]) == EPOCHS and all(math.isfinite(v) for v in losses)
    assert any(has_float32_digits(v) for v in losses), losses

    # both trackers hold every epoch, with the values of history.csv
    tb = read_tensorboard(run_dir / "tensorboard")
    ml = read_mlflow(summary["mlflow"]["run_id"], mlflow_db)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert sorted(tb[key]) == sorted(ml[key]) == list(range(EPOCHS)), key
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [ml[key][s] for s in range(EPOCHS)] == pytest.approx(rows[key], rel=1e-6), key
        assert [tb[key][s] for s in range(EPOCHS)] == pytest.approx(rows[key], rel=1e-6), key

    # the checkpoint keeps the policy, float32 variables and the float32 softmax, and reloads
    # to the predictions the run scored: the same confusion matrix, the same test loss
    saved = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    conv = next(layer for layer in saved.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.dtype_policy.name == policy
    assert {w.dtype for w in saved.weights} == {"float32"}
    assert saved.get_layer("predictions").dtype_policy.name == "float32"
    assert type(saved.optimizer).__name__ != "LossScaleOptimizer"  # bf16 needs no loss scaling
    data = datasets.load("digits", train_size=300, batch_size=32)
    _, true, prob = evaluation.predict(saved, data.test)  # each layer keeps its saved policy
    test_loss = saved.evaluate(data.test, return_dict=True, verbose=0)["loss"]
    assert prob.dtype == np.float64 and np.isfinite(prob).all()
    matrix = evaluation.confusion_matrix(true, prob.argmax(1), 10)
    with open(run_dir / "evaluation" / "confusion_matrix.csv", newline="") as f:
        logged = np.array([[int(v) for v in row[1:]] for row in list(csv.reader(f))[1:]])
    np.testing.assert_array_equal(matrix, logged)
    assert test_loss == pytest.approx(summary["test_metrics"]["test_loss"], rel=1e-5)
