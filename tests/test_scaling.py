"""`zoo scaling` (lesson 2.9): a dense layer on pixels grows with the pixel count, a
convolution's parameters do not, its mult-adds do."""

from __future__ import annotations

import pytest

from zoo.analysis.scaling import exponent, measure, reading
from zoo.cli import main as cli


def test_measured_growth_from_28_to_56_pixels():
    rows = {(r.model, r.side): r for r in measure([28, 56])}
    # mlp: 784 -> 3136 inputs into 256 units, then 256 -> 128 -> 10 (fixed)
    assert rows[("mlp", 28)].params == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert rows[("mlp", 56)].params - rows[("mlp", 28)].params == (3136 - 784) * 256
    flat_a, flat_b = rows[("cnn (flatten)", 28)], rows[("cnn (flatten)", 56)]
    assert flat_a.conv_params == flat_b.conv_params == 19_104
    # the flatten bridge: 7x7x64 -> 14x14x64 inputs into fc1's 128 units
    assert flat_b.dense_params - flat_a.dense_params == (14 * 14 - 7 * 7) * 64 * 128
    avg_a, avg_b = rows[("cnn (global_avg)", 28)], rows[("cnn (global_avg)", 56)]
    assert avg_a.params == avg_b.params
    assert avg_b.macs == 4 * (avg_a.macs - 64 * 128 - 128 * 10) + 64 * 128 + 128 * 10
    assert exponent(avg_a.macs, avg_b.macs, 28, 56) == pytest.approx(2, abs=0.01)


def test_reading_and_command(tmp_path, capsys):
    text = reading(measure([28, 56]))
    assert "cnn (global_avg): parameters x1 (28,714 to 28,714), ~n^0.00: they do not grow." in text
    assert "mlp: parameters x3.56" in text
    png = tmp_path / "scaling.png"
    assert cli(["scaling", "--sizes", "28", "56", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "pixel count x4" in out and f"plot: {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["scaling", "--sizes", "28"]) == 2
    assert "at least two --sizes" in capsys.readouterr().err
