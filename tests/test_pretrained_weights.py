"""torchvision/timm state dicts in zoo's models: logits equal to PyTorch's, readers, download.

The expected logits in tests/data/pretrained come from benchmarks/torch_reference.py (torch,
torchvision, timm); here the same random weights are regenerated with numpy from the seed,
so the numbers are checked without torch.
"""

from __future__ import annotations

import http.server
import pickle
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.pretrained_reference import (
    DATA,
    load_reference,
    random_input,
    random_state_dict,
    reference_path,
    relative_difference,
    zoo_logits,
)
from zoo.errors import ConfigError, first_line
from zoo.models import imagenet
from zoo.models.state_dict import read_state_dict

TOLERANCE = 1e-4  # max |zoo - torch| / max |torch|, float32


@pytest.fixture(autouse=True)
def float32():
    import keras

    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "seresnet50", "vgg11", "vgg11_bn"])
def test_logits_equal_torchvision_and_timm(name):
    reference = load_reference(reference_path(name))
    logits = zoo_logits(reference)
    assert logits.shape == np.asarray(reference["logits"]).shape
    assert relative_difference(reference, logits) < TOLERANCE
    # random batch-norm statistics make a wrong mapping visible: a shuffled state dict fails
    state = random_state_dict(reference["manifest"], reference["seed"] + 1)
    assert not np.allclose(state[reference["manifest"][0][0]], 0)


def _resnet18_file(tmp_path: Path, size: int = 64) -> tuple[Path, dict]:
    from safetensors.numpy import save_file

    reference = load_reference(reference_path("resnet18"))
    path = tmp_path / "resnet18.safetensors"
    save_file(random_state_dict(reference["manifest"], reference["seed"]), str(path))
    return path, reference


def test_weights_argument_takes_a_safetensors_file(tmp_path):
    import zoo

    path, reference = _resnet18_file(tmp_path)
    model = zoo.build(
        "resnet18", weights=str(path), input_shape=(64, 64, 3), classifier_activation=None
    )
    x = random_input(reference["input_shape"], reference["seed"]).transpose(0, 2, 3, 1)
    logits = np.asarray(model(x, training=False))
    assert relative_difference(reference, logits) < TOLERANCE


def test_a_new_head_or_no_head_loads_everything_but_the_classifier(tmp_path):
    import zoo

    path, reference = _resnet18_file(tmp_path)
    state = random_state_dict(reference["manifest"], reference["seed"])
    kernel = state["layer4.1.bn2.running_var"]
    for kwargs in ({"classes": 5}, {"include_top": False, "pooling": "avg"}):
        model = zoo.build("resnet18", weights=str(path), input_shape=(64, 64, 3), **kwargs)
        bn = model.get_layer("conv5_block2_2_bn")
        np.testing.assert_array_equal(np.asarray(bn.moving_variance), kernel)
        conv = np.asarray(model.get_layer("conv1_conv").kernel)
        np.testing.assert_array_equal(conv, state["conv1.weight"].transpose(2, 3, 1, 0))
    assert model.output_shape == (None, 512)


def test_vgg_fc1_rows_move_from_chw_to_hwc_order(tmp_path):
    from safetensors.numpy import save_file

    import zoo

    vgg = load_reference(reference_path("vgg11_bn"))  # fc1 after a 2x2x512 map
    state = random_state_dict(vgg["manifest"], vgg["seed"])
    path = tmp_path / "vgg11_bn.safetensors"
    save_file(state, str(path))
    model = zoo.build(
        "vgg11_bn", weights=str(path), input_shape=(64, 64, 3), fc_units=(64, 64), classes=5
    )
    kernel = np.asarray(model.get_layer("fc1").kernel)  # rows in (h, w, c) order
    torch_rows = state["classifier.0.weight"].T  # rows in (c, h, w) order
    for h, w, c in [(0, 0, 0), (0, 1, 0), (1, 0, 7), (1, 1, 511)]:
        np.testing.assert_array_equal(kernel[(h * 2 + w) * 512 + c], torch_rows[c * 4 + h * 2 + w])
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("fc2").kernel), state["classifier.3.weight"].T
    )
    assert model.get_layer("predictions").kernel.shape == (64, 5)


def test_keys_and_shapes_that_do_not_fit_name_the_first_mismatch(tmp_path):
    from safetensors.numpy import save_file

    import zoo

    path, reference = _resnet18_file(tmp_path)
    with pytest.raises(ConfigError) as err:  # resnet18's file in resnet34
        zoo.build("resnet34", weights=str(path), input_shape=(64, 64, 3))
    assert first_line(err.value) == (
        f"{path} has no 'layer1.2.conv1.weight', which resnet34's layer "
        "'conv2_block3_1_conv' needs."
    )
    state = random_state_dict(reference["manifest"], reference["seed"])
    state["extra.weight"] = np.zeros(3, np.float32)
    extra = tmp_path / "extra.safetensors"
    save_file(state, str(extra))
    with pytest.raises(ConfigError) as err:
        zoo.build("resnet18", weights=str(extra), input_shape=(64, 64, 3))
    assert first_line(err.value) == f"{extra} has 'extra.weight', which resnet18 has no place for."
    vgg = load_reference(reference_path("vgg11"))  # fc1 after a 2x2x512 map (64x64 input)
    vgg_file = tmp_path / "vgg11.safetensors"
    save_file(random_state_dict(vgg["manifest"], vgg["seed"]), str(vgg_file))
    with pytest.raises(ConfigError) as err:  # a 96x96 input: fc1 after a 3x3 map
        zoo.build("vgg11", weights=str(vgg_file), input_shape=(96, 96, 3), fc_units=(64, 64))
    assert first_line(err.value) == (
        f"{vgg_file}: 'classifier.0.weight' has shape (64, 2048), but vgg11's layer 'fc1' "
        "needs (64, 4608) (a different model or input size?)."
    )


def _bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 -> float32, rounding to nearest even as torch does."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("file", ["tiny_state_dict.pth", "tiny_state_dict_legacy.pth"])
def test_pth_files_are_read_without_torch(file):
    state = read_state_dict(DATA / file)  # written by benchmarks/tiny_pth.py
    rng = np.random.default_rng(7)
    base = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        state["conv.weight"], rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    )
    np.testing.assert_array_equal(state["half"], rng.standard_normal(5).astype(np.float16))
    np.testing.assert_array_equal(state["bf16"], _bfloat16(rng.standard_normal(5)))
    assert state["bn.num_batches_tracked"] == 3
    assert state["bn.num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(state["transposed"], base.T)
    np.testing.assert_array_equal(state["slice"], base[1:3, 2:5])


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_a_pth_that_holds_code_is_refused_and_runs_nothing(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": _Payload()}))
    with pytest.raises(ConfigError) as err:
        read_state_dict(path)
    assert first_line(err.value) == (
        f"{path} holds more than tensors (refused posix.system): zoo reads only state dicts."
    )
    assert not (tmp_path / "pwned").exists()


# ---- download against a loopback server ---------------------------------------------------------


class _Server:
    """Serves ``payload`` on 127.0.0.1; ``mode`` 'ok', 'truncated' (announces more bytes than
    it sends, then closes) or 'other' (serves different bytes)."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.mode = "ok"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.payload
                if server.mode == "other":
                    body = bytes(reversed(body))
                self.send_response(200)
                length = len(body) * (2 if server.mode == "truncated" else 1)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    from safetensors.numpy import save

    reference = load_reference(reference_path("resnet18"))
    payload = save(random_state_dict(reference["manifest"], reference["seed"]))
    server = _Server(payload)
    yield server, payload, reference
    server.stop()


def test_download_checks_and_writes_atomically(tmp_path, served, capsys):
    server, payload, _ = served
    digest = imagenet.hashlib.sha256(payload).hexdigest()
    folder = tmp_path / "cache"
    target = folder / "w.safetensors"
    imagenet.download(server.url("w.safetensors"), target, digest[:8])
    assert target.read_bytes() == payload
    assert "w.safetensors [==============================]" in capsys.readouterr().err
    target.unlink()

    server.mode = "other"
    with pytest.raises(imagenet.WeightsError) as err:
        imagenet.download(server.url("w.safetensors"), target, digest[:8])
    assert f"not the published {digest[:8]}... (a corrupt or substituted file)" in str(err.value)
    assert list(folder.iterdir()) == []

    server.mode = "truncated"
    with pytest.raises(imagenet.WeightsError) as err:
        imagenet.download(server.url("w.safetensors"), target, digest[:8])
    assert str(err.value) == (
        f"the download of {server.url('w.safetensors')} stopped after {len(payload)} of "
        f"{2 * len(payload)} bytes"
    )
    assert list(folder.iterdir()) == []

    url = server.url("w.safetensors")
    server.stop()
    with pytest.raises(imagenet.WeightsError) as err:
        imagenet.download(url, target, digest[:8], timeout=5)
    assert str(err.value).startswith(f"{url} could not be downloaded (")
    assert list(folder.iterdir()) == []


def test_imagenet_weights_download_once_convert_once_then_work_offline(
    tmp_path, served, monkeypatch
):
    import zoo

    server, payload, reference = served
    digest = imagenet.hashlib.sha256(payload).hexdigest()[:8]
    name = f"resnet18-{digest}.safetensors"
    source = imagenet.Source("resnet18", "test", server.url(name), digest, 69.758)
    monkeypatch.setitem(imagenet.SOURCES, "resnet18", source)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    folder = tmp_path / "keras" / "models"
    x = random_input(reference["input_shape"], reference["seed"]).transpose(0, 2, 3, 1)
    for _ in range(2):  # the second time from the cache, with the server gone
        model = zoo.build(
            "resnet18", weights="imagenet", input_shape=(64, 64, 3), classifier_activation=None
        )
        assert relative_difference(reference, np.asarray(model(x, training=False))) < TOLERANCE
        assert sorted(p.name for p in folder.iterdir()) == [name]
        server.stop()

    from zoo import transfer  # the transfer path reads the same cached file

    settings = transfer.TransferSettings(weights="imagenet", image_size=64)
    net = transfer.prepare("imagenet:resnet18", 5, "softmax", settings, input_shape=(40, 40, 3))
    np.testing.assert_array_equal(
        np.asarray(net.get_layer("conv1_conv").kernel),
        np.asarray(model.get_layer("conv1_conv").kernel),
    )

    (folder / name).unlink()
    with pytest.raises(ConfigError) as err:
        zoo.build("resnet18", weights="imagenet", input_shape=(64, 64, 3))
    message = first_line(err.value)
    assert message.startswith(f"resnet18's ImageNet weights: {source.url} could not be downloaded")
    assert message.endswith(
        f"put {name} (from {source.url}) in {folder}/, or use weights=None "
        "(transfer.weights = None)."
    )
    assert list(folder.iterdir()) == []


def test_a_cached_file_with_the_wrong_checksum_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "resnet18-f37072fd.pth").write_bytes(b"not the weights")
    with pytest.raises(ConfigError) as err:
        imagenet.weights_file("resnet18")
    assert first_line(err.value) == (
        f"{folder / 'resnet18-f37072fd.pth'} does not have the published checksum "
        "(f37072fd...): delete it and download "
        "https://download.pytorch.org/models/resnet18-f37072fd.pth again."
    )


def test_preprocessing_is_resize_and_imagenet_mean_std():
    layer = imagenet.preprocessing("resnet18")
    pixels = np.full((1, 10, 12, 3), 255.0 * 0.5, np.float32)
    out = np.asarray(layer(pixels))
    assert out.shape == (1, 224, 224, 3)
    expected = (0.5 - np.array(imagenet.IMAGENET_MEAN)) / np.array(imagenet.IMAGENET_STD)
    np.testing.assert_allclose(out[0, 100, 100], expected, rtol=1e-5)
    with pytest.raises(ConfigError, match="alexnet has no ImageNet weights in zoo"):
        imagenet.preprocessing("alexnet")


def test_transfer_from_imagenet_resnet18_puts_the_preprocessing_in_front(tmp_path):
    from zoo import transfer

    settings = transfer.TransferSettings(weights=None, image_size=32)
    model = transfer.prepare("imagenet:resnet18", 5, "softmax", settings, input_shape=(20, 20, 1))
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["input", "input_resize", "input_preprocess"]
    assert model.output_shape == (None, 5)
    assert not model.get_layer("conv5_block2_2_conv").trainable
    assert model.get_layer("predictions").trainable


def test_cli_lists_pretrained_models_and_their_weights(capsys):
    from zoo.cli import main

    assert main(["list", "--pretrained", "resnet*"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert main(["list", "--pretrained", "cnn"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "No model matching 'cnn' has ImageNet weights; 'zoo list --pretrained' lists those "
            "that have."
        )
    )
    assert main(["info", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert (
        "weights       imagenet: torchvision ResNet18_Weights.IMAGENET1K_V1, top-1 69.758%" in out
    )
    assert "file        resnet18-f37072fd.pth (downloaded on first use)" in out


def test_recipe_check_offline_names_the_missing_weights(tmp_path, monkeypatch):
    from tests.test_datasets import write_flowers
    from zoo.training.api import check

    write_flowers(tmp_path / "data" / "flower_photos")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with socket.socket() as probe:  # a loopback port nobody listens on: offline
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/resnet18-f37072fd.pth"
    gone = imagenet.Source("resnet18", "torchvision", dead, "f37072fd", 69.758)
    monkeypatch.setitem(imagenet.SOURCES, "resnet18", gone)
    bindings = ["flowers.image_size=(32, 32)", "transfer.image_size=32"]
    with pytest.raises(ConfigError) as err:
        check("flowers_resnet18_transfer", bindings)
    assert f"put resnet18-f37072fd.pth (from {dead}) in {tmp_path / 'keras' / 'models'}/" in str(
        err.value
    )
    setup = check("flowers_resnet18_transfer", [*bindings, "transfer.weights=None"])
    assert setup.net.output_shape == (None, 3)


def test_reference_files_are_small():
    sizes = {p.name: p.stat().st_size for p in DATA.iterdir()}
    assert sum(sizes.values()) < 300_000, sizes
