"""Transfer runs as a user sees them: two phases on both trackers, fine-tuning knobs that do
what they say (warm-up, unfreezing by stage, layer-wise rates, batch norm in inference mode),
and keras.applications sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.errors import ConfigError
from zoo.training import transfer

ROOT = Path(__file__).resolve().parents[1]
TINY = ["cnn.filters = [4, 8]", "cnn.dense_units = [16]", "train.batch_size = 32"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A cnn trained one epoch on digits 0-4 (no tracking: it is only a source)."""
    import gin

    runs = tmp_path_factory.mktemp("source-runs")
    gin.clear_config()
    result = zoo.train(
        "digits_cnn",
        [
            *TINY,
            "train.epochs = 1",
            "digits.classes = [0, 1, 2, 3, 4]",
            f"train.runs_dir = '{runs}'",
        ],
        run_name="src",
        mlflow=False,
        tensorboard=False,
        verbose=0,
    )
    gin.clear_config()
    return result.run_dir


def weights(path: Path) -> dict:
    import keras

    import zoo.training.layer_rates  # noqa: F401  (the fine-tuning optimizer, for loading)

    model = keras.saving.load_model(path, compile=False)
    return {w.path: np.array(w) for w in model.weights}


def tuned(source, *bindings, **options):
    return zoo.train(
        "digits_transfer",
        [*TINY, "train.steps_per_epoch = 2", "train.epochs = 1", *bindings],
        init_from=str(source),
        verbose=0,
        **options,
    )


def test_both_phases_on_both_trackers_with_warm_up_and_stage_unfreezing(source):
    from mlflow.tracking import MlflowClient

    from zoo.comparison.plots import curves_figure
    from zoo.comparison.report import report_html
    from zoo.tracking.readers import read_tensorboard

    result = tuned(
        source,
        "transfer.fine_tune_epochs = 3",
        "transfer.fine_tune_warmup_epochs = 2",
        "transfer.unfreeze_stages = ['fc1']",
        "train.run_name = 'phases'",
    )
    assert result.history["phase"] == [1.0, 2.0, 2.0, 2.0]
    client = MlflowClient(result.tracking_uri)
    mlflow_phase = {
        m.step: m.value for m in client.get_metric_history(result.mlflow_run_id, "phase")
    }
    assert mlflow_phase == {0: 1.0, 1: 2.0, 2: 2.0, 3: 2.0}
    assert read_tensorboard(result.run_dir / "tensorboard")["phase"] == mlflow_phase
    params = client.get_run(result.mlflow_run_id).data.params
    head, fc1 = 16 * 5 + 5, 2 * 2 * 8 * 16 + 16
    assert params["phase.1.trainable_params"] == str(head)
    assert params["phase.2.start_epoch"] == "2"
    assert params["phase.2.trainable_params"] == str(head + fc1)  # only stage fc1 unfrozen
    rates = client.get_metric_history(result.mlflow_run_id, "learning_rate")
    # 2 steps an epoch, warm-up over 2 epochs to 2e-4: half-way after phase 2's first epoch
    assert [m.value for m in sorted(rates, key=lambda m: m.step)][1:] == pytest.approx(
        [1e-4, 2e-4, 2e-4]
    )
    before, after = (
        weights(source / "checkpoints" / "best.keras"),
        weights(result.run_dir / "checkpoints" / "last.keras"),
    )
    np.testing.assert_array_equal(before["block2_conv1/kernel"], after["block2_conv1/kernel"])
    assert not np.array_equal(before["fc1/kernel"], after["fc1/kernel"])

    table = zoo.compare(experiment="digits")
    assert "digits/phases: phase 2 (fine-tuning) from step 1" in report_html(table)
    figure = curves_figure(table)
    boundary = [
        line
        for line in figure.axes[0].get_lines()
        if list(line.get_xdata()) == [1, 1] and line.get_linestyle() == ":"
    ]
    assert len(boundary) == 1 and "phase 2" in boundary[0].get_label()
    assert "phase" not in [ax.get_title() for ax in figure.axes]


def test_layer_decay_scales_each_stage_update_and_batch_norm_stays_still(source):
    result = tuned(
        source,
        "train.steps_per_epoch = 1",
        "transfer.fine_tune_epochs = 1",
        "transfer.fine_tune_learning_rate = 0.001",
        "transfer.layer_decay = 0.5",
        "train.run_name = 'decay'",
        mlflow=False,
    )
    before = weights(source / "checkpoints" / "best.keras")
    after = weights(result.run_dir / "checkpoints" / "last.keras")
    # one Adam step moves each weight by at most lr * multiplier (about that where the
    # gradient is not tiny): the measured step per stage, over the rate
    steps = {
        name: np.abs(after[f"{name}/kernel"] - before[f"{name}/kernel"]).max() / 1e-3
        for name in ("block1_conv1", "block2_conv1", "fc1")
    }
    assert steps == pytest.approx(
        {"block1_conv1": 0.125, "block2_conv1": 0.25, "fc1": 0.5}, rel=0.02
    )
    for name in ("block1_bn1", "block2_bn1"):  # frozen in phase 1, kept frozen in phase 2
        for part in ("moving_mean", "moving_variance", "gamma", "beta"):
            np.testing.assert_array_equal(before[f"{name}/{part}"], after[f"{name}/{part}"])


def test_bn_trainable_lets_the_statistics_move(source):
    result = tuned(
        source,
        "transfer.fine_tune_epochs = 0",
        "transfer.bn_trainable = True",
        "train.run_name = 'bn'",
        mlflow=False,
    )
    before = weights(source / "checkpoints" / "best.keras")
    after = weights(result.run_dir / "checkpoints" / "last.keras")
    assert not np.allclose(before["block1_bn1/moving_mean"], after["block1_bn1/moving_mean"])
    np.testing.assert_array_equal(before["block1_conv1/kernel"], after["block1_conv1/kernel"])


def test_layer_rate_optimizer_scales_the_step_not_the_gradient():
    import keras

    from zoo.training.layer_rates import with_layer_rates

    a, b = keras.Variable(np.zeros(4, "float32")), keras.Variable(np.zeros(4, "float32"))
    b_path = b.path
    opt = with_layer_rates(keras.optimizers.Adam(learning_rate=0.01), {b_path: 0.3})
    grad = np.array([1.0, -2.0, 3.0, -4.0], "float32")
    opt.apply([grad, grad], [a, b])
    np.testing.assert_allclose(np.array(a), -0.01 * np.sign(grad), rtol=1e-4)
    np.testing.assert_allclose(np.array(b), -0.003 * np.sign(grad), rtol=1e-4)
    again = type(opt).from_config(opt.get_config())
    assert type(again).__name__ == "LayerRateAdam" and again.layer_rates == {b_path: 0.3}


def test_stages_rates_and_unfreezing_by_stage():
    base = zoo.build("cnn", input_shape=(8, 8, 1), classes=5, filters=[4, 8], dense_units=[16])
    model = transfer.extend(base, 3)
    assert transfer.base_stages(model) == ["block1", "block2", "fc1"]
    rates = transfer.layer_rates(model, 0.5)
    assert rates["block1_conv1/kernel"] == 0.125 and rates["fc1/bias"] == 0.5
    assert not any(path.startswith("predictions") for path in rates)
    transfer.freeze(model)
    transfer.unfreeze_stages(model, ["block2", "fc*"])
    assert model.get_layer("block2_conv1").trainable and model.get_layer("fc1").trainable
    assert not model.get_layer("block2_bn1").trainable  # batch norm stays frozen
    assert not model.get_layer("block1_conv1").trainable
    with pytest.raises(ConfigError, match="no stage or layer 'conv9'.*block1, block2, fc1"):
        transfer.unfreeze_stages(model, ["conv9"])


@pytest.mark.parametrize(
    "bindings, message",
    [
        (["transfer.layer_decay = 1.5"], "layer_decay must be in"),
        (["transfer.layer_decay = 0.5"], "applies to the fine-tuning phase"),
        (["transfer.fine_tune_epochs = 1", "transfer.fine_tune_warmup_epochs = 2"], "lie between"),
        (
            ["transfer.fine_tune_epochs = 1", "transfer.unfreeze_stages = ['fc1']"]
            + ["transfer.fine_tune_from = 'fc1'"],
            "not both",
        ),
        (["transfer.image_size = 8"], "image_size must be"),
    ],
)
def test_bad_transfer_knobs_are_one_sentence(bindings, message):
    import gin

    gin.parse_config(bindings)
    with pytest.raises(ConfigError, match=message):
        transfer.TransferSettings()


@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2", "DenseNet121", "MobileNetV3Small"])
def test_preprocessing_layer_matches_the_applications_own(name):
    import importlib

    import keras

    from zoo.models.applications import pixel_map
    from zoo.models.layers import ImagePreprocess

    builder = getattr(keras.applications, name)
    module = importlib.import_module(builder.__module__)
    matrix, bias = pixel_map(builder)
    layer = ImagePreprocess(matrix, bias, input_scale=255.0)
    rgb = np.random.default_rng(0).random((2, 5, 5, 3)).astype("float32")
    expected = module.preprocess_input(255.0 * rgb.copy())
    np.testing.assert_allclose(np.array(layer(rgb)), expected, rtol=1e-5, atol=1e-3)
    gray = rgb[..., :1]
    expected = module.preprocess_input(255.0 * np.repeat(gray, 3, axis=-1))
    np.testing.assert_allclose(np.array(layer(gray)), expected, rtol=1e-5, atol=1e-3)


def test_an_application_source_resizes_preprocesses_and_round_trips(fake_fashion):
    import keras

    result = zoo.train(
        None,
        [
            "train.dataset = 'fashion_mnist'",
            f"fashion_mnist.data_dir = '{fake_fashion}'",
            "fashion_mnist.validation_split = 0.2",
            "train.init_from = 'keras.applications.MobileNetV3Small'",
            "transfer.weights = None",
            "transfer.fine_tune_epochs = 1",
            "transfer.unfreeze_stages = ['expanded*']",
            "train.epochs = 1",
            "train.steps_per_epoch = 1",
            "train.batch_size = 16",
            "train.run_name = 'mnv3'",
        ],
        mlflow=False,
        verbose=0,
    )
    assert result.status == "FINISHED" and result.history["phase"] == [1.0, 2.0]
    model = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras", compile=False)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.get_layer("input_resize").output.shape == (None, 32, 32, 1)
    assert model.get_layer("input_preprocess").output.shape == (None, 32, 32, 3)
    assert model.get_layer("conv").trainable is False  # the stem: not an 'expanded*' layer
    x = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


def test_missing_imagenet_weights_name_the_file_and_where_it_goes(tmp_path):
    home = tmp_path / "keras-home"
    env = {
        **os.environ,
        "KERAS_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "https_proxy": "http://127.0.0.1:9",  # a closed port: no download, whatever the network
        "http_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "no_proxy": "",
        "NO_PROXY": "",
    }
    bind = ["--bind", "train.init_from='keras.applications.ResNet50'", "--bind", "train.epochs=1"]
    done = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "digits_cnn", *bind],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "resnet50_weights" in line]
    assert len(lines) == 1
    assert "put resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in lines[0]
    assert f"in {home / 'models'}/" in lines[0]


def test_the_two_fashion_recipes_run_by_name(fake_fashion):
    small = [
        f"fashion_mnist.data_dir = '{fake_fashion}'",
        "cnn.filters = [4, 8]",
        "cnn.dense_units = [16]",
        "train.epochs = 1",
        "train.steps_per_epoch = 1",
    ]
    source = zoo.train(
        "transfer_fashion_source",
        [*small, "fashion_mnist.validation_split = 0.2"],
        mlflow=False,
        verbose=0,
    )
    assert Path(source.run_dir).resolve() == Path("runs/fashion_transfer/source-0to4").resolve()
    target = zoo.train(
        "transfer_fashion", [*small, "transfer.fine_tune_epochs = 1"], mlflow=False, verbose=0
    )
    assert target.status == "FINISHED" and target.history["phase"] == [1.0, 2.0]
    assert target.summary["input_shape"] == [28, 28, 1]
