"""The precision decision, with the machine described by the test (any CPU can run these)."""

from __future__ import annotations

import pytest

from zoo.errors import ConfigError, ZooError
from zoo.training.hardware import (
    POLICIES,
    PrecisionChoice,
    apply_flag_override,
    choose_precision,
    cpu_info,
)

AVX2_ONLY = {"sse4_2", "avx", "avx2", "fma"}
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
AMX = AVX512_BF16 | {"amx_tile", "amx_bf16"}


@pytest.mark.parametrize(
    ("flags", "gpus", "policy", "why"),
    [
        (AMX, [], "mixed_bfloat16", "amx_bf16"),
        (AVX512_BF16, [], "mixed_bfloat16", "avx512_bf16"),
        (AVX2_ONLY, [], "float32", "no native bf16"),
        (
            AVX2_ONLY,
            [{"name": "NVIDIA A100", "compute_capability": (8, 0)}],
            "mixed_float16",
            "8.0",
        ),
        (AVX2_ONLY, [{"name": "Tesla P4", "compute_capability": (6, 1)}], "float32", "6.1"),
        # an old GPU does the work: the CPU's bf16 units would not help it
        (AMX, [{"name": "Tesla P4", "compute_capability": (6, 1)}], "float32", "older than 7.0"),
        (AVX2_ONLY, [{"name": "V100", "compute_capability": (7, 0)}], "mixed_float16", "7.0"),
    ],
)
def test_auto_follows_the_hardware(flags, gpus, policy, why):
    choice = choose_precision("auto", cpu_flags=flags, gpus=gpus, cpu_model="Test CPU")
    assert choice == PrecisionChoice(policy, choice.reason, "auto")
    assert choice.reason.startswith("auto: ") and why in choice.reason
    assert choice.reason.endswith(policy)


def test_the_best_of_several_gpus_decides():
    gpus = [
        {"name": "Tesla P4", "compute_capability": (6, 1)},
        {"name": "NVIDIA H100", "compute_capability": (9, 0)},
    ]
    choice = choose_precision(cpu_flags=AVX2_ONLY, gpus=gpus)
    assert choice.policy == "mixed_float16" and "NVIDIA H100" in choice.reason


def test_the_cpu_model_is_named_in_the_reason():
    choice = choose_precision("auto", cpu_flags=AVX2_ONLY, gpus=[], cpu_model="AMD EPYC")
    assert choice.reason == (
        "auto: AMD EPYC has no native bf16 (no amx_bf16/avx512_bf16 flag) and no CUDA GPU: float32"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_an_explicit_policy_wins(policy):
    # even mixed_bfloat16 on a CPU without bf16 units: the user asked for it
    choice = choose_precision(policy, cpu_flags=AVX2_ONLY, gpus=[])
    assert choice == PrecisionChoice(policy, f"explicit: train.precision = '{policy}'", policy)


def test_an_explicit_policy_reads_nothing_from_the_machine(monkeypatch):
    def fail():
        raise AssertionError("the machine was probed")

    monkeypatch.setattr("zoo.training.hardware.gpu_info", fail)
    monkeypatch.setattr("zoo.training.hardware.cpu_info", fail)
    assert choose_precision("float32").policy == "float32"


@pytest.mark.parametrize("bad", ["bf16", "mixed_float", "FLOAT32", None])
def test_a_bad_value_is_one_sentence_listing_the_allowed_ones(bad):
    with pytest.raises(ConfigError) as err:
        choose_precision(bad, cpu_flags=AVX2_ONLY, gpus=[])
    message = str(err.value)
    assert isinstance(err.value, ZooError) and "\n" not in message
    assert "auto, float32, mixed_bfloat16, mixed_float16" in message


def test_a_close_misspelling_gets_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'mixed_float16'"):
        choose_precision("mixed_float")


def test_cpu_info_has_its_keys():
    info = cpu_info()
    assert set(info) == {"model", "flags", "detected", "override", "cores"}
    assert isinstance(info["model"], str) and info["model"]
    assert info["cores"] >= 1 and set(info["flags"]) <= {
        "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_bf16", "avx512_bf16", "amx_tile",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("avx512_bf16", AVX2_ONLY | {"avx512_bf16"}),
        ("+amx_bf16, avx512_bf16", AVX2_ONLY | {"amx_bf16", "avx512_bf16"}),
        ("-avx2", AVX2_ONLY - {"avx2"}),
        ("-all,avx2,fma", {"avx2", "fma"}),
        ("avx512_bf16,-avx512_bf16", AVX2_ONLY),  # applied in order
        (" , ", AVX2_ONLY),
    ],
)
def test_the_flag_override_adds_removes_and_replaces(override, expected):
    assert apply_flag_override(AVX2_ONLY, override) == expected


def test_a_misspelt_override_flag_is_one_sentence_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'avx512_bf16'") as err:
        apply_flag_override(AVX2_ONLY, "avx512bf16")
    assert "\n" not in str(err.value) and "ZOO_CPU_FLAGS" in str(err.value)


@pytest.mark.parametrize(
    ("override", "policy"), [("-all", "float32"), ("-all,avx512_bf16", "mixed_bfloat16")]
)
def test_auto_follows_zoo_cpu_flags_and_says_so(monkeypatch, override, policy):
    monkeypatch.setenv("ZOO_CPU_FLAGS", override)
    info = cpu_info()
    assert info["override"] == override
    assert set(info["flags"]) == apply_flag_override(set(info["detected"]), override)
    choice = choose_precision("auto", gpus=[])
    assert choice.policy == policy
    assert choice.reason.endswith(f"(flags edited by ZOO_CPU_FLAGS={override})")
