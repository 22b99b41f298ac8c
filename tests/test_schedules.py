"""Learning-rate schedules: exact values, plateau scaling on top, resume, offset, save/load.

Expected values are worked out by hand from the formulas:
- linear warm-up (Goyal et al. 2017, sec. 2.2): lr(s) = start + (peak - start) * s / W;
- cosine annealing (Loshchilov & Hutter 2017, SGDR, eq. 5):
  lr = min + (peak - min) * (1 + cos(pi * T_cur / T_i)) / 2;
- one cycle (Smith 2018; Smith & Topin 2019): up from peak / div_factor over pct_start of the
  steps, down to peak / (div_factor * final_div_factor).
"""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

import zoo
from callbacks.plateau import PlateauScaler
from callbacks.schedule_config import make_schedule
from callbacks.schedules import (
    Constant,
    CosineRestarts,
    Exponential,
    OneCycle,
    SchedulePosition,
    StepDecay,
    WarmupCosine,
)
from zoo._compat import learning_rate_of
from zoo.config import parse


def values(schedule, steps):
    return [float(schedule(s)) for s in steps]


def test_warmup_cosine_values():
    s = WarmupCosine(0.1, total_steps=100, warmup_steps=10, min_learning_rate=0.001)
    # warm-up 0.1 * s / 10; then 0.001 + 0.099 * (1 + cos(pi * (s - 10) / 90)) / 2
    # s = 25: t = 1/6, cos(pi/6) = 0.8660254 -> 0.001 + 0.0495 * 1.8660254 = 0.0933683
    expected = [0.0, 0.05, 0.1, 0.0933683, 0.0505, 0.001, 0.001]
    assert values(s, [0, 5, 10, 25, 55, 100, 150]) == pytest.approx(expected, rel=1e-5)
    started = WarmupCosine(0.1, total_steps=100, warmup_steps=10, warmup_start=0.01)
    assert values(started, [0, 5]) == pytest.approx([0.01, 0.055], rel=1e-5)


def test_cosine_restarts_values():
    # periods of 10, 20, 40, 80 steps starting at 0, 10, 30, 70; peaks 1, 0.5, 0.25, 0.125
    s = CosineRestarts(1.0, first_period=10, period_mult=2.0, peak_mult=0.5)
    # s = 40: period 3 (start 30, length 40), t = 1/4: 0.25 * (1 + cos(pi/4)) / 2 = 0.2133883
    # s = 100: period 4 (start 70, length 80), t = 3/8: 0.125 * (1 + cos(3pi/8)) / 2 = 0.0864177
    expected = [1.0, 0.5, 0.5, 0.25, 0.25, 0.2133883, 0.125, 0.0864177]
    got = values(s, [0, 5, 10, 20, 30, 40, 70, 100])
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)
    flat = CosineRestarts(1.0, first_period=4, period_mult=1.0, min_learning_rate=0.2)
    # every 4 steps back to 1.0; s = 2 and 6: 0.2 + 0.8 * 0.5 = 0.6
    assert values(flat, [0, 2, 4, 6, 8]) == pytest.approx([1.0, 0.6, 1.0, 0.6, 1.0], rel=1e-5)


def test_step_decay_epochs_become_steps():
    parse(None, ["step_decay.boundaries = [91, 136]", "step_decay.factor = 0.1"])
    s = make_schedule("step_decay", 0.1, steps_per_epoch=10, epochs=160)
    assert isinstance(s, StepDecay) and s.boundaries == [910, 1360]
    got = values(s, [0, 909, 910, 1359, 1360, 1599])
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rel=1e-5)


def test_exponential_values():
    s = Exponential(0.1, decay_steps=10, decay_rate=0.5)
    # 0.1 * 0.5 ** (15 / 10) = 0.0353553
    assert values(s, [0, 10, 15]) == pytest.approx([0.1, 0.05, 0.0353553], rel=1e-5)
    stairs = Exponential(
        0.1, decay_steps=10, decay_rate=0.5, staircase=True, min_learning_rate=0.02
    )
    assert values(stairs, [9, 15, 20, 30, 40]) == pytest.approx([0.1, 0.05, 0.025, 0.02, 0.02])


def test_one_cycle_values():
    s = OneCycle(1.0, total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    # up 0.04 -> 1 over 30 steps (cosine: midpoint 0.52), down 1 -> 4e-6 over 70 steps
    expected = [0.04, 0.52, 1.0, 0.500002, 4e-6]
    assert values(s, [0, 15, 30, 65, 100]) == pytest.approx(expected, rel=1e-4)
    linear = OneCycle(1.0, total_steps=100, anneal="linear")
    # s = 51: t = 21 / 70 = 0.3 -> 1 + (4e-6 - 1) * 0.3 = 0.7000012
    assert values(linear, [15, 51]) == pytest.approx([0.52, 0.7000012], rel=1e-5)


def test_gin_names_and_errors():
    parse(None, ["warmup_cosine.warmup_epochs = 2", "warmup_cosine.min_learning_rate = 1e-4"])
    s = make_schedule("warmup_cosine", 0.01, steps_per_epoch=50, epochs=10)
    assert (s.warmup_steps, s.total_steps, s.min_learning_rate) == (100, 500, 1e-4)
    with pytest.raises(zoo.errors.UnknownNameError, match="did you mean 'one_cycle'"):
        make_schedule("one_cycel", 0.1, 10, 10)
    parse(None, ["warmup_cosine.warmup_epochs = 20"])
    with pytest.raises(zoo.ZooError, match="warmup_epochs"):
        make_schedule("warmup_cosine", 0.1, 10, 10)


# -- in training: a model whose weight grows by exactly the learning rate each step -----------
def lr_counter(schedule):
    """Dense(1) without bias from 0, target 1000, MAE, plain SGD: w += lr at every step, so
    the weight is the sum of the rates the compiled training step really used."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    net.compile(optimizer=keras.optimizers.SGD(schedule), loss="mae")
    return net


X, Y = np.ones((4, 1), "float32"), np.full((4, 1), 1000.0, "float32")  # 4 steps per epoch


def weight(net) -> float:
    return float(net.layers[-1].kernel.numpy()[0, 0])


def warm(s: int) -> float:
    """WarmupCosine(0.1, total 12, warm-up 4) by hand."""
    if s < 4:
        return 0.1 * s / 4
    return 0.1 * (1 + math.cos(math.pi * min(s - 4, 8) / 8)) / 2


class SetLogs(keras.callbacks.Callback):
    def __init__(self, key, value):
        super().__init__()
        self.key, self.value = key, value

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.value


def test_plateau_factor_scales_the_schedule_inside_training():
    schedule = WarmupCosine(0.1, total_steps=12, warmup_steps=4)
    net = lr_counter(schedule)
    with pytest.raises(TypeError):  # what keras' own callback does with a schedule
        keras_plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=1e6)
        net.fit(X, Y, batch_size=1, epochs=3, verbose=0, callbacks=[keras_plateau])
    net = lr_counter(schedule := WarmupCosine(0.1, total_steps=12, warmup_steps=4))
    plateau = PlateauScaler(monitor="val_loss", factor=0.5, patience=1, verbose=0)
    history = net.fit(
        X, Y, batch_size=1, epochs=3, verbose=0, callbacks=[SetLogs("val_loss", 1.0), plateau]
    )
    # epoch 0 sets the best; epochs 1 and 2 do not improve: x0.5 after each
    assert history.history["lr_factor"] == pytest.approx([1.0, 0.5, 0.25])
    expected = sum(warm(s) for s in range(8)) + 0.5 * sum(warm(s) for s in range(8, 12))
    assert weight(net) == pytest.approx(expected, rel=1e-5)
    assert float(net.optimizer.learning_rate) == pytest.approx(0.25 * warm(12), abs=1e-8)


def test_plateau_patience_cooldown_min_delta_and_floors():
    net = lr_counter(Constant(0.01))
    cb = PlateauScaler(factor=0.5, patience=2, cooldown=1, min_delta=0.1, min_factor=0.2, verbose=0)
    cb.set_model(net)
    cb.on_train_begin()
    seq = [1.0, 0.95, 0.92, 0.91, 0.85, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    scales = []
    for epoch, v in enumerate(seq):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        scales.append(logs["lr_factor"])
    expected = [1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert scales == pytest.approx(expected)
    assert [epoch for epoch, _ in cb.reductions] == [2, 6, 9]

    net = lr_counter(0.01)  # a float rate: wrapped in a Constant schedule
    cb = PlateauScaler(factor=0.5, patience=1, min_learning_rate=0.004, verbose=0)
    cb.set_model(net)
    cb.on_train_begin()
    assert isinstance(learning_rate_of(net.optimizer), Constant)
    for epoch in range(4):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
    # 0.01 -> 0.005 -> 0.004 (floor), then no further reduction
    assert cb.schedule.scale == pytest.approx(0.4)
    assert float(net.optimizer.learning_rate) == pytest.approx(0.004)


def test_offset_resumes_the_warmup_of_a_rebuilt_optimizer():
    # an uninterrupted run of 3 epochs
    full = lr_counter(WarmupCosine(0.1, total_steps=12, warmup_steps=4))
    full.fit(X, Y, batch_size=1, epochs=2, verbose=0)
    # resumed with its optimizer (step count 8): the position is already right
    full.fit(
        X, Y, batch_size=1, epochs=3, initial_epoch=2, verbose=0, callbacks=[SchedulePosition(4)]
    )
    assert learning_rate_of(full.optimizer).offset == 0
    assert weight(full) == pytest.approx(sum(warm(s) for s in range(12)), rel=1e-5)

    # a rebuilt optimizer (step 0) continuing at epoch 2, as keras-tuner's Hyperband does
    rebuilt = lr_counter(schedule := WarmupCosine(0.1, total_steps=12, warmup_steps=4))
    rebuilt.fit(
        X, Y, batch_size=1, epochs=3, initial_epoch=2, verbose=0, callbacks=[SchedulePosition(4)]
    )
    assert schedule.offset == 8
    assert weight(rebuilt) == pytest.approx(sum(warm(s) for s in range(8, 12)), rel=1e-5)

    # the same through gin: warmup_cosine.initial_epoch
    parse(None, ["warmup_cosine.warmup_epochs = 1", "warmup_cosine.initial_epoch = 2"])
    told = lr_counter(make_schedule("warmup_cosine", 0.1, steps_per_epoch=4, epochs=3))
    told.fit(X, Y, batch_size=1, epochs=1, verbose=0)
    assert weight(told) == pytest.approx(sum(warm(s) for s in range(8, 12)), rel=1e-5)


@pytest.mark.parametrize(
    "name", ["warmup_cosine", "cosine_restarts", "step_decay", "exponential", "one_cycle"]
)
def test_save_and_load_keep_schedule_and_factor(name, tmp_path):
    kwargs = {"boundaries": [1, 3]} if name == "step_decay" else {}
    if name == "cosine_restarts":
        kwargs = {"first_period_epochs": 1}
    if name == "warmup_cosine":
        kwargs = {"warmup_epochs": 1}
    schedule = make_schedule(name, 0.05, steps_per_epoch=4, epochs=4, **kwargs)
    net = lr_counter(schedule)
    net.fit(X, Y, batch_size=1, epochs=1, verbose=0)
    schedule.scale = 0.3
    path = tmp_path / "m.keras"
    net.save(path)
    back = keras.saving.load_model(path)
    loaded = learning_rate_of(back.optimizer)
    assert type(loaded) is type(schedule)
    assert loaded.get_config() == schedule.get_config()
    assert loaded.scale == pytest.approx(0.3)
    assert int(back.optimizer.iterations.numpy()) == 4
    assert float(back.optimizer.learning_rate) == pytest.approx(float(net.optimizer.learning_rate))
    unscaled = type(schedule).from_config({**schedule.get_config(), "scale": 1.0})
    assert float(back.optimizer.learning_rate) == pytest.approx(0.3 * float(unscaled(4)))


# -- through the runner ------------------------------------------------------------------------
TINY = [
    "digits.train_size = 300",
    "cnn.filters = [8]",
    "cnn.dense_units = [16]",
    "train.batch_size = 32",
    "train.epochs = 3",
    "train.schedule = 'warmup_cosine'",
    "warmup_cosine.warmup_epochs = 1",
    "warmup_cosine.min_learning_rate = 0.001",
    "train.reduce_on_plateau = True",
    "plateau.patience = 1",
    "plateau.factor = 0.5",
    "plateau.min_delta = 100.0",  # only the first epoch counts as an improvement
]


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_runner_schedule_plateau_and_resume(tmp_path, mlflow_db):
    from mlflow.tracking import MlflowClient

    from zoo.tracking.readers import read_mlflow, read_tensorboard

    with pytest.raises(KeyboardInterrupt):
        zoo.train("digits_cnn", [*TINY, "train.run_name = 'sched'"], extra_callbacks=[Interrupt()])
    run_dir = tmp_path / "runs" / "digits" / "sched"
    saved = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    assert learning_rate_of(saved.optimizer).scale == 0.5  # the factor is in the saved model
    result = zoo.train("digits_cnn", [*TINY, "train.run_name = 'sched'"], resume=True)
    assert result.status == "FINISHED"
    # 10 steps per epoch (ceil(300 / 32)), 30 in all, warm-up 10 steps to 0.002 (the recipe's
    # rate), cosine to 0.001 at step 30. Logged at each epoch's end: the rate of the next step.
    # epoch 0: 0.002; epoch 1: (0.001 + 0.001 * (1 + cos(pi/2)) / 2) * 0.5 = 0.00075;
    # epoch 2 (resumed, factor kept): 0.001 * 0.5
    tb = read_tensorboard(run_dir / "tensorboard")
    ml = read_mlflow(result.mlflow_run_id, mlflow_db)
    for logged in (tb, ml):
        assert [logged["learning_rate"][s] for s in range(3)] == pytest.approx(
            [0.002, 0.00075, 0.0005], rel=1e-5
        )
        assert [logged["lr_factor"][s] for s in range(3)] == [1.0, 0.5, 0.5]
    assert result.history["lr_factor"] == [1.0, 0.5, 0.5]
    params = MlflowClient(tracking_uri=mlflow_db).get_run(result.mlflow_run_id).data.params
    assert params["warmup_cosine.warmup_epochs"] == "1" and params["plateau.factor"] == "0.5"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_completed"] == 3
