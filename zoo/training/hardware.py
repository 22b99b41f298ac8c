"""Machine facts and the mixed-precision policy that suits them.

Mixed precision pays only where the hardware computes in 16 bits natively: a CUDA GPU with
float16 tensor cores (compute capability 7.0 and later, Micikevicius et al. 2018), or an x86
CPU with AMX-BF16 or AVX512-BF16. Elsewhere bfloat16 is emulated and slower than float32 (5x
slower for the quickstart CNN on an AVX2-only AMD EPYC), so ``'auto'`` picks float32 there.
``ZOO_CPU_FLAGS`` edits the detected flags (see :func:`apply_flag_override`): it drives the
bf16 branch on any machine and corrects VMs that hide flags. Importing this module does not
import TensorFlow.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass

from zoo.errors import ConfigError, unknown

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
REQUESTS = ("auto", *POLICIES)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# Flags worth showing: the vector units that decide float32 speed and the bf16 ones.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", *BF16_FLAGS, "amx_tile")
MIN_FLOAT16_CAPABILITY = (7, 0)
FLAGS_ENV = "ZOO_CPU_FLAGS"


@dataclass(frozen=True)
class PrecisionChoice:
    """The policy a run uses, why, and what was asked for."""

    policy: str
    reason: str
    requested: str


def _linux_cpu() -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def _macos_cpu() -> tuple[str, set[str]]:
    def sysctl(name: str) -> str:
        try:
            out = subprocess.run(
                ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    model = sysctl("machdep.cpu.brand_string")
    features = f"{sysctl('machdep.cpu.features')} {sysctl('machdep.cpu.leaf7_features')}"
    # macOS spells them AVX2, AVX512BF16...; map the ones that matter to Linux's names.
    names = {f.lower().replace(".", "_") for f in features.split()}
    flags = {f for f in names if f in RELEVANT_FLAGS}
    if "avx512bf16" in names:
        flags.add("avx512_bf16")
    return model, flags


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def apply_flag_override(flags: set[str], override: str) -> set[str]:
    """``flags`` edited by a ``ZOO_CPU_FLAGS`` value: comma-separated items, applied in order.

    ``name`` (or ``+name``) adds a flag, ``-name`` removes it, ``-all`` removes every detected
    flag (so ``-all,avx2`` replaces them). Names are the relevant Linux flag names; a typo is
    a ConfigError rather than an override that silently does nothing.
    """
    flags = set(flags)
    for item in (i.strip() for i in override.split(",")):
        if not item:
            continue
        remove, name = item.startswith("-"), item.lstrip("+-")
        if remove and name == "all":
            flags.clear()
            continue
        if name not in RELEVANT_FLAGS:
            hint = str(unknown("flag", name, RELEVANT_FLAGS)).partition(": ")[2]
            suffix = f"; {hint}" if hint.startswith("did you mean") else "."
            raise ConfigError(
                f"{FLAGS_ENV} item {item!r} names no known flag: use NAME, +NAME or -NAME "
                f"(or -all) with NAME one of {', '.join(RELEVANT_FLAGS)}{suffix}"
            )
        if remove:
            flags.discard(name)
        else:
            flags.add(name)
    return flags


def cpu_info() -> dict:
    """The CPU: ``model``, relevant ``flags`` (after ``ZOO_CPU_FLAGS``), usable ``cores``.

    ``detected`` holds the flags as read from the machine and ``override`` the value of
    ``ZOO_CPU_FLAGS`` (None when unset), so that reports can show both.
    """
    system = platform.system()
    if system == "Linux":
        model, flags = _linux_cpu()
    elif system == "Darwin":
        model, flags = _macos_cpu()
    else:
        model, flags = "", set()
    detected = {f for f in flags if f in RELEVANT_FLAGS}
    override = os.environ.get(FLAGS_ENV, "").strip() or None
    used = apply_flag_override(detected, override) if override else detected
    return {
        "model": model or platform.processor() or platform.machine() or "unknown CPU",
        "flags": sorted(used),
        "detected": sorted(detected),
        "override": override,
        "cores": _cores(),
    }


def gpu_info() -> list[dict]:
    """TensorFlow's physical GPUs as ``[{'name', 'compute_capability'}]`` (imports TF)."""
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
        except (ValueError, RuntimeError):
            details = {}
        gpus.append(
            {
                "name": details.get("device_name", device.name),
                "compute_capability": details.get("compute_capability"),
            }
        )
    return gpus


def _validate(requested: str) -> str:
    if requested not in REQUESTS:
        message = (
            f"Unknown precision {requested!r}: train.precision is one of {', '.join(REQUESTS)}"
        )
        hint = str(unknown("precision", str(requested), REQUESTS)).partition(": ")[2]
        suffix = f"; {hint}" if hint.startswith("did you mean") else "."
        raise ConfigError(message + suffix)
    return requested


def _gpu_choice(gpus: list[dict]) -> tuple[str, str]:
    def capability(gpu: dict) -> tuple[int, int]:
        cc = gpu.get("compute_capability") or (0, 0)
        return (int(cc[0]), int(cc[1]))

    best = max(gpus, key=capability)
    cc = capability(best)
    where = f"CUDA GPU {best.get('name') or 'GPU'} (compute capability {cc[0]}.{cc[1]})"
    if cc >= MIN_FLOAT16_CAPABILITY:
        return "mixed_float16", f"auto: {where} has float16 tensor cores: mixed_float16"
    return "float32", f"auto: {where} is older than 7.0 (no float16 tensor cores): float32"


def _cpu_choice(flags: set[str], model: str) -> tuple[str, str]:
    native = [f for f in BF16_FLAGS if f in flags]
    if native:
        return "mixed_bfloat16", (
            f"auto: {model} has native bf16 ({', '.join(native)}) and no CUDA GPU: mixed_bfloat16"
        )
    return "float32", (
        f"auto: {model} has no native bf16 (no amx_bf16/avx512_bf16 flag) and no CUDA GPU: float32"
    )


def choose_precision(
    requested: str = "auto",
    *,
    cpu_flags: set[str] | None = None,
    gpus: list[dict] | None = None,
    cpu_model: str | None = None,
) -> PrecisionChoice:
    """The Keras mixed-precision policy for ``requested`` on this machine (or the one described).

    An explicit policy wins. ``'auto'``: ``mixed_float16`` on a CUDA GPU of compute capability
    7.0 or later; float32 on an older GPU (the GPU does the work, so the CPU's bf16 units do
    not help); without a GPU, ``mixed_bfloat16`` where the CPU has ``amx_bf16`` or
    ``avx512_bf16``, else float32. ``cpu_flags`` and ``gpus`` (``[{'name': ...,
    'compute_capability': (8, 0)}]``) describe the machine; when None they are read from it
    (the CPU flags as ``ZOO_CPU_FLAGS`` edits them).
    """
    requested = _validate(requested)
    if requested != "auto":
        return PrecisionChoice(requested, f"explicit: train.precision = '{requested}'", requested)
    if gpus is None:
        gpus = gpu_info()
    if gpus:
        policy, reason = _gpu_choice(gpus)
        return PrecisionChoice(policy, reason, requested)
    override = None
    if cpu_flags is None:
        info = cpu_info()
        cpu_flags, cpu_model = set(info["flags"]), cpu_model or info["model"]
        override = info["override"]
    policy, reason = _cpu_choice(set(cpu_flags), cpu_model or "this CPU")
    if override:
        reason += f" (flags edited by {FLAGS_ENV}={override})"
    return PrecisionChoice(policy, reason, requested)


__all__ = [
    "POLICIES",
    "PrecisionChoice",
    "apply_flag_override",
    "choose_precision",
    "cpu_info",
    "gpu_info",
]
