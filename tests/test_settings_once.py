"""gin at the edge: the settings phase reads every settings configurable once, and the phases
after it receive what it read. A trial (or anything else) that re-parses gin after that point
cannot change what the run trains."""

from __future__ import annotations

import dataclasses

import gin
import pytest

from tests.procs import TINY_DIGITS
from zoo.config import parse
from zoo.errors import ConfigError
from zoo.training.settings import RunOptions, Settings, read_settings

TINY = TINY_DIGITS.strip().splitlines()[1:]
FLOAT32 = "train.precision = 'float32'"


def _rebind(bindings: dict[str, object]) -> None:
    with gin.unlock_config():
        for key, value in bindings.items():
            gin.bind_parameter(key, value)


def test_rebinding_gin_after_the_settings_phase_changes_nothing_in_the_run():
    import keras

    from zoo import datasets
    from zoo.training.run import run

    class Steps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen: list[int] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(self.params["steps"])

    parse("digits_cnn", [*TINY, FLOAT32, "train.epochs = 1", "train.run_name = 'once'"])
    settings = read_settings()
    # what a trial re-parsing gin between two reads would do
    _rebind({"train.epochs": 3, "train.batch_size": 16, "optimizer.name": "sgd"})
    steps = Steps()
    options = RunOptions(mlflow=False, tensorboard=False, verbose=0, extra_callbacks=[steps])
    result = run(settings, options)

    assert len(result.history["loss"]) == 1  # train.epochs as read, not as re-bound
    model = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    assert type(model.optimizer).__name__ == "Adam"  # train.optimizer as read
    batches = {
        size: int(datasets.load("digits", batch_size=size).train.cardinality()) for size in (16, 32)
    }
    assert batches[16] != batches[32]
    assert steps.seen == [batches[32]]  # train.batch_size as read


def test_every_settings_configurable_is_read_once_into_one_object():
    parse(
        "digits_cnn",
        [
            *TINY,
            "train.init_from = 'runs/digits/source'",
            "train.distribution = 'multi_worker'",
            "transfer.fine_tune_epochs = 2",
            "distribute.workers = 3",
            "optimizer.name = 'sgd'",
        ],
    )
    settings = read_settings(epochs=4)
    assert isinstance(settings, Settings)
    assert settings.train.epochs == 4 and settings.train.optimizer == "sgd"
    assert settings.transfer.fine_tune_epochs == 2
    assert settings.distribute.workers == 3
    _rebind({"transfer.fine_tune_epochs": 0, "distribute.workers": 1, "train.epochs": 9})

    from zoo.training.setup import fine_tune_settings

    assert fine_tune_settings(settings).fine_tune_epochs == 2  # the phase-2 knobs as read
    assert settings.distribute.workers == 3 and settings.train.epochs == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.train = settings.train  # type: ignore[misc]


def test_runs_without_transfer_or_distribution_read_neither():
    parse("digits_cnn", [*TINY, "transfer.fine_tune_epochs = 2"])
    settings = read_settings()
    assert settings.transfer is None and settings.distribute is None
    assert "transfer." not in gin.operative_config_str()  # not read: not in the record


def test_disagreeing_optimizer_names_fail_in_the_settings_phase():
    parse("digits_cnn", ["train.optimizer = 'rmsprop'", "optimizer.name = 'sgd'"])
    with pytest.raises(ConfigError, match="disagree"):
        read_settings()
