"""The model registry: one table that is the truth for names, families and reference numbers.

Builders are registered with :func:`register`; each becomes a gin configurable under its own
name, so a recipe can say ``cnn.filters = [32, 64]`` or ``resnet20.se_ratio = 16``.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import gin

from zoo.errors import UnknownNameError, unknown


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model."""

    name: str
    builder: Callable[..., Any]
    family: str
    task: str = "vision"
    default_input: tuple = ()
    default_classes: int = 1000
    paper: str = ""
    reference: dict = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str | None = None,
    *,
    family: str,
    task: str = "vision",
    default_input: Iterable[int] = (),
    default_classes: int = 1000,
    paper: str = "",
    reference: dict | None = None,
) -> Callable:
    """Register a model builder under ``name`` (default: the function's name).

    ``reference`` holds numbers from the paper, e.g. ``{"trainable_params": 11_689_512}``;
    tests assert them. The builder is wrapped with ``gin.configurable(name)``.
    """

    def decorator(fn: Callable) -> Callable:
        model_name = name or fn.__name__
        if model_name in _REGISTRY:
            raise ValueError(f"Model {model_name!r} is registered twice.")
        configured = gin.configurable(model_name, module="zoo.models")(fn)
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[model_name] = ModelSpec(
            name=model_name,
            builder=configured,
            family=family,
            task=task,
            default_input=tuple(default_input),
            default_classes=default_classes,
            paper=paper,
            reference=dict(reference or {}),
            description=doc[0] if doc else "",
        )
        return configured

    return decorator


def list_models(
    pattern: str | Iterable[str] = "*",
    *,
    family: str | None = None,
    task: str | None = None,
    exclude: str | Iterable[str] = (),
) -> list[str]:
    """Registered model names matching shell-style ``pattern`` (timm's ``list_models``)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    excludes = [exclude] if isinstance(exclude, str) else list(exclude)
    names = []
    for model_name, spec in _REGISTRY.items():
        if not any(fnmatch.fnmatchcase(model_name, p) for p in patterns):
            continue
        if any(fnmatch.fnmatchcase(model_name, p) for p in excludes):
            continue
        if family is not None and spec.family != family:
            continue
        if task is not None and spec.task != task:
            continue
        names.append(model_name)
    return sorted(names)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model; unknown names suggest the closest ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown("model", name, _REGISTRY) from None


def build(name: str, **overrides: Any):
    """Build a registered model; ``overrides`` win over gin bindings and defaults."""
    return get_spec(name).builder(**overrides)


def info(name: str, input_shape: Iterable[int] | None = None, **overrides: Any) -> dict:
    """Family, paper, parameter counts and multiply-adds of a model at an input size."""
    from zoo.models.stats import count_macs, count_params

    spec = get_spec(name)
    shape = tuple(input_shape) if input_shape is not None else spec.default_input
    kwargs = dict(overrides)
    if shape:
        kwargs.setdefault("input_shape", shape)
    model = build(name, **kwargs)
    trainable, non_trainable = count_params(model)
    return {
        "name": spec.name,
        "family": spec.family,
        "task": spec.task,
        "description": spec.description,
        "paper": spec.paper,
        "default_input": spec.default_input,
        "input_shape": tuple(model.input_shape[1:]),
        "output_shape": tuple(model.output_shape[1:]),
        "trainable_params": trainable,
        "non_trainable_params": non_trainable,
        "total_params": trainable + non_trainable,
        "macs": count_macs(model),
        "reference": dict(spec.reference),
    }


__all__ = ["ModelSpec", "register", "list_models", "get_spec", "build", "info", "UnknownNameError"]
