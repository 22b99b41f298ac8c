"""`zoo summary`: per-layer shapes, parameters, mult-adds and receptive fields.

Receptive fields follow Araujo, Norris & Sim 2019 ("Computing Receptive Fields of
Convolutional Neural Networks", Distill): r_out = r_in + (k - 1) j_in, j_out = j_in s. Their
table gives VGG-16 a receptive field of 212 pixels at pool5.
"""

from __future__ import annotations

import pytest

import zoo
from zoo.analysis.summary import Field, layer_rows, layer_table, receptive_fields
from zoo.cli import main as cli


def tiny_stack():
    import keras
    from keras import layers

    x = inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(2, 3, padding="same", name="c1")(x)  # r 1 + 2*1 = 3, j 1
    x = layers.MaxPooling2D(2, name="p1")(x)  # r 3 + 1*1 = 4, j 2
    x = layers.Conv2D(2, 3, padding="same", name="c2")(x)  # r 4 + 2*2 = 8, j 2
    skip = x
    x = layers.Conv2D(2, 3, strides=2, padding="same", name="c3")(x)  # r 8 + 2*2 = 12, j 4
    x = layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="c4")(x)  # k 5: r 12+4*4=28
    y = layers.AveragePooling2D(2, name="p2")(skip)  # the other path: r 8 + 1*2 = 10, j 4
    x = layers.Add(name="add")([x, y])  # the larger field: 28, j 4
    x = layers.GlobalAveragePooling2D(name="gap")(x)  # the whole 8x8 map: r 28 + 7*4 = 56
    x = layers.Dense(3, name="fc")(x)
    return keras.Model(inputs, x, name="tiny")


def test_receptive_field_recurrence_on_a_hand_computed_stack():
    fields = receptive_fields(tiny_stack())
    expected = {
        "c1": (3, 1),
        "p1": (4, 2),
        "c2": (8, 2),
        "c3": (12, 4),
        "c4": (28, 4),
        "p2": (10, 4),
        "add": (28, 4),
    }
    assert {k: (fields[k].size[0], fields[k].jump[0]) for k in expected} == expected
    assert fields["gap"] == Field((56, 56), None) and fields["fc"] == Field((56, 56), None)


def test_vgg16_receptive_field_at_pool5_is_212():
    model = zoo.build("vgg16", include_top=False, input_shape=(224, 224, 3))
    fields = receptive_fields(model)
    assert (fields["block5_conv3"].size, fields["block5_conv3"].jump) == ((196, 196), (16, 16))
    assert (fields["block5_pool"].size, fields["block5_pool"].jump) == ((212, 212), (32, 32))


def test_rows_count_parameters_and_mult_adds():
    rows = {r.name: r for r in layer_rows(tiny_stack())}
    # c2: 3x3x2x2 weights + 2 biases; 16x16 positions x 3*3*2*2 mult-adds
    assert (rows["c2"].params, rows["c2"].macs) == (38, 16 * 16 * 36)
    assert rows["c3"].output_shape == (8, 8, 2)
    assert rows["fc"].macs == 2 * 3


def test_layer_table_puts_two_input_sizes_side_by_side():
    text = layer_table("cnn", [(28, 28, 1), (56, 56, 1)])
    lines = text.splitlines()
    assert lines[0].split("|")[1:] == [" cnn at 28x28x1" + " " * 25, " cnn at 56x56x1"]
    conv = next(line for line in lines if line.startswith("block2_conv1 (Conv2D)"))
    # the convolution's parameters stay, its mult-adds grow with the pixel count (x4)
    assert (
        conv.split()
        == (
            "block2_conv1 (Conv2D) | 14x14x64 18,432 3,612,672 8 2 | 28x28x64 18,432 14,450,688 8 2"
        ).split()
    )
    fc1 = next(line for line in lines if line.startswith("fc1 (Dense)"))
    # the dense layer after the flatten grows with it: 7*7*64 and 14*14*64 inputs
    assert "401,536" in fc1 and "1,605,760" in fc1
    assert lines[-1].split() == "total | 421,930 4,241,152 | 1,626,154 16,960,768".split()


def test_a_built_model_is_rebuilt_at_other_sizes():
    text = layer_table(tiny_stack(), [(32, 32, 1), (16, 16, 1)])
    assert "tiny at 32x32x1" in text and "tiny at 16x16x1" in text
    gap = next(line for line in text.splitlines() if line.startswith("gap"))
    assert gap.split()[-5:] == ["2", "0", "0", "40", "-"]  # 4x4 map at 16 px: 28 + 3*4


def test_zoo_summary_of_a_run_directory_and_user_errors(tmp_path, capsys):
    model = zoo.build("cnn", input_shape=(12, 12, 1), filters=[4], dense_units=[8], classes=3)
    checkpoints = tmp_path / "runs" / "x" / "r" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model.save(checkpoints / "last.keras")
    assert cli(["summary", str(checkpoints.parent)]) == 0
    out = capsys.readouterr().out
    assert "cnn at 12x12x1" in out and "block1_conv1 (Conv2D)" in out
    assert cli(["summary", str(checkpoints.parent), "--input-shape", "24,24,1"]) == 0
    assert "cnn at 24x24x1" in capsys.readouterr().out
    assert cli(["summary", str(checkpoints.parent), "--checkpoint", "best"]) == 2
    assert "best.keras does not exist" in capsys.readouterr().err
    assert cli(["summary", "resnet5O"]) == 2
    assert "Unknown model 'resnet5O'" in capsys.readouterr().err
    assert cli(["summary", "cnn", "--input-shape", "2,2,1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zoo: error: ")


@pytest.mark.parametrize("name", ["mlp", "resnet20", "googlenet"])
def test_every_layer_gets_a_row(name):
    model = zoo.build(name, input_shape=(32, 32, 3))
    rows = layer_rows(model)
    assert [r.name for r in rows] == [layer.name for layer in model.layers]
    assert sum(r.params for r in rows) == model.count_params()
    assert sum(r.macs for r in rows) == zoo.models.stats.count_macs(model)
    assert rows[-1].field is not None
