"""The search space, declared once in gin over gin parameter names, read by both backends.

A tuning recipe includes a training recipe and adds ``tune.*`` bindings::

    include 'digits_cnn.gin'
    tune.space = {
        'train.learning_rate': ('log', 1e-4, 1e-2),       # float, log-uniform
        'cnn.dense_dropout': ('float', 0.0, 0.5, 0.1),    # float, linear, step 0.1
        'cnn.kernel_size': ('int', 3, 5, 2),              # int 3 or 5
        'cnn.filters': ('choice', [[8, 16], [16, 32]]),   # any Python literals
        'train.optimizer': ('choice', ['adam', 'sgd']),
        'optimizer.momentum': ('float', 0.5, 0.95),
    }
    tune.conditions = {'optimizer.momentum': ('train.optimizer', ['sgd'])}

Each key is a gin binding key; each value is ``(kind, ...)`` with kind one of ``choice``,
``int``, ``float``, ``log`` (float, log-uniform) or ``logint`` (int, log-uniform). A
condition makes a parameter active only when its parent (a ``choice``) takes one of the
listed values; inactive parameters keep the recipe's value. This module imports no
TensorFlow, keras-tuner or Ray: ``zoo tune --dry-run`` sizes a space without them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gin

from zoo.errors import ConfigError

KINDS = ("choice", "int", "float", "log", "logint")
ALGORITHMS = ("hyperband", "bayesian", "random", "grid")
BACKENDS = ("keras-tuner", "ray")
SCHEDULERS = ("asha", "hyperband", "fifo")
SEARCHERS = ("optuna", "hyperopt", "random")


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a gin binding key and how to sample it."""

    name: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    parent: str | None = None
    parent_values: tuple = ()

    @property
    def continuous(self) -> bool:
        """A float dimension without a step: infinitely many values."""
        return self.kind in ("float", "log") and self.step is None

    @property
    def log(self) -> bool:
        return self.kind in ("log", "logint")

    def grid(self) -> list:
        """Every value of a discrete dimension (what a grid search visits)."""
        if self.kind == "choice":
            return list(self.values)
        if self.continuous:
            raise ConfigError(
                f"{self.name} is continuous: give it a step, e.g. ('float', low, high, step)."
            )
        if self.kind in ("int", "logint"):
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def cardinality(self) -> int | None:
        """How many values it can take; None when continuous."""
        return None if self.continuous else len(self.grid())

    def describe(self) -> str:
        if self.kind == "choice":
            text = f"choice of {len(self.values)}: " + ", ".join(repr(v) for v in self.values)
        else:
            sampling = "log" if self.log else "linear"
            kind = "int" if self.kind in ("int", "logint") else "float"
            step = f", step {self.step:g}" if self.step else ""
            text = f"{kind} in [{self.low:g}, {self.high:g}] {sampling}{step}"
        if self.parent:
            text += f"  (only when {self.parent} in {list(self.parent_values)!r})"
        return text


def encode(value: Any) -> Any:
    """A choice value as keras-tuner and Optuna accept it: scalars stay, others become text."""
    if isinstance(value, bool | int | float | str):
        return value
    return "<" + repr(value) + ">"


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return ast.literal_eval(value[1:-1])
    return value


@dataclass
class Space:
    """An ordered list of parameters (parents before the parameters they condition)."""

    params: list[Param] = field(default_factory=list)

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def grid_size(self) -> int | None:
        """Distinct configurations of a fully discrete space (conditions counted exactly)."""
        if any(p.continuous for p in self.params):
            return None
        return sum(1 for _ in self.grid())

    def discrete_size(self) -> int:
        """Product of the discrete dimensions' sizes (continuous ones left out)."""
        return math.prod(p.cardinality() or 1 for p in self.params)

    def continuous_dims(self) -> list[str]:
        return [p.name for p in self.params if p.continuous]

    def grid(self):
        """Every configuration of a discrete space; inactive parameters are left out."""

        def expand(i: int, config: dict):
            if i == len(self.params):
                yield dict(config)
                return
            p = self.params[i]
            if not self.is_active(p, config):
                yield from expand(i + 1, config)
                return
            for value in p.grid():
                config[p.name] = value
                yield from expand(i + 1, config)
                del config[p.name]

        yield from expand(0, {})

    def is_active(self, param: Param, config: Mapping[str, Any]) -> bool:
        """Whether ``param`` applies given the (decoded) values chosen so far."""
        if param.parent is None:
            return True
        return config.get(param.parent) in param.parent_values and self.is_active(
            self[param.parent], config
        )

    def active(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The decoded values of the active parameters of ``config``, in declaration order."""
        values = {k: decode(v) for k, v in config.items()}
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in values and self.is_active(p, out):
                value = values[p.name]
                if p.kind == "float" and p.step:
                    value = round(float(value), 10)  # 0.30000000000000004 -> 0.3
                out[p.name] = value
        return out


def bindings_for(values: Mapping[str, Any]) -> list[str]:
    """Gin binding lines for chosen values: ``cnn.filters = [8, 16]``."""
    return [f"{name} = {_gin_literal(value)}" for name, value in values.items()]


def _gin_literal(value: Any) -> str:
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict | str):
        value = value.item()  # numpy scalars from a sampler
    if isinstance(value, float):
        return repr(float(value))
    return repr(value)


def check_space(space: Space, heatmap: Sequence[str] | None = None) -> None:
    """Bind every value the search may choose on top of gin's current configuration, so that
    an unknown configurable or parameter, or a value of the wrong type, is one sentence
    before any trial (and at ``--dry-run``) instead of a traceback once trials start.

    Gin keeps the probed values: the caller parses the recipe again afterwards.
    """
    from zoo.config import parse

    for p in space:
        probes = list(p.values) if p.kind == "choice" else [p.low, p.high]
        if p.kind in ("float", "log"):
            probes = [float(v) for v in probes]
        for value in probes:
            line = bindings_for({p.name: value})[0]
            try:
                parse(None, [line], clear=False)
            except ConfigError as exc:
                reason = str(exc).removeprefix(f"binding {line!r}: ")
                raise ConfigError(f"tune.space[{p.name!r}]: {reason}") from None
    for name in heatmap or ():
        if name not in space.names:
            raise ConfigError(f"tune.heatmap names {name!r}, which is not in tune.space.")


def parse_space(
    space: Mapping[str, Sequence] | None, conditions: Mapping[str, Sequence] | None = None
) -> Space:
    """A :class:`Space` from ``tune.space`` and ``tune.conditions``; errors say what to fix."""
    if not space:
        raise ConfigError(
            "The recipe declares no search space: add tune.space = {'train.learning_rate': "
            "('log', 1e-4, 1e-2)} (see the README's 'Hyperparameter search')."
        )
    conditions = dict(conditions or {})
    params: list[Param] = []
    for name, spec in space.items():
        params.append(_param(name, spec, conditions.get(name)))
    unknown_conditions = sorted(set(conditions) - set(space))
    if unknown_conditions:
        raise ConfigError(
            f"tune.conditions names {unknown_conditions[0]!r}, which is not in tune.space."
        )
    seen: set[str] = set()
    by_name = {p.name: p for p in params}
    for p in params:
        if p.parent is not None:
            parent = by_name.get(p.parent)
            if parent is None or p.parent not in seen:
                raise ConfigError(
                    f"The condition of {p.name} needs its parent {p.parent!r} declared "
                    "earlier in tune.space."
                )
            if parent.kind != "choice":
                raise ConfigError(f"The parent of a condition must be a 'choice': {p.parent}.")
            missing = [v for v in p.parent_values if v not in parent.values]
            if missing:
                raise ConfigError(
                    f"{p.parent} has no value {missing[0]!r} (condition of {p.name})."
                )
        seen.add(p.name)
    return Space(params)


def _param(name: str, spec: Sequence, condition: Sequence | None) -> Param:
    if "." not in name:
        raise ConfigError(
            f"Search-space key {name!r} is not a gin parameter name like 'cnn.filters'."
        )
    if not isinstance(spec, list | tuple) or not spec or spec[0] not in KINDS:
        raise ConfigError(
            f"tune.space[{name!r}] must be a tuple starting with one of {', '.join(KINDS)}, "
            f"e.g. ('log', 1e-4, 1e-2); got {spec!r}."
        )
    kind, args = spec[0], list(spec[1:])
    parent, parent_values = None, ()
    if condition is not None:
        if not isinstance(condition, list | tuple) or len(condition) != 2:
            raise ConfigError(
                f"tune.conditions[{name!r}] must be (parent, [values]), e.g. "
                "('train.optimizer', ['sgd'])."
            )
        parent, parent_values = condition[0], tuple(condition[1])
    if kind == "choice":
        if len(args) != 1 or not isinstance(args[0], list | tuple) or not args[0]:
            raise ConfigError(f"tune.space[{name!r}]: write ('choice', [value, value, ...]).")
        return Param(name, kind, values=tuple(args[0]), parent=parent, parent_values=parent_values)
    if len(args) not in (2, 3):
        raise ConfigError(f"tune.space[{name!r}]: write ({kind!r}, low, high) or with a step.")
    low, high = args[0], args[1]
    step = args[2] if len(args) == 3 else None
    if not all(isinstance(v, int | float) for v in (low, high)) or low >= high:
        raise ConfigError(f"tune.space[{name!r}]: low must be a number below high.")
    if kind in ("log", "logint") and low <= 0:
        raise ConfigError(f"tune.space[{name!r}]: log sampling needs low > 0.")
    if kind in ("int", "logint") and not all(isinstance(v, int) for v in (low, high)):
        raise ConfigError(f"tune.space[{name!r}]: int bounds must be integers.")
    if kind == "log" and step is not None:
        raise ConfigError(f"tune.space[{name!r}]: 'log' takes no step.")
    if step is not None and step <= 0:
        raise ConfigError(f"tune.space[{name!r}]: the step must be positive.")
    return Param(
        name,
        kind,
        low=low,
        high=high,
        step=step,
        parent=parent,
        parent_values=parent_values,
    )


@gin.configurable("tune", module="tuners")
@dataclass
class TuneSettings:
    """Every knob of a tuning run: ``tune.*`` in a recipe, ``--bind tune.x=...`` on the CLI.

    ``max_epochs`` is Hyperband's R (and Ray's ``max_t``); it defaults to ``train.epochs``,
    which is also what each trial of the other algorithms trains for.
    """

    space: dict | None = None
    conditions: dict | None = None
    backend: str = "keras-tuner"
    algorithm: str = "hyperband"
    objective: str = "val_accuracy"
    direction: str | None = None
    name: str | None = None
    max_trials: int = 10
    max_epochs: int | None = None
    factor: int = 3
    hyperband_iterations: int = 1
    executions_per_trial: int = 1
    seed: int = 42
    overwrite: bool = False
    heatmap: tuple | None = None
    scheduler: str = "asha"
    search: str = "optuna"
    grace_period: int = 1
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    max_concurrent_trials: int | None = None
    address: str | None = None
    num_cpus: int | None = None

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"tune.backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}."
            )
        if self.direction is None:
            self.direction = (
                "min" if "loss" in self.objective or "error" in self.objective else "max"
            )
        if self.direction not in ("min", "max"):
            raise ConfigError(f"tune.direction must be 'min' or 'max', not {self.direction!r}.")
        if self.backend == "keras-tuner" and self.algorithm not in ALGORITHMS:
            raise ConfigError(
                f"tune.algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}."
            )
        if self.backend == "ray":
            if self.scheduler not in SCHEDULERS:
                raise ConfigError(
                    f"tune.scheduler must be one of {', '.join(SCHEDULERS)}, not {self.scheduler!r}."
                )
            if self.search not in SEARCHERS:
                raise ConfigError(
                    f"tune.search must be one of {', '.join(SEARCHERS)}, not {self.search!r}."
                )
        if self.factor < 2:
            raise ConfigError(f"tune.factor must be at least 2, not {self.factor}.")
        if self.max_trials < 1:
            raise ConfigError(f"tune.max_trials must be at least 1, not {self.max_trials}.")

    def parsed_space(self) -> Space:
        return parse_space(self.space, self.conditions)


# ---- budgets -------------------------------------------------------------------------------


@dataclass
class Bracket:
    """One Hyperband bracket: rounds of (trials, cumulative epochs per trial)."""

    index: int
    rounds: list[tuple[int, int]]

    @property
    def trials(self) -> int:
        return sum(n for n, _ in self.rounds)

    @property
    def new_configs(self) -> int:
        return self.rounds[0][0]

    @property
    def epochs(self) -> int:
        """Epochs trained: a promoted trial continues from its checkpoint, not from zero."""
        total, previous = 0, 0
        for n, epochs in self.rounds:
            total += n * (epochs - previous)
            previous = epochs
        return total


def hyperband_brackets(max_epochs: int, factor: int = 3) -> list[Bracket]:
    """Hyperband's brackets as keras-tuner 1.4.8 schedules them (Li et al., JMLR 18(185), 2018).

    Bracket s (from s_max = floor(log_factor(max_epochs)) down to 0) starts about
    ceil((s_max + 1) / (s + 1)) * factor**s configurations at max_epochs / factor**s epochs
    and keeps the best 1/factor of them each round while multiplying their epochs by factor.
    """
    if max_epochs < 1:
        raise ConfigError(f"tune.max_epochs must be at least 1, not {max_epochs}.")
    num_brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs /= factor
        num_brackets += 1
    end_size0 = math.ceil(1 + math.log(max_epochs, factor))
    brackets = []
    for s in reversed(range(num_brackets)):
        rounds = []
        for r in range(s + 1):
            size = math.ceil(end_size0 / (s + 1) * factor ** (s - r))
            rounds.append((size, math.ceil(max_epochs / factor ** (s - r))))
        brackets.append(Bracket(s, rounds))
    return brackets


def asha_rungs(max_t: int, grace_period: int, reduction_factor: int) -> list[int]:
    """Epochs at which ASHA (Li et al., MLSys 2020) compares trials and stops the worst."""
    rungs, t = [], grace_period
    while t < max_t:
        rungs.append(t)
        t *= reduction_factor
    return rungs


def dry_run_report(settings: TuneSettings, train_epochs: int) -> str:
    """The size of the space and the budget the chosen algorithm will spend, as text."""
    space = settings.parsed_space()
    lines = [f"search space: {len(space)} hyperparameters"]
    width = max(len(n) for n in space.names)
    for p in space:
        lines.append(f"  {p.name:<{width}}  {p.describe()}")
    continuous = space.continuous_dims()
    grid = space.grid_size()
    if grid is not None:
        lines.append(f"grid: {grid} configurations (product of sizes {space.discrete_size()})")
    else:
        lines.append(
            f"grid: infinite ({len(continuous)} continuous dimensions: {', '.join(continuous)}); "
            f"the discrete dimensions alone give {space.discrete_size()} combinations"
        )
    max_epochs = settings.max_epochs or train_epochs
    if settings.backend == "ray":
        lines.append(
            f"budget (ray, {settings.search} search, {settings.scheduler} scheduler): "
            f"{settings.max_trials} trials of at most {max_epochs} epochs = at most "
            f"{settings.max_trials * max_epochs} epochs"
        )
        if settings.scheduler == "asha":
            rungs = asha_rungs(max_epochs, settings.grace_period, settings.factor)
            lines.append(
                f"  ASHA rungs at epochs {rungs}: at each, trials outside the top "
                f"1/{settings.factor} stop"
            )
        elif settings.scheduler == "hyperband":
            brackets = hyperband_brackets(max_epochs, settings.factor)
            lines.append(f"  HyperBand scheduler with {len(brackets)} brackets, max_t {max_epochs}")
        return "\n".join(lines)
    if settings.algorithm == "hyperband":
        brackets = hyperband_brackets(max_epochs, settings.factor)
        its = settings.hyperband_iterations
        lines.append(
            f"budget (hyperband, max_epochs {max_epochs}, factor {settings.factor}, "
            f"{its} iteration{'s' if its > 1 else ''}): {len(brackets)} brackets"
        )
        for b in brackets:
            rounds = ", ".join(f"{n} x {e}" for n, e in b.rounds)
            lines.append(
                f"  bracket {b.index}: {b.new_configs} configurations; rounds (trials x epochs) "
                f"{rounds}; {b.trials} trials, {b.epochs} epochs"
            )
        trials = its * sum(b.trials for b in brackets)
        configs = its * sum(b.new_configs for b in brackets)
        epochs = its * sum(b.epochs for b in brackets)
        lines.append(f"total: {trials} trials, {configs} configurations, {epochs} epochs")
        return "\n".join(lines)
    trials = settings.max_trials
    if settings.algorithm == "grid":
        if grid is None:
            raise ConfigError(f"Grid search needs a discrete space: give {continuous[0]} a step.")
        trials = min(trials, grid)
    lines.append(
        f"budget ({settings.algorithm}): {trials} trials x {max_epochs} epochs x "
        f"{settings.executions_per_trial} executions = "
        f"{trials * max_epochs * settings.executions_per_trial} epochs"
    )
    return "\n".join(lines)
